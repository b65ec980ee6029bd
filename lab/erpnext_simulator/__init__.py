"""A faithful ERPNext 15 (and, on request, 16) simulator for tests and the demo (issue 4,
point 8).

It answers what Tillmesh asks of ERPNext as the recorded real ERPNext 15.71 did
(``shared/erpnext/recorded``, ``tests/lab/recorded``): Frappe's REST list and document API
(v1 and v2), naming series and client-chosen names, mandatory and link checks, POS
Opening/Closing Entry, POS Invoice with its totals recomputed as ERPNext computes them and
its stock, payment and return rules, batch- and serial-tracked items (Batch, Serial No,
``get_batch_qty``), consolidation in and out of the request with the
refusals ERPNext makes there, Frappe's error shapes, and gunicorn's limit on request
lines. Switches make it a release whose ``/api/resource`` drops client-chosen names, or
one without API v2.

``release=ERPNEXT_16`` answers as ERPNext 16.12 on Frappe 16.13 does (replayed whole from
``erpnext-16.12-requests.jsonl``, seed "recorded-16", with ``drop_resource_names``): a new
site in Sales Invoice mode (``replace(ERPNEXT_16, invoice_type="POS Invoice")`` for an
upgraded one), switched through POS Settings and not while an opening is Open; doctypes
as 16 changed them (``_doctypes_v16``); one Open opening per POS Profile and per user, an
opening with unclosed sales not cancelled; every sale needing the profile's only opening,
started today; POS Invoices refused in Sales Invoice mode, but their returns booked at
once as return Sales Invoices; Sales Invoices a POS made (``is_created_using_pos``) held to
the shift, full payment and what is left to return, their stock booked at submit; closings
listing ``pos_invoices`` and ``sales_invoices``, posted at the server's now; the methods 16
has (``get_invoices``, ``get_stock_availability``'s third value, no ``get_pos_invoices``),
16's wording of refusals, and Frappe 16's v2 ``has_next_page`` and tracebacks shown to
system users only. Not simulated on 16: the per-item tax table (``item_wise_tax_details``;
rows keep 15's JSON), 16's totals changes the recorded carts do not reach, and the checks
16 makes when a closing or a POS-made Sales Invoice is cancelled.

It serves on 127.0.0.1 only, with fault injection for the forwarder's exactly-once tests,
and a throttle (``Throttle``) that holds it to a measured ERPNext's pace for the chain
benchmark::

    with Simulator(seed="demo") as sim:
        client = httpx.Client(base_url=sim.url,
                              headers={"Authorization": f"token {sim.api_key}:{sim.api_secret}"})

Run one in the foreground with ``python -m tillmesh.lab.erpnext_simulator --port 8000``
(``--drop-resource-names``, ``--no-api-v2``).
"""

from tillmesh.lab.erpnext_simulator._clock import Clock, ManualClock, SiteClock
from tillmesh.lab.erpnext_simulator._faults import Faults
from tillmesh.lab.erpnext_simulator._meta import V15 as ERPNEXT_15
from tillmesh.lab.erpnext_simulator._meta import V16 as ERPNEXT_16
from tillmesh.lab.erpnext_simulator._meta import Release
from tillmesh.lab.erpnext_simulator._seeds import SEEDS
from tillmesh.lab.erpnext_simulator._simulator import LoggedRequest, Simulator, State
from tillmesh.lab.erpnext_simulator._throttle import Costs, Throttle

__all__ = [
    "ERPNEXT_15",
    "ERPNEXT_16",
    "SEEDS",
    "Clock",
    "Costs",
    "Faults",
    "LoggedRequest",
    "ManualClock",
    "Release",
    "Simulator",
    "SiteClock",
    "State",
    "Throttle",
]

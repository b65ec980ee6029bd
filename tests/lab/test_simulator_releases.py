"""Where Frappe releases answer a POS client differently, and what sits in front of Frappe.

``drop_resource_names``: upstream Frappe 15 (after frappe/frappe#32327 was reverted) and
Frappe 16 ignore a client's ``name`` on ``/api/resource`` inserts and rename its child rows,
so a repeat books a second document (``erpnext/NOTES-v16.md``, recorded on 16.12);
``/api/v2/document`` keeps both and refuses a repeat. ``api_v2=False``: a Frappe without
v2 answers 404 there. Before any of that, gunicorn refuses request lines over 4,094 bytes.
"""

from __future__ import annotations

import http.client
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.lab.test_simulator import MILK, PROFILE, client_for, close_shift, invoice, open_shift
from tillmesh.lab.erpnext_simulator import Simulator
from tillmesh.lab.erpnext_simulator._const import MAX_REQUEST_LINE
from tillmesh.lab.erpnext_simulator._http import request_line_length

HASH_LENGTH = 10
CLI_START_S = 20.0  # longest wait for the command line's simulator to print its URL
JOIN_S = 10.0  # longest wait for a connection's thread to end


@pytest.fixture
def upstream() -> Iterator[tuple[Simulator, httpx.Client]]:
    with Simulator(seed="demo", job_delay=None, drop_resource_names=True) as sim, \
            client_for(sim) as api:
        yield sim, api


def named_sale(name: str) -> dict[str, object]:
    return invoice([], 1.09, name=name, items=[{"name": f"{name}-1", "item_code": MILK,
                                                "qty": 1}])


def test_resource_inserts_draw_their_own_names(upstream: tuple[Simulator, httpx.Client]
                                               ) -> None:
    sim, api = upstream
    opening = open_shift(api, sim, name="C01-SHIFT-1")
    assert opening.startswith("POS-OPE-2026-")
    first, second = (api.post("/api/resource/POS Invoice", json=named_sale("C01-2026-000001"))
                     for _ in range(2))
    assert (first.status_code, second.status_code) == (200, 200)  # booked twice
    docs = [r.json()["data"] for r in (first, second)]
    assert [d["name"] for d in docs] == ["ACC-PSINV-2026-00001", "ACC-PSINV-2026-00002"]
    assert all(len(d["items"][0]["name"]) == HASH_LENGTH for d in docs)
    assert api.get("/api/resource/POS Invoice/C01-2026-000001").status_code == 404
    # a closing named by the server submits in its POST (a client-named one cannot)
    closing = close_shift(api, sim, opening, [d["name"] for d in docs], name="C01-SHIFT-1")
    assert closing.json()["data"]["name"].startswith("POS-CLO-2026-")
    assert closing.json()["data"]["status"] == "Submitted"


def test_prompt_named_doctypes_keep_their_names(upstream: tuple[Simulator, httpx.Client]
                                                ) -> None:
    sim, api = upstream
    profile = {**(sim.get("POS Profile", PROFILE) or {}), "name": "Second POS"}
    for key in ("creation", "modified", "owner", "modified_by"):
        profile.pop(key)
    r = api.post("/api/resource/POS Profile", json=profile)
    assert r.json()["data"]["name"] == "Second POS"
    customer = api.post("/api/resource/Customer", json={"name": "CUST-7",
                                                        "customer_name": "Ada"})
    assert customer.json()["data"]["name"] == "Ada"  # ERPNext's naming by customer name


def test_v2_keeps_names_and_refuses_a_repeat(upstream: tuple[Simulator, httpx.Client]
                                             ) -> None:
    sim, api = upstream
    open_shift(api, sim)
    first = api.post("/api/v2/document/POS Invoice", json=named_sale("C01-2026-000002"))
    doc = first.json()["data"]
    assert (doc["name"], doc["items"][0]["name"]) == ("C01-2026-000002", "C01-2026-000002-1")
    repeat = api.post("/api/v2/document/POS Invoice", json=named_sale("C01-2026-000002"))
    assert repeat.status_code == 409
    error = repeat.json()["errors"][0]
    assert (error["type"], error["message"], error["title"]) == (
        "DuplicateEntryError", "POS Invoice <strong>C01-2026-000002</strong> already exists",
        "Duplicate Name")
    assert "exc_type" not in repeat.json() and "_server_messages" not in repeat.json()
    got = api.get("/api/v2/document/POS Invoice/C01-2026-000002")
    assert got.json()["data"]["status"] == "Paid"


def test_v2_updates_a_draft_and_runs_document_methods(
        upstream: tuple[Simulator, httpx.Client]) -> None:
    sim, api = upstream
    opening = open_shift(api, sim)
    sale = api.post("/api/v2/document/POS Invoice", json=named_sale("C01-2026-000003"))
    draft = close_shift(api, sim, opening, [sale.json()["data"]["name"]], docstatus=0)
    closing = f"/api/v2/document/POS Closing Entry/{draft.json()['data']['name']}"
    submitted = api.patch(closing, json={"docstatus": 1})
    assert submitted.json()["data"]["status"] == "Submitted"
    unknown = api.post(f"{closing}/method/nope")
    assert (unknown.status_code, unknown.json()["errors"][0]["type"]) == (403,
                                                                           "PermissionError")
    method = api.get("/api/v2/method/frappe.auth.get_logged_user")
    assert method.json() == {"data": sim.user}


def test_without_v2_its_routes_are_not_found() -> None:
    with Simulator(seed="demo", job_delay=None, api_v2=False) as sim, client_for(sim) as api:
        open_shift(api, sim)
        for r in (api.post("/api/v2/document/POS Invoice", json=named_sale("C01-2026-000004")),
                  api.get("/api/v2/document/POS Invoice/C01-2026-000004"),
                  api.get("/api/v2/method/frappe.auth.get_logged_user")):
            assert (r.status_code, r.json()) == (404, {"exc_type": "DoesNotExistError"})
        assert sim.get("POS Invoice", "C01-2026-000004") is None
        v1 = api.post("/api/resource/POS Invoice", json=named_sale("C01-2026-000004"))
        assert v1.json()["data"]["name"] == "C01-2026-000004"


def test_request_lines_over_gunicorns_limit_are_refused_first(
        upstream: tuple[Simulator, httpx.Client]) -> None:
    sim, _ = upstream
    base = "/api/resource/Item?fields=%5B%22name%22%5D&pad="
    with httpx.Client(base_url=sim.url) as anonymous:  # no token: refused before auth
        for length, status in ((MAX_REQUEST_LINE, 403), (MAX_REQUEST_LINE + 1, 400)):
            path = base + "a" * (length - len(f"GET {base} HTTP/1.1"))
            r = anonymous.get(path)
            assert r.status_code == status
        assert r.headers["content-type"] == "text/html"
        assert f"Request Line is too large ({MAX_REQUEST_LINE + 1} &gt; {MAX_REQUEST_LINE})" \
            in r.text
    assert sim.requests[-1].status == 400


def test_a_client_hanging_up_mid_request_is_no_error(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """A counter stopped while it sent a request resets its connection: the simulator
    drops it quietly, as gunicorn does, and goes on serving (it printed a traceback)."""
    anonymous = "/api/method/frappe.auth.get_logged_user"
    with Simulator(seed="demo", job_delay=None) as sim:
        url = httpx.URL(sim.url)
        conn = http.client.HTTPConnection(url.host, url.port)
        conn.request("GET", anonymous)
        assert conn.getresponse().read()  # answered: its thread serves the connection
        (served,) = (t for t in threading.enumerate()
                     if t.name == "erpnext-sim-conn" and t.is_alive())
        assert conn.sock is not None
        conn.sock.sendall(b"GET /api/method/frappe.auth.get_logged_user HT")
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset (RST), not a FIN
        served.join(JOIN_S)
        assert not served.is_alive()
        # and it goes on serving
        assert httpx.get(f"{sim.url}{anonymous}").status_code == 403
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(("line", "reported"), [
    (b"GET / HTTP/1.1\r\n", 14), (b"x" * 8190 + b"\r\n", 8190), (b"x" * 8191 + b"\r", 8192),
    (b"x" * 8193, 8192)])
def test_request_line_length_as_gunicorn_reports_it(line: bytes, reported: int) -> None:
    assert request_line_length(line) == reported


def test_command_line_switches() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tillmesh.lab.erpnext_simulator", "--seed", "empty",
         "--drop-resource-names", "--no-api-v2"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().split(":", 1) for _ in range(4))
        url, key, secret = (lines[k].strip() for k in ("url", "key", "secret"))
        with httpx.Client(base_url=url, timeout=CLI_START_S,
                          headers={"Authorization": f"token {key}:{secret}"}) as api:
            assert api.get("/api/v2/document/User").status_code == 404
            made = api.post("/api/resource/Customer", json={"name": "C-1",
                                                            "customer_name": "Bo"})
            assert made.json()["data"]["name"] == "Bo"
    finally:
        process.terminate()
        process.wait(CLI_START_S)

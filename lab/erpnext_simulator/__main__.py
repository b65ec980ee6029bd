"""Serve a simulated ERPNext in the foreground until Ctrl-C or SIGTERM, printing its URL,
API key and secret: ``python -m tillmesh.lab.erpnext_simulator --port N [--host ADDR]
[--items N] [--seed demo] [--drop-resource-names] [--no-api-v2] [--dump PATH]``.

``--dump`` writes the POS documents it holds to PATH as JSON when it stops: what a test
that runs it on a host of its own (a network namespace) checks the books against."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from tillmesh.lab.erpnext_simulator import SEEDS, Simulator
from tillmesh.lab.erpnext_simulator._const import HOST

_POLL_S = 1.0  # seconds between checks for Ctrl-C while serving
DUMPED = ("POS Invoice", "POS Opening Entry", "POS Closing Entry")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    sim = simulator(args)
    url = sim.start(port=args.port, host=args.host)
    print(f"url:    {url}\nkey:    {sim.api_key}\nsecret: {sim.api_secret}\nuser:   {sim.user}",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(_POLL_S):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if args.dump:
            Path(args.dump).write_text(json.dumps(
                {doctype: sim.docs(doctype) for doctype in DUMPED}, default=str))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tillmesh.lab.erpnext_simulator",
                                     description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any)")
    parser.add_argument("--host", default=HOST,
                        help="the address to serve on: 127.0.0.1, or one inside a network "
                        "namespace a test made")
    parser.add_argument("--dump", metavar="PATH",
                        help="write the POS documents held to PATH (JSON) on stopping")
    parser.add_argument("--items", type=int, default=0, help="bulk items to add")
    parser.add_argument("--seed", choices=SEEDS, default="demo")
    parser.add_argument("--drop-resource-names", action="store_true",
                        help="/api/resource inserts ignore the client's names, as upstream "
                             "Frappe 15 and Frappe 16 do (a repeat books a second document)")
    parser.add_argument("--no-api-v2", dest="api_v2", action="store_false",
                        help="no /api/v2 routes (404 there), as on a Frappe without them")
    return parser


def simulator(args: argparse.Namespace) -> Simulator:
    """The simulator the command line asks for, not started."""
    sim = Simulator(seed=args.seed, drop_resource_names=args.drop_resource_names,
                    api_v2=args.api_v2)
    if args.items:
        sim.add_items(args.items)
    return sim


if __name__ == "__main__":
    main()

"""Serve a simulated ERPNext in the foreground until Ctrl-C, printing its URL, API key and
secret: ``python -m tillmesh.lab.erpnext_simulator --port N [--items N] [--seed demo]
[--drop-resource-names] [--no-api-v2]``."""

from __future__ import annotations

import argparse
import threading

from tillmesh.lab.erpnext_simulator import SEEDS, Simulator

_POLL_S = 1.0  # seconds between checks for Ctrl-C while serving


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    sim = simulator(args)
    url = sim.start(port=args.port)
    print(f"url:    {url}\nkey:    {sim.api_key}\nsecret: {sim.api_secret}\nuser:   {sim.user}",
          flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(_POLL_S):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tillmesh.lab.erpnext_simulator",
                                     description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
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

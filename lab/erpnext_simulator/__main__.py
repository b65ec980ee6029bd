"""Serve a simulated ERPNext in the foreground until Ctrl-C, printing its URL, API key and
secret: ``python -m tillmesh.lab.erpnext_simulator --port N [--items N] [--seed demo]``."""

from __future__ import annotations

import argparse
import threading

from tillmesh.lab.erpnext_simulator import SEEDS, Simulator

_POLL_S = 1.0  # seconds between checks for Ctrl-C while serving


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tillmesh.lab.erpnext_simulator",
                                     description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--items", type=int, default=0, help="bulk items to add")
    parser.add_argument("--seed", choices=SEEDS, default="demo")
    args = parser.parse_args(argv)
    sim = Simulator(seed=args.seed)
    if args.items:
        sim.add_items(args.items)
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


if __name__ == "__main__":
    main()

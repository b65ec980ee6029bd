"""Serve a simulated ERPNext in the foreground until Ctrl-C or SIGTERM, printing its URL,
API key and secret: ``python -m tillmesh.lab.erpnext_simulator --port N [--host ADDR]
[--items N] [--seed demo] [--drop-resource-names] [--no-api-v2] [--dump PATH] [--control]``.

``--dump`` writes the POS documents it holds to PATH as JSON when it stops: what a test
that runs it on a host of its own (a network namespace) checks the books against.

``--control`` takes faults on stdin, one command a line, for a test that cannot reach
into the process: ``hold SECONDS TEXT`` (the next request whose ``METHOD /path`` contains
TEXT is committed, then its answer withheld SECONDS and the connection dropped: the
client never learns it was booked) and ``clear`` (a healthy server again). Each withheld
answer is told on stdout as ``held CLIENT-ADDRESS METHOD /path`` when it starts."""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
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
    if args.control:
        _control(sim, stop)
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


def _control(sim: Simulator, stop: threading.Event) -> None:
    """Take faults from stdin and tell withheld answers on stdout, in two threads."""
    def take() -> None:
        for line in sys.stdin:
            command, _, rest = line.strip().partition(" ")
            seconds, _, text = rest.partition(" ")
            if command == "clear":
                sim.faults.clear()
            elif command == "hold" and text and seconds.replace(".", "", 1).isdigit():
                sim.faults.only_paths = text
                sim.faults.timeout_after_commit_next(1, hang_s=float(seconds))
            else:
                print(f"error: not a command: {line.strip()!r} (hold SECONDS TEXT, clear)",
                      flush=True)

    def tell() -> None:
        while not stop.is_set():
            try:
                client, method, path = sim.held.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            print(f"held {client} {method} {path}", flush=True)

    for target in (take, tell):
        threading.Thread(target=target, daemon=True, name=f"control-{target.__name__}").start()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tillmesh.lab.erpnext_simulator",
                                     description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any)")
    parser.add_argument("--host", default=HOST,
                        help="the address to serve on: 127.0.0.1, or one inside a network "
                        "namespace a test made")
    parser.add_argument("--dump", metavar="PATH",
                        help="write the POS documents held to PATH (JSON) on stopping")
    parser.add_argument("--control", action="store_true",
                        help="take faults on stdin (hold SECONDS TEXT, clear), tell "
                             "withheld answers on stdout")
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

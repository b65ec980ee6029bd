"""Benchmark: the CPU work of a cashier's sale, counted in instructions.

Times on this kind of machine move by tens of per cent from one minute to the next (the
other parts show it in their spreads), so a change that saves 5 % of a sale cannot be
told from the noise by timing it. Instructions can: ``valgrind --tool=callgrind`` counts
those a process executes in user space (the interpreter, SQLite, SQLCipher's OpenSSL,
mpdecimal, msgpack), the same for the same code and data on any machine, in any minute.

A counter is opened in a process of its own as the daemon opens it (the demo store,
``daemon.open_node``, no printer: receipts are drawn off the cashier's path, by another
thread and process), and the demo cashier's calls go through ``Node.call``. Only the
calls are counted: valgrind's instrumentation is switched on around them with
``callgrind_control``, whose own cost (measured with nothing between on and off) is taken
off. Waiting is no instruction: an fsync, a page read from disk or another process's turn
on the core cost none here; the other parts time those.

Rows: instructions per whole sale (a new cart, 5 scans, the payment) and per
``cart_new``, ``cart_scan`` and ``sale_submit``; where a whole sale's instructions go, by
library; and what each other counter of the store spends on that sale: another store
(a copy of the demo counter's from before its sales, opened as counter C02) receives the
sales' events as replication hands them on, one at a time, checked by the membership's
gate, recorded, projected and flushed (the transport's decoding and the protocol's
messages are left out). And what the local API's server adds to each call, in a process
of its own whose method answers at once with a cart-sized map: a client here calls it
500 and 2,500 times, and the difference of the two counts is 2,000 calls.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCANS = 5
WARM_SALES = 5  # sold before counting: caches filled, code paths taken once
SALES, QUICK_SALES = 20, 3
# Calls of the local API counted in its server's process: two runs, the shorter one's
# count taken from the longer's, so that starting and stopping the process cancel out.
API_CALLS, QUICK_API_CALLS = (500, 2500), (20, 60)
API_WAIT_S = 120.0  # a server under valgrind takes ~10 s to start
STOP = "stop"  # the request after the last call: the server process ends
# Where a sale's instructions go: each library valgrind names, by the start of its file name.
LIBRARIES = (("libpython", "the interpreter"), ("libcrypto", "OpenSSL (SQLCipher's pages)"),
             ("_sqlite3", "SQLite"), ("libc.", "libc"), ("_decimal", "mpdecimal (Decimal)"),
             ("_cmsgpack", "msgpack"), ("_sodium", "libsodium (signatures)"))
_COLLECTED = re.compile(r"^totals: (\d+)$", re.MULTILINE)


def run(quick: bool) -> list[tuple[str, str, str, str]]:
    """The rows: (what, samples, figure, more)."""
    sales = QUICK_SALES if quick else SALES
    # Instrumentation goes on as each sale starts and off after the last call counted:
    # the new cart alone, the cart and its scans, or the whole sale. One switch on and
    # off with nothing between is counted too, and taken off.
    switching = _count("nothing", sales)[0] / sales
    new, scanned, (whole, libraries) = (
        _count("cart_new", sales)[0], _count("cart_scan", sales)[0], _count("sale", sales))
    per_sale = {span: (n - sales * switching) / sales
                for span, n in (("new", new), ("scanned", scanned), ("whole", whole))}
    per_sale["applied"] = (_count("applied", sales)[0] - switching) / sales  # one switch
    counted = sum(libraries.values())
    return [
        (f"CPU work of a whole sale (new + {SCANS} scans + submit), in instructions",
         f"{sales} sales", _millions(per_sale["whole"]),
         "callgrind; the same code counts the same on any machine"),
        ("of which: cart_new", f"{sales} calls", _millions(per_sale["new"]), ""),
        (f"of which: one cart_scan (the mean of {SCANS})", f"{sales * SCANS} calls",
         _millions((per_sale["scanned"] - per_sale["new"]) / SCANS), ""),
        ("of which: sale_submit", f"{sales} calls",
         _millions(per_sale["whole"] - per_sale["scanned"]), ""),
        ("a whole sale's instructions by library", f"{sales} sales",
         ", ".join(f"{name} {100 * n / counted:.0f} %" for name, n in
                   _named(libraries).most_common() if n >= counted / 200), ""),
        ("another counter applying that sale (checked, recorded, projected)",
         f"{sales} sales", _millions(per_sale["applied"]), "replication's store path"),
        _api_row(QUICK_API_CALLS if quick else API_CALLS),
    ]


def _api_row(runs: tuple[int, int]) -> tuple[str, str, str, str]:
    """What the local API's server spends on a call besides its method: reading it,
    decoding, queueing, encoding and sending the answer (a method that answers at once
    with a cart-sized map), counted in the server's process."""
    short, long = (_served(calls) for calls in runs)
    per_call = (long - short) / (runs[1] - runs[0])
    return ("the local API's own work for one call (read, decode, queue, encode, send)",
            f"{runs[1] - runs[0]:,} calls", f"{per_call / 1e3:.0f} k instructions",
            "a server process; its method answers at once")


def _served(calls: int) -> int:
    """Instructions of a server process (under callgrind) that answers ``calls`` calls
    made from here, then stops."""
    import zmq

    from tillmesh.node.api._wire import Request, encode_request
    from tillmesh.node.api.client import Client

    with tempfile.TemporaryDirectory(prefix="tmwork", dir="/tmp") as tmp:
        out, endpoint = Path(tmp) / "callgrind.out", f"ipc://{tmp}/api.sock"
        server = _callgrind(out, "serve", endpoint)
        stop = zmq.Context.instance().socket(zmq.DEALER)
        try:
            with Client(endpoint, timeout=API_WAIT_S) as client:  # queued until it binds
                for _ in range(calls):
                    client.call("cart_scan", cart_id="0123456789abcdef", code="4006381333931")
            # Sent once the last answer is here: the server may then stop at once. Never
            # answered; the same in both runs, so the difference leaves it out.
            stop.connect(endpoint)
            stop.send_multipart([b"", encode_request(Request(calls + 1, STOP, {}))])
            _, errors = server.communicate(timeout=API_WAIT_S)
        finally:
            stop.close(linger=0)
            server.kill()
        if server.returncode != 0 or not out.exists():
            raise RuntimeError(f"counting the API server failed: {errors[-2000:]}")
        return _total(out.read_text(), "the API server")


def _serve(endpoint: str) -> None:
    """In valgrind: a local API server whose method answers at once, until asked to stop."""
    import asyncio

    from tillmesh.node.api._server import ApiServer
    from tillmesh.node.api._wire import Request

    line = {"item_code": "DAI-0001", "item_name": "Milk 1 l", "qty": "1", "rate": "1.25",
            "amount": "1.25", "net_amount": "1.25", "uom": "Nos", "promotions": []}
    answer = {"cart_id": "0123456789abcdef", "lines": [line] * SCANS, "due": "6.25",
              "totals": {"total": "6.25", "grand_total": "6.25", "rounded_total": "6.25"}}

    async def main() -> None:
        done = asyncio.Event()

        async def method(request: Request) -> dict[str, Any]:
            if request.method == STOP:
                done.set()
                await asyncio.get_running_loop().create_future()  # cancelled by the close
            return answer

        async with ApiServer(endpoint, method):
            await done.wait()
    asyncio.run(main())


def _millions(instructions: float) -> str:
    return f"{instructions / 1e6:.2f} M instructions"


def _named(by_object: Counter[str]) -> Counter[str]:
    named: Counter[str] = Counter()
    for obj, n in by_object.items():
        base = obj.rsplit("/", 1)[-1]
        named[next((name for start, name in LIBRARIES if base.startswith(start)),
                   "other")] += n
    return named


def _count(what: str, sales: int) -> tuple[int, Counter[str]]:
    """Instructions counted by a child selling ``sales`` sales, each counted up to the end
    of ``what`` (``cart_new``, the last ``cart_scan``, the ``sale``; ``applied``: another
    counter's store applying the sale's events; or ``nothing``: a switch on and off), and
    their split by library (self cost per object file)."""
    with tempfile.TemporaryDirectory(prefix="tmwork", dir="/tmp") as tmp:
        out = Path(tmp) / "callgrind.out"
        child = _callgrind(out, what, str(sales), at_start=False)
        _, errors = child.communicate()
        if child.returncode != 0 or not out.exists():
            raise RuntimeError(f"counting {what} failed: {errors[-2000:]}")
        text = out.read_text()
    return _total(text, what), by_object(text)


def _callgrind(out: Path, *args: str, at_start: bool = True) -> subprocess.Popen[str]:
    """This module run with ``args`` under callgrind, which writes its count to ``out``
    (counting from the start, or only between ``callgrind_control`` switches)."""
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--instr-atstart={'yes' if at_start else 'no'}",
         f"--callgrind-out-file={out}", sys.executable, "-m", "tests.bench.work", *args],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})


def _total(text: str, what: str) -> int:
    """The instructions a callgrind output counted in all."""
    found = _COLLECTED.search(text)
    if found is None:
        raise RuntimeError(f"callgrind wrote no summary for {what}")
    return int(found.group(1))


def by_object(text: str) -> Counter[str]:
    """Each object file's own instructions in a callgrind output (calls' inclusive costs,
    the line after each ``calls=``, left out)."""
    names: dict[str, str] = {}
    costs: Counter[str] = Counter()
    obj, after_call = "?", False
    for line in text.splitlines():
        if after_call:
            after_call = False
        elif line.startswith("ob="):
            obj = _compressed(names, line[3:])
        elif line.startswith("cob="):  # a callee's object: may name an id first
            _compressed(names, line[4:])
        elif line.startswith("calls="):
            after_call = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            cells = line.split()
            if len(cells) > 1:
                costs[obj] += int(cells[1])
    return costs


def _compressed(names: dict[str, str], field: str) -> str:
    """``(3) /lib/x.so`` names id 3; a later ``(3)`` means it (callgrind's compression)."""
    found = re.match(r"\((\d+)\)\s*(.*)", field.strip())
    if found is None:
        return field.strip()
    if found.group(2):
        names[found.group(1)] = found.group(2)
    return names.get(found.group(1), "?")


def _child(what: str, sales: int) -> None:
    """In valgrind: the demo counter, its cashier's sales, ``what`` counted."""
    from tests.bench.cashier import CODES
    from tests.nodekit import run_now
    from tests.proc import Nodes
    from tillmesh.node.ops import daemon
    from tillmesh.node.ops.config import load

    def switch(on: bool) -> None:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                       check=True, stdout=subprocess.DEVNULL)

    with Nodes() as nodes:
        data_dir = nodes.init()
        peer_dir = nodes.copy(data_dir)  # the store as the other counter holds it
        node = daemon.open_node(load(data_dir))
        token = node.call("login", {"user": "cashier", "pin": "1111"}, None)["token"]

        def call(method: str, **params: Any) -> Any:
            return run_now(node.call(method, params, token))

        call("shift_open", opening={"Cash": "0"})
        rng = random.Random(1)
        counting = what not in ("nothing", "applied")

        def sale(counted: bool) -> None:
            if counted:
                switch(True)
            cart = call("cart_new")["cart_id"]
            if counted and what == "cart_new":
                switch(False)
            for code in rng.sample(CODES, SCANS):
                view = call("cart_scan", cart_id=cart, code=code)
            if counted and what == "cart_scan":
                switch(False)
            call("sale_submit", cart_id=cart,
                 payments=[{"mode_of_payment": "Cash", "amount": view["due"]}])
            if counted and what == "sale":
                switch(False)

        for _ in range(WARM_SALES):
            sale(False)
        warm = node.log.vector()
        for _ in range(sales):
            if what == "nothing":
                switch(True)
                switch(False)
            sale(counting)
        node.print_service.close()
        if what == "applied":
            _apply_elsewhere(node.log, load(peer_dir), warm, switch)


def _apply_elsewhere(log: Any, peer: Any, warm: dict[str, int],
                     switch: Callable[[bool], None]) -> None:
    """``log``'s events applied to the store of ``peer`` (a config), one at a time as
    replication receives them; those after ``warm`` (a vector) counted, with one switch."""
    import asyncio
    from datetime import UTC, datetime

    from tillmesh.node.membership.trust import Gate
    from tillmesh.node.store import open_engine, read_key_file
    from tillmesh.node.store.event_log import EventLog
    from tillmesh.replication.stores import EventLogStore

    other = EventLog(open_engine(peer.db_path, read_key_file(peer.key_path)), "C02")
    other.enable_group_commit(peer.db_path)
    store = EventLogStore(other, Gate(other, peer.max_clock_ahead_s, lambda: datetime.now(UTC)))
    loop = asyncio.new_event_loop()
    have = other.vector()
    events = [event for origin, last in log.vector().items()
              for event in log.range(origin, have.get(origin, 0) + 1, last)]
    for counted in (False, True):  # the warm-up's events first, then the counted ones
        if counted:
            switch(True)
        for event in events:
            if (event.seq > warm.get(event.origin, 0)) is counted:
                with other.batch():
                    store.receive([event])
                loop.run_until_complete(other.flush())
        if counted:
            switch(False)
    loop.close()
    lacking = {o: n for o, n in log.vector().items() if other.vector().get(o, 0) < n}
    if lacking:  # refused: nothing was counted of what a counter does with a sale
        raise RuntimeError(f"the other counter did not apply up to {lacking}: "
                           f"{store.refusals}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve(sys.argv[2])
    else:
        _child(sys.argv[1], int(sys.argv[2]))

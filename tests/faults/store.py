"""Three counters and the ERPNext simulator, each on a host of its own (``lan``), through
a seeded schedule of faults while cashiers sell and take back other counters' sales; then
everything is healed, the shifts are closed, and the checker compares every answer with
what each counter and ERPNext hold.

Each round: one fault (two at once when ``harsh``), a cashier's sale at every counter that
runs, now and then a return of another counter's sale, then the fault is undone. Every
answer is recorded as ok, refused (a clear error) or unknown (no answer in time).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tests.faults.lan import Host, Lan
from tillmesh.lab.demo_store import (
    ADMIN,
    CASHIER,
    SUPERVISOR,
    Till,
    alike,
    barcodes,
    books,
    digests,
    divergent,
    holds,
    until,
)
from tillmesh.lab.processes import CounterProcess, tillmesh
from tillmesh.node.errors import NodeUnavailable, TillmeshError

COUNTERS = ("C01", "C02", "C03")
SIM_PORT = 8000
CALL_TIMEOUT_S = 5.0  # seconds; an answer not come by then is "unknown"
COMMAND_TIMEOUT_S = 120.0  # seconds for `tillmesh init`, `join`, `erpnext setup`
SIM_START_S = 30.0
AGREE_S = 120.0  # seconds for the healed store to hold the same events everywhere
DELIVER_S = 180.0  # seconds for everything to reach ERPNext once all is healed
RETURN_CHANCE = 0.3  # of a round having a return of another counter's sale
FAULTS = ("cut one", "split", "bridge", "loss", "kill", "stop", "erpnext down",
          "closed away")


@dataclass
class CounterHost(Till):
    """A counter on its host: up, killed or stopped."""

    host: Host = field(kw_only=True)
    state: str = field(default="up", kw_only=True)


@dataclass
class Result:
    outcomes: Counter[str]  # "sale ok", "return refused", ...
    faults: Counter[str]
    lost: list[str]
    duplicated: list[str]
    divergent: list[str]
    undelivered: list[str]
    agreed_s: float
    erpnext: dict[str, int]

    @property
    def whole(self) -> bool:
        return not (self.lost or self.duplicated or self.divergent or self.undelivered)

    def table(self) -> str:
        rows = [("operations", ", ".join(f"{k} {n}" for k, n in sorted(self.outcomes.items()))),
                ("faults", ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))),
                ("lost", str(len(self.lost))), ("duplicated", str(len(self.duplicated))),
                ("divergent", str(len(self.divergent))),
                ("undelivered", str(len(self.undelivered))),
                ("agreed after the heal", f"{self.agreed_s:.2f} s"),
                ("ERPNext", ", ".join(f"{n} {k}" for k, n in self.erpnext.items())),
                ("ERPNext exactly once", "yes" if not (self.lost or self.duplicated) else "NO")]
        width = max(len(k) for k, _ in rows)
        details = [f"  {line}" for line in
                   (*self.lost, *self.duplicated, *self.divergent, *self.undelivered)][:30]
        return "\n".join([f"{k:<{width}}  {v}" for k, v in rows] + details)


class FaultStore:
    def __init__(self, lan: Lan, root: Path, seed: int, say: Callable[[str], None]) -> None:
        self.lan = lan
        self.root = root
        self.rng = random.Random(seed)
        self.say = say
        self.codes = barcodes()
        self.counters: dict[str, CounterHost] = {}
        self.sold: dict[str, list[str]] = {name: [] for name in COUNTERS}  # answered ok
        self.outcomes: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.sim: subprocess.Popen[str] | None = None
        self.sim_host: Host | None = None
        self.dump = root / "erpnext.json"

    # --- the store -------------------------------------------------------------------------

    def open(self) -> None:
        self.sim_host = self.lan.host("ERP")
        url, key, secret = self._start_simulator(self.sim_host)
        hosts = [self.lan.host(name) for name in COUNTERS]
        for host in hosts:
            self.counters[host.name] = CounterHost(
                host.name, CounterProcess(self.root / host.name, host.prefix()),
                CALL_TIMEOUT_S, host=host)
        first = self.counters["C01"]
        self._command(first, ["init", "--node", "C01", "--demo", *self._network(first)],
                      ADMIN[1])
        first.counter.start()
        for till in list(self.counters.values())[1:]:
            code = first.as_user(ADMIN).call("invite_create")["code"]
            self._command(till, ["join", "--node", till.name, *self._network(till)],
                          code)
            till.counter.start()
        for till in self.counters.values():
            self._command(till, ["erpnext", "setup", "--url", url, "--key", key,
                                    "--secret", secret, "--insecure"], "")
            till.as_user(CASHIER).shift_open({"Cash": "100.00"})
        self.agree()

    def _network(self, till: CounterHost) -> list[str]:
        address = till.host.address
        return ["--listen", f"tcp://{address}:7610", "--join-listen", f"tcp://{address}:7611",
                "--advertise", address, "--mdns-interface", address]

    def _command(self, till: CounterHost, args: list[str], stdin: str) -> str:
        done = subprocess.run(
            [*till.host.prefix(), *tillmesh("--data-dir", str(till.counter.data_dir),
                                               *args)],
            input=stdin + "\n", capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"{till.name}: tillmesh {args[0]}: {done.stderr.strip()}")
        return done.stdout

    def _start_simulator(self, host: Host) -> tuple[str, str, str]:
        with open(self.root / "erpnext.log", "wb") as log:
            self.sim = subprocess.Popen(
                [*host.prefix(), sys.executable, "-m", "tillmesh.lab.erpnext_simulator",
                 "--host", host.address, "--port", str(SIM_PORT), "--dump", str(self.dump)],
                stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.sim.stdout is not None
        said = dict(self.sim.stdout.readline().split(":", 1) for _ in range(3))
        return said["url"].strip(), said["key"].strip(), said["secret"].strip()

    def close(self) -> None:
        for till in self.counters.values():
            till.logout()
            proc = till.counter.proc
            if proc is not None and proc.poll() is None and till.state == "stopped":
                os.kill(proc.pid, signal.SIGCONT)
            till.counter.stop()
        self._stop_simulator()

    def _stop_simulator(self) -> None:
        """Stop it (it writes its documents to ``dump``)."""
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            self.sim.wait(COMMAND_TIMEOUT_S)

    # --- the workload ------------------------------------------------------------------------

    def running(self) -> list[CounterHost]:
        return [c for c in self.counters.values() if c.state == "up"]

    def _call(self, kind: str, action: Callable[[], Any]) -> Any:
        try:
            answer = action()
        except NodeUnavailable:
            self.outcomes[f"{kind} unknown"] += 1
            return None
        except TillmeshError as refusal:  # a clear error: counted by its kind
            self.outcomes[f"{kind} refused ({type(refusal).__name__})"] += 1
            return None
        self.outcomes[f"{kind} ok"] += 1
        return answer

    def sell(self, till: CounterHost) -> None:
        def sale() -> str:
            client = till.as_user(CASHIER)
            cart = client.cart_new()["cart_id"]
            due = "0"
            for code in self.rng.sample(self.codes, self.rng.randint(1, 3)):
                due = client.cart_scan(cart, code)["due"]
            return str(client.sale_submit(cart, [{"mode_of_payment": "Cash",
                                                  "amount": due}])["invoice"])
        invoice = self._call("sale", sale)
        if invoice is not None:
            self.sold[till.name].append(invoice)

    def take_back(self, at: CounterHost) -> None:
        """One unit of another counter's sale, at ``at``, a supervisor approving."""
        theirs = [i for name, sold in self.sold.items() if name != at.name for i in sold]
        if not theirs:
            return
        sale = self.rng.choice(theirs)

        def give_back() -> str:
            client = at.as_user(CASHIER)
            row = client.invoice_get(sale)["items"][0]["name"]
            return str(client.call("return_create", invoice=sale,
                                   lines=[{"row": row, "qty": "1"}],
                                   approver={"user": SUPERVISOR[0], "pin": SUPERVISOR[1]})[
                "invoice"])
        invoice = self._call("return", give_back)
        if invoice is not None:
            self.sold[at.name].append(invoice)

    # --- the faults --------------------------------------------------------------------------

    def apply(self, fault: str) -> Callable[[], None]:
        """Start ``fault``; what undoes it."""
        self.faults[fault] += 1
        names = list(COUNTERS)
        one = self.rng.choice(names)
        victim = self.counters[one]
        if fault == "cut one":
            self.lan.cut([one], [n for n in names if n != one] + ["ERP"])
        elif fault == "split":
            self.lan.cut([one], [n for n in names if n != one])
        elif fault == "bridge":  # two reach each other only through the third
            a, b = self.rng.sample([n for n in names if n != one], 2)
            self.lan.cut([a], [b])
        elif fault == "loss":
            self.lan.lose(20)
        elif fault == "erpnext down":
            self.lan.cut(["ERP"], names)
        elif fault == "kill" and victim.state == "up":
            self._signal(victim, signal.SIGKILL, "killed")
            return lambda: self._restart(victim)
        elif fault == "stop" and victim.state == "up":
            self._signal(victim, signal.SIGSTOP, "stopped")
            return lambda: self._resume(victim)
        elif fault == "closed away" and victim.state == "up":
            return self._close_away(victim)
        return self.lan.heal

    def _close_away(self, victim: CounterHost) -> Callable[[], None]:
        """``victim`` is cut off and a supervisor elsewhere closes its shift, while it
        sells on: those sales are late. After the heal a supervisor reconciles them and
        the cashier opens a new shift."""
        others = [c for c in self.running() if c is not victim]
        if not others:
            return self.lan.heal
        self.lan.cut([victim.name], [c.name for c in others])
        closer = self.rng.choice(others)
        supervisor = closer.as_user(SUPERVISOR)
        shift = next((s["shift"] for s in supervisor.shift_list("open")
                      if s["counter"] == victim.name), None)
        if shift is not None:
            expected = supervisor.shift_report(shift)["report"]["expected"]
            self._call("remote close", lambda: supervisor.shift_close(
                shift, {"Cash": "0", "Card": "0", **expected}))

        def undo() -> None:
            self.lan.heal()
            self.agree()
            supervisor = closer.as_user(SUPERVISOR)  # fault may have restarted the closer
            for closed in supervisor.shift_list("closed"):
                if closed.get("late_unreconciled"):
                    self._call("late reconciled", partial(
                        supervisor.call, "shift_reconcile", shift_id=closed["shift"],
                        counted={"Cash": "0", "Card": "0"}))
            if victim.as_user(CASHIER).shift_current() is None:
                victim.as_user(CASHIER).shift_open({"Cash": "100.00"})
        return undo

    def _signal(self, till: CounterHost, sig: signal.Signals, state: str) -> None:
        assert till.counter.proc is not None
        os.kill(till.counter.proc.pid, sig)
        till.state = state
        till.logout()

    def _restart(self, till: CounterHost) -> None:
        assert till.counter.proc is not None
        till.counter.proc.wait(COMMAND_TIMEOUT_S)
        till.counter.start()
        till.state = "up"

    def _resume(self, till: CounterHost) -> None:
        assert till.counter.proc is not None
        os.kill(till.counter.proc.pid, signal.SIGCONT)
        till.state = "up"

    def rounds(self, count: int, harsh: bool) -> None:
        """The first ``len(FAULTS)`` rounds take every kind once, in a seeded order (a
        short run covers them all); then at random."""
        first = self.rng.sample(FAULTS, len(FAULTS))
        for number in range(1, count + 1):
            faults = self.rng.sample(FAULTS, 2 if harsh else 1)
            if number <= len(first):
                faults[0] = first[number - 1]
                faults = list(dict.fromkeys(faults))  # not the same kind twice at once
            undo = [self.apply(f) for f in faults]
            for till in self.running():
                self.sell(till)
            if self.running() and self.rng.random() < RETURN_CHANCE:
                self.take_back(self.rng.choice(self.running()))
            for till in self.running():
                self.sell(till)
            for step in undo:
                step()
            self.say(f"round {number}: {' + '.join(faults)}; "
                     f"{sum(len(s) for s in self.sold.values())} answered so far")

    # --- after the heal ----------------------------------------------------------------------

    def vectors(self) -> list[dict[str, int]]:
        return [dict(c.as_user(ADMIN).status()["vector"]) for c in self.counters.values()]

    def agree(self) -> float:
        return until(lambda: alike(self.vectors()), AGREE_S, "the store did not agree")

    def delivered(self) -> bool:
        states = [c.as_user(ADMIN).call("erpnext_status") for c in self.counters.values()]
        return all(s["pending"] == 0 and s["failed"] == 0 and s["late"] == 0 for s in states)

    def check(self) -> Result:
        agreed = self.agree()
        supervisor = self.counters["C01"].as_user(SUPERVISOR)
        for shift in supervisor.shift_list("open"):  # the others' shifts closed remotely
            expected = supervisor.shift_report(shift["shift"])["report"]["expected"]
            supervisor.shift_close(shift["shift"], {"Cash": "0", "Card": "0", **expected})
        self.agree()
        until(self.delivered, DELIVER_S, "the store did not deliver everything")
        # ERPNext stops first: its answers (acks, stock readings) are events too, and the
        # counters must be compared holding the same ones.
        self._stop_simulator()
        self.agree()
        answered = [i for sold in self.sold.values() for i in sold]
        lost = [f"{i} missing on {c.name}" for c in self.counters.values() for i in answered
                if not holds(c.as_user(CASHIER), i)]
        alive = [f"{c.name} is not running" for c in self.counters.values()
                 if c.counter.proc is None or c.counter.proc.poll() is not None]
        self.close()
        docs = json.loads(self.dump.read_text())
        held = books(answered, lambda doctype: list(docs.get(doctype, [])), list(COUNTERS))
        tables = {c.name: digests(c.counter.data_dir) for c in self.counters.values()}
        return Result(self.outcomes, self.faults, lost + held.lost + alive, held.duplicated,
                      divergent(tables) + self._rebuilt_otherwise(tables),
                      held.undelivered, agreed, held.counts)

    def _rebuilt_otherwise(self, tables: dict[str, dict[str, str]]) -> list[str]:
        """`tillmesh rebuild` on each stopped counter: the tables it builds from the
        events must be the ones the counter kept as it ran."""
        differ = []
        for till in self.counters.values():
            self._command(till, ["rebuild"], "")
            again = digests(till.counter.data_dir)
            differ += [f"{table} differs after rebuild on {till.name}"
                       for table, digest in tables[till.name].items()
                       if again.get(table) != digest]
        return differ


def run(seed: int, rounds: int, harsh: bool, root: Path,
        say: Callable[[str], None]) -> Result:
    """One seeded run on new hosts, removed again whatever happens."""
    with Lan() as lan:
        store = FaultStore(lan, root, seed, say)
        try:
            store.open()
            store.rounds(rounds, harsh)
            return store.check()
        finally:
            store.close()

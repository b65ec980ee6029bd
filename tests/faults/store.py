"""Three counters and the ERPNext simulator, each on a host of its own (``lan``), every
counter's data dir on a small filesystem of its own (``disks``) and its wall clock its own
(``clocks``), through a seeded schedule of faults while cashiers sell, take back other
counters' sales and move cash, and supervisors close and open shifts; then everything is
healed, the shifts are closed, and the checker compares every answer with what each
counter and ERPNext hold.

Each round: one fault (two at once when ``harsh``), a cashier's sale at every counter that
runs, now and then a return of another counter's sale, a cash move or a shift closed and
opened again, then the fault is undone. Every answer is recorded as ok, refused (a clear
error) or unknown (no answer in time). A counter may join the store during a fault.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tests.faults import clocks as clock_files
from tests.faults import disks as small_disks
from tests.faults import lan as hosts
from tests.faults.clocks import Clocks
from tests.faults.disks import Disks
from tests.faults.lan import Host, Lan
from tillmesh.lab.demo_store import (
    ADMIN,
    CASHIER,
    INVOICE,
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
JOINERS = ("C04", "C05")  # counters that may join during a fault, in this order
SIM_PORT = 8000
DISK_MB = 64  # each counter's filesystem: some 6 MB used after a short run
HELD_S = 60.0  # seconds ERPNext withholds a booked answer from a forwarder it then loses
HOLD_WAIT_S = 15.0  # seconds for a forwarder to send something ERPNext can withhold
# How wrong a counter's clock goes, in seconds. The store refuses a stamp more than a
# minute ahead of its own clock (max_clock_ahead_s) until its clocks pass it: +90 s is
# refused for up to 90 s after the clock is put right, shown to admins meanwhile; an hour
# ahead would hold that counter's sales back from the store for an hour (README).
SKEWS_S = (90, 30, -2700, -90)
MAX_AHEAD_S = 60  # the counters' max_clock_ahead_s (the default)
SLOW_KBIT = 512  # a slow link's rate
LOSS_PERCENT, DUPLICATE_PERCENT = 20, 30
CALL_TIMEOUT_S = 5.0  # seconds; an answer not come by then is "unknown"
COMMAND_TIMEOUT_S = 120.0  # seconds for `tillmesh init`, `join`, `erpnext setup`
SIM_START_S = 30.0
AGREE_S = 120.0  # seconds for the healed store to hold the same events everywhere
DELIVER_S = 180.0  # seconds for everything to reach ERPNext once all is healed
RETURN_CHANCE = 0.3  # of a round having a return of another counter's sale
CASH_CHANCE = 0.3  # of a round having cash put in or taken out at one counter
SHIFT_CHANCE = 0.15  # of a round having one counter's shift closed and opened again
FAULTS = ("cut one", "split", "bridge", "one way", "loss", "duplicates", "slow link",
          "kill", "stop", "clock skew", "disk full", "erpnext down", "forwarder killed",
          "closed away", "joining")
# Undone after the others (they wait for the store to agree), so applied first.
AGREEING = ("closed away", "joining")


def unavailable() -> str | None:
    """Why the suite cannot run here (hosts, disks or clocks of its own), or None."""
    return hosts.unavailable() or small_disks.unavailable() or clock_files.unavailable()


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
    held_back: list[str]  # returns for a supervisor to review, held with ERPNext's reason

    @property
    def whole(self) -> bool:
        return not (self.lost or self.duplicated or self.divergent or self.undelivered)

    def table(self) -> str:
        rows = [("operations", ", ".join(f"{k} {n}" for k, n in sorted(self.outcomes.items()))),
                ("faults", ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))),
                ("lost", str(len(self.lost))), ("duplicated", str(len(self.duplicated))),
                ("divergent", str(len(self.divergent))),
                ("undelivered", str(len(self.undelivered))),
                ("held for review", str(len(self.held_back))),
                ("agreed after the heal", f"{self.agreed_s:.2f} s"),
                ("ERPNext", ", ".join(f"{n} {k}" for k, n in self.erpnext.items())),
                ("ERPNext exactly once", "yes" if not (self.lost or self.duplicated) else "NO")]
        width = max(len(k) for k, _ in rows)
        details = [f"  {line}" for line in (*self.lost, *self.duplicated, *self.divergent,
                                             *self.undelivered, *self.held_back)][:30]
        return "\n".join([f"{k:<{width}}  {v}" for k, v in rows] + details)


class FaultStore:
    def __init__(self, lan: Lan, disks: Disks, root: Path, seed: int,
                 say: Callable[[str], None]) -> None:
        self.lan = lan
        self.disks = disks
        self.clocks = Clocks(root)
        self.root = root
        self.rng = random.Random(seed)
        self.say = say
        self.codes = barcodes()
        self.counters: dict[str, CounterHost] = {}
        self.sold: dict[str, list[str]] = {}  # per counter, the invoices answered ok
        self.outcomes: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.round: list[str] = []  # this round's faults
        self.refusal: str | None = None  # the last call's refusal, by kind
        self.sim: subprocess.Popen[str] | None = None
        self.sim_host: Host | None = None
        self.sim_settings: list[str] = []  # `tillmesh erpnext setup` arguments
        self.held: queue.Queue[str] = queue.Queue()  # the simulator's `held ...` lines
        self.dump = root / "erpnext.json"

    # --- the store -------------------------------------------------------------------------

    def open(self) -> None:
        self.sim_host = self.lan.host("ERP")
        url, key, secret = self._start_simulator(self.sim_host)
        self.sim_settings = ["erpnext", "setup", "--url", url, "--key", key, "--secret",
                             secret, "--insecure"]
        first = self._place("C01")
        self._command(first, ["init", "--node", "C01", "--demo", *self._network(first)],
                      ADMIN[1])
        first.counter.start()
        for name in COUNTERS[1:]:
            self._join(self._place(name), first)
        for till in self.counters.values():
            self._ready(till)
        self.agree()

    def _place(self, name: str) -> CounterHost:
        """A new host for counter ``name``, its data dir on a small disk of its own, its
        clock its own; the counter's log beside the disk, so it is kept when that fills."""
        host = self.lan.host(name)
        data_dir = self.disks.disk(self.root / name, DISK_MB) / "store"
        counter = CounterProcess(data_dir, (*host.prefix(), *self.clocks.prefix(name)))
        counter.log = self.root / f"{name}-run.log"
        till = CounterHost(name, counter, CALL_TIMEOUT_S, host=host)
        self.counters[name] = till
        self.sold[name] = []
        return till

    def _join(self, till: CounterHost, inviter: CounterHost) -> None:
        code = inviter.as_user(ADMIN).call("invite_create")["code"]
        self._command(till, ["join", "--node", till.name, *self._network(till)], code)
        till.counter.start()

    def _ready(self, till: CounterHost) -> None:
        """ERPNext set up and a shift open: the counter sells."""
        self._command(till, self.sim_settings, "")
        till.as_user(CASHIER).shift_open({"Cash": "100.00"})

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
        """The simulator drops client-chosen names on ``/api/resource`` as upstream
        Frappe 15 does (only API v2 keeps them), and takes faults on its stdin."""
        with open(self.root / "erpnext.log", "wb") as log:
            self.sim = subprocess.Popen(
                [*host.prefix(), sys.executable, "-m", "tillmesh.lab.erpnext_simulator",
                 "--host", host.address, "--port", str(SIM_PORT), "--dump", str(self.dump),
                 "--drop-resource-names", "--control"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.sim.stdout is not None
        said = dict(self.sim.stdout.readline().split(":", 1) for _ in range(4))
        threading.Thread(target=self._hear_simulator, args=(self.sim.stdout,), daemon=True,
                         name="simulator-stdout").start()
        return said["url"].strip(), said["key"].strip(), said["secret"].strip()

    def _hear_simulator(self, lines: Any) -> None:
        for line in lines:
            if line.startswith("held "):
                self.held.put(line.strip())
            elif line.startswith("error"):
                self.say(f"ERPNext simulator: {line.strip()}")

    def _tell_simulator(self, command: str) -> None:
        assert self.sim is not None and self.sim.stdin is not None
        self.sim.stdin.write(command + "\n")
        self.sim.stdin.flush()

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
            assert self.sim.stdin is not None
            self.sim.stdin.close()
            self.sim.terminate()
            self.sim.wait(COMMAND_TIMEOUT_S)

    # --- the workload ------------------------------------------------------------------------

    def running(self) -> list[CounterHost]:
        return [c for c in self.counters.values() if c.state == "up"]

    def _call(self, kind: str, action: Callable[[], Any]) -> Any:
        self.refusal = None
        try:
            answer = action()
        except NodeUnavailable:
            self.outcomes[f"{kind} unknown"] += 1
            return None
        except TillmeshError as refusal:  # a clear error: counted by its kind
            self.refusal = type(refusal).__name__
            self.outcomes[f"{kind} refused ({self.refusal})"] += 1
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
        """One unit of another counter's sale, at ``at``, a supervisor approving. When the
        sale's counter cannot confirm it (cut off), the supervisor records it unconfirmed
        half the time: it is flagged for review, and may give back what another counter
        gave back meanwhile."""
        theirs = [i for name, sold in self.sold.items() if name != at.name for i in sold]
        if not theirs:
            return
        sale = self.rng.choice(theirs)

        def give_back(unconfirmed: bool) -> str:
            client = at.as_user(CASHIER)
            row = client.invoice_get(sale)["items"][0]["name"]
            return str(client.call("return_create", invoice=sale,
                                   lines=[{"row": row, "qty": "1"}],
                                   approver={"user": SUPERVISOR[0], "pin": SUPERVISOR[1]},
                                   unconfirmed=unconfirmed)["invoice"])
        invoice = self._call("return", partial(give_back, False))
        if invoice is None and self.refusal == "ReturnUnconfirmed" and self.rng.random() < 0.5:
            invoice = self._call("return unconfirmed", partial(give_back, True))
        if invoice is not None:
            self.sold[at.name].append(invoice)

    def move_cash(self, till: CounterHost) -> None:
        """Cash put in (a float top-up) or taken out (to the safe, a supervisor approving):
        taking out more than the drawer holds is refused, clearly, and counted so."""
        direction = self.rng.choice(("in", "out"))
        amount = f"{self.rng.randint(5, 60)}.00"
        self._call(f"cash {direction}", lambda: till.as_user(CASHIER).cash_move(
            direction, amount, "float top-up" if direction == "in" else "to the safe",
            approver={"user": SUPERVISOR[0], "pin": SUPERVISOR[1]}))

    def change_shift(self, till: CounterHost) -> None:
        """The supervisor closes this counter's shift here, counting what it expects; the
        next cashier opens one."""
        def close() -> None:
            supervisor = till.as_user(SUPERVISOR)
            current = till.as_user(CASHIER).shift_current()
            if current is None:
                return
            expected = supervisor.shift_report(current["shift"])["report"]["expected"]
            supervisor.shift_close(current["shift"], {"Cash": "0", "Card": "0", **expected})
        self._call("shift closed", close)
        self._call("shift opened",
                   lambda: till.as_user(CASHIER).shift_open({"Cash": "100.00"}))

    # --- the faults --------------------------------------------------------------------------

    def apply(self, fault: str) -> Callable[[], None]:
        """Start ``fault``; what undoes it."""
        self.faults[fault] += 1
        names = list(self.counters)
        one = self.rng.choice(names)
        victim = self.counters[one]
        if fault == "cut one":
            self.lan.cut([one], [n for n in names if n != one] + ["ERP"])
        elif fault == "split":
            self.lan.cut([one], [n for n in names if n != one])
        elif fault == "bridge":  # two reach each other only through the third
            a, b = self.rng.sample([n for n in names if n != one], 2)
            self.lan.cut([a], [b])
        elif fault == "one way":  # one hears the other, is not heard
            self.lan.one_way(one, self.rng.choice([n for n in names if n != one] + ["ERP"]))
        elif fault == "loss":
            self.lan.lose(LOSS_PERCENT)
        elif fault == "duplicates":
            self.lan.duplicate(DUPLICATE_PERCENT)
        elif fault == "slow link":
            self.lan.slow(SLOW_KBIT)
        elif fault == "erpnext down":
            self.lan.cut(["ERP"], names)
        elif fault == "kill" and victim.state == "up":
            self._signal(victim, signal.SIGKILL, "killed")
            return lambda: self._restart(victim)
        elif fault == "stop" and victim.state == "up":
            self._signal(victim, signal.SIGSTOP, "stopped")
            return lambda: self._resume(victim)
        elif fault == "clock skew":
            return self._skew(victim)
        elif fault == "disk full":
            self.disks.fill(victim.counter.data_dir.parent)
            return lambda: self.disks.free(victim.counter.data_dir.parent)
        elif fault == "forwarder killed":
            return self._kill_forwarder()
        elif fault == "closed away" and victim.state == "up":
            return self._close_away(victim)
        elif fault == "joining":
            return self._join_cut_off(victim)
        return self.lan.heal

    def _skew(self, victim: CounterHost) -> Callable[[], None]:
        """``victim``'s clock goes wrong while it sells, then is put right. Looked at when
        nothing else in the round keeps the counters apart: ``victim`` warns that every
        other counter's clock is off from its own; a stamp too far ahead is refused by the
        others, and said so to their admins."""
        skew = self.rng.choice(SKEWS_S)
        self.clocks.set(victim.name, skew)

        def undo() -> None:
            if victim.state == "up" and len(self.round) == 1:
                self.sell(victim)
                others = [c for c in self.running() if c is not victim]
                self._call("clock off, warned", lambda: until(
                    lambda: self._warns_of(victim, others), AGREE_S,
                    f"{victim.name} did not warn of its clock"))
                if skew > MAX_AHEAD_S:
                    self._call("stamps ahead refused, shown", lambda: until(
                        lambda: all(self._refuses_ahead(c, victim) for c in others),
                        AGREE_S, "the others did not show the refusal"))
            self.clocks.set(victim.name, 0)
        return undo

    @staticmethod
    def _refuses_ahead(till: CounterHost, of: CounterHost) -> bool:
        refused = till.as_user(ADMIN).call("security_status")["refused_events"]
        return any(r["origin"] == of.name and "ahead of this counter's clock" in r["why"]
                   for r in refused)

    @staticmethod
    def _warns_of(till: CounterHost, others: list[CounterHost]) -> bool:
        peers = {p["node"]: p for p in till.as_user(ADMIN).call("peers")}
        return all(peers.get(c.name, {}).get("skew_warning") for c in others)

    def _kill_forwarder(self) -> Callable[[], None]:
        """ERPNext books the next POS document a forwarder sends and withholds its answer;
        the forwarder is killed while it waits, restarted after the round. The document
        is in ERPNext, and no counter was told."""
        self._tell_simulator(f"hold {HELD_S} POST /api/v2/document/POS")
        for till in self.running():  # something to deliver
            self.sell(till)
        try:
            _, address, _, path = self.held.get(timeout=HOLD_WAIT_S).split(" ", 3)
        except queue.Empty:  # no forwarder reached ERPNext (another fault): nothing held
            self._tell_simulator("clear")
            self.outcomes["forwarder killed: nothing was sent"] += 1
            return lambda: None
        self._tell_simulator("clear")
        forwarder = next((c for c in self.counters.values() if c.host.address == address),
                         None)
        if forwarder is None or forwarder.state != "up":
            return lambda: None
        self._signal(forwarder, signal.SIGKILL, "killed")
        self.outcomes[f"{path.rpartition('/')[2]} booked, its forwarder killed"] += 1
        return lambda: self._restart(forwarder)

    def _join_cut_off(self, victim: CounterHost) -> Callable[[], None]:
        """A new counter joins the store while ``victim`` is cut off from the others; it
        sells in this round. Without a name left for one, only the cut."""
        others = [c for c in self.running() if c is not victim]
        self.lan.cut([victim.name], [n for n in self.counters if n != victim.name])
        name = next((n for n in JOINERS if n not in self.counters), None)
        if name is None or not others:
            return self.lan.heal
        till = self._place(name)
        try:
            self._join(till, self.rng.choice(others))
            self._ready(till)
            self.outcomes["join ok"] += 1
        except (RuntimeError, TillmeshError) as refusal:  # joins again after the heal
            self.say(f"{name} could not join during the fault: {refusal}")
            self.outcomes["join refused"] += 1
            till.state = "joining"
            return lambda: self._join_again(till)
        return self.lan.heal

    def _join_again(self, till: CounterHost) -> None:
        self.lan.heal()
        till.counter.stop()
        shutil.rmtree(till.counter.data_dir, ignore_errors=True)
        self._join(till, self.running()[0])
        self._ready(till)
        till.state = "up"

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
        if till.state != "killed":  # restarted already, by another fault's undo
            return
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
            faults.sort(key=lambda f: f not in AGREEING)
            self.round = faults
            undo = [self.apply(f) for f in faults]
            for till in self.running():
                self.sell(till)
            if self.running() and self.rng.random() < RETURN_CHANCE:
                self.take_back(self.rng.choice(self.running()))
            if self.running() and self.rng.random() < CASH_CHANCE:
                self.move_cash(self.rng.choice(self.running()))
            if self.running() and self.rng.random() < SHIFT_CHANCE:
                self.change_shift(self.rng.choice(self.running()))
            for till in self.running():
                self.sell(till)
            for step in reversed(undo):
                step()
            self.say(f"round {number}: {' + '.join(faults)}; "
                     f"{sum(len(s) for s in self.sold.values())} answered so far")

    # --- after the heal ----------------------------------------------------------------------

    def vectors(self) -> list[dict[str, int]]:
        return [dict(c.as_user(ADMIN).status()["vector"]) for c in self.counters.values()]

    def agree(self) -> float:
        try:
            return until(lambda: alike(self.vectors()), AGREE_S, "the store did not agree")
        except TimeoutError as exc:
            held = {c.name: c.as_user(ADMIN).status()["vector"] for c in self.counters.values()}
            raise TimeoutError(f"{exc}: {held}") from exc

    def delivered(self) -> bool:
        """Nothing owed: sent and acknowledged, or refused by ERPNext and waiting in the
        exceptions queue (which the checker then looks into)."""
        states = [c.as_user(ADMIN).call("erpnext_status") for c in self.counters.values()]
        return all(s["pending"] == 0 and s["late"] == 0 for s in states)

    def refused(self) -> tuple[list[str], list[str], set[str]]:
        """What waits in the exceptions queue: returns a supervisor must review anyway (more
        given back than sold, or recorded while the sale's counter was out of reach)
        held with ERPNext's reason; anything else refused; the returns' invoices."""
        supervisor = self.counters["C01"].as_user(SUPERVISOR)
        flagged = supervisor.returns_flagged()
        review = ({str(o["invoice"]) for o in flagged["over_returns"]}
                  | {str(u["invoice"]) for u in flagged["unconfirmed"]})
        held, other, names = [], [], set()
        for exception in supervisor.call("exceptions_list"):
            said = f"{exception['id']}: {exception['message']}"
            if exception["doctype"] == INVOICE and exception["name"] in review and \
                    exception["message"]:
                held.append(said)
                names.add(str(exception["name"]))
            else:
                other.append(f"refused by ERPNext, {said}")
        return held, other, names

    def check(self) -> Result:
        agreed = self.agree()
        supervisor = self.counters["C01"].as_user(SUPERVISOR)
        for shift in supervisor.shift_list("open"):  # the others' shifts closed remotely
            expected = supervisor.shift_report(shift["shift"])["report"]["expected"]
            supervisor.shift_close(shift["shift"], {"Cash": "0", "Card": "0", **expected})
        self.agree()
        until(self.delivered, DELIVER_S, "the store did not deliver everything")
        held_back, refused, for_review = self.refused()
        # ERPNext stops first: its answers (acks, stock readings) are events too, and the
        # counters must be compared holding the same ones.
        self._stop_simulator()
        self.agree()
        answered = [i for sold in self.sold.values() for i in sold]
        lost = [f"{i} missing on {c.name}" for c in self.counters.values() for i in answered
                if not holds(c.as_user(CASHIER), i)]
        used = {c.name: shutil.disk_usage(c.counter.data_dir).used for c in
                self.counters.values()}
        self.say("disk used: " + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in used.items()))
        alive = [f"{c.name} is not running" for c in self.counters.values()
                 if c.counter.proc is None or c.counter.proc.poll() is not None]
        self.close()
        docs = json.loads(self.dump.read_text())
        held = books([i for i in answered if i not in for_review],
                     lambda doctype: list(docs.get(doctype, [])), list(self.counters))
        tables = {c.name: digests(c.counter.data_dir) for c in self.counters.values()}
        return Result(self.outcomes, self.faults, lost + held.lost + alive, held.duplicated,
                      divergent(tables) + self._rebuilt_otherwise(tables),
                      held.undelivered + refused, agreed, held.counts, held_back)

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
    """One seeded run on new hosts and disks, removed again whatever happens."""
    with Lan() as lan, Disks() as disks:
        store = FaultStore(lan, disks, root, seed, say)
        try:
            store.open()
            store.rounds(rounds, harsh)
            return store.check()
        finally:
            store.close()

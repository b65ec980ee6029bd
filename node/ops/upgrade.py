"""``tillmesh upgrade | rollback | releases``: staged upgrades of a counter, one at a time
while the others sell, and the releases the store allows.

An installed counter keeps one virtualenv per release (``deploy/install.sh`` makes the
first one)::

    /opt/tillmesh/releases/<release>/           a virtualenv, root's, 0755
    /opt/tillmesh/current  -> releases/<r>      what the unit starts
    /opt/tillmesh/previous -> releases/<r>      what ``tillmesh rollback`` goes back to

``tillmesh upgrade WHEEL_OR_WHEELHOUSE`` (root):

1. refuses, before anything changes, a release the store does not allow (``tillmesh
   releases``), one that runs already, and a counter with a printer but no ``--user`` to
   print the test page with (or ``--no-test-print``);
2. installs the release with its ``printer`` extra (USB and serial printers) into
   ``releases/<release>``: from a wheelhouse offline with its dependencies, from a single
   wheel with those of the package index (pip's own settings, such as ``PIP_INDEX_URL``,
   apply); a release directory there already (``previous`` may point to it) is kept aside
   and comes back if the install fails;
3. migrates a copy of the store with it: an online copy (the node sells on), opened and
   rebuilt by the new release's ``tillmesh rebuild``; a release that cannot read this store
   fails here, and nothing live has changed;
4. switches ``current`` atomically (``previous`` becomes the release that ran), restarts
   the service;
5. checks it within ``--timeout`` (plus what the copy's migration took: the live store
   does the same at the first start): the local API answers as the new release, a peer is
   connected again if one was before, and a configured printer prints a test page;
6. on any failure after the switch: switches back, restarts, checks the old release and
   says so in one line with the reason (exit 1).

``tillmesh rollback`` swaps ``current`` and ``previous`` by hand: the previous release
reads the settings and migrates a copy of the store first (it rebuilds its projections at
its first start), then switch, restart, check, and back as in 6. if that fails.

The plans (``plan_upgrade``, ``plan_rollback``) and how a plan is carried out and undone
(``carry_out``) are pure: the steps that touch the machine are given to them. ``--dry-run``
prints the plan. Paths and the restart are overridable: ``--prefix`` or
``$TILLMESH_PREFIX``, ``--restart-command`` or ``$TILLMESH_RESTART_COMMAND``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tillmesh.node.api.client import Client
from tillmesh.node.domain.authority import KINDS, Change, fold
from tillmesh.node.domain.releases import RELEASE, Hold, allows, names
from tillmesh.node.errors import ConfigError, NodeUnavailable, TillmeshError, ValidationError
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.backup import copy_parts
from tillmesh.node.ops.cli import _as_user, _login_options, _read_pin, _refuse_pin
from tillmesh.node.ops.config import CONFIG_NAME, Config
from tillmesh.node.ops.const import API_TIMEOUT_S, PING_TIMEOUT_S
from tillmesh.node.ops.provisioning import node_running
from tillmesh.node.store import read_key_file
from tillmesh.node.store._engine import _connect, archive_path
from tillmesh.node.store.checkpoint import checkpoint_path
from tillmesh.node.store.event_codec import unpack_body

DataDir = Callable[[argparse.Namespace], Path]

PREFIX_ENV = "TILLMESH_PREFIX"
RESTART_ENV = "TILLMESH_RESTART_COMMAND"
DEFAULT_PREFIX = Path("/opt/tillmesh")
DEFAULT_RESTART = "systemctl restart tillmesh"
HEALTH_TIMEOUT_S = 120.0  # seconds a new release has to answer, reconnect and print: a
#   start takes seconds; a first start that rebuilds the projections adds what the copy's
#   migration took (that is added to it)
INSTALL_TIMEOUT_S = 900.0  # seconds for the virtualenv and pip (a wheelhouse is local)
MIGRATE_TIMEOUT_S = 3600.0  # seconds for the new release to migrate the copy (a rebuild:
#   about 0.3 ms an event, so an hour is millions of events)
RESTART_TIMEOUT_S = 120.0  # seconds for the restart command (systemd stops the node in 20)
POLL_S = 0.25  # seconds between two looks at the restarted node
ROOM_FACTOR = 2  # free space asked for the copy: the store once, and as much again for the
#   rebuild's pages and WAL
EXTRAS = "printer"  # pyproject's extras a counter runs with, as deploy/install.sh installs
WHEEL = re.compile(r"tillmesh-(?P<release>[^-]+)-[^-]+-[^-]+-[^-]+\.whl")


class UpgradeRefused(ConfigError):
    """Nothing was changed: the upgrade or rollback cannot start (says why)."""

    code = "upgrade_refused"


class UpgradeFailed(ConfigError):
    """A step failed; the message says what, and what was undone."""

    code = "upgrade_failed"


class StepFailed(Exception):
    """One step did not work (the reason, in words); the plan decides what follows."""


# --- the plan (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Install:
    release: str
    source: Path  # a wheel, or a wheelhouse directory


@dataclass(frozen=True)
class Migrate:
    release: str


@dataclass(frozen=True)
class ReadSettings:
    """The release reads this counter's ``tillmesh.toml``: an older one refuses a setting
    added after it, and would not start."""

    release: str


@dataclass(frozen=True)
class Switch:
    current: str
    previous: str | None  # None: no previous release


@dataclass(frozen=True)
class Restart:
    pass


@dataclass(frozen=True)
class Check:
    release: str
    peers: bool  # another counter must be connected again
    test_print: bool
    back: bool = False  # going back to the release that ran: given at least the default time


Step = Install | Migrate | ReadSettings | Switch | Restart | Check


@dataclass(frozen=True)
class Situation:
    """What the counter is now, as the plan needs it."""

    current: str | None  # the release ``current`` points to (None: no release layout)
    previous: str | None
    hold: Hold | None  # the store's allowed releases (None: any)
    peers: bool  # another counter is connected now
    test_print: bool  # a printer is configured and a test page is asked for


@dataclass(frozen=True)
class Plan:
    what: str  # "upgrade to 0.2.0", "rollback to 0.1.0"
    steps: tuple[Step, ...]
    undo: tuple[Step, ...]  # after a failure once ``current`` was switched
    back_to: str | None  # the release ``undo`` brings back


def release_of(names_found: Sequence[str]) -> str:
    """The release a wheel (its file name) or a wheelhouse (its files) holds."""
    found = sorted({m["release"] for n in names_found if (m := WHEEL.fullmatch(n))})
    if not found:
        raise UpgradeRefused("no tillmesh wheel there (tillmesh-<release>-py3-none-any.whl)")
    if len(found) > 1:
        raise UpgradeRefused(f"wheels of several releases there ({', '.join(found)}): keep "
                             "the one to install")
    if not RELEASE.fullmatch(found[0]):
        raise UpgradeRefused(f"{found[0]!r} is not a release")
    return found[0]


def plan_upgrade(release: str, source: Path, now: Situation) -> Plan:
    if now.current is None:
        raise UpgradeRefused("this counter has no release layout (current -> releases/<r>): "
                             "install it with deploy/install.sh first")
    if release == now.current:
        raise UpgradeRefused(f"release {release} runs already")
    if not allows(now.hold, release):
        assert now.hold is not None
        raise UpgradeRefused(
            f"the store allows only {names(now.hold.releases)}: an admin allows {release} "
            f"first (`tillmesh releases allow {' '.join((*now.hold.releases, release))}`)")
    return Plan(f"upgrade to {release}",
                (Install(release, source), Migrate(release), Switch(release, now.current),
                 Restart(), Check(release, now.peers, now.test_print)),
                _way_back(now), now.current)


def plan_rollback(now: Situation) -> Plan:
    if now.current is None or now.previous is None:
        raise UpgradeRefused("nothing to roll back to: there is no previous release")
    # The older release rebuilds its projections at its first start: migrating a copy
    # first proves it reads this store and gives the check the time that takes.
    return Plan(f"rollback to {now.previous}",
                (ReadSettings(now.previous), Migrate(now.previous),
                 Switch(now.previous, now.current), Restart(),
                 Check(now.previous, now.peers, now.test_print)),
                _way_back(now), now.current)


def _way_back(now: Situation) -> tuple[Step, ...]:
    """Back to the release running now, after a failure once ``current`` was switched."""
    assert now.current is not None
    return (Switch(now.current, now.previous), Restart(),
            Check(now.current, now.peers, False, back=True))


def describe(step: Step) -> str:
    if isinstance(step, Install):
        return f"install {step.release} from {step.source}"
    if isinstance(step, Migrate):
        return f"migrate a copy of the store with {step.release}"
    if isinstance(step, ReadSettings):
        return f"{step.release} reads this counter's settings"
    if isinstance(step, Switch):
        after = f" (previous: {step.previous})" if step.previous else ""
        return f"switch current to {step.current}{after}"
    if isinstance(step, Restart):
        return "restart the node"
    checks = ["the local API answers", *(["a peer connects"] if step.peers else []),
              *(["a test page prints"] if step.test_print else [])]
    return f"check {step.release}{' (going back)' if step.back else ''}: {', '.join(checks)}"


def carry_out(plan: Plan, run: Callable[[Step], str], say: Callable[[str], None]) -> None:
    """Run the plan's steps in order, saying each; on a failure once ``current`` was
    switched, its undo steps. UpgradeFailed names the failure and what was undone."""
    def step_by_step(steps: Sequence[Step]) -> None:
        for step in steps:
            try:
                said = run(step)
            except StepFailed:
                say(f"  {describe(step)}: FAILED")
                raise
            say(f"  {describe(step)}: {said}")

    switched = False
    for step in plan.steps:
        try:
            step_by_step([step])
        except StepFailed as exc:
            failed = f"{plan.what} failed: {exc}"
            if not switched:
                raise UpgradeFailed(f"{failed}; nothing was switched") from exc
            if not plan.undo:
                raise UpgradeFailed(failed) from exc
            try:
                step_by_step(plan.undo)
            except StepFailed as worse:
                raise UpgradeFailed(f"{failed}; going back to {plan.back_to} failed too: "
                                    f"{worse}") from exc
            raise UpgradeFailed(f"{failed}; rolled back to {plan.back_to}, which runs "
                                "again") from exc
        switched = switched or isinstance(step, Switch)


def health_problem(state: Mapping[str, Any] | None, peers: Sequence[Mapping[str, Any]],
                   check: Check) -> str | None:
    """What keeps the restarted node from passing ``check`` now, or None. A release that
    does not say its release in ``counter_state`` passes on its answer alone."""
    if state is None:
        return "the node does not answer"
    said = state.get("release")
    if said is not None and said != check.release:
        return f"the node that answers runs {said}, not {check.release}"
    if check.peers and not any(p.get("live") and p.get("state") == "ready" for p in peers):
        return "no other counter is connected (one was before)"
    return None


def copy_settings(text: str, values: Mapping[str, str]) -> str:
    """``tillmesh.toml``'s text with ``values`` set (top-level string settings), the rest
    as written: the new release reads the copy's settings as it will read the live ones."""
    lines = text.splitlines()
    table = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")),
                 len(lines))
    keep = [line for line in lines[:table]
            if not re.match(rf"\s*({'|'.join(map(re.escape, values))})\s*=", line)]
    given = [f"{key} = {_quoted(value)}" for key, value in values.items()]
    return "\n".join(given + keep + lines[table:]) + "\n"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the machine ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    prefix: Path

    @property
    def releases(self) -> Path:
        return self.prefix / "releases"

    @property
    def current(self) -> Path:
        return self.prefix / "current"

    @property
    def previous(self) -> Path:
        return self.prefix / "previous"

    def bin(self, release: str) -> Path:
        return self.releases / release / "bin"

    def release(self, link: Path) -> str | None:
        """The release ``link`` points to (``releases/<r>``), or None."""
        if not link.is_symlink():
            return None
        target = Path(os.readlink(link))
        return target.name if target.parent.name == "releases" else None

    def point(self, link: Path, release: str | None) -> None:
        """Point ``link`` at ``releases/<release>`` in one rename (None: remove it)."""
        if release is None:
            link.unlink(missing_ok=True)
            return
        new = link.with_name(f".{link.name}.new")
        new.unlink(missing_ok=True)
        os.symlink(f"releases/{release}", new)
        os.replace(new, link)


# Run by a release's own Python: every release has this loader; its refusal in one line.
READ_SETTINGS = """
import sys
from pathlib import Path
from tillmesh.node.ops.config import load
try:
    load(Path(sys.argv[1]))
except Exception as exc:
    sys.exit(getattr(exc, "message", None) or str(exc))
"""


def _run(command: Sequence[str | Path], what: str, timeout: float) -> str:
    """Run ``command`` (umask 022: the release is read by the service user; in /, so no
    tillmesh of the caller's directory is imported); its output, or StepFailed with the
    last line it said."""
    try:
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                              timeout=timeout, umask=0o022, stdin=subprocess.DEVNULL, cwd="/")
    except subprocess.TimeoutExpired as exc:
        raise StepFailed(f"{what} did not finish within {timeout:.0f} s") from exc
    except OSError as exc:
        raise StepFailed(f"{what}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise StepFailed(f"{what} failed: {said}")
    return done.stdout


class Machine:
    """The steps as this counter carries them out."""

    def __init__(self, config: Config, layout: Layout, restart: str, timeout_s: float,
                 login: tuple[str, str] | None) -> None:
        self.config = config
        self.layout = layout
        self.restart = restart
        self.timeout_s = timeout_s
        self.login = login  # (user, PIN) for the test print

    def run(self, step: Step) -> str:
        started = time.monotonic()
        if isinstance(step, Install):
            self._install(step)
        elif isinstance(step, Migrate):
            said = self._migrate(step)
            self.timeout_s += time.monotonic() - started  # the live store does it again
            return f"{said} ({time.monotonic() - started:.1f} s)"
        elif isinstance(step, ReadSettings):
            _run([self.layout.bin(step.release) / "python", "-c", READ_SETTINGS,
                  self.config.data_dir], f"{step.release} reading tillmesh.toml",
                 INSTALL_TIMEOUT_S)
        elif isinstance(step, Switch):
            self.layout.point(self.layout.previous, step.previous)
            self.layout.point(self.layout.current, step.current)
        elif isinstance(step, Restart):
            _run(shlex.split(self.restart), f"`{self.restart}`", RESTART_TIMEOUT_S)
        else:
            self._check(step)
        return f"done ({time.monotonic() - started:.1f} s)"

    def _install(self, step: Install) -> None:
        self.layout.releases.mkdir(parents=True, exist_ok=True)
        self.layout.releases.chmod(0o755)
        venv = self.layout.releases / step.release
        # A release installed before (``previous`` may point to it) waits aside until the
        # new one is in: a virtualenv cannot be moved into place (its scripts name their
        # Python by path), so the old one is moved out of the way instead.
        aside = venv.with_name(f".{step.release}.old")
        if aside.exists():  # an earlier try was cut off: venv is its half-done install
            shutil.rmtree(venv, ignore_errors=True)
            aside.rename(venv)
        if venv.exists():
            venv.rename(aside)
        try:
            self._install_into(venv, step)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            if aside.exists():
                aside.rename(venv)
            raise
        shutil.rmtree(aside, ignore_errors=True)

    def _install_into(self, venv: Path, step: Install) -> None:
        python = venv / "bin" / "python"
        # This release's pip installs into the new one (no pip of its own: seconds less);
        # a release without pip gives the new one its own.
        ours = importlib.util.find_spec("pip") is not None
        _run([sys.executable, "-m", "venv", *(["--without-pip"] if ours else []), venv],
             "making the virtualenv", INSTALL_TIMEOUT_S)
        pip: list[str | Path] = ([sys.executable, "-m", "pip", "--python", python] if ours
                                 else [python, "-m", "pip"])
        source = step.source
        # The extra as install.sh installs it: USB and serial printers keep working.
        wanted: list[str | Path] = (
            ["--no-index", "--find-links", source, f"tillmesh[{EXTRAS}]=={step.release}"]
            if source.is_dir() else ["--find-links", source.parent, f"{source}[{EXTRAS}]"])
        _run([*pip, "install", "--quiet", "--disable-pip-version-check", *wanted],
             f"installing {step.release}", INSTALL_TIMEOUT_S)
        said = _run([python, "-I", "-c",
                     "import importlib.metadata as m; print(m.version('tillmesh'))"],
                    f"reading the release installed into {venv}", INSTALL_TIMEOUT_S).strip()
        if said != step.release:
            raise StepFailed(f"{venv} holds release {said}, not {step.release}")

    def _migrate(self, step: Migrate) -> str:
        config = self.config
        work = Path(tempfile.mkdtemp(prefix=".migrate-", dir=self.layout.prefix))
        try:
            store, api = work / "store", work / "api"
            store.mkdir(mode=0o700)
            api.mkdir(mode=0o700)
            # The store with its checkpoint and archive: a rebuild starts from the one and
            # (a release with other tables) reads the other.
            copied = store / "tillmesh.db"
            copies = {"store": copied, "checkpoint": checkpoint_path(copied),
                      "archive": archive_path(copied)}
            size = sum(p.stat().st_size for part in (config.db_path,
                                                     checkpoint_path(config.db_path),
                                                     archive_path(config.db_path))
                       for p in part.parent.glob(part.name + "*") if p.is_file())
            free = shutil.disk_usage(work).free
            if free < ROOM_FACTOR * size:
                raise StepFailed(f"{work.parent} has {free / 2**20:,.0f} MiB free; the copy "
                                 f"of the store needs {ROOM_FACTOR * size / 2**20:,.0f} MiB")
            try:
                copy_parts(config, read_key_file(config.key_path), copies)
            except TillmeshError as exc:
                raise StepFailed(exc.message) from exc
            # Its own socket (never the live node's lock), the live keys, the copy's file.
            settings = copy_settings((config.data_dir / CONFIG_NAME).read_text(), {
                "api_socket": str(api / "api.sock"), "db_file": "tillmesh.db",
                "key_file": str(config.key_path), "node_key_file": str(config.node_key_path)})
            (store / CONFIG_NAME).write_text(settings)
            out = _run([self.layout.bin(step.release) / "tillmesh", "--data-dir", store,
                        "rebuild"], f"{step.release} migrating a copy of the store",
                       MIGRATE_TIMEOUT_S)
            return (out.strip().splitlines() or ["migrated"])[-1]
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _check(self, check: Check) -> None:
        # The release that ran before gets at least the default: it is known to work here.
        patience = max(self.timeout_s, HEALTH_TIMEOUT_S) if check.back else self.timeout_s
        deadline = time.monotonic() + patience
        with Client(self.config.api_endpoint, timeout=PING_TIMEOUT_S) as client:
            while (problem := _health(client, check)) is not None:
                if time.monotonic() > deadline:
                    raise StepFailed(f"{problem} after {patience:.0f} s")
                time.sleep(POLL_S)
            if check.test_print:
                self._test_print(client, deadline)

    def _test_print(self, client: Client, deadline: float) -> None:
        if self.login is None:  # refused before anything was done (``_login``)
            raise StepFailed("no user to print the test page as")
        client.timeout = API_TIMEOUT_S
        try:
            client.login(*self.login)
            job = client.call("printer_test")["job"]
            while True:
                status = client.call("printer_status")
                dropped = [j for j in status.get("dropped") or () if j.get("id") == job]
                if dropped:
                    raise StepFailed(f"the test page was not printed: "
                                     f"{dropped[-1].get('last_error') or 'given up'}")
                if not any(j.get("id") == job for j in status.get("jobs") or ()):
                    return
                if time.monotonic() > deadline:
                    raise StepFailed("the test page waits to print: "
                                     f"{status.get('last_error') or 'the printer is silent'}")
                time.sleep(POLL_S)
        except TillmeshError as exc:
            raise StepFailed(f"the test print: {exc.message}") from exc


def _health(client: Client, check: Check) -> str | None:
    try:
        state = client.call("counter_state")
        peers = client.call("peers") if check.peers else []
    except NodeUnavailable:
        state, peers = None, []
    return health_problem(state, peers, check)


def hold_in_store(config: Config) -> Hold | None:
    """The store's allowed releases, folded from its events by this code: whatever release
    runs the node (one before allowed releases ignores them, and keeps no table of them)
    and without opening the store as this release would (which migrates it)."""
    conn = _connect(config.db_path, read_key_file(config.key_path))
    try:
        marks = ", ".join("?" * len(KINDS))
        rows = conn.execute(f"SELECT origin, seq, hlc, kind, body, coalesce(sig, x'') FROM "
                            f"events WHERE kind IN ({marks})", KINDS).fetchall()
    finally:
        conn.close()
    hold = fold(Change(hlc, origin, seq, kind, unpack_body(body), bool(sig))
                for origin, seq, hlc, kind, body, sig in rows).releases
    return hold if hold is not None and hold.releases else None


def _peers_connected(config: Config) -> bool:
    """Whether the running node is connected to another counter (not running: no)."""
    if not node_running(config):
        return False
    with Client(config.api_endpoint, timeout=API_TIMEOUT_S) as client:
        peers = client.call("peers")
    return any(p.get("live") and p.get("state") == "ready" for p in peers)


@contextlib.contextmanager
def _one_at_a_time(layout: Layout) -> Iterator[None]:
    try:
        fd = os.open(layout.prefix / ".upgrade.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
    except OSError as exc:
        raise UpgradeRefused(f"cannot write {layout.prefix} ({exc.strerror}): run it as "
                             "root") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise UpgradeRefused("another upgrade or rollback runs on this counter") from exc
        yield
    finally:
        os.close(fd)


# --- the commands ---------------------------------------------------------------------------


def _layout(args: argparse.Namespace) -> Layout:
    prefix = Path(args.prefix or os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX)
    if not prefix.is_dir():
        raise UpgradeRefused(f"{prefix} does not exist: give --prefix, or install the "
                             "counter with deploy/install.sh first")
    return Layout(prefix)


def _login(args: argparse.Namespace, config: Config) -> tuple[bool, tuple[str, str] | None]:
    """Whether a test page is printed, and as whom (its PIN asked now, before anything
    is done; not for a dry run)."""
    if config.printer.kind == "none" or args.no_test_print:
        return False, None
    if args.dry_run:
        return True, None
    if not args.user:
        raise UpgradeRefused("this counter has a printer: give --user (its PIN is asked) so "
                             "the new release prints a test page, or --no-test-print")
    return True, (args.user, _read_pin(f"PIN for {args.user}: "))


def _carry(data_dir: DataDir, args: argparse.Namespace,
           plan_for: Callable[[Situation], Plan]) -> None:
    config = config_mod.load(data_dir(args))
    layout = _layout(args)
    test_print, login = _login(args, config)
    with _one_at_a_time(layout):
        now = Situation(layout.release(layout.current), layout.release(layout.previous),
                        hold_in_store(config), _peers_connected(config), test_print)
        plan = plan_for(now)
        held = "any release" if now.hold is None else f"only {names(now.hold.releases)}"
        print(f"{plan.what} on {config.node_id} (runs {now.current}; the store allows "
              f"{held})", flush=True)
        if args.dry_run:
            for step in plan.steps:
                print(f"  would {describe(step)}")
            return
        restart = args.restart_command or os.environ.get(RESTART_ENV) or DEFAULT_RESTART
        machine = Machine(config, layout, restart, args.timeout, login)
        carry_out(plan, machine.run, lambda line: print(line, flush=True))


def cmd_upgrade(data_dir: DataDir, args: argparse.Namespace) -> int:
    source = Path(args.source).resolve()
    if source.is_dir():
        release = release_of([p.name for p in source.iterdir()])
    elif source.is_file():
        release = release_of([source.name])
    else:
        raise UpgradeRefused(f"{args.source} is neither a wheel nor a wheelhouse directory")
    _carry(data_dir, args, lambda now: plan_upgrade(release, source, now))
    if not args.dry_run:
        print(f"{release} runs on this counter; `tillmesh rollback` goes back")
    return 0


def cmd_rollback(data_dir: DataDir, args: argparse.Namespace) -> int:
    def plan(now: Situation) -> Plan:
        rollback = plan_rollback(now)
        if now.previous is not None and not allows(now.hold, now.previous):
            print(f"note: the store does not allow {now.previous}: the counter will not "
                  "sell until an admin allows it (`tillmesh releases allow`)", flush=True)
        return rollback

    _carry(data_dir, args, plan)
    if not args.dry_run:
        print("rolled back: `tillmesh rollback` again returns to the release before")
    return 0


def cmd_releases(data_dir: DataDir, args: argparse.Namespace) -> int:
    if args.allow is None and (args.releases or args.any):
        raise ValidationError("`tillmesh releases allow RELEASE…` (or `allow --any`)")
    if args.force and args.allow is None:
        raise ValidationError("--force goes with `tillmesh releases allow RELEASE…`")
    if args.allow is not None and bool(args.releases) == bool(args.any):
        raise ValidationError("name the releases the store allows, or --any for every one")
    if args.allow is not None:
        answer = _as_user(args, "releases_allow", releases=list(args.releases),
                          force=args.force)
    else:
        config = config_mod.load(data_dir(args))
        with Client(config.api_endpoint, timeout=API_TIMEOUT_S) as client:
            answer = client.call("releases")
    print("\n".join(releases_lines(answer)))
    return 0


def releases_lines(answer: Mapping[str, Any]) -> list[str]:
    """``releases`` (the API's answer) for IT: what the store allows, then every counter
    connected now with its release and whether it may sell."""
    allowed = answer.get("allowed") or []
    lines = [f"the store allows {names(allowed)} (set by {answer.get('set_by') or 'an admin'}"
             f" on {answer.get('set_on')})" if allowed else "the store allows any release"]
    for row in answer.get("counters") or ():
        said = [f"protocol {row['protocol']}"] if row.get("protocol") else []
        said += [f"schema {row['schema']}"] if row.get("schema") else []
        verdict = {True: "may sell", False: "NOT ALLOWED: does not sell",
                   None: "release unknown (it does not say it)"}[row.get("allowed")]
        mine = " (this counter)" if row.get("node") == answer.get("node") else ""
        lines.append(f"{row.get('node', '?'):<8} {row.get('release') or '?':<12} "
                     f"{', '.join(said):<22} {verdict}{mine}")
    return lines


def add_commands(sub: Any, data_dir: DataDir) -> None:
    """``upgrade``, ``rollback`` and ``releases`` on the ``tillmesh`` parser."""
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--prefix", help=f"where the releases live (default ${PREFIX_ENV} or "
                       f"{DEFAULT_PREFIX})")
        p.add_argument("--restart-command", metavar="COMMAND", help="how the node is "
                       f"restarted (default ${RESTART_ENV} or `{DEFAULT_RESTART}`)")
        p.add_argument("--timeout", type=float, default=HEALTH_TIMEOUT_S, metavar="SECONDS",
                       help="how long the restarted node has to answer, reconnect and print "
                       f"(default {HEALTH_TIMEOUT_S:.0f}, plus what migrating the copy took)")
        p.add_argument("--no-test-print", action="store_true",
                       help="do not print a test page on this counter's printer")
        p.add_argument("--dry-run", action="store_true", help="say what would be done, only")
        p.add_argument("--user", help="who prints the test page where a printer is set "
                       "(PIN asked, or on standard input)")
        _refuse_pin(p)

    p = sub.add_parser("upgrade", help="install a release beside the running one, migrate a "
                       "copy of the store, switch, restart and check; back to the old "
                       "release by itself if that fails (root)")
    p.add_argument("source", metavar="WHEEL_OR_WHEELHOUSE",
                   help="a tillmesh wheel, or a directory of wheels with its dependencies "
                   "(offline)")
    common(p)
    p.set_defaults(fn=lambda args: cmd_upgrade(data_dir, args))

    p = sub.add_parser("rollback", help="go back to the previous release (root)")
    common(p)
    p.set_defaults(fn=lambda args: cmd_rollback(data_dir, args))

    p = sub.add_parser("releases", help="the releases the store allows and what each counter "
                       "runs; `releases allow RELEASE…` holds the store at them (admin)")
    p.add_argument("allow", nargs="?", choices=("allow",),
                   help="set the releases the store allows")
    p.add_argument("releases", nargs="*", metavar="RELEASE",
                   help="e.g. 0.1.0 0.2.0: counters running another release stop selling")
    p.add_argument("--any", action="store_true", help="with allow: every release may sell")
    p.add_argument("--force", action="store_true", help="with allow: releases that neither "
                   "this counter nor a connected one runs (every counter stops selling)")
    _login_options(p)
    p.set_defaults(fn=lambda args: cmd_releases(data_dir, args))

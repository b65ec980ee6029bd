"""Staged upgrades with real releases (issue 13, point 2). The tree under test and the
previous release, built from git, are each installed into a virtualenv of their own, as an
installed counter keeps them (releases/<r>, current, previous). A store of two counters,
one on each release, sells on both and replicates both ways; the store's allowed releases
hold a counter back from selling while it replicates on; ``tillmesh upgrade`` moves the
running counter to the new release (healthy, replicating, a test page printed); a broken
release goes back by itself; ``tillmesh rollback`` goes back by hand.

The previous release is the code that stores ran before this one: the last landed commit
before replication protocol 5 (``PREVIOUS_RELEASE``, protocol 4;
``$TILLMESH_PREVIOUS_RELEASE`` names another commit), under a lower version; the broken
release is the new wheel under a higher version whose node exits at start. Wheels are
built offline (``pip wheel --no-deps --no-build-isolation``) and installed without
downloading (``--no-index --no-deps``); the test venv's dependencies reach them through
PYTHONPATH, a directory of links that leaves tillmesh itself out. The service manager is
a stand-in script: it stops the node it started and starts ``current/bin/tillmesh run``,
as ``systemctl restart`` does the unit's. The tree's own commands run in this process
(``cli.main``): starting Python and importing the node costs a second or more a command.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clusterkit import admin, cashier, converge, linked
from tests.proc import (
    DEMO_ADMIN_PIN,
    START_DEADLINE_S,
    NodeProcess,
    Nodes,
    demo_barcodes,
    network,
    one_clear_line,
    sell_one,
)
from tillmesh.node.api.client import Client
from tillmesh.node.errors import NodeUnavailable, NotFoundError, PermissionDenied
from tillmesh.node.ops.cli import main
from tillmesh.node.ops.config import CONFIG_NAME, load
from tillmesh.node.store.schema import SCHEMA_VERSION
from tillmesh.replication.const import PROTOCOL_VERSION

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
CONVERGE_S = 20.0  # seconds; well under one on a LAN
HEALTH_S = "60"  # seconds the upgraded node has to come up (a loaded CI machine)
BROKEN_S = "1"  # ... and the broken one, which never does (plus what its migration took)

# The restart of an installed counter, as systemd does it for the unit: stop the node this
# script started (SIGTERM, then SIGKILL), start `current/bin/tillmesh run` again.
SERVICE = '''
import os, signal, subprocess, sys, time
from pathlib import Path
state, data, current = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def gone(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except (OSError, IndexError):
        return True

pidfile = state / "node.pid"
if pidfile.exists():
    pid = int(pidfile.read_text())
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if gone(pid):
            break
runs = len(list(state.glob("run-*.log"))) + 1
log = open(state / f"run-{runs}.log", "wb")
node = subprocess.Popen([f"{current}/bin/tillmesh", "--data-dir", data, "run"],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True)
pidfile.write_text(str(node.pid))
'''


# The last release that landed before this one (stop 21): protocol 4, no release in its
# Hello. Move it on when a release lands whose successor must replicate with it.
PREVIOUS_RELEASE = "052dc01540a2ed6758ecc34fe5ee2e6f4d2ccb78"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def previous_commit() -> str:
    """The commit the previous release is built from, or skip with the reason."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the previous release is built from git")
    try:
        if _git("rev-parse", "--is-shallow-repository").strip() == "true":
            pytest.skip("a shallow clone: the previous release is built from git history")
        commit = os.environ.get("TILLMESH_PREVIOUS_RELEASE") or PREVIOUS_RELEASE
        return _git("rev-parse", "--verify", f"{commit}^{{commit}}").strip()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"no git history to build the previous release from: {exc.stderr.strip()}")


def _version(source: Path) -> str:
    found = re.search(r'^version = "([^"]+)"', (source / "pyproject.toml").read_text(), re.M)
    assert found is not None
    return found[1]


def _set_version(source: Path, version: str) -> None:
    path = source / "pyproject.toml"
    path.write_text(re.sub(r'^version = "[^"]+"', f'version = "{version}"', path.read_text(),
                           count=1, flags=re.M))


def _wheels(*sources: Path) -> list[Path]:
    """A wheel of each source tree, built side by side, offline."""
    builds = [subprocess.Popen([PYTHON, "-m", "pip", "wheel", "--no-deps",
                                "--no-build-isolation", "-q", "-w", str(source / "dist"),
                                str(source)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
              for source in sources]
    for build in builds:
        _, err = build.communicate(timeout=300)
        assert build.returncode == 0, err.decode()
    return [next((source / "dist").glob("tillmesh-*.whl")) for source in sources]


def _tree(dest: Path) -> Path:
    """A copy of the tree under test (no build/ of an earlier layout can leak in)."""
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache", "tests"))
    return dest


def _broken(wheel: Path, release: str, broken: str, out: Path) -> Path:
    """``wheel`` as release ``broken``, whose node cannot start (its RECORD made anew)."""
    out.mkdir()
    target = out / wheel.name.replace(f"-{release}-", f"-{broken}-")
    info, new_info = f"tillmesh-{release}.dist-info/", f"tillmesh-{broken}.dist-info/"
    with zipfile.ZipFile(wheel) as source:
        files = {name.replace(info, new_info): source.read(name) for name in source.namelist()}
    files[new_info + "METADATA"] = files[new_info + "METADATA"].replace(
        f"Version: {release}\n".encode(), f"Version: {broken}\n".encode())
    files["tillmesh/node/ops/daemon.py"] += (
        b"\n\ndef run(*args, **kwargs):\n"
        b"    raise SystemExit('tillmesh: this release is broken on purpose')\n")
    record = new_info + "RECORD"

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    files[record] = "".join([*(f"{name},sha256={digest(data)},{len(data)}\n"
                               for name, data in files.items() if name != record),
                             f"{record},,\n"]).encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as made:
        for name, data in files.items():
            made.writestr(name, data)
    return target


@dataclass(frozen=True)
class Releases:
    new: str
    old: str
    broken: str
    new_wheel: Path
    old_wheel: Path
    broken_wheel: Path
    env: dict[str, str]  # reaches the test venv's dependencies, downloads nothing


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    commit = previous_commit()
    work = tmp_path_factory.mktemp("releases")
    new_src = _tree(work / "new")
    new = _version(new_src)
    old_src = work / "old"
    old_src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                             capture_output=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive, check=True, timeout=120)
    old = f"{new}.dev1"  # lower than the new one
    _set_version(old_src, old)
    deps = work / "deps"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("tillmesh", "__editable__")):
            (deps / entry.name).symlink_to(entry)
    env = {**os.environ, "PYTHONPATH": str(deps), "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1",
           "PYTHONUNBUFFERED": "1"}
    new_wheel, old_wheel = _wheels(new_src, old_src)
    broken = f"{new}.post1"
    return Releases(new, old, broken, new_wheel, old_wheel,
                    _broken(new_wheel, new, broken, work / "broken"), env)


def install(prefix: Path, wheel: Path, release: str) -> None:
    """What install.sh leaves: the release's virtualenv, ``current`` pointing at it."""
    venv = prefix / "releases" / release
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([PYTHON, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
                    "--no-index", "--no-deps", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    (prefix / "current").symlink_to(f"releases/{release}")


def run(binary: Path, data_dir: Path, *args: str, env: dict[str, str], stdin: str = "",
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), "--data-dir", str(data_dir), *args], input=stdin,
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


class Tillmesh:
    """``tillmesh --data-dir DIR ARGS…`` of the tree under test, in this process, with the
    releases' environment (their dependencies, no downloads) for what it starts."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                 env: dict[str, str]) -> None:
        self.capsys, self.monkeypatch, self.env = capsys, monkeypatch, env

    def __call__(self, data_dir: Path, *args: str, stdin: str = "",
                 ) -> subprocess.CompletedProcess[str]:
        self.capsys.readouterr()
        with self.monkeypatch.context() as m:
            for key in ("PYTHONPATH", "PIP_NO_INDEX", "PIP_NO_DEPS"):
                m.setenv(key, self.env[key])
            m.setattr(sys, "stdin", io.StringIO(stdin))
            code = main(["--data-dir", str(data_dir), *args])
        out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)


class Service:
    """The counter as its service manager runs it: ``current`` restarted by the stand-in
    script (the ``--restart-command`` of ``tillmesh upgrade``)."""

    def __init__(self, prefix: Path, data_dir: Path, env: dict[str, str]) -> None:
        self.prefix, self.data_dir, self.env = prefix, data_dir, env
        self.state = data_dir.parent / "service"
        self.state.mkdir()
        script = self.state / "restart.py"
        script.write_text(SERVICE)
        self.restart_command = shlex.join([PYTHON, str(script), str(self.state),
                                           str(data_dir), str(prefix / "current")])
        self.endpoint = load(data_dir).api_endpoint

    @property
    def pid(self) -> int:
        return int((self.state / "node.pid").read_text())

    def start(self) -> None:
        subprocess.run(shlex.split(self.restart_command), env=self.env, check=True, timeout=60)
        deadline = time.monotonic() + START_DEADLINE_S
        with Client(self.endpoint, timeout=0.25) as client:
            while True:
                try:
                    client.call("methods")
                    return
                except NodeUnavailable:
                    assert time.monotonic() < deadline, self.logs()
                    time.sleep(0.05)

    def client(self, timeout: float = 5.0) -> Client:
        return Client(self.endpoint, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.state.glob("run-*.log")))

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.pid, signal.SIGKILL)


@pytest.fixture
def services() -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for service in made:
        service.stop()
        shutil.rmtree(service.data_dir.parent, ignore_errors=True)


def sells(proc: NodeProcess | Service, barcode: str) -> str:
    """One sale on ``proc`` (a shift opened first if need be); its invoice number."""
    with cashier(proc) as c:  # type: ignore[arg-type]
        if c.call("shift_current") is None:
            c.shift_open({"Cash": "100.00"})
        return str(sell_one(c, barcode)["invoice"])


def arrives(proc: NodeProcess | Service, invoice: str) -> None:
    deadline = time.monotonic() + CONVERGE_S
    with admin(proc) as c:  # type: ignore[arg-type]
        while True:
            try:
                c.call("invoice_get", invoice=invoice)
                return
            except NotFoundError:
                assert time.monotonic() < deadline, f"{invoice} did not arrive"
                time.sleep(0.05)


def allow_releases(proc: NodeProcess | Service, *releases: str) -> None:
    with admin(proc) as a:  # type: ignore[arg-type]
        a.call("releases_allow", releases=list(releases))


def state_of(proc: NodeProcess | Service, wanted: str) -> dict[str, object]:
    """``counter_state`` once it says ``wanted`` (a replicated change takes a moment)."""
    deadline = time.monotonic() + CONVERGE_S
    with proc.client() as c:
        while (state := c.call("counter_state"))["state"] != wanted:
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
    return state


def peer_row(proc: NodeProcess | Service, node: str, release: str) -> dict[str, object]:
    """The ``peers`` row of ``node`` once it is connected and says ``release``."""
    deadline = time.monotonic() + CONVERGE_S
    with proc.client() as c:
        while True:
            rows = [p for p in c.call("peers") if p["node"] == node and p["live"]
                    and p["release"] == release]
            if rows:
                return rows[0]
            assert time.monotonic() < deadline, c.call("peers")
            time.sleep(0.05)


def test_two_releases_replicate_and_a_counter_is_upgraded_and_rolled_back(
        releases: Releases, nodes: Nodes, services: list[Service],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    r, env = releases, releases.env
    tillmesh = Tillmesh(capsys, monkeypatch, env)
    home = nodes.tmp()  # removed with the nodes' data dirs
    prefix = home / "opt"
    install(prefix, r.old_wheel, r.old)
    old_cli = prefix / "releases" / r.old / "bin/tillmesh"

    # A store made with the previous release: C01 runs it, C02 (joined with it) now runs
    # the tree under test, which migrates the store it opens.
    c1_dir = home / "c1" / "d"
    ok(run(old_cli, c1_dir, "init", "--node", "C01", "--demo", *network(), env=env,
           stdin=f"{DEMO_ADMIN_PIN}\n"))
    c1 = Service(prefix, c1_dir, env)
    services.append(c1)
    c1.start()
    with admin(c1) as a:  # type: ignore[arg-type]
        code = a.call("invite_create")["code"]
    c2_dir = nodes.tmp() / "d"
    ok(run(old_cli, c2_dir, "join", "--node", "C02", *network(), env=env, stdin=code + "\n"))
    c2 = nodes.start(c2_dir)
    linked([c1, c2])  # type: ignore[list-item]

    first, second = demo_barcodes(2)
    arrives(c2, sells(c1, first))
    arrives(c1, sells(c2, second))
    converge([c1, c2])  # type: ignore[list-item]
    with c1.client() as c:
        old_says = c.call("counter_state").get("release")  # None: before protocol 5
    row = peer_row(c2, "C01", old_says)
    if old_says is None:
        assert row["protocol"] == PROTOCOL_VERSION - 1 and row["schema"] is None
    # The previous release reads the new release's Hello: its own decoder, run here.
    hello = subprocess.run(
        [str(prefix / "releases" / r.old / "bin/python"), "-c",
         "import sys, tillmesh; from tillmesh.replication.protocol import decode; "
         "print(tillmesh.__file__, decode(sys.stdin.buffer.read()))"],
        input=_new_hello(), capture_output=True, timeout=60, env=env, check=True,
        cwd=home).stdout.decode()
    assert hello.startswith(str(prefix / "releases" / r.old))  # its code, not this tree's
    assert f"proto={PROTOCOL_VERSION}, cluster='shop', node='C02'" in hello

    # The store held at the previous release: C02 does not sell, and still replicates.
    allow = ok(tillmesh(c2_dir, "releases", "allow", r.old, "--user", "admin",
                        stdin=f"{DEMO_ADMIN_PIN}\n"))
    assert f"the store allows {r.old} (set by admin on C02)" in allow
    assert f"C02      {r.new}" in allow and "NOT ALLOWED" in allow
    held = state_of(c2, "release_not_allowed")
    assert not held["selling"] and f"runs release {r.new}" in str(held["reason"])
    assert held["allowed_releases"] == [r.old]
    with pytest.raises(PermissionDenied, match=f"allows only {re.escape(r.old)}: it cannot"):
        sells(c2, first)
    arrives(c2, sells(c1, first))
    status = ok(tillmesh(c2_dir, "status"))
    assert f'"release": "{r.new}"' in status and "tillmesh releases" in status

    # An upgrade to a release the store does not allow changes nothing.
    upgrade = ["upgrade", str(r.new_wheel), "--prefix", str(prefix), "--restart-command",
               c1.restart_command, "--timeout", HEALTH_S]
    refused = tillmesh(c1_dir, *upgrade, "--no-test-print")
    one_clear_line(refused, f"the store allows only {r.old}: an admin allows {r.new} first")
    assert os.readlink(prefix / "current") == f"releases/{r.old}"

    allow_releases(c2, r.old, r.new)
    state_of(c2, "active")
    converge([c1, c2])  # type: ignore[list-item]  # the allowance is in C01's store too
    planned = ok(tillmesh(c1_dir, *upgrade, "--dry-run"))
    assert f"  would switch current to {r.new} (previous: {r.old})" in planned
    assert os.readlink(prefix / "current") == f"releases/{r.old}"

    # The upgrade, a test page on C01's printer included.
    printed = c1.state / "printer.out"
    with (c1_dir / "tillmesh.toml").open("a") as toml:
        toml.write(f'\n[printer]\nkind = "file"\nfile = "{printed}"\n')
    out = ok(tillmesh(c1_dir, *upgrade, "--user", "admin", stdin=f"{DEMO_ADMIN_PIN}\n"))
    assert f"upgrade to {r.new} on C01 (runs {r.old}; the store allows only {r.old} or " \
           f"{r.new})" in out
    assert "migrate a copy of the store with" in out and "rebuilt every projection" in out
    assert (f"check {r.new}: the local API answers, a peer connects, a test page prints: "
            "done") in out
    assert os.readlink(prefix / "current") == f"releases/{r.new}"
    assert os.readlink(prefix / "previous") == f"releases/{r.old}"
    assert b"TEST PAGE" in printed.read_bytes()
    with c1.client() as c:
        state = c.call("counter_state")
        assert (state["release"], state["protocol"], state["state"]) == (
            r.new, PROTOCOL_VERSION, "active")
        # what the store allowed while it ran the previous release, which ignored it
        assert c.call("releases")["allowed"] == [r.old, r.new]
    assert peer_row(c2, "C01", r.new)["protocol"] == PROTOCOL_VERSION
    assert peer_row(c1, "C02", r.new)["schema"] == SCHEMA_VERSION
    arrives(c2, sells(c1, second))
    arrives(c1, sells(c2, first))

    # A hold that no counter connected runs is a typo, refused; forced, it holds. Set on
    # C01, it reaches C02, which stops selling; lifted on C02, it reaches C01.
    allow_old = ["releases", "allow", r.old, "--user", "admin"]
    one_clear_line(tillmesh(c1_dir, *allow_old, stdin=f"{DEMO_ADMIN_PIN}\n"),
                   f"none of {r.old} runs on this counter or a connected one (they run "
                   f"{r.new}): every counter would stop selling")
    with c1.client() as c:
        assert c.call("releases")["allowed"] == [r.old, r.new]  # as it was
    ok(tillmesh(c1_dir, *allow_old, "--force", stdin=f"{DEMO_ADMIN_PIN}\n"))
    state_of(c2, "release_not_allowed")
    allow_releases(c2)  # any
    state_of(c1, "active")
    assert "C01      this counter, release" in ok(tillmesh(c1_dir, "peers"))

    # A release whose node cannot start: back to the one before by itself.
    broken = tillmesh(c1_dir, "upgrade", str(r.broken_wheel), "--prefix", str(prefix),
                      "--restart-command", c1.restart_command, "--timeout", BROKEN_S,
                      "--no-test-print")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert re.fullmatch(f"tillmesh: upgrade to {re.escape(r.broken)} failed: the node does not "
                        rf"answer after \d+ s; rolled back to {re.escape(r.new)}, which runs "
                        "again\n", broken.stderr), broken.stderr
    assert "this release is broken on purpose" in c1.logs()
    assert os.readlink(prefix / "current") == f"releases/{r.new}"
    assert os.readlink(prefix / "previous") == f"releases/{r.old}"
    arrives(c2, sells(c1, first))

    # Not to a release that cannot read this counter's settings (one added after it).
    settings = c1_dir / CONFIG_NAME
    kept = settings.read_text()
    settings.write_text('api_group = ""\n' + kept)
    refused = tillmesh(c1_dir, "rollback", "--prefix", str(prefix), "--restart-command",
                       c1.restart_command, "--timeout", HEALTH_S, "--no-test-print")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr == (f"tillmesh: rollback to {r.old} failed: {r.old} reading "
                              f"tillmesh.toml failed: {settings}: unknown setting(s) "
                              "api_group; nothing was switched\n"), refused.stderr
    assert os.readlink(prefix / "current") == f"releases/{r.new}"
    settings.write_text(kept)

    # And back to the previous release by hand.
    back = ok(tillmesh(c1_dir, "rollback", "--prefix", str(prefix), "--restart-command",
                       c1.restart_command, "--timeout", HEALTH_S, "--no-test-print"))
    assert f"rollback to {r.old} on C01" in back
    assert f"migrate a copy of the store with {r.old}: " in back  # it reads the store
    assert os.readlink(prefix / "current") == f"releases/{r.old}"
    assert os.readlink(prefix / "previous") == f"releases/{r.new}"
    peer_row(c2, "C01", old_says)
    arrives(c1, sells(c2, second))


def _new_hello() -> bytes:
    from tillmesh.replication.protocol import Hello, encode

    return encode(Hello(PROTOCOL_VERSION, "shop", "C02", {"C01": 3}, 1, False, "9.9.9", 1))

"""deploy/install.sh and deploy/uninstall.sh as store IT runs them, into a throwaway root.

``TILLMESH_ROOT=ROOT`` makes the scripts treat ROOT as ``/`` (see install.sh's header):
accounts go into copies of this machine's /etc files (``useradd --prefix``), units are
enabled with ``systemctl --root``, and apt-get, the systemd checks and the firewall are
left out. The tillmesh wheel is built offline from this tree and installed without its
dependencies, which come from this test venv's site-packages (a .pth file): nothing is
downloaded.

One scenario per module (``scenario``), as one machine lives it: the code of the earlier
install.sh is there (/opt/tillmesh/.venv), a join with a mistyped code, then the first
counter of a store with the kiosk, the same install again, and uninstall. Each step's
outcome and a snapshot of the root (every path's mode, owner, link or sha256) are kept
for the tests to read.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.paths import REPO
from tests.proc import ADMIN_PIN, TILLMESH
from tillmesh.node.ops.config import CONFIG_NAME, Config, load
from tillmesh.node.ops.const import JOIN_PORT, REPLICATION_PORT

DEPLOY = REPO / "deploy"
INSTALL = DEPLOY / "install.sh"
UNINSTALL = DEPLOY / "uninstall.sh"
ETC_FILES = ("passwd", "group", "shadow", "gshadow", "login.defs")  # what useradd edits
WHEEL_SOURCES = ("pyproject.toml", "tillmesh", "node", "replication", "ui", "lab")
SCRIPT_TIMEOUT_S = 120.0  # install.sh makes a virtualenv (~5 s) and a store (~2 s)
DATA = "var/lib/tillmesh"
VERSION = importlib.metadata.version("tillmesh")  # this tree's: the release it installs

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="install.sh makes users and owners: root only (CI is)")

Snapshot = dict[str, tuple[int, int, int, str]]


def snapshot(root: Path) -> Snapshot:
    """Every path under ``root``: mode, uid, gid, and its link target or sha256."""
    seen: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                what = ""
            seen[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid, what)
    return seen


def entries(root: Path, name: str) -> dict[str, list[str]]:
    """ROOT/etc/passwd or group, by name: the entry's fields."""
    lines = (root / "etc" / name).read_text().splitlines()
    return {line.split(":")[0]: line.split(":") for line in lines if line}


@dataclass
class Step:
    result: subprocess.CompletedProcess[str]
    tree: Snapshot
    passwd: dict[str, list[str]]
    group: dict[str, list[str]]
    config: str = ""  # the counter's tillmesh.toml, if there is one


@dataclass
class Scenario:
    root: Path
    steps: dict[str, Step] = field(default_factory=dict)

    def run(self, name: str, script: Path, *args: str, env: dict[str, str]) -> Step:
        result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                                env=env, stdin=subprocess.DEVNULL, timeout=SCRIPT_TIMEOUT_S,
                                check=False)
        config = self.root / DATA / CONFIG_NAME
        self.steps[name] = Step(result, snapshot(self.root), entries(self.root, "passwd"),
                                entries(self.root, "group"),
                                config.read_text() if config.exists() else "")
        return self.steps[name]


def _script_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TILLMESH_") and k != "PYTHON"}
    return {**env, "TILLMESH_ROOT": str(root), "TILLMESH_INSTALL_NO_DEPS": "1",
            "TILLMESH_INSTALL_SITE": sysconfig.get_path("purelib"), "PYTHON": sys.executable}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This tree's wheel, built offline as tests/test_layout.py does."""
    source, wheels = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheels")
    for name in WHEEL_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)],
                   check=True, capture_output=True, timeout=SCRIPT_TIMEOUT_S)
    return wheels


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("root")
    root.chmod(0o755)
    (root / "etc").mkdir()
    for name in ETC_FILES:
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    legacy = root / "opt/tillmesh/.venv/bin"  # what the earlier install.sh left
    legacy.mkdir(parents=True)
    (legacy / "tillmesh").write_text("#!/bin/sh\n")
    env = _script_env(root)
    wheels = ("--wheelhouse", str(wheelhouse))
    play = Scenario(root)
    play.run("join", INSTALL, "--join", "TM1-mistyped", "--node", "C02", *wheels, env=env)
    play.run("first", INSTALL, "--first-counter", "--demo", "--kiosk", *wheels, env=env)
    play.run("again", INSTALL, *wheels, env=env)
    play.run("uninstall", UNINSTALL, env=env)
    yield play
    shutil.rmtree(root, ignore_errors=True)


def _ok(step: Step) -> None:
    assert step.result.returncode == 0, step.result.stderr
    assert step.result.stderr == ""


def test_a_failed_join_says_why_in_one_line_and_leaves_no_data_dir(scenario: Scenario) -> None:
    join = scenario.steps["join"]
    assert join.result.returncode == 1
    lines = join.result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tillmesh: ") and "invite code" in lines[0]
    assert not any(path == DATA or path.startswith(DATA + "/") for path in join.tree)
    assert "install.sh --join again" in join.result.stdout


def test_the_node_and_the_kiosk_get_users_of_their_own(scenario: Scenario) -> None:
    first = scenario.steps["first"]
    _ok(first)
    node, kiosk = first.passwd["tillmesh"], first.passwd["tillmesh-kiosk"]
    for user, home in ((node, "/var/lib/tillmesh"), (kiosk, "/var/lib/tillmesh-kiosk")):
        assert int(user[2]) < 1000  # system users, no login
        assert user[5:] == [home, "/usr/sbin/nologin"]
    members = {name: set(filter(None, entry[3].split(","))) for name, entry in first.group.items()}
    assert members["tillmesh-app"] == {"tillmesh-kiosk"}  # the app's way to the socket only
    assert "tillmesh" in members["lp"] and "tillmesh" in members["dialout"]  # printers
    assert "tillmesh-kiosk" not in members["lp"] | members["dialout"]  # the node prints


def test_files_owners_and_modes_of_an_installed_counter(scenario: Scenario) -> None:
    first = scenario.steps["first"]
    _ok(first)
    node = int(first.passwd["tillmesh"][2]), int(first.passwd["tillmesh"][3])
    kiosk = int(first.passwd["tillmesh-kiosk"][2]), int(first.passwd["tillmesh-kiosk"][3])
    app = int(first.group["tillmesh-app"][2])
    tree = first.tree

    def looks(path: str, kind: int, mode: int, uid: int = 0, gid: int = 0) -> None:
        got_mode, got_uid, got_gid, _ = tree[path]
        assert (stat.S_IFMT(got_mode), stat.S_IMODE(got_mode), got_uid, got_gid) == \
            (kind, mode, uid, gid), path

    def link(path: str) -> str:
        assert stat.S_ISLNK(tree[path][0]), path
        return tree[path][3]

    looks(DATA, stat.S_IFDIR, 0o700, *node)
    for name in (CONFIG_NAME, "secrets/db.key", "secrets/node.key"):
        looks(f"{DATA}/{name}", stat.S_IFREG, 0o600, *node)
    for path in ("opt/tillmesh", "opt/tillmesh/releases", f"opt/tillmesh/releases/{VERSION}"):
        looks(path, stat.S_IFDIR, 0o755)  # root's: the node cannot change its own code
    looks(f"opt/tillmesh/releases/{VERSION}/bin/tillmesh", stat.S_IFREG, 0o755)
    assert link("opt/tillmesh/current") == f"releases/{VERSION}"
    assert link("opt/tillmesh/previous") == ".venv"  # the earlier install, to roll back to
    assert link("usr/local/bin/tillmesh") == "/opt/tillmesh/current/bin/tillmesh"
    for unit in ("tillmesh.service", "tillmesh-kiosk.service"):
        looks(f"etc/systemd/system/{unit}", stat.S_IFREG, 0o644)
        assert tree[f"etc/systemd/system/{unit}"][3] == _sha256(DEPLOY / unit)
    assert link("etc/systemd/system/multi-user.target.wants/tillmesh.service") == \
        "/etc/systemd/system/tillmesh.service"
    assert link("etc/systemd/system/graphical.target.wants/tillmesh-kiosk.service") == \
        "/etc/systemd/system/tillmesh-kiosk.service"
    for path, source in (("etc/udev/rules.d/60-tillmesh-printer.rules",
                          "60-tillmesh-printer.rules"),
                         ("etc/tmpfiles.d/tillmesh.conf", "tillmesh.tmpfiles"),
                         ("etc/pam.d/tillmesh-kiosk", "tillmesh-kiosk.pam")):
        looks(path, stat.S_IFREG, 0o644)
        assert tree[path][3] == _sha256(DEPLOY / source)
    # the API socket's directory: the group's members may enter, and its setgid bit gives
    # the socket the group; the node's lock is its own
    looks("run/tillmesh", stat.S_IFDIR, 0o2750, node[0], app)
    looks("run/tillmesh/api.sock.lock", stat.S_IFREG, 0o600, *node)
    looks("var/lib/tillmesh-kiosk", stat.S_IFDIR, 0o700, *kiosk)


def test_the_counter_serves_the_app_on_the_shared_socket(scenario: Scenario,
                                                         tmp_path: Path) -> None:
    first = scenario.steps["first"]
    (tmp_path / CONFIG_NAME).write_text(first.config)
    config = load(tmp_path)  # the node's own reading accepts what install.sh wrote
    assert (config.api_socket, config.api_group) == ("/run/tillmesh/api.sock", "tillmesh-app")
    assert config.node_id == "C01"
    kiosk_unit = (DEPLOY / "tillmesh-kiosk.service").read_text()
    assert f"ui --socket {config.api_socket}" in kiosk_unit
    tmpfiles = (DEPLOY / "tillmesh.tmpfiles").read_text()
    assert "d /run/tillmesh 2750 tillmesh tillmesh-app" in tmpfiles


def test_the_same_install_again_changes_nothing(scenario: Scenario) -> None:
    first, again = scenario.steps["first"], scenario.steps["again"]
    _ok(again)
    assert "already holds a counter; left as it is" in again.result.stdout
    assert f"release {VERSION} is installed" in again.result.stdout
    changed = {path for path in first.tree.keys() | again.tree.keys()
               if first.tree.get(path) != again.tree.get(path)}
    assert changed == set()


def test_uninstall_removes_the_code_and_keeps_the_counters_data(scenario: Scenario) -> None:
    first, gone = scenario.steps["first"], scenario.steps["uninstall"]
    _ok(gone)
    data = {p: v for p, v in first.tree.items() if p == DATA or p.startswith(DATA + "/")}
    assert {p: v for p, v in gone.tree.items() if p in data} == data
    assert {p for p in gone.tree if p.startswith("var/lib/")} == set(data)
    assert not any(p.startswith(("opt/tillmesh", "run/tillmesh", "usr/local/bin/tillmesh"))
                   for p in gone.tree)
    assert not any("tillmesh" in p for p in gone.tree if p.startswith("etc/"))
    assert "tillmesh" in gone.passwd  # it owns the data kept
    assert "tillmesh-kiosk" not in gone.passwd and "tillmesh-app" not in gone.group
    assert "--purge-data deletes them" in gone.result.stdout


def test_uninstall_purge_data_asks_first(tmp_path: Path) -> None:
    (tmp_path / DATA).mkdir(parents=True)
    (tmp_path / DATA / CONFIG_NAME).write_text('node_id = "C07"\n')
    asked = subprocess.run(["bash", str(UNINSTALL), "--purge-data"], capture_output=True,
                           text=True, env=_script_env(tmp_path), stdin=subprocess.DEVNULL,
                           timeout=SCRIPT_TIMEOUT_S, check=False)
    assert asked.returncode == 1
    assert "confirm at a terminal, or add --yes" in asked.stderr
    assert (tmp_path / DATA / CONFIG_NAME).exists()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bash(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``script`` after sourcing install.sh (which then defines functions only)."""
    return subprocess.run(["bash", "-c", f'source "{INSTALL}" && {script}'], capture_output=True,
                          text=True, env=env, timeout=SCRIPT_TIMEOUT_S,
                          stdin=subprocess.DEVNULL, check=False)


def test_a_python_the_service_user_cannot_run_is_named_with_the_fix(tmp_path: Path) -> None:
    private = tmp_path / "root-only"  # as /root, where pyenv puts its Pythons
    private.mkdir(mode=0o700)
    python = private / "python3"
    python.symlink_to(os.path.realpath(sys.executable))
    nobody = 65534
    refused = _bash(f'check_python_for {nobody} {nobody} "{python}"')
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert f"cannot run {python} (Permission denied)" in refused.stderr
    assert "apt-get install python3 python3-venv" in refused.stderr
    assert "PYTHON=/usr/bin/python3" in refused.stderr


def test_switching_releases_keeps_one_previous_and_drops_the_old_venv(tmp_path: Path) -> None:
    for name in (".venv", "releases/1.0.0", "releases/1.1.0"):
        (tmp_path / "opt/tillmesh" / name).mkdir(parents=True)
    done = _bash(f'R="{tmp_path}" && switch_release 1.0.0 && switch_release 1.1.0 '
                 '&& switch_release 1.1.0')
    assert done.returncode == 0, done.stderr
    prefix = tmp_path / "opt/tillmesh"
    assert os.readlink(prefix / "current") == "releases/1.1.0"
    assert os.readlink(prefix / "previous") == "releases/1.0.0"
    assert not (prefix / ".venv").exists()
    assert sorted(p.name for p in prefix.iterdir()) == ["current", "previous", "releases"]
    assert done.stdout.splitlines()[-1] == "/opt/tillmesh/current -> releases/1.1.0 (as it was)"


def test_the_pin_and_the_invite_code_are_never_arguments(tmp_path: Path) -> None:
    """init and join as the service user, with `runuser` replaced by a stand-in that
    records the command line it was given (what `ps` would show) and runs it."""
    (tmp_path / "current/bin").mkdir(parents=True)
    (tmp_path / "current/bin/tillmesh").symlink_to(TILLMESH)
    argv, runuser = tmp_path / "argv", tmp_path / "runuser"
    runuser.write_text(f'#!/bin/sh\necho "$@" >> {argv}\nshift 3\nexec "$@"\n')  # -u USER --
    runuser.chmod(0o755)
    code = "TM1-not-a-real-code"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}",
           "TILLMESH_ADMIN_PIN": ADMIN_PIN, "TILLMESH_INVITE_CODE": code}
    made = _bash(f'PREFIX="{tmp_path}" DATA_DIR="{tmp_path / "d"}" && init_counter C01 "" 0',
                 env)
    assert made.returncode == 0, made.stderr
    assert load(tmp_path / "d").node_id == "C01"
    joined = _bash(f'PREFIX="{tmp_path}" DATA_DIR="{tmp_path / "j"}" && join_counter C02 ""', env)
    assert joined.returncode == 1
    seen = argv.read_text()
    assert "init --node C01" in seen and "join --node C02" in seen
    assert ADMIN_PIN not in seen and code not in seen
    assert not (tmp_path / "j").exists()


def test_the_ports_install_sh_lists_are_the_nodes() -> None:
    listed = _bash('for p in "${PORTS[@]}"; do echo "${p%% *}"; done')
    assert set(listed.stdout.split()) == {f"{REPLICATION_PORT}/tcp", f"{JOIN_PORT}/tcp",
                                          f"{Config(data_dir=Path('.')).mdns_port}/udp"}


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_scripts_pass_shellcheck() -> None:
    scripts = [INSTALL, UNINSTALL, REPO / "tools/try-install/try-install"]
    lint = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True,
                          check=False, timeout=SCRIPT_TIMEOUT_S)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Every key known, every value valid (an unknown key is only a warning: none may
    show). The programs the units start must exist, so they point at stand-ins here."""
    cage = tmp_path / "cage"
    cage.write_text("#!/bin/sh\n")
    cage.chmod(0o755)
    programs = {"/opt/tillmesh/current/bin/tillmesh": str(TILLMESH), "/usr/bin/cage": str(cage)}
    units = []
    for name in ("tillmesh.service", "tillmesh-kiosk.service"):
        text = (DEPLOY / name).read_text()
        for installed, here in programs.items():
            text = text.replace(f"ExecStart={installed} ", f"ExecStart={here} ")
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    verify = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True,
                            text=True, timeout=SCRIPT_TIMEOUT_S, check=False)
    assert (verify.returncode, verify.stderr, verify.stdout) == (0, "", "")


def test_restore_brings_back_a_counter_from_its_backup_and_a_failed_one_leaves_no_trace(
        tmp_path: Path) -> None:
    """--restore as IT runs it on a new machine: tillmesh restore (as root, the backup
    being root's), the passphrase on standard input, never an argument."""
    (tmp_path / "current/bin").mkdir(parents=True)
    (tmp_path / "current/bin/tillmesh").symlink_to(TILLMESH)
    old = tmp_path / "old"
    phrase = "a long backup passphrase"
    made = subprocess.run([str(TILLMESH), "--data-dir", str(old), "init", "--node", "C07"],
                          input=f"{ADMIN_PIN}\n", capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT_S, check=False)
    assert made.returncode == 0, made.stderr
    saved = subprocess.run([str(TILLMESH), "--data-dir", str(old), "backup",
                            str(tmp_path / "C07.backup")], input=f"{phrase}\n",
                           capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S, check=False)
    assert saved.returncode == 0, saved.stderr

    def restore(folder: str, with_phrase: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / folder).mkdir(mode=0o700)  # as install_unit makes it, before the restore
        script = (f'source "{INSTALL}" && PREFIX="{tmp_path}" DATA_DIR="{tmp_path / folder}" '
                  f'&& restore_counter "{tmp_path / "C07.backup"}" 1')
        return subprocess.run(["bash", "-c", script], input=f"{with_phrase}\n",
                              capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S,
                              check=False)

    wrong = restore("wrong", "not the passphrase at all")
    assert wrong.returncode != 0 and "restore again" in wrong.stdout
    assert not any((tmp_path / "wrong").iterdir())
    back = restore("new", phrase)
    assert back.returncode == 0, back.stderr
    assert load(tmp_path / "new").node_id == "C07"
    assert load(tmp_path / "new").cluster == load(old).cluster

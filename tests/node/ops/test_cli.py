"""The ``tillmesh`` command as IT and scripts use it: real processes, real data dirs.

One demo counter is initialised per module (``pristine``, never run) and copied for the
tests that need a store of their own; one node (``running``) serves the tests that only
talk to it. Every failure must be one ``tillmesh: …`` line on stderr, exit code 1 and no
traceback (see ``tests.proc.one_clear_line``). Also checks the files in ``deploy/``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO
from tests.proc import (
    TILLMESH,
    NodeProcess,
    Nodes,
    demo_barcodes,
    ok,
    one_clear_line,
    sell_one,
    tillmesh,
)
from tillmesh.node.domain.barcode import DEFAULT_RULES, rules_from_config
from tillmesh.node.domain.roles import PermissionMatrix
from tillmesh.node.ops.config import CONFIG_NAME, Config, load

ROOT = REPO
DEPLOY = ROOT / "deploy"
CASHIER = {"user": "cashier", "pin": "1111"}
OPENING = {"opening": {"Cash": "100.00"}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def api(data_dir: Path, method: str, params: dict[str, Any] | str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """``tillmesh api METHOD [--json …]``; a dict is sent as JSON, a str as it is."""
    args = ["api", method]
    if params is not None:
        args += ["--json", params if isinstance(params, str) else json.dumps(params)]
    return tillmesh(data_dir, *args)


def api_ok(data_dir: Path, method: str, params: dict[str, Any] | None = None) -> Any:
    return json.loads(ok(api(data_dir, method, params)))


def status(data_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ok(tillmesh(data_dir, "status")))
    return result


def digests(data_dir: Path) -> dict[str, str]:
    """sha256 of the database files and the config, to prove they were not touched."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(data_dir.iterdir())
            if p.name.startswith("tillmesh.") and p.is_file()}


@pytest.fixture(scope="module")
def module_nodes() -> Iterator[Nodes]:
    with Nodes() as nodes:
        yield nodes


@pytest.fixture(scope="module")
def pristine(module_nodes: Nodes) -> Path:
    """A demo counter straight from ``tillmesh init --demo``; copy it, never run it."""
    return module_nodes.init()


@pytest.fixture(scope="module")
def running(module_nodes: Nodes, pristine: Path) -> NodeProcess:
    return module_nodes.start(module_nodes.copy(pristine))


# --- init, status, users --------------------------------------------------------------


def test_init_creates_a_private_data_dir_key_and_config(nodes: Nodes) -> None:
    data_dir = nodes.tmp() / "c07"
    out = ok(tillmesh(data_dir, "init", "--node", "C07", stdin="432187\n"))
    assert "C07" in out and str(data_dir) in out
    config = load(data_dir)
    assert (config.node_id, config.pos_profile) == ("C07", "Demo POS")
    assert mode(data_dir) == 0o700
    assert mode(config.key_path) == 0o600
    assert mode(config.key_path.parent) == 0o700
    assert len(bytes.fromhex(config.key_path.read_text().strip())) == 32
    assert mode(config.node_key_path) == 0o600
    assert len(config.cluster) == 12  # a new cluster, created by this first counter
    before = digests(data_dir), config.key_path.read_bytes()

    again = tillmesh(data_dir, "init", "--node", "C07", "--demo", stdin="4321\n")
    one_clear_line(again, "already holds a counter", str(data_dir))
    assert (digests(data_dir), config.key_path.read_bytes()) == before

    state = status(data_dir)
    assert state["node_running"] is False
    assert state["vector"] == {"C07": 3}  # its enrolment, the admin and its audit event
    assert state["events"] == 3
    assert ok(tillmesh(data_dir, "users")).split() == ["admin", "admin", "active",
                                                       "Administrator"]


@pytest.mark.parametrize(("args", "pin", "needle"), [
    ([], "12", "An admin's PIN has 6 to 12 digits"),
    ([], "1234", "An admin's PIN has 6 to 12 digits"),  # a real store: 4 is for cashiers
    (["--demo"], "12", "An admin's PIN has 4 to 12 digits"),
    ([], "", "No PIN given"),
    (["--node", "C-1"], "123456", "node_id 'C-1'"),
    (["--timezone", "Mars/Olympus"], "123456", "unknown timezone"),
])
def test_init_refuses_bad_input_before_writing_anything(nodes: Nodes, args: list[str], pin: str,
                                                         needle: str) -> None:
    data_dir = nodes.tmp() / "d"
    one_clear_line(tillmesh(data_dir, "init", *args, stdin=f"{pin}\n"), needle)
    assert not data_dir.exists()


def test_users_lists_the_demo_users(running: NodeProcess) -> None:
    rows = [line.split(None, 3) for line in ok(tillmesh(running.data_dir, "users")).splitlines()]
    assert sorted(rows) == [["admin", "admin", "active", "Administrator"],
                            ["cashier", "cashier", "active", "Demo Cashier"],
                            ["supervisor", "supervisor", "active", "Demo Supervisor"]]


def test_status_is_json_with_events_and_whether_the_node_runs(running: NodeProcess,
                                                              pristine: Path) -> None:
    stopped = status(pristine)
    assert stopped["node_running"] is False
    assert stopped["node"] == "C01" and stopped["events"] == stopped["vector"]["C01"] > 300
    live = status(running.data_dir)
    assert live["node_running"] is True
    assert live["events"] == sum(live["vector"].values()) >= stopped["events"]


# --- tillmesh api ---------------------------------------------------------------------


def test_selling_from_the_shell(running: NodeProcess) -> None:
    data_dir = running.data_dir
    token_file = data_dir / ".session"
    # the PIN on standard input, as the prompt takes it: never on the command line
    login = json.loads(ok(tillmesh(data_dir, "api", "login", "--json", '{"user": "cashier"}',
                                   stdin=CASHIER["pin"] + "\n")))
    assert (login["user"], login["role"]) == ("cashier", "cashier")
    assert token_file.read_text() == login["token"] and mode(token_file) == 0o600
    assert api_ok(data_dir, "whoami")["user"] == "cashier"

    if api_ok(data_dir, "shift_current") is None:
        api_ok(data_dir, "shift_open", OPENING)
    cart = api_ok(data_dir, "cart_new")["cart_id"]
    barcode = demo_barcodes(1)[0]
    view = api_ok(data_dir, "cart_scan", {"cart_id": cart, "code": barcode})
    assert [line["barcode"] for line in view["lines"]] == [barcode]
    sale = api_ok(data_dir, "sale_submit", {
        "cart_id": cart, "payments": [{"mode_of_payment": "Cash", "amount": "50.00"}]})
    assert sale["invoice"].startswith("C01-")
    assert sale["totals"]["grand_total"] == view["totals"]["grand_total"]
    found = api_ok(data_dir, "invoice_get", {"invoice": sale["invoice"]})
    assert (found["event"], found["totals"]) == (sale["event"], sale["totals"])

    assert api_ok(data_dir, "logout") == {"ok": True}
    assert not token_file.exists()


def test_api_methods_lists_every_method(running: NodeProcess) -> None:
    methods = api_ok(running.data_dir, "methods")
    assert {"login", "cart_new", "cart_scan", "sale_submit", "invoice_get",
            "methods"} <= set(methods)
    assert all(isinstance(text, str) and text for text in methods.values())


def _no_session(data_dir: Path) -> None:
    (data_dir / ".session").unlink(missing_ok=True)


def _bogus_session(data_dir: Path) -> None:
    path = data_dir / ".session"
    path.write_text(secrets.token_urlsafe(32))
    path.chmod(0o600)


@pytest.mark.parametrize(("method", "params", "prepare", "needles"), [
    ("cart_new", "{bad", None, ("--json is not valid JSON",)),
    ("cart_new", "[1, 2]", None, ("must be a JSON object",)),
    ("no_such_method", None, None, ("unknown_method", "no_such_method")),
    ("Bad Name", None, None, ("malformed_request",)),
    ("login", {"user": "nobody", "pin": "1111"}, None, ("login_failed", "Wrong user or PIN")),
    ("login", {"user": "supervisor", "pin": "0000"}, None, ("login_failed", "Wrong user or PIN")),
    ("login", {"pin": "1111"}, None, ("malformed_request", "user")),
    ("login", {"user": "cashier"}, None, ("No PIN given", "standard input")),  # asked for
    ("login", {"user": "cashier", "pin": "1111", "x": 1}, None, ("malformed_request", "'x'")),
    ("cart_new", None, _no_session, ("session_expired", "Not logged in")),
    ("cart_new", None, _bogus_session, ("session_expired", "log in again")),
], ids=["bad-json", "json-not-object", "unknown-method", "bad-method-name", "unknown-user",
        "wrong-pin", "missing-param", "pin-not-given", "unknown-param", "no-session",
        "expired-session"])
def test_api_errors_are_one_clear_line(running: NodeProcess, method: str,
                                       params: dict[str, Any] | str | None,
                                       prepare: Any, needles: tuple[str, ...]) -> None:
    if prepare is not None:
        prepare(running.data_dir)
    one_clear_line(api(running.data_dir, method, params), *needles)

# --- one node per data dir, rebuild ------------------------------------------------------


def test_a_second_run_on_the_same_data_dir_refuses(running: NodeProcess) -> None:
    second = tillmesh(running.data_dir, "run", timeout=30)
    line = one_clear_line(second, "another Tillmesh node", f"pid {running.pid}")
    assert "already serves" in line
    assert status(running.data_dir)["node_running"] is True  # the first one still serves


def test_rebuild_refuses_while_the_node_runs(running: NodeProcess) -> None:
    one_clear_line(tillmesh(running.data_dir, "rebuild"), "the node is running")
    assert api_ok(running.data_dir, "methods")


def test_rebuild_with_the_node_stopped_keeps_every_sale(nodes: Nodes, pristine: Path) -> None:
    data_dir = nodes.copy(pristine)
    node = nodes.start(data_dir)
    api_ok(data_dir, "login", CASHIER)  # a shell session, to see it end with the node
    with node.client() as client:
        client.login(CASHIER["user"], CASHIER["pin"])
        client.shift_open(OPENING["opening"])
        sale = sell_one(client, demo_barcodes(1)[0])
        before = (client.call("invoice_get", invoice=sale["invoice"]),
                  client.shift_report(), client.invoice_list())
    assert node.stop() == 0
    events = status(data_dir)["events"]

    out = ok(tillmesh(data_dir, "rebuild"))
    assert out.startswith(f"rebuilt every projection from {events} events")
    node = nodes.start(data_dir)
    # Sessions live in the node's memory: the shell's token ended with the old process.
    one_clear_line(api(data_dir, "cart_new"), "session_expired")
    with node.client() as client:
        client.login(CASHIER["user"], CASHIER["pin"])
        after = (client.call("invoice_get", invoice=sale["invoice"]),
                 client.shift_report(), client.invoice_list())
    assert after == before


# --- a wrong key, a broken config ----------------------------------------------------------


def test_a_wrong_key_stops_the_node_and_leaves_the_database_alone(nodes: Nodes,
                                                                  pristine: Path) -> None:
    data_dir = nodes.copy(pristine)
    key_path = load(data_dir).key_path
    right_key = key_path.read_text()
    key_path.write_text(secrets.token_hex(32) + "\n")
    assert mode(key_path) == 0o600
    untouched = digests(data_dir)

    for args in (["run"], ["status"], ["rebuild"]):
        result = tillmesh(data_dir, *args, timeout=30)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        # SQLCipher itself logs "ERROR CORE …" lines first; ours is the one clear line
        ours = [line for line in result.stderr.splitlines() if line.startswith("tillmesh: ")]
        assert len(ours) == 1 and "wrong database key" in ours[0], result.stderr

    # The one-node lock is taken before the store is opened: with the lock held (as by a
    # running node or `tillmesh rebuild`), `run` refuses without reading the database.
    lock = os.open(load(data_dir).api_endpoint[len("ipc://"):] + ".lock",
                   os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        one_clear_line(tillmesh(data_dir, "run", timeout=30), "another Tillmesh node")
        one_clear_line(tillmesh(data_dir, "rebuild"), "the node is running")
    finally:
        os.close(lock)
    assert digests(data_dir) == untouched

    key_path.write_text(right_key)
    node = nodes.start(data_dir)
    assert status(data_dir)["events"] == status(pristine)["events"]
    with node.client() as client:
        assert client.login(CASHIER["user"], CASHIER["pin"])["user"] == "cashier"


@pytest.mark.parametrize(("text", "needle"), [
    ('node_id = "C0', "cannot read"),  # cut off mid-line
    ("\x00\x01garbage", "cannot read"),
    ('node_id = "C01"\nnode_idd = "C02"\n', "unknown setting(s) node_idd"),
    ('node_id = "C-1"\n', "node_id 'C-1'"),
    (None, "run `tillmesh init` first"),  # the file is gone
])
def test_a_broken_config_is_one_clear_line(nodes: Nodes, text: str | None, needle: str,
                                           ) -> None:
    data_dir = nodes.tmp()  # only the config matters: no store needed
    if text is not None:
        (data_dir / CONFIG_NAME).write_text(text)
    for args in (["status"], ["run"], ["api", "methods"]):
        one_clear_line(tillmesh(data_dir, *args, timeout=30), needle)


@pytest.mark.parametrize("line", ['lockout_failures = "5"', "node_id = 7"])
def test_a_config_value_of_the_wrong_type_is_one_clear_line(nodes: Nodes, line: str) -> None:
    data_dir = nodes.tmp()
    (data_dir / CONFIG_NAME).write_text(line + "\n")
    one_clear_line(tillmesh(data_dir, "status"), CONFIG_NAME)



def test_a_data_dir_that_cannot_be_made_is_one_clear_line(nodes: Nodes) -> None:
    """A data dir under a file (or unwritable): no 23-line traceback, one line naming it."""
    blocked = nodes.tmp() / "a-file"
    blocked.write_text("")
    result = tillmesh(blocked / "counter", "init", "--demo", stdin="123456\n")
    one_clear_line(result, f"cannot use {blocked / 'counter'}")


def test_data_dir_goes_before_or_after_the_command_and_usage_errors_are_one_line(
        running: NodeProcess) -> None:
    after = subprocess.run([str(TILLMESH), "status", "--data-dir", str(running.data_dir)],
                           capture_output=True, text=True, timeout=30, check=False)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["node_running"] is True
    typo = subprocess.run([str(TILLMESH), "stauts"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert typo.returncode == 2
    assert typo.stderr.count("\n") == 1 and "invalid choice: 'stauts'" in typo.stderr

# --- deploy/ ----------------------------------------------------------------------------


def test_the_config_example_names_every_setting_with_its_default(nodes: Nodes) -> None:
    example = DEPLOY / "tillmesh.toml.example"
    raw = tomllib.loads(example.read_text())
    fields = {f.name: f for f in dataclasses.fields(Config) if f.name != "data_dir"}
    assert set(raw) == set(fields), "the example must list every setting, and only those"

    data_dir = nodes.tmp()
    shutil.copy(example, data_dir / CONFIG_NAME)
    config = load(data_dir)  # the node's own reading: unknown keys and bad values refused
    defaults = Config(data_dir=data_dir)
    for name in fields:
        if name not in ("permissions", "embedded_barcodes"):
            assert getattr(config, name) == getattr(defaults, name), name
    assert PermissionMatrix.from_dict(config.permissions) == PermissionMatrix()
    assert rules_from_config(config.embedded_barcodes) == DEFAULT_RULES


def test_the_install_script_parses_and_does_nothing_when_sourced() -> None:
    script = DEPLOY / "install.sh"
    assert mode(script) & stat.S_IXUSR
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
    sourced = subprocess.run(
        ["bash", "-c", f'source "{script}" && declare -F main install_unit init_counter'],
        capture_output=True, text=True, check=False, timeout=30)
    assert sourced.returncode == 0, sourced.stderr
    assert sourced.stdout.split() == ["main", "install_unit", "init_counter"]
    assert sourced.stderr == ""
    if shutil.which("shellcheck"):
        lint = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True,
                              check=False)
        assert lint.returncode == 0, lint.stdout


def test_the_unit_runs_the_node_as_its_own_user_in_a_private_state_dir() -> None:
    unit: dict[str, list[str]] = {}
    for line in (DEPLOY / "tillmesh.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            unit.setdefault(key.strip(), []).append(value.strip())
    exec_start = "/opt/tillmesh/current/bin/tillmesh --data-dir /var/lib/tillmesh run"
    assert unit["ExecStart"] == [exec_start]
    assert unit["User"] == ["tillmesh"] and unit["Restart"] == ["always"]
    assert unit["StateDirectory"] == ["tillmesh"] and unit["StateDirectoryMode"] == ["0700"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("ReadWritePaths", "/var/lib/tillmesh -/run/tillmesh")):
        assert unit[key] == [value], key

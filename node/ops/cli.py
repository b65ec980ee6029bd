"""The ``tillmesh`` command: init, run, demo, status, users, rebuild, seal, api.

Commands that change a running node go through its local API (``tillmesh api``); IT
commands that need no node (init, status, users, rebuild) open the store directly.
Every failure prints one clear line and exits non-zero; no traceback for known errors.
A PIN is never an argument (every user of the machine sees those in ``ps``): it is
typed at a prompt, or read from standard input when that is not a terminal.
Whatever the caller's umask, every file the command writes is 0600 and every directory
0700 (``main``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from tillmesh.node.api._wire import to_wire_value
from tillmesh.node.api.client import Client
from tillmesh.node.errors import (
    ApiError,
    ConfigError,
    NodeUnavailable,
    StoreError,
    TillmeshError,
    ValidationError,
)
from tillmesh.node.membership.const import INVITE_DEFAULT_MINUTES
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import Config
from tillmesh.node.ops.const import (
    API_TIMEOUT_S,
    JOIN_PORT,
    PROGRESS_BAR_CHARS,
    PROGRESS_STEP,
    REPLICATION_PORT,
    SIMULATOR_PORT,
)

DEMO_DIR = Path("var/demo")
TOKEN_FILE = ".session"  # in the data dir, mode 0600: the token of `tillmesh api login`
PIN_ARGUMENT = ("--pin is refused: a PIN on the command line is visible to every user of "
                "this machine (ps). Type it at the prompt, or give it on standard input "
                "(e.g. `tillmesh … < pin-file`)")


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get("TILLMESH_HOME") or config_mod.DEFAULT_DATA_DIR)


def _print(value: Any) -> None:
    # default=: only what JSON cannot carry goes through to_wire_value (None, lists and
    # plain values as they are, e.g. `shift_current` answering null)
    print(json.dumps(value, default=to_wire_value, indent=2, ensure_ascii=False))


def cmd_init(args: argparse.Namespace) -> int:
    from tillmesh.node.ops.provisioning import ensure_new, initialise

    data_dir = _data_dir(args)
    config = config_mod.validate(Config(data_dir=data_dir, node_id=args.node,
                                        pos_profile=args.profile, timezone=args.timezone,
                                        **_network(args)))
    ensure_new(config)
    initialise(config, admin=args.admin, admin_name=args.admin_name,
               pin=_read_pin(f"PIN for the first admin {args.admin!r}: ", confirm=True),
               demo=args.demo)
    print(f"initialised counter {args.node} in {data_dir}; admin user {args.admin!r}")
    return 0


def _read_pin(prompt: str, confirm: bool = False, what: str = "PIN") -> str:
    """A PIN (or another secret) typed at the terminal (not echoed; twice with
    ``confirm``), else the first line of standard input (scripts, tests)."""
    if sys.stdin.isatty():
        pin = getpass.getpass(prompt)
        if confirm and getpass.getpass(f"The same {what} again: ") != pin:
            raise ValidationError(f"The two {what}s differ: nothing was changed")
    else:
        pin = sys.stdin.readline().rstrip("\r\n")
    if not pin:
        raise ValidationError(f"No {what} given: type it at the prompt or give it on "
                              "standard input")
    return pin


def _network(args: argparse.Namespace) -> dict[str, Any]:
    """The replication settings given on the command line (init and join)."""
    out: dict[str, Any] = {}
    for name in ("listen", "join_listen", "advertise", "mdns_port"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    if args.no_mdns:
        out["mdns"] = False
    if args.mdns_interface:
        out["mdns_interfaces"] = args.mdns_interface
    if args.peer:
        out["peers"] = args.peer
    return out


def _network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", help=f"replication endpoint, e.g. tcp://0.0.0.0:{REPLICATION_PORT}")
    p.add_argument("--join-listen", help="where new counters present invite codes")
    p.add_argument("--advertise", help="the host other counters dial")
    p.add_argument("--no-mdns", action="store_true", help="find counters only by --peer")
    p.add_argument("--mdns-interface", action="append", help="announce only on this address")
    p.add_argument("--mdns-port", type=int, help="mDNS port (5353)")
    p.add_argument("--peer", action="append", help="a counter to dial: NODE@host:port")


def cmd_join(args: argparse.Namespace) -> int:
    from tillmesh.node.membership.invite import parse_short
    from tillmesh.node.ops.provisioning import join

    data_dir = _data_dir(args)
    given = {k: v for k, v in (("pos_profile", args.profile), ("timezone", args.timezone))
             if v is not None}  # the rest comes from the inviting counter
    config = Config(data_dir=data_dir, node_id=args.node, **given, **_network(args))
    shown = [-1.0]

    def progress(what: str, have: int, want: int) -> None:
        share = have / want if want else 0.0
        if want and (share - shown[0] >= PROGRESS_STEP or have == want or share < shown[0]):
            shown[0] = share
            bar = "#" * int(share * PROGRESS_BAR_CHARS)
            amount = (f"{have / 2**20:,.1f} / {want / 2**20:,.1f} MiB snapshot"
                      if what == "snapshot" else f"{have:,} / {want:,} events")
            print(f"\rpulling the store's state [{bar:<{PROGRESS_BAR_CHARS}}] {amount}", end="",
                  flush=True)
            if have == want and what == "snapshot":
                print()

    code = args.code or _read_pin("Invite code: ", what="invite code").strip()
    short = parse_short(code)
    if short is not None:  # found on mDNS: the full code it stands for
        from tillmesh.node.membership.join import full_code

        code = full_code(short, mdns=config.mdns, interfaces=config.mdns_interfaces or None,
                         mdns_port=config.mdns_port, say=lambda text: print(text, flush=True))
    count = join(config, code, progress=progress, given=set(given))
    print(f"\ncounter {args.node} joined the store with {count:,} events; "
          f"start it with `tillmesh --data-dir {data_dir} run`")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tillmesh.node.ops.daemon import run

    _logging()  # also where the node says a key it reads lies in plain text (sealing)
    run(config_mod.load(_data_dir(args)))
    return 0


def _logging() -> None:
    from tillmesh.node.ops import logs

    logs.setup()  # plain lines, or the journal's (priority prefix) under systemd
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request: too much


def cmd_demo(args: argparse.Namespace) -> int:
    from tillmesh.node.ops.daemon import run
    from tillmesh.node.ops.provisioning import initialise

    if args.counters > 1:
        from tillmesh.lab import demo_store

        return demo_store.run(args.counters, headless=args.headless, keep=args.keep,
                              say=lambda line: print(line, flush=True), pace_s=args.pace)
    data_dir = Path(args.data_dir or DEMO_DIR)
    if not (data_dir / config_mod.CONFIG_NAME).exists():
        # One demo counter on this machine: replication listens on loopback only.
        config = Config(data_dir=data_dir, node_id="C01", pos_profile="Demo POS",
                        listen=f"tcp://127.0.0.1:{REPLICATION_PORT}",
                        join_listen=f"tcp://127.0.0.1:{JOIN_PORT}",
                        advertise="127.0.0.1", mdns=False)
        initialise(config, admin="admin", admin_name="Demo Admin", pin="1234", demo=True)
        print(f"demo counter created in {data_dir}")
    print("demo users: admin PIN 1234, supervisor PIN 2222, cashier PIN 1111")
    print(f"try: tillmesh --data-dir {data_dir} api login --json "
          "'{\"user\": \"cashier\", \"pin\": \"1111\"}'")
    _logging()
    config = config_mod.load(data_dir)
    simulator = None if args.no_erpnext else _demo_erpnext(config, args.erpnext_port)
    try:
        run(config)
    finally:
        if simulator is not None:
            simulator.stop()
    return 0


def _demo_erpnext(config: Config, port: int) -> Any:
    """The ERPNext simulator on 127.0.0.1, set up as this counter's ERPNext: the demo's
    shifts and sales are forwarded to it. It keeps its data in memory only."""
    from tillmesh.lab.erpnext_simulator import Simulator
    from tillmesh.node.erpnext import ErpNextClient, ErpNextSettings, save_settings, setup

    simulator = Simulator(seed="demo")
    url = simulator.start(port=port)
    with ErpNextClient(url, simulator.api_key, simulator.api_secret) as client:
        setup(client, config.pos_profile, lambda check: None)
    save_settings(config, ErpNextSettings(url, simulator.api_key, simulator.api_secret,
                                          config.pos_profile, verify=False))  # plain http
    print(f"ERPNext simulator at {url} (key {simulator.api_key}, secret "
          f"{simulator.api_secret}); it starts empty on every demo run")
    return simulator


def cmd_status(args: argparse.Namespace) -> int:
    from tillmesh.node.ops.provisioning import store_status

    _print(store_status(config_mod.load(_data_dir(args))))
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    from tillmesh.node.ops import seal
    from tillmesh.node.store import sealing

    config = config_mod.load(_data_dir(args))
    if args.systemd:
        lines = seal.seal_systemd(config, args.unit_dropin or seal.DROPIN_DIR)
    elif args.passphrase:
        if os.environ.get(sealing.PASSPHRASE_FILE_ENV) or not sys.stdin.isatty():
            phrase = sealing.passphrase()  # the file, or a clear line saying how to give it
        else:
            phrase = _read_pin("New passphrase for this counter's secrets: ", confirm=True,
                               what="passphrase")
        lines = seal.seal_passphrase(config, phrase)
    else:
        lines = [f"{name:<14} {how}" for name, how in seal.secrets_held(config).items()]
        lines += seal.secret_warnings(config)
    print("\n".join(lines))
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from tillmesh.node.ops.provisioning import list_users

    for user in list_users(config_mod.load(_data_dir(args))):
        state = "disabled" if user["disabled"] else "active"
        print(f"{user['user']:<20} {user['role']:<11} {state:<9} {user['full_name']}")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from tillmesh.node.ops.provisioning import rebuild

    count, seconds = rebuild(config_mod.load(_data_dir(args)))
    print(f"rebuilt every projection from {count} events in {seconds:.2f} s")
    return 0


def _as_user(args: argparse.Namespace, method: str, **params: Any) -> Any:
    """Call ``method`` as ``--user`` (PIN asked, or on standard input), else the saved
    session."""
    cfg = config_mod.load(_data_dir(args))
    with Client(cfg.api_endpoint, timeout=API_TIMEOUT_S) as client:
        if args.user:
            client.login(args.user, _read_pin(f"PIN for {args.user}: "))
        elif (cfg.data_dir / TOKEN_FILE).exists():
            client.token = (cfg.data_dir / TOKEN_FILE).read_text().strip()
        return client.call(method, **params)


def cmd_invite(args: argparse.Namespace) -> int:
    result = _as_user(args, "invite_create", minutes=args.minutes)
    cfg = config_mod.load(_data_dir(args))
    until = datetime.fromisoformat(str(result["expires_at"])).astimezone(cfg.tz)
    print(f"one-time invite, valid until {until:%Y-%m-%d %H:%M} ({cfg.timezone})\n")
    if result.get("short"):  # none: mDNS is off there, or a node of an earlier release
        print("short code (type it on the new counter: it finds this one on the network by "
              f"mDNS):\n\n    {result['short']}\n")
    print("full code (also without multicast; the app's Admin screen shows it as a QR code):"
          f"\n\n{result['code']}\n")
    print("on the new counter: tillmesh join --node C0n   (it asks for either code)")
    return 0


def cmd_exceptions(args: argparse.Namespace) -> int:
    if args.retry:
        _print(_as_user(args, "exception_retry", id=args.retry))
    elif args.resolve:
        if not args.note:
            raise ValidationError("--resolve needs --note: how it was settled")
        _print(_as_user(args, "exception_resolve", id=args.resolve, note=args.note))
    else:
        waiting = _as_user(args, "exceptions_list")
        if not waiting:
            print("no exceptions: ERPNext accepted everything sent so far")
        for item in waiting:
            print(f"{item['id']}  ({item['stage']}, {item['failures']} tries, "
                  f"HTTP {item['status']} {item['exc_type']})\n    {item['message']}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    _print(_as_user(args, "node_revoke", node_id=args.node_id))
    return 0


def cmd_peers(args: argparse.Namespace) -> int:
    cfg = config_mod.load(_data_dir(args))
    with Client(cfg.api_endpoint, timeout=API_TIMEOUT_S) as client:
        peers = client.call("peers")
        me = client.call("counter_state")

    def release(row: dict[str, Any]) -> str:
        # as the counter said it (? : a release before protocol 5, or not connected yet)
        said = [f"protocol {row['protocol']}"] if row.get("protocol") else []
        said += [f"schema {row['schema']}"] if row.get("schema") else []
        return f"release {row.get('release') or '?'}" + (f" ({', '.join(said)})" if said else "")

    if not peers:
        print("no other counter known yet")
    for peer in peers:
        state = ("refuses us" if peer.get("refused")  # it does not take this counter's key
                 else "live" if peer["live"] else "not heard")
        skew = "?" if peer["skew_ms"] is None else f"{peer['skew_ms']:+d} ms"
        warn = "  CLOCK SKEW" if peer["skew_warning"] else ""
        # events it has that we lack, and ours it lacks (as it last said: a stopped
        # counter's figure is from when it was last heard)
        print(f"{peer['node']:<8} {state:<10} we lack {peer['behind']:>7,}  "
              f"it lacks {peer['ahead']:>7,}  skew {skew}{warn}  {release(peer)}  "
              f"{peer['endpoint'] or ''}".rstrip())
    allowed = me.get("allowed_releases")
    store = ("" if allowed is None else "; the store allows "
             + (" or ".join(allowed) if allowed else "any release"))
    held = ": IT DOES NOT SELL" if me.get("state") == "release_not_allowed" else ""
    print(f"{me['node']:<8} this counter, {release(me)}{store}{held}")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    cfg = config_mod.load(_data_dir(args))
    token_path = cfg.data_dir / TOKEN_FILE
    try:
        params = json.loads(args.json) if args.json else {}
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--json is not valid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(params, dict):
        raise ValidationError("--json must be a JSON object of parameters")
    with Client(cfg.api_endpoint, timeout=API_TIMEOUT_S) as client:
        if args.method == "login":
            if "pin" not in params and "password" not in params:  # asked: never in `ps`
                params["pin"] = _read_pin(f"PIN for {params.get('user', '?')!r}: ")
            # call(), not login(**params): the node checks the params and answers a
            # missing or unknown one with a clear MalformedRequest, never a TypeError here
            result = client.call("login", **params)
            token = result.get("token") if isinstance(result, dict) else None
            if not isinstance(token, str):
                raise ApiError("the node's login reply carries no session token")
            from tillmesh.node.store.ownership import create

            fd = create(token_path, cfg.data_dir)  # run as root: still the service user's
            with os.fdopen(fd, "w") as fh:
                fh.write(token)
        else:
            if token_path.exists():
                client.token = token_path.read_text().strip()
            result = client.call(args.method, **params)
            if args.method == "logout":
                token_path.unlink(missing_ok=True)
    _print(result)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    # Imported here: only the app needs Qt, the node and the other commands never load it.
    if args.check:
        from tillmesh.ui.display_check import check

        result = check()
        print(result.report(), file=sys.stdout if result.ok else sys.stderr)
        return 0 if result.ok else 1
    if args.screenshots:
        from tillmesh.lab.screenshots import save_all

        for path in save_all(Path(args.screenshots)):
            print(path)
        return 0
    if args.screen is not None and not args.customer_display:
        raise ValidationError("--screen places the customer display: add --customer-display")
    # --socket: the till user's app reads nothing of the data dir (the service user's)
    endpoint = (f"ipc://{Path(args.socket).absolute()}" if args.socket
                else config_mod.load(_data_dir(args)).api_endpoint)
    if args.customer_display:
        from tillmesh.ui.app import run_customer_display

        return run_customer_display(endpoint, args.screen, windowed=args.windowed)
    from tillmesh.ui.app import run

    return run(endpoint, windowed=args.windowed)


def _screen_number(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a screen number (0, 1, ...)")
    return int(text)


def _login_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", help="log in as this user, PIN asked or on standard input "
                   "(else the `api login` session)")
    _refuse_pin(p)


def _refuse_pin(p: argparse.ArgumentParser) -> None:
    # Accepted by the parser only to be refused with how to give the PIN instead (main).
    p.add_argument("--pin", dest="pin_argument", help=argparse.SUPPRESS)


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (exit 2), as every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tillmesh", description="Tillmesh counter node")
    data_dir_help = ("data directory (default $TILLMESH_HOME or "
                     f"{config_mod.DEFAULT_DATA_DIR}); before or after the command")
    parser.add_argument("--data-dir", help=data_dir_help)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create this counter's store, key and first admin "
                       "(whose PIN is asked, or read from standard input)")
    p.add_argument("--node", default="C01", help="counter code, prefixes invoice numbers")
    p.add_argument("--profile", default="Demo POS", help="ERPNext POS Profile")
    p.add_argument("--timezone", default="Europe/Berlin")
    p.add_argument("--admin", default="admin")
    p.add_argument("--admin-name", default="Administrator")
    _refuse_pin(p)  # the first admin's PIN is asked for, or read from standard input
    p.add_argument("--demo", action="store_true", help="load the demo catalog and users")
    _network_options(p)
    p.set_defaults(fn=cmd_init)

    p = sub.add_parser("join", help="enrol this new counter with an invite code")
    p.add_argument("code", nargs="?",
                   help="the code `tillmesh invite` printed on a running counter; leave it "
                   "out to be asked for it (or give it on standard input): a code on the "
                   "command line shows in `ps` to every user of this machine")
    p.add_argument("--node", required=True, help="this counter's code, unique in the store")
    p.add_argument("--profile", help="ERPNext POS Profile (default: the inviting counter's)")
    p.add_argument("--timezone", help="the store's time zone (default: the inviting "
                   "counter's)")
    _network_options(p)
    p.set_defaults(fn=cmd_join)

    p = sub.add_parser("invite", help="print a one-time code for a new counter (admin)")
    p.add_argument("--minutes", type=int, default=INVITE_DEFAULT_MINUTES,
                   help="how long the code is valid")
    _login_options(p)
    p.set_defaults(fn=cmd_invite)

    p = sub.add_parser("exceptions", help="what ERPNext refused; retry or resolve (supervisor)")
    p.add_argument("--retry", metavar="ID", help="send DOCTYPE/NAME again (after a fix)")
    p.add_argument("--resolve", metavar="ID", help="settle DOCTYPE/NAME outside Tillmesh")
    p.add_argument("--note", help="how it was settled (with --resolve)")
    _login_options(p)
    p.set_defaults(fn=cmd_exceptions)

    p = sub.add_parser("revoke", help="remove a counter from the store for good (admin)")
    p.add_argument("node_id")
    _login_options(p)
    p.set_defaults(fn=cmd_revoke)

    sub.add_parser("peers", help="the other counters: live, lag, clock skew"
                   ).set_defaults(fn=cmd_peers)

    sub.add_parser("run", help="run the node daemon").set_defaults(fn=cmd_run)
    p = sub.add_parser("demo", help="create (once) and run a demo counter, with a simulated "
                       "ERPNext on 127.0.0.1")
    p.add_argument("--no-erpnext", action="store_true", help="no ERPNext simulator")
    p.add_argument("--erpnext-port", type=int, default=SIMULATOR_PORT,
                   help="the simulator's port")
    p.add_argument("--counters", type=int, default=1, metavar="N",
                   help="a store of N counters (2-9) and the simulator, in a new folder, "
                   "through a scripted day (sales, a return at another counter, a partition "
                   "and its heal, a remote close, ERPNext down and back) and its report")
    p.add_argument("--headless", action="store_true",
                   help="with --counters: no app, a live summary only")
    p.add_argument("--keep", action="store_true",
                   help="with --counters: keep the counters' folders and logs")
    p.add_argument("--pace", type=float, default=5.0, metavar="SECONDS",
                   help="with --counters and the app: seconds between the day's steps")
    p.set_defaults(fn=cmd_demo)
    sub.add_parser("status", help="what the store holds").set_defaults(fn=cmd_status)
    sub.add_parser("users", help="list users and roles").set_defaults(fn=cmd_users)
    p = sub.add_parser("seal", help="keep this counter's secrets (database key, node keys, "
                       "ERPNext secret) sealed instead of in plain text; without an option, "
                       "say how each is held")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--systemd", action="store_true",
                     help="seal them to this machine with systemd-creds (TPM2 where present, "
                     "else the host key) for the service to open at every start (root)")
    how.add_argument("--passphrase", action="store_true",
                     help="seal them with a passphrase, asked twice (or the first line of "
                     "$TILLMESH_PASSPHRASE_FILE); the node then needs it at every start")
    how.add_argument("--status", action="store_true", help="say how each is held (default)")
    p.add_argument("--unit-dropin", type=Path, metavar="DIR",
                   help="where --systemd writes the unit's credentials.conf (default "
                   "/etc/systemd/system/tillmesh.service.d)")
    p.set_defaults(fn=cmd_seal)
    sub.add_parser("rebuild", help="rebuild every projection from the event log (node stopped)"
                   ).set_defaults(fn=cmd_rebuild)

    p = sub.add_parser("ui", help="the cashier and supervisor app (PySide6)")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    p.add_argument("--check", action="store_true",
                   help="say whether the app can draw on this display (xcb or wayland) and "
                   "which Debian packages it lacks; exit 1 if it cannot")
    p.add_argument("--screenshots", metavar="OUTDIR",
                   help="save PNGs of the main screens (against a demo node it starts) and exit")
    p.add_argument("--customer-display", action="store_true",
                   help="only the display the customer faces (lines, total, change), "
                   "following this counter's node; run it beside the cashier's app")
    p.add_argument("--screen", type=_screen_number, metavar="N",
                   help="the customer display's screen, 0 first (default the primary)")
    p.add_argument("--socket", metavar="PATH",
                   help="the node's local API socket, e.g. /run/tillmesh/api.sock: the app "
                   "then reads nothing from the data dir (a till user in the socket's group)")
    p.set_defaults(fn=cmd_ui)

    from tillmesh.node.erpnext import add_commands as add_erpnext_commands

    add_erpnext_commands(sub, _data_dir)
    from tillmesh.node.ops.upgrade import add_commands as add_upgrade_commands

    add_upgrade_commands(sub, _data_dir)
    from tillmesh.node.ops.doctor import add_commands as add_doctor_commands

    add_doctor_commands(sub, _data_dir)
    from tillmesh.node.ops.backup import add_commands as add_backup_commands

    add_backup_commands(sub, _data_dir)
    from tillmesh.node.ops.archiving import add_commands as add_archive_commands

    add_archive_commands(sub, _data_dir)

    p = sub.add_parser("api", help="call a local API method and print JSON")
    p.add_argument("method", help="e.g. login, cart_new, sale_submit; `methods` lists all")
    p.add_argument("--json", default="", help="parameters as a JSON object")
    p.set_defaults(fn=cmd_api)
    for command in sub.choices.values():  # `tillmesh status --data-dir X` works too
        command.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_dir_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything is written: the store, keys, config, spool and logs are nobody
    # else's business, even when IT's shell has umask 022 (the unit sets UMask= too).
    umask = os.umask(0o077)
    try:
        return _command(argv)
    finally:
        os.umask(umask)  # a caller in the same process (a test) keeps its own


def _command(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "pin_argument", None) is not None:
            raise ValidationError(PIN_ARGUMENT)
        code: int = args.fn(args)
        return code
    except NodeUnavailable as exc:
        print(f"tillmesh: {exc.message} (is `tillmesh run` running?)", file=sys.stderr)
    except (ConfigError, StoreError) as exc:
        print(f"tillmesh: {exc.message}", file=sys.stderr)
    except TillmeshError as exc:
        print(f"tillmesh: {exc.code}: {exc.message}", file=sys.stderr)
    except OSError as exc:  # an unwritable data dir, a full disk: one line, no traceback
        where = f" {exc.filename}" if exc.filename else ""
        print(f"tillmesh: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tillmesh api … | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())

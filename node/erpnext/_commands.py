"""``tillmesh erpnext setup | status | pull``: the ERPNext link for IT.

``setup`` saves the credentials and prints one line per check (exit 1 if anything is
missing; a plain http:// URL only with ``--insecure``); it keeps the ``[limits]`` saved
before. A running node takes the new settings at once (``erpnext_reload``). ``pull``
goes through the running node's local API (the node owns the store) and polls its
progress, or, with the node stopped, holds the node's lock and pulls into the store
itself; exit 1 if a row or doctype could not be pulled. ``status`` shows the settings,
how the link is protected, whether ERPNext answers now (within STATUS_TIMEOUT_S, whatever
it sends), and the last pull of every doctype.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tillmesh.node.erpnext import _settings, _state
from tillmesh.node.erpnext._limits import Limits
from tillmesh.node.erpnext._pull import Direct, pull
from tillmesh.node.erpnext._rest import check_url
from tillmesh.node.erpnext._setup import setup
from tillmesh.node.erpnext._text import printable
from tillmesh.node.erpnext.const import (
    DELIVERIES,
    PER_SALE,
    PER_SHIFT,
    PROGRESS_EVERY_S,
    STATUS_TIMEOUT_S,
)
from tillmesh.node.errors import ConfigError, ErpNextError, from_wire
from tillmesh.node.ops import config as config_mod
from tillmesh.node.ops.config import Config
from tillmesh.node.ops.const import API_TIMEOUT_S

DataDir = Callable[[argparse.Namespace], Path]
SECRET_ENV = "TILLMESH_ERPNEXT_SECRET"  # keeps the secret out of shell history and `ps`


def cmd_setup(data_dir: DataDir, args: argparse.Namespace) -> int:
    config = config_mod.load(data_dir(args))
    secret = args.secret or os.environ.get(SECRET_ENV) or getpass.getpass("API secret: ")
    verify: _settings.Verify = False if args.insecure else \
        str(Path(args.verify).resolve()) if args.verify else True
    profile = args.pos_profile or config.pos_profile
    saved = _saved(config)
    delivery = args.delivery or (saved.delivery if saved else PER_SALE)
    settings = _settings.ErpNextSettings(
        check_url(args.url), args.key, secret, profile, verify,
        saved.limits if saved else Limits(), delivery,
        delivery == PER_SHIFT or bool(saved and saved.reads_shift_invoices))
    with settings.client() as client:  # a bad URL or CA file fails here, before saving
        path = _settings.save(config, settings)
        print(f"saved {path} (mode 0600)")
        if profile != config.pos_profile:
            print(f"note: this counter sells with POS Profile {config.pos_profile!r}"
                  f" (tillmesh.toml); set pos_profile = {profile!r} there as well")
        ready = setup(client, profile, lambda check: print(check.line(), flush=True),
                      per_shift=settings.per_shift)
    print(f"delivery     {settings.delivery}" + (
        ": set it alike on every counter of the store" if settings.per_shift else ""))
    print("ERPNext is ready for Tillmesh" if ready else
          "fix what is MISSING above, then run `tillmesh erpnext setup` again")
    _reload_running(config)
    return 0 if ready else 1


def _saved(config: Config) -> _settings.ErpNextSettings | None:
    """The settings saved before: running setup again keeps their limits (widened for a
    slow site) and delivery unless told otherwise."""
    try:
        return _settings.load(config)
    except ConfigError:  # none saved yet, or unusable: const's
        return None


def _reload_running(config: Config) -> None:
    """A running counter takes the saved settings now, not at its next start."""
    from tillmesh.node.ops.provisioning import node_running

    if not node_running(config):
        return
    answer = _call(config, "erpnext_reload")
    if not answer["forwarding"]:
        print(f"the running counter does not forward: {answer['reason']}")
    elif answer["changed"]:
        print("the running counter forwards with these settings now")


def cmd_status(data_dir: DataDir, args: argparse.Namespace) -> int:
    from tillmesh.node.ops.provisioning import _open, node_running

    config = config_mod.load(data_dir(args))
    settings = _settings.load(config)
    print(f"url          {settings.url}\npos profile  {settings.pos_profile}\n"
          f"security     {settings.security()}\ndelivery     {settings.delivery}")
    brief = dataclasses.replace(settings.limits, request_deadline_s=STATUS_TIMEOUT_S)
    try:
        with settings.client(max_attempts=1, limits=brief) as client:
            user = client.call_method("frappe.auth.get_logged_user")
        print(f"reachable    yes, as {printable(str(user))}")
        reachable = True
    except ErpNextError as exc:
        print(f"reachable    NO: {exc.message}")
        reachable = False
    if node_running(config):
        job = _call(config, "erpnext_status")["pull"]
        print(f"pull         {job['state']} {_job_detail(job)}")
    log = _open(config)
    try:
        with log.reading() as session:
            scopes = _state.states(session)
    finally:
        log.engine.dispose()
    _table([vars(s) for s in scopes])
    return 0 if reachable else 1


def _job_detail(job: dict[str, Any]) -> str:
    if job["state"] == "running" and job.get("progress"):
        p = job["progress"]
        return f"({p['scope']}: {p['read']:,} read)"
    return f"(finished {job['finished_at']})" if job.get("finished_at") else ""


def cmd_pull(data_dir: DataDir, args: argparse.Namespace) -> int:
    from tillmesh.node.ops.provisioning import _node_stopped, _open, node_running

    config = config_mod.load(data_dir(args))
    show = _Progress()
    if node_running(config):
        job = _call(config, "erpnext_pull")
        while job["state"] == "running":
            if job.get("progress"):
                show(**job["progress"])
            time.sleep(PROGRESS_EVERY_S)
            job = _call(config, "erpnext_status")["pull"]
        show.end()
        if job["state"] == "failed":
            raise from_wire(job["error"])
        report = job["report"]
    else:
        settings = _settings.load(config)
        with _node_stopped(config, "erpnext pull"):
            log = _open(config)
            try:
                with settings.client() as client:
                    report = pull(client, Direct(log), settings.pos_profile,
                                  progress=show).as_dict()
            finally:
                log.engine.dispose()
                show.end()
    _table(report["scopes"])
    for error in report["errors"]:
        print(f"error: {error}")
    if report["error_count"] > len(report["errors"]):
        print(f"… and {report['error_count'] - len(report['errors'])} more (see the log)")
    print(f"pulled in {report['seconds']:.1f} s: {report['emitted']:,} events recorded")
    return 1 if report["error_count"] else 0


class _Progress:
    """One line on stderr, rewritten at most every PROGRESS_EVERY_S."""

    def __init__(self) -> None:
        self._shown = 0.0

    def __call__(self, scope: str, read: int, emitted: int) -> None:
        now = time.monotonic()
        if now - self._shown >= PROGRESS_EVERY_S:
            self._shown = now
            print(f"\rpulling {scope:<45.45} {read:>9,} read {emitted:>9,} recorded",
                  end="", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self._shown:
            print(file=sys.stderr)


def _call(config: Config, method: str) -> Any:
    from tillmesh.node.api.client import Client

    with Client(config.api_endpoint, timeout=API_TIMEOUT_S) as client:
        return client.call(method)


def _table(scopes: list[dict[str, Any]]) -> None:
    if not scopes:
        print("no pull yet: run `tillmesh erpnext pull`")
    for s in scopes:
        print(f"{s['scope']:<45.45} {s['watermark'] or '-':<26} read {s['seen']:>8,}"
              f"  recorded {s['emitted']:>8,}  errors {s['errors']:>4}  at {s['pulled_at']}")


def add_commands(sub: Any, data_dir: DataDir) -> None:
    """Add ``erpnext`` and its subcommands to the ``tillmesh`` parser's subparsers."""
    parser = sub.add_parser("erpnext", help="the link to ERPNext: setup, status, pull")
    commands = parser.add_subparsers(dest="erpnext_command", required=True)

    p = commands.add_parser("setup", help="save the API credentials, check ERPNext, create"
                            " the custom fields Tillmesh needs (exit 1 if anything is missing)")
    p.add_argument("--url", required=True, help="e.g. https://erp.example.com")
    p.add_argument("--key", required=True, help="API key of the ERPNext user Tillmesh acts as")
    p.add_argument("--secret", help=f"its API secret (else ${SECRET_ENV}, else asked)")
    p.add_argument("--pos-profile", help="POS Profile to pull (default: the counter's)")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--verify", metavar="PATH", help="CA certificate file or directory")
    tls.add_argument("--insecure", action="store_true", help="labs only: do not verify TLS,"
                     " and accept a plain http:// URL (the key and secret then cross the"
                     " network in clear)")
    p.add_argument("--delivery", choices=DELIVERIES, help="how sales reach ERPNext:"
                   f" {PER_SALE} (a POS Invoice each, the default) or {PER_SHIFT} (one"
                   " consolidated Sales Invoice per shift, for a site that cannot keep up;"
                   " README). Default: as saved before")
    p.set_defaults(fn=partial(cmd_setup, data_dir))

    commands.add_parser("status", help="settings, reachability, the last pull per doctype"
                        ).set_defaults(fn=partial(cmd_status, data_dir))
    commands.add_parser("pull", help="pull master data and stock now (exit 1 if a row or a"
                        " doctype could not be pulled)"
                        ).set_defaults(fn=partial(cmd_pull, data_dir))

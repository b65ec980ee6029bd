"""The Admin screen's invite for a new counter: the short code a person types at the new
counter, the full code as a QR code (for a 2D scanner at the new counter, or a network
without multicast), and until when it is valid, in the store's time to the minute.
Qt-free; the QR code is a grid of modules here, drawn by the screen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from tillmesh.ui.models.clock import parse

QR_BORDER = 4  # modules of quiet zone around the code, as the QR standard asks


@dataclass(frozen=True)
class InviteView:
    short: str  # "7QK2-M9XD-4HTR-0BWE"; "" from a node that makes none (earlier release)
    full: str  # "TM1-…": what the QR code holds
    until: str  # "14:35" today, else "2026-05-03 14:35", in the store's time
    note: str  # the sentence under the code


def invite_view(answer: Mapping[str, Any], now: datetime) -> InviteView:
    """What ``invite_create`` answered, as the screen shows it; ``now`` is in the store's
    time zone (``Context.now``)."""
    full, short = str(answer["code"]), str(answer.get("short") or "")
    until = _minute(answer.get("expires_at"), now)
    if short:
        how = ("type the short code at `tillmesh join --node C0n`, or scan the QR code into "
               "it. The QR code also works on a network without multicast.")
    else:  # mDNS is off on this counter (or it is of an earlier release)
        how = ("scan the QR code into `tillmesh join --node C0n` (no short code: this "
               "counter does not announce itself on mDNS).")
    return InviteView(short, full, until, f"Valid once, until {until}: on the new counter "
                      f"{how}")


def _minute(value: object, now: datetime) -> str:
    stamp = parse(value)
    if stamp is None or stamp.tzinfo is None:
        return str(value)
    stamp = stamp.astimezone(now.tzinfo)
    return f"{stamp:%H:%M}" if stamp.date() == now.date() else f"{stamp:%Y-%m-%d %H:%M}"


def qr_modules(text: str) -> list[list[bool]]:
    """The QR code of ``text`` as rows of modules (True: dark), quiet zone included.
    An invite code is upper-case base32, so it packs in the compact alphanumeric mode."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_BORDER)
    code.add_data(text)
    code.make(fit=True)
    return [list(map(bool, line)) for line in code.get_matrix()]

"""Which releases of Tillmesh may sell in the store: the allowed releases. Pure.

An admin holds the store at one or more releases (``tillmesh releases allow 0.1.0
0.2.0``: a ``releases.allowed`` change, judged by ``authority`` on every replica like a
change to users; the latest one by its stamp stands). A counter running another release
does not go live: it sells nothing until IT installs an allowed release or an admin allows
its own, and it still replicates, so it hears when the setting changes. No hold, or an
empty one, lets every release sell.

Releases are compared as written (``0.2.0`` is not ``0.2``): the version pip installed,
``importlib.metadata.version("tillmesh")``, as ``tillmesh peers`` shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tillmesh.node.errors import ValidationError

RELEASE = re.compile(r"[0-9][0-9A-Za-z.+!_-]{0,63}")  # 0.2.0, 1!2.0rc1+deb12: PEP 440 text
MAX_ALLOWED = 16  # releases in one hold: a store rolls out one or two at a time


@dataclass(frozen=True)
class Hold:
    """The store's allowed releases as the latest applied ``releases.allowed`` set them."""

    releases: tuple[str, ...]  # empty: any release
    by: str | None  # the admin who set them
    counter: str  # the counter it was recorded on
    hlc: int  # its stamp


def check_releases(values: object) -> tuple[str, ...]:
    """The releases of a hold in the order given, each once; ValidationError for anything
    but a list of release strings."""
    if not isinstance(values, list | tuple):
        raise ValidationError(f"releases must be a list of releases, not {values!r}")
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not RELEASE.fullmatch(value):
            raise ValidationError(f"{value!r} is not a release such as 0.2.0")
        if value not in out:
            out.append(value)
    if len(out) > MAX_ALLOWED:
        raise ValidationError(f"at most {MAX_ALLOWED} releases may be allowed at once")
    return tuple(out)


def allows(hold: Hold | None, release: str) -> bool:
    """Whether a counter running ``release`` may sell under ``hold``."""
    return hold is None or not hold.releases or release in hold.releases


def stranding(wanted: Sequence[str], running: Iterable[str | None]) -> str | None:
    """Why holding the store at ``wanted`` is refused without ``force``, or None: a list that
    leaves out every release running now (this counter's, each connected counter's; None:
    one that does not say it, which may run one of them) stops every counter mid-trading,
    which is a typo (``0.2`` for ``0.2.0``) far more often than a plan."""
    seen = list(dict.fromkeys(running))
    known = [r for r in seen if r is not None]
    if not wanted or not known or None in seen or any(r in wanted for r in known):
        return None
    return (f"none of {names(wanted)} runs on this counter or a connected one (they run "
            f"{names(known)}): every counter would stop selling; check the spelling, or "
            "give --force")


def names(releases: Iterable[str]) -> str:
    listed = list(releases)
    return ", ".join(listed[:-1]) + (" or " if len(listed) > 1 else "") + listed[-1]


def refusal(hold: Hold | None, release: str) -> str | None:
    """Why a counter running ``release`` does not sell, for the Store screen and
    ``counter_state``; None when it may."""
    if hold is None or allows(hold, release):
        return None
    return (f"This counter runs release {release}, but the store allows only "
            f"{names(hold.releases)} (set by {hold.by or 'an admin'} on {hold.counter}): it "
            "does not sell until IT installs an allowed release (`tillmesh upgrade`, "
            f"`tillmesh rollback`) or an admin allows {release} (`tillmesh releases allow`). "
            "It still replicates.")


def short_refusal(hold: Hold, release: str) -> str:
    """The same in a few words, for the message line of a refused sale."""
    return (f"This counter runs release {release}; the store allows only "
            f"{names(hold.releases)}: it cannot sell")

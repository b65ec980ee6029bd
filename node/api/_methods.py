"""What an API method is: ``@api_method`` records its name, who may call it and its docstring.

A method is a plain module-level function of one area module (``checkout``, ``shifts``…),
or an ``async def`` when it waits for another counter or prices a cart (see ``Node.call``).
Its first parameter is the counter's :class:`~tillmesh.node.api._node.Node`, the
second, by ``auth``, the live :class:`Caller` (``session``), the raw session token
(``token``, to unlock an idle-locked session) or nothing (``none``: login, and the IT views
whose socket only the service user can open); the rest are the request's parameters.

``roles`` is who may call the method at all, checked by the dispatcher before the method
runs. ``action`` names the permission (or permissions) the method asks for inside
(``PermissionMatrix``, configurable per store), where a supervisor's PIN may approve what
the caller's role may not. The ``methods`` call and the README's table are generated
from these records.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any, TypeVar

from tillmesh.node.domain.roles import Action, Role

F = TypeVar("F", bound=Callable[..., Any])

EVERYONE = frozenset(Role)


class Auth(StrEnum):
    SESSION = "session"  # the live Caller is passed after the node
    TOKEN = "token"  # the raw token (or None) is passed after the node
    NONE = "none"  # nothing: no login needed


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[..., Any]
    auth: Auth
    roles: frozenset[Role]
    actions: tuple[Action, ...]
    doc: str

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """Read once: every call binds the request's parameters to it."""
        return inspect.signature(self.fn)

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]

    def who(self) -> str:
        """Who may call it, in words (the README's table)."""
        if self.auth is Auth.NONE:
            return "anyone on this counter (no login)"
        if self.auth is Auth.TOKEN:
            return "the session's own user"
        if self.actions:
            names = " or ".join(f"`{a.value}`" for a in self.actions)
            return f"permission {names} (a supervisor's PIN may approve)"
        if self.roles == EVERYONE:
            return "any logged-in user"
        return ", ".join(r.value for r in Role if r in self.roles)


_SPEC = "__api_method__"


def api_method(*, auth: Auth = Auth.SESSION, roles: Iterable[Role] = EVERYONE,
               action: Action | tuple[Action, ...] = ()) -> Callable[[F], F]:
    """Mark a module-level function as the API method of its name."""
    actions = (action,) if isinstance(action, Action) else action

    def mark(fn: F) -> F:
        spec = MethodSpec(fn.__name__, fn, auth, frozenset(roles), actions,
                          inspect.getdoc(fn) or "")
        if not spec.doc:
            raise TypeError(f"API method {fn.__name__} needs a docstring (`methods` shows it)")
        setattr(fn, _SPEC, spec)
        return fn

    return mark


def collect(areas: Iterable[ModuleType]) -> Mapping[str, MethodSpec]:
    """Every ``@api_method`` function the area modules define, by name, area by area in
    the order they are defined."""
    found: dict[str, MethodSpec] = {}
    for area in areas:
        for value in vars(area).values():
            spec = getattr(value, _SPEC, None)
            if not isinstance(spec, MethodSpec) or spec.fn.__module__ != area.__name__:
                continue
            if spec.name in found:
                raise TypeError(f"API method {spec.name} is defined twice")
            found[spec.name] = spec
    return found

"""Roles, the permission matrix and the pure authorisation decision.

Nothing here does I/O. The caller (the node's API layer) looks up the actor's role from
the session, asks a supervisor for their PIN when :func:`decide` says an override could
help, verifies that PIN itself, then calls :func:`authorize` and writes the returned
:class:`Authorization` into an ``audit.*`` event.

Default matrix (admin ⊇ supervisor ⊇ cashier; a config may deviate, nothing enforces it):

    cashier     sell, discount up to 10 %, void, cash_in, shift_open, shift_close, reprint
    supervisor  + return, return_unconfirmed, cash_out, cash_out_beyond_drawer,
                  drawer_open, price_override, shift_close_other; 50 %
    admin       every action, including user_manage and settings; 100 %
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tillmesh.node.domain.const import (
    ADMIN_MAX_DISCOUNT,
    CASHIER_MAX_DISCOUNT,
    MAX_PERCENT,
    SUPERVISOR_MAX_DISCOUNT,
)
from tillmesh.node.domain.money import to_decimal
from tillmesh.node.errors import PermissionDenied, ValidationError

ZERO_PERCENT = Decimal(0)


class Role(StrEnum):
    """A user's role; declared from least to most powerful."""

    CASHIER = "cashier"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for cashier, 1 for supervisor, 2 for admin."""
        return _RANKS[self]


_RANKS = {role: index for index, role in enumerate(Role)}


class Action(StrEnum):
    """A sensitive action whose every use is checked against the matrix."""

    SELL = "sell"
    DISCOUNT = "discount"  # needs a percentage
    PRICE_OVERRIDE = "price_override"
    RETURN = "return"
    RETURN_UNCONFIRMED = "return_unconfirmed"  # refund when the sale's counter cannot be
    #                                            asked: it may have refunded it already
    VOID = "void"  # delete a line or the cart after a scan
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"
    CASH_OUT_BEYOND_DRAWER = "cash_out_beyond_drawer"  # more than the drawer should hold:
    #                                                    a typo or money that is not there
    DRAWER_OPEN = "drawer_open"  # open the drawer without a sale
    SHIFT_OPEN = "shift_open"
    SHIFT_CLOSE = "shift_close"  # one's own shift
    SHIFT_CLOSE_OTHER = "shift_close_other"
    USER_MANAGE = "user_manage"
    SETTINGS = "settings"
    REPRINT = "reprint"
    EXCEPTIONS = "exceptions"  # retry or settle what ERPNext refused


# What a cashier reads in a refusal: "<label> is not allowed for a cashier: ...".
_LABELS: dict[Action, str] = {
    Action.SELL: "Selling",
    Action.DISCOUNT: "A discount",
    Action.PRICE_OVERRIDE: "Changing a price",
    Action.RETURN: "A return",
    Action.RETURN_UNCONFIRMED: "A return the sale's counter has not confirmed",
    Action.VOID: "Removing a scanned line",
    Action.CASH_IN: "Cash in",
    Action.CASH_OUT: "Cash out",
    Action.CASH_OUT_BEYOND_DRAWER: "Paying out more than the drawer should hold",
    Action.DRAWER_OPEN: "Opening the drawer without a sale",
    Action.SHIFT_OPEN: "Opening a shift",
    Action.SHIFT_CLOSE: "Closing the shift",
    Action.SHIFT_CLOSE_OTHER: "Closing another user's shift",
    Action.USER_MANAGE: "Managing users",
    Action.SETTINGS: "Changing settings",
    Action.REPRINT: "Reprinting a receipt",
    Action.EXCEPTIONS: "Retrying or resolving an ERPNext exception",
}

_CASHIER_ACTIONS = frozenset(
    {
        Action.SELL,
        Action.DISCOUNT,
        Action.VOID,
        Action.CASH_IN,
        Action.SHIFT_OPEN,
        Action.SHIFT_CLOSE,
        Action.REPRINT,
    }
)
_SUPERVISOR_ACTIONS = _CASHIER_ACTIONS | {
    Action.RETURN,
    Action.RETURN_UNCONFIRMED,
    Action.CASH_OUT,
    Action.CASH_OUT_BEYOND_DRAWER,
    Action.DRAWER_OPEN,
    Action.PRICE_OVERRIDE,
    Action.SHIFT_CLOSE_OTHER,
    Action.EXCEPTIONS,
}
_ADMIN_ACTIONS = frozenset(Action)
_ROLE_KEYS = frozenset({"actions", "max_discount_percent"})


@dataclass(frozen=True)
class RolePermissions:
    """What one role may do without anyone's approval."""

    actions: frozenset[Action]
    max_discount_percent: Decimal

    def allows(self, action: Action, discount_percent: Decimal | None = None) -> bool:
        if action not in self.actions:
            return False
        return discount_percent is None or discount_percent <= self.max_discount_percent


_DEFAULTS: dict[Role, RolePermissions] = {
    Role.CASHIER: RolePermissions(_CASHIER_ACTIONS, CASHIER_MAX_DISCOUNT),
    Role.SUPERVISOR: RolePermissions(_SUPERVISOR_ACTIONS, SUPERVISOR_MAX_DISCOUNT),
    Role.ADMIN: RolePermissions(_ADMIN_ACTIONS, ADMIN_MAX_DISCOUNT),
}


@dataclass(frozen=True)
class PermissionMatrix:
    """Per role, the allowed actions and the discount limit. ``PermissionMatrix()`` is
    the default policy; :meth:`from_dict` reads the ``permissions`` section of a config."""

    cashier: RolePermissions = _DEFAULTS[Role.CASHIER]
    supervisor: RolePermissions = _DEFAULTS[Role.SUPERVISOR]
    admin: RolePermissions = _DEFAULTS[Role.ADMIN]

    def __getitem__(self, role: Role) -> RolePermissions:
        role = Role(role)
        if role is Role.CASHIER:
            return self.cashier
        return self.supervisor if role is Role.SUPERVISOR else self.admin

    @property
    def common_discount_percent(self) -> Decimal:
        """The discount every role may give on its own (0 if one may give none)."""
        return min(self[role].max_discount_percent if Action.DISCOUNT in self[role].actions
                   else ZERO_PERCENT for role in Role)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> PermissionMatrix:
        """Build from ``{role: {"actions": [...], "max_discount_percent": "10"}}``.

        A role or a key left out keeps its default, so a config can say only
        ``{"cashier": {"max_discount_percent": 15}}``. Anything unknown is an error.
        """
        if not isinstance(config, Mapping):
            raise ValidationError("permissions must be a table of roles")
        unknown = sorted(str(key) for key in config if key not in _RANKS)
        if unknown:
            raise ValidationError(
                f"unknown role(s) in permissions: {', '.join(unknown)} (known: {', '.join(Role)})"
            )
        parts = {
            role.value: _parse_role(role, config[role.value])
            for role in Role
            if role.value in config
        }
        return cls(**parts)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain data (strings and lists) that :meth:`from_dict` reads back unchanged."""
        return {
            role.value: {
                "actions": sorted(action.value for action in self[role].actions),
                "max_discount_percent": _format_percent(self[role].max_discount_percent),
            }
            for role in Role
        }


def _parse_role(role: Role, raw: Any) -> RolePermissions:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"permissions.{role}: must be a table with actions and a limit")
    unknown = sorted(str(key) for key in raw if key not in _ROLE_KEYS)
    if unknown:
        raise ValidationError(f"permissions.{role}: unknown key(s) {', '.join(unknown)}")
    default = _DEFAULTS[role]
    actions = default.actions
    if "actions" in raw:
        actions = _parse_actions(role, raw["actions"])
    limit = default.max_discount_percent
    if "max_discount_percent" in raw:
        limit = parse_percent(
            raw["max_discount_percent"], f"permissions.{role}.max_discount_percent"
        )
    return RolePermissions(actions, limit)


def _parse_actions(role: Role, raw: Any) -> frozenset[Action]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
        raise ValidationError(f"permissions.{role}.actions must be a list of action names")
    names = [str(name) for name in raw]
    known = {action.value for action in Action}
    unknown = sorted(name for name in names if name not in known)
    if unknown:
        raise ValidationError(
            f"permissions.{role}.actions: unknown action(s) {', '.join(unknown)}"
            f" (known: {', '.join(sorted(known))})"
        )
    return frozenset(Action(name) for name in names)


def parse_percent(value: object, field: str = "discount_percent") -> Decimal:
    """A percentage from config or API input: a finite number from 0 to 100."""
    percent = to_decimal(value, field)
    if not ZERO_PERCENT <= percent <= MAX_PERCENT:
        raise ValidationError(f"{field} must be between 0 and 100, not {value}")
    return percent.copy_abs()  # "-0" is 0


@dataclass(frozen=True)
class Decision:
    """Whether ``role`` may do ``action`` on its own, and who could approve it if not.

    ``approver_roles`` lists, lowest first, the roles whose PIN would allow the action;
    it is empty when the action is allowed or when no role may do it at all.
    """

    role: Role
    action: Action
    allowed: bool
    approver_roles: tuple[Role, ...] = ()
    reason: str = ""

    @property
    def override_possible(self) -> bool:
        return not self.allowed and bool(self.approver_roles)


def decide(
    matrix: PermissionMatrix,
    role: Role,
    action: Action,
    *,
    discount_percent: Decimal | int | str | None = None,
) -> Decision:
    """The pure permission check; raises only ValidationError for a bad percentage."""
    role, action = Role(role), Action(action)
    percent = _check_percent(action, discount_percent)
    if matrix[role].allows(action, percent):
        return Decision(role, action, allowed=True)
    approvers = tuple(other for other in Role if matrix[other].allows(action, percent))
    if action in matrix[role].actions and percent is not None:
        limit = _format_percent(matrix[role].max_discount_percent)
        problem = f"Discount of {_format_percent(percent)}% is above your limit of {limit}%"
    else:
        problem = f"{_LABELS[action]} is not allowed for {_a(role)}"
    if approvers:
        reason = f"{problem}: {_a(approvers[0])} PIN is needed"
    else:
        reason = f"{problem}, and no role may approve it"
    return Decision(role, action, allowed=False, approver_roles=approvers, reason=reason)


@dataclass(frozen=True)
class Authorization:
    """A granted action, as the caller records it in an ``audit.*`` event."""

    actor_id: str
    actor_role: Role
    action: Action
    approver_id: str | None = None
    approver_role: Role | None = None
    discount_percent: Decimal | None = None

    @property
    def override(self) -> bool:
        """True when the actor's own role was not enough and an approver allowed it."""
        return self.approver_id is not None

    def to_audit(self) -> dict[str, Any]:
        """The payload of the audit event: plain strings, ``None`` where absent."""
        percent = self.discount_percent
        return {
            "action": self.action.value,
            "actor_id": self.actor_id,
            "actor_role": self.actor_role.value,
            "approver_id": self.approver_id,
            "approver_role": None if self.approver_role is None else self.approver_role.value,
            "override": self.override,
            "discount_percent": None if percent is None else _format_percent(percent),
        }


def authorize(
    matrix: PermissionMatrix,
    actor_role: Role,
    action: Action,
    *,
    actor_id: str,
    discount_percent: Decimal | int | str | None = None,
    approver_id: str | None = None,
    approver_role: Role | None = None,
) -> Authorization:
    """Grant ``action`` or raise PermissionDenied with a message the cashier can act on.

    The approver is someone who just entered their PIN for this very action; the caller
    has verified it. When the actor's own role suffices the approver is ignored and the
    result is not an override. An approver who is the actor is refused.
    """
    if (approver_id is None) != (approver_role is None):
        raise ValueError("approver_id and approver_role go together")
    decision = decide(matrix, actor_role, action, discount_percent=discount_percent)
    percent = _check_percent(decision.action, discount_percent)
    if decision.allowed:
        return Authorization(actor_id, decision.role, decision.action, discount_percent=percent)
    details: dict[str, Any] = {
        "action": decision.action.value,
        "role": decision.role.value,
        "approver_roles": [role.value for role in decision.approver_roles],
    }
    if approver_id is None or approver_role is None:
        raise PermissionDenied(decision.reason, **details)
    approver_role = Role(approver_role)
    if approver_id == actor_id:
        raise PermissionDenied(f"You cannot approve your own action. {decision.reason}", **details)
    if not matrix[approver_role].allows(decision.action, percent):
        raise PermissionDenied(
            f"{_a(approver_role).capitalize()} cannot approve this. {decision.reason}",
            **details,
        )
    return Authorization(
        actor_id, decision.role, decision.action, approver_id, approver_role, percent
    )


def _check_percent(action: Action, value: Decimal | int | str | None) -> Decimal | None:
    if action is Action.DISCOUNT:
        if value is None:
            raise ValidationError("a discount needs its percentage")
        return parse_percent(value)
    if value is not None:
        raise ValidationError(f"discount_percent does not apply to {action}")
    return None


def _format_percent(value: Decimal) -> str:
    """``Decimal("12.50")`` -> ``"12.5"``, ``Decimal("1E+2")`` -> ``"100"``."""
    return format(value.normalize(), "f")


def _a(role: Role) -> str:
    return f"an {role}" if role.value[0] in "aeiou" else f"a {role}"

"""API methods for login, sessions, users and the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillmesh.node.api._methods import Auth, api_method
from tillmesh.node.api.const import MAX_LIST_ROWS
from tillmesh.node.domain.credentials import SecretKind, check_role_change, new_credential
from tillmesh.node.domain.roles import Action, Role
from tillmesh.node.errors import PermissionDenied, SessionExpired, ValidationError
from tillmesh.node.projections import audit, logins, users
from tillmesh.node.projections.const import DEFAULT_AUDIT_ROWS

if TYPE_CHECKING:
    from tillmesh.node.api import Caller, Node


def _credential(node: Node, role: Role, pin: str | None,
                password: str | None) -> tuple[str, str]:
    """A new PIN (long enough for ``role`` under this store's ``min_pin_digits_supervisor``)
    or password, hashed."""
    if (pin is None) == (password is None):
        raise ValidationError("Give either a pin or a password")
    kind, secret = (SecretKind.PIN, pin) if pin is not None else (SecretKind.PASSWORD, password)
    cred = new_credential(kind, str(secret), role, node.config.min_pin_digits_supervisor)
    return cred.kind.value, cred.secret_hash


def _role(role: object) -> Role:
    try:
        return Role(str(role))
    except ValueError as exc:
        raise ValidationError(f"Unknown role {role!r}: cashier, supervisor or admin") from exc


def user_body(user: str, full_name: str, role: Role, kind: str, secret_hash: str,
              disabled: bool = False) -> dict[str, Any]:
    return {"user": user, "full_name": full_name, "role": role.value, "secret_kind": kind,
            "secret_hash": secret_hash, "disabled": disabled}


@api_method(auth=Auth.NONE)
def login(node: Node, user: str, pin: str) -> dict[str, Any]:
    """Log in with a PIN or password; returns the session token for later calls."""
    user_id = users.validate_user_id(user)
    with node.read() as s:
        found = node.check_secret(s, user_id, pin)
    session = node.sessions.open(found.user, found.grant, node.clock())
    with node.write() as tx:
        tx.append("audit.login", {"user": found.user, "role": found.role.value})
    return {"token": session.token, **found.public()}


@api_method()
def logout(node: Node, caller: Caller) -> dict[str, Any]:
    """End this session."""
    node.sessions.close(caller.token)
    node.tender_drafts.drop_session(caller.token)  # nobody pays at this till now
    return {"ok": True}


@api_method()
def lock(node: Node, caller: Caller) -> dict[str, Any]:
    """Lock the screen: only this user's PIN unlocks it."""
    node.sessions.lock(caller.token)
    node.tender_drafts.drop_session(caller.token)  # the customer display shows no tender
    return {"locked": True}


@api_method(auth=Auth.TOKEN)
def unlock(node: Node, token: str | None, pin: str) -> dict[str, Any]:
    """Unlock an idle-locked session with its user's PIN."""
    if not token:
        raise SessionExpired("Not logged in", reason="unknown")
    try:
        session = node.sessions.get(token, node.clock())
        node.recheck(token, session.user_id)
        return {"locked": False, "user": session.user_id}
    except SessionExpired as exc:
        user_id = exc.details.get("user_id")
        if not user_id:
            raise
    node.recheck(token, user_id)  # changed meanwhile: say so, before a PIN that may be old
    with node.read() as s:
        node.check_secret(s, user_id, pin)
    node.sessions.unlock(token, user_id, node.clock())
    return {"locked": False, "user": user_id}


@api_method()
def whoami(node: Node, caller: Caller) -> dict[str, Any]:
    """The logged-in user and what their role may do."""
    with node.read() as s:
        user = users.get_user(s, caller.user)
    perms = node.matrix[caller.role]
    return {**user.public(), "actions": sorted(a.value for a in perms.actions),
            "max_discount_percent": str(perms.max_discount_percent)}


@api_method()
def user_list(node: Node, caller: Caller) -> list[dict[str, Any]]:
    """All users (never their PIN hashes)."""
    with node.read() as s:
        return [u.public() for u in users.list_users(s)]


@api_method(auth=Auth.NONE)
def login_users(node: Node) -> list[dict[str, str]]:
    """The enabled users, as buttons for the login screen (names and roles only).

    No login needed: nobody is logged in there yet. Only what the screen shows; the API
    socket is the till's and the node's alone."""
    with node.read() as s:
        return [{"user": u.user, "full_name": u.full_name, "role": u.role.value}
                for u in users.list_users(s) if not u.disabled]


@api_method(action=Action.USER_MANAGE)
def user_create(node: Node, caller: Caller, user: str, full_name: str, role: str,
                pin: str | None = None, password: str | None = None,
                approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create a user with a PIN or a password (user management)."""
    user_id = users.validate_user_id(user)
    new_role = _role(role)
    kind, digest = _credential(node, new_role, pin, password)
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.USER_MANAGE, approver=approver)
        if users.find_user(tx.session, user_id) is not None:
            raise ValidationError(f"User {user_id!r} already exists")
        tx.append(users.USER_UPSERTED,
                  {**user_body(user_id, str(full_name), new_role, kind, digest),
                   "by": auth.approver_id or auth.actor_id})
        node.audit(tx, "user_changed", auth, target=user_id, change="created",
                   role=new_role.value)
    return {"user": user_id, "role": new_role.value}


@api_method(action=Action.USER_MANAGE)
def user_update(node: Node, caller: Caller, user: str, full_name: str | None = None,
                role: str | None = None, disabled: bool | None = None,
                pin: str | None = None, password: str | None = None,
                approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Change a user's name, role, disabled flag or PIN (user management)."""
    with node.write() as tx:
        auth = node.authorize(tx.session, caller, Action.USER_MANAGE, approver=approver)
        old = users.get_user(tx.session, users.validate_user_id(user))
        kind, digest = old.secret_kind, old.secret_hash
        new_role = old.role if role is None else _role(role)
        new_secret = pin is not None or password is not None
        if new_secret:
            kind, digest = _credential(node, new_role, pin, password)
        else:
            check_role_change(SecretKind(kind), old.role, new_role,
                              node.config.min_pin_digits_supervisor)
        if old.user == caller.user and (new_role != old.role or disabled):
            raise PermissionDenied("You cannot change your own role or disable yourself")
        body = user_body(old.user, old.full_name if full_name is None else str(full_name),
                         new_role, kind, digest,
                         old.disabled if disabled is None else bool(disabled))
        tx.append(users.USER_UPSERTED, {**body, "by": auth.approver_id or auth.actor_id})
        if new_secret:  # failed guesses at the old PIN say nothing about the new one
            tx.append(logins.CLEARED, {"user": old.user})
        changed = [k for k, v in (("full_name", full_name), ("role", role),
                                  ("disabled", disabled), ("secret", pin or password))
                   if v is not None]
        node.audit(tx, "user_changed", auth, target=old.user, change=",".join(changed))
    # The user's sessions, here and on every counter, end at their next call if the role,
    # the PIN or the disabled flag changed (Node.recheck).
    return {k: v for k, v in body.items() if k != "secret_hash"}


@api_method(action=Action.USER_MANAGE)
def user_reset_pin(node: Node, caller: Caller, user: str, pin: str | None = None,
                   password: str | None = None,
                   approver: dict[str, Any] | None = None) -> dict[str, Any]:
    """Set a new PIN or password for a user (user management)."""
    return user_update(node, caller, user, pin=pin, password=password, approver=approver)


@api_method(roles=(Role.SUPERVISOR, Role.ADMIN))
def audit_list(node: Node, caller: Caller, limit: int = DEFAULT_AUDIT_ROWS) -> list[dict[str, Any]]:
    """The latest audit events, newest first (supervisors and admins)."""
    with node.read() as s:
        return audit.recent(s, max(1, min(int(limit), MAX_LIST_ROWS)))

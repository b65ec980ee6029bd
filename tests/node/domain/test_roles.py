from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.roles import (
    Action,
    Authorization,
    PermissionMatrix,
    Role,
    RolePermissions,
    authorize,
    decide,
)
from tillmesh.node.errors import PermissionDenied, ValidationError

DEFAULT = PermissionMatrix()


def discount(role, percent, *, approver=None, approver_role=None, matrix=DEFAULT):
    return authorize(
        matrix,
        role,
        Action.DISCOUNT,
        actor_id="anna",
        discount_percent=percent,
        approver_id=approver,
        approver_role=approver_role,
    )


# --- discounts ---------------------------------------------------------------------------


def test_cashier_may_give_ten_percent_on_their_own():
    auth = discount(Role.CASHIER, "10")
    assert auth == Authorization("anna", Role.CASHIER, Action.DISCOUNT, None, None, Decimal(10))
    assert not auth.override


def test_cashier_eleven_percent_is_refused_naming_the_limit():
    with pytest.raises(PermissionDenied) as err:
        discount(Role.CASHIER, "11")
    assert (
        err.value.message
        == "Discount of 11% is above your limit of 10%: a supervisor PIN is needed"
    )
    assert err.value.details["approver_roles"] == ["supervisor", "admin"]


def test_the_brief_example_message():
    with pytest.raises(PermissionDenied, match=r"^Discount of 25% is above your limit of 10%: "):
        discount(Role.CASHIER, Decimal("25.00"))


def test_supervisor_pin_allows_the_cashier_discount_and_is_audited():
    auth = discount(Role.CASHIER, "25", approver="bert", approver_role=Role.SUPERVISOR)
    assert auth.override
    assert auth.to_audit() == {
        "action": "discount",
        "actor_id": "anna",
        "actor_role": "cashier",
        "approver_id": "bert",
        "approver_role": "supervisor",
        "override": True,
        "discount_percent": "25",
    }


def test_another_cashier_cannot_approve():
    with pytest.raises(PermissionDenied, match=r"^A cashier cannot approve this\. Discount of 11%"):
        discount(Role.CASHIER, "11", approver="carl", approver_role=Role.CASHIER)


def test_supervisor_approval_stops_at_the_supervisor_limit():
    with pytest.raises(PermissionDenied, match="an admin PIN is needed"):
        discount(Role.CASHIER, "60", approver="bert", approver_role=Role.SUPERVISOR)
    assert discount(Role.CASHIER, "60", approver="root", approver_role=Role.ADMIN).override


def test_nobody_approves_their_own_action():
    with pytest.raises(PermissionDenied, match="cannot approve your own"):
        discount(Role.CASHIER, "20", approver="anna", approver_role=Role.SUPERVISOR)


def test_approver_is_ignored_when_the_actor_may_act_alone():
    auth = discount(Role.SUPERVISOR, "20", approver="root", approver_role=Role.ADMIN)
    assert auth.approver_id is None and not auth.override


@pytest.mark.parametrize("bad", [None, "-1", "100.01", "abc", "NaN", True])
def test_discount_percentage_must_be_a_percentage(bad):
    with pytest.raises(ValidationError):
        decide(DEFAULT, Role.ADMIN, Action.DISCOUNT, discount_percent=bad)


def test_percentage_only_goes_with_a_discount():
    with pytest.raises(ValidationError):
        decide(DEFAULT, Role.ADMIN, Action.SELL, discount_percent=5)


# --- other actions -----------------------------------------------------------------------


def test_supervisor_can_close_another_users_shift_and_cashier_cannot():
    auth = authorize(DEFAULT, Role.SUPERVISOR, Action.SHIFT_CLOSE_OTHER, actor_id="bert")
    assert auth.actor_role is Role.SUPERVISOR
    with pytest.raises(PermissionDenied) as err:
        authorize(DEFAULT, Role.CASHIER, Action.SHIFT_CLOSE_OTHER, actor_id="anna")
    assert err.value.message == (
        "Closing another user's shift is not allowed for a cashier: a supervisor PIN is needed"
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (
            Role.CASHIER,
            {"sell", "discount", "void", "cash_in", "shift_open", "shift_close", "reprint"},
        ),
        (
            Role.SUPERVISOR,
            {
                "sell",
                "discount",
                "void",
                "cash_in",
                "shift_open",
                "shift_close",
                "reprint",
                "return",
                "return_unconfirmed",
                "cash_out",
                "cash_out_beyond_drawer",
                "drawer_open",
                "price_override",
                "shift_close_other",
                "exceptions",
            },
        ),
        (Role.ADMIN, {action.value for action in Action}),
    ],
)
def test_default_matrix(role, allowed):
    for action in Action:
        percent = 0 if action is Action.DISCOUNT else None
        assert decide(DEFAULT, role, action, discount_percent=percent).allowed == (
            action.value in allowed
        ), action


def test_decide_says_who_could_approve():
    decision = decide(DEFAULT, Role.CASHIER, Action.USER_MANAGE)
    assert not decision.allowed and decision.override_possible
    assert decision.approver_roles == (Role.ADMIN,)
    assert decision.reason.endswith("an admin PIN is needed")


def test_an_action_no_role_has_cannot_be_approved():
    matrix = PermissionMatrix.from_dict({"admin": {"actions": ["sell"]}})
    decision = decide(matrix, Role.CASHIER, Action.SETTINGS)
    assert not decision.override_possible
    assert (
        decision.reason
        == "Changing settings is not allowed for a cashier, and no role may approve it"
    )


# --- the matrix as config ----------------------------------------------------------------


def test_default_matrix_round_trips_through_plain_data():
    data = DEFAULT.to_dict()
    assert data["cashier"]["max_discount_percent"] == "10"
    assert "user_manage" not in data["supervisor"]["actions"]
    assert PermissionMatrix.from_dict(data) == DEFAULT


def test_config_overrides_only_what_it_names():
    matrix = PermissionMatrix.from_dict({"cashier": {"max_discount_percent": 12.5}})
    assert matrix.cashier.max_discount_percent == Decimal("12.5")
    assert matrix.cashier.actions == DEFAULT.cashier.actions
    assert matrix.supervisor == DEFAULT.supervisor
    assert PermissionMatrix.from_dict(matrix.to_dict()) == matrix


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"manager": {}}, "unknown role"),
        ({"cashier": {"actions": ["sell", "fly"]}}, "unknown action"),
        ({"cashier": {"actions": "sell"}}, "list of action names"),
        ({"cashier": {"max_discount_percent": "150"}}, "between 0 and 100"),
        ({"cashier": {"max_discount_percent": "-5"}}, "between 0 and 100"),
        ({"cashier": {"max_discount_percent": "lots"}}, "not a number"),
        ({"cashier": {"max_discount": 5}}, "unknown key"),
        ({"cashier": ["sell"]}, "must be a table"),
        (["cashier"], "table of roles"),
    ],
)
def test_config_nonsense_is_rejected_clearly(config, message):
    with pytest.raises(ValidationError, match=message):
        PermissionMatrix.from_dict(config)


# --- properties --------------------------------------------------------------------------

percents = st.decimals(min_value=0, max_value=100, places=2)
role_permissions = st.builds(RolePermissions, st.frozensets(st.sampled_from(Action)), percents)
matrices = st.builds(PermissionMatrix, role_permissions, role_permissions, role_permissions)
roles = st.sampled_from(Role)


@given(matrices, roles, st.one_of(st.none(), roles), percents)
def test_no_discount_above_the_actor_or_approver_limit(matrix, actor, approver, percent):
    approver_id = None if approver is None else "bert"
    try:
        auth = discount(actor, percent, approver=approver_id, approver_role=approver, matrix=matrix)
    except PermissionDenied:
        return
    limits = [matrix[actor].max_discount_percent]
    if auth.override:
        assert auth.approver_role == approver
        assert Action.DISCOUNT in matrix[approver].actions
        limits.append(matrix[approver].max_discount_percent)
    else:
        assert Action.DISCOUNT in matrix[actor].actions
    assert percent <= max(limits)


@given(matrices, roles, st.sampled_from(Action))
def test_decision_and_authorization_agree(matrix, role, action):
    percent = Decimal(0) if action is Action.DISCOUNT else None
    decision = decide(matrix, role, action, discount_percent=percent)
    assert decision.allowed == (action in matrix[role].actions)
    try:
        authorize(matrix, role, action, actor_id="anna", discount_percent=percent)
    except PermissionDenied as exc:
        assert not decision.allowed and exc.message == decision.reason
    else:
        assert decision.allowed


@given(matrices)
def test_any_matrix_round_trips(matrix):
    assert PermissionMatrix.from_dict(matrix.to_dict()) == matrix

"""The Qt-free view-models: cart, payment split and change, drawer count, returns, session
and status texts. No Qt, no node: plain data in, plain data out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.ui.const import EUR_DENOMINATIONS, PIN_MAX_DIGITS, SCAN_KEY_S
from tillmesh.ui.models import (
    COLUMNS,
    CartView,
    DenominationCount,
    Mode,
    Outcome,
    Payment,
    Phase,
    Points,
    SessionState,
    User,
    compare,
    invoice_from_scan,
    modes_from,
    quick_cash,
    return_lines,
    selection_after,
)
from tillmesh.ui.models.cart import looks_scanned
from tillmesh.ui.models.count import opening_param
from tillmesh.ui.models.money import editable, parse_amount, parse_qty, qty
from tillmesh.ui.models.returns import Invoice, reviews
from tillmesh.ui.models.session import (
    RESTARTED,
    lockout_message,
    outcome,
    relogin_message,
    scanned_into_pin,
)
from tillmesh.ui.models.shift import report_rows
from tillmesh.ui.models.status import (
    NOT_AVAILABLE,
    erpnext_note,
    erpnext_rows,
    exception_rows,
    peer_rows,
    printer_problem,
    security_rows,
)

CASH, CARD = Mode("Cash", True), Mode("Card", False)
MODES = (CASH, CARD)
CART = {  # the shape of a real cart_scan answer (trimmed)
    "cart_id": "c1", "status": "open", "customer": "Walk-in Customer", "note": "",
    "lines": [
        {"line": 0, "item_code": "DAI-0001", "item_name": "Alpenhof Whole Milk 1l",
         "qty": "1.000", "uom": "Nos", "price_list_rate": "1.09", "rate": "1.09",
         "discount_percentage": "0.00", "amount": "1.09"},
        {"line": 1, "item_code": "FRU-0101", "item_name": "Apples Elstar", "qty": "1.250",
         "uom": "Kg", "price_list_rate": "2.49", "rate": "2.24",
         "discount_percentage": "10.00", "amount": "2.80"},
    ],
    "taxes": [{"description": "VAT 19%", "tax_amount": "0.25", "included_in_print_rate": True,
               "tax_amount_after_discount_amount": "0.25"}],  # milk and apples at 7 %
    "vat": [{"rate": "7", "net": "3.65", "tax": "0.25", "gross": "3.90"}],
    "totals": {"total_qty": "2.250", "total": "3.89", "net_total": "3.64",
               "total_taxes_and_charges": "0.25", "discount_amount": "0.00",
               "grand_total": "3.89", "rounding_adjustment": "0.01", "rounded_total": "3.90"},
    "due": "3.90",
}

money_st = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)


# --- cart -----------------------------------------------------------------------------------

def test_cart_view_keeps_the_nodes_numbers():
    view = CartView.from_api(CART)
    assert view.due == Decimal("3.90") and view.grand_total == Decimal("3.89")
    assert [ln.index for ln in view.lines] == [0, 1]
    assert view.lines[1].qty == Decimal("1.250") and view.lines[1].discounted
    assert ("Rounding", "0.01") in view.summary()
    assert ("incl. VAT 7% (net 3.65)", "0.25") in view.summary()  # per rate, not per row


def test_cart_columns_show_qty_without_trailing_zeros_and_blank_zero_discount():
    view = CartView.from_api(CART)
    cells = [[c.text(ln) for c in COLUMNS] for ln in view.lines]
    assert cells[0] == ["Alpenhof Whole Milk 1l", "1", "Nos", "1.09", "", "1.09"]
    assert cells[1] == ["Apples Elstar", "1.25", "Kg", "2.24", "10", "2.80"]


def test_a_promotion_is_named_on_its_line_and_a_free_item_is_not_a_cart_line():
    promoted = {**CART["lines"][0], "promotions": ["Milk 10%"],
                "not_applied": ["Dairy bundle (cumulative quantities)"]}
    free = {**CART["lines"][0], "line": None, "promotions": ["Milk 2+1"], "rate": "0.00",
            "amount": "0.00"}
    view = CartView.from_api({**CART, "lines": [promoted, free]})
    cells = [[c.text(ln) for c in COLUMNS] for ln in view.lines]
    assert cells[0][0] == ("Alpenhof Whole Milk 1l · Milk 10% · not applied here: Dairy "
                           "bundle (cumulative quantities)")
    assert cells[1][0] == "Alpenhof Whole Milk 1l · Milk 2+1"
    assert [ln.free for ln in view.lines] == [False, True]


def test_a_lines_batch_with_its_expiry_or_its_serial_numbers_show_after_its_name():
    batch = {**CART["lines"][0], "batch_no": "M-118", "batch_expiry": "2026-12-24",
             "promotions": ["Milk 10%"]}
    loose = {**CART["lines"][0], "batch_no": "M-200", "batch_expiry": None}
    phone = {**CART["lines"][0], "item_name": "Phone X1", "serial_no": "P-1\nP-2"}
    view = CartView.from_api({**CART, "lines": [batch, loose, phone]})
    assert [COLUMNS[0].text(ln) for ln in view.lines] == [
        "Alpenhof Whole Milk 1l · batch M-118, best before 24.12.2026 · Milk 10%",
        "Alpenhof Whole Milk 1l · batch M-200", "Phone X1 · S/N P-1, P-2"]


def test_a_coupon_shows_with_its_promotion_and_a_malformed_one_not_at_all():
    view = CartView.from_api({**CART, "coupon": {"name": "Milk week", "code": "MILK10",
                                                 "promotion": "Milk 10%"}})
    assert view.coupon == "MILK10 · Milk 10%"
    assert CartView.from_api({**CART, "coupon": None}).coupon == ""
    assert CartView.from_api({**CART, "coupon": "MILK10"}).coupon == ""


def test_a_members_points_show_and_a_non_members_do_not():
    assert CartView.from_api({**CART, "loyalty": {"program": "P", "points": 42}}).points == 42
    assert CartView.from_api({**CART, "loyalty": None}).points is None
    assert CartView.from_api({**CART, "loyalty": {"points": "42"}}).points is None


def test_empty_cart_answer():
    view = CartView.from_api({"cart_id": "x", "lines": [], "totals": {}, "due": "0.00"})
    assert view.empty and view.due == 0 and view.summary() == [("Subtotal", "0.00")]


@pytest.mark.parametrize(("old", "new", "selected", "expected"), [
    (0, 1, None, 0),  # first scan: the new line
    (2, 3, 0, 2),  # another scan: the new line, whatever was selected
    (3, 3, 1, 1),  # qty changed: the same row
    (3, 2, 2, 1),  # the last line removed: the new last
    (1, 0, 0, None),  # empty
])
def test_selection_after_a_change(old, new, selected, expected):
    line = CartView.from_api(CART).lines[0]
    assert selection_after([line] * old, [line] * new, selected) == expected


# --- payment --------------------------------------------------------------------------------

def test_quick_cash_offers_exact_and_the_next_notes():
    assert quick_cash(Decimal("10.57")) == tuple(map(Decimal, ("10.57", "15", "20", "50", "100")))
    assert quick_cash(Decimal("20.00")) == tuple(map(Decimal, ("20.00", "50", "100")))
    assert quick_cash(Decimal("0")) == ()


@given(money_st)
def test_quick_cash_is_sorted_unique_and_covers_the_due(due):
    offers = quick_cash(due)
    assert offers[0] == due
    assert list(offers) == sorted(set(offers))
    assert all(o >= due for o in offers)


def test_split_payment_with_change_in_cash():
    pay = Payment(Decimal("15.56"), MODES).set("Card", Decimal("5.00")).set("Cash",
                                                                           Decimal("20"))
    assert pay.paid == Decimal("25.00") and pay.change == Decimal("9.44") and pay.ready
    assert pay.payments() == [{"mode_of_payment": "Cash", "amount": "20"},
                              {"mode_of_payment": "Card", "amount": "5.00"}]


def test_payment_problems_mirror_the_nodes_rules():
    due = Decimal("10.00")
    assert Payment(due, MODES).problem == "Enter what the customer pays"
    assert "still to pay" in (Payment(due, MODES).set("Cash", Decimal(5)).problem or "")
    assert "only be given in cash" in (Payment(due, MODES).set("Card", Decimal(12)).problem or "")
    assert not Payment(due, MODES).set("Cash", Decimal("10.001")).ready
    with pytest.raises(ValueError):
        Payment(due, MODES).set("Voucher", Decimal(1))


def test_rest_to_pays_what_is_left():
    pay = Payment(Decimal("15.56"), MODES).set("Cash", Decimal("10")).rest_to("Card")
    assert pay.amount("Card") == Decimal("5.56") and pay.change == 0 and pay.ready


@given(due=money_st, cash=money_st, card=money_st)
def test_change_is_paid_minus_due(due, cash, card):
    card = min(card, due)  # more card than due is refused, never change
    pay = Payment(due, MODES).set("Cash", cash).set("Card", card)
    assert pay.paid == cash + card
    if pay.ready:
        assert pay.change == pay.paid - due >= 0
        assert pay.change <= cash  # change only ever comes out of the cash paid
        assert pay.remaining == 0
    else:
        assert pay.change == 0 and pay.remaining == due - pay.paid > 0
    assert sum(Decimal(p["amount"]) for p in pay.payments()) == pay.paid


def test_points_pay_part_of_the_due_and_the_rest_is_paid_in_money():
    member = Points(available=143, value=Decimal("0.1"))
    pay = Payment(Decimal("12.95"), MODES, member=member).redeem(25)
    assert (pay.points_worth, pay.in_money) == (Decimal("2.50"), Decimal("10.45"))
    assert pay.problem == "Enter what the customer pays"
    pay = pay.rest_to("Cash")
    assert (pay.amount("Cash"), pay.change, pay.ready) == (Decimal("10.45"), 0, True)
    assert pay.redeem(144).problem == "Only 143 points to redeem"
    assert Payment(Decimal("12.95"), MODES).redeem(1).problem == "Only 0 points to redeem"
    whole = Payment(Decimal("10.00"), MODES, member=member).redeem(100)
    assert (whole.problem, whole.payments(), whole.change) == (None, [], 0)
    assert whole.set("Cash", Decimal(1)).problem == ("The points pay the whole sale: take no"
                                                     " money")
    assert whole.redeem(101).problem == ("The points are worth more than the sale: redeem"
                                         " fewer points")


@given(due=money_st, points=st.integers(0, 500), cash=money_st)
def test_with_points_the_change_is_what_was_paid_beyond_the_money_due(due, points, cash):
    pay = Payment(due, MODES, member=Points(500, Decimal("0.05"))).redeem(points).set(
        "Cash", cash)
    assert pay.points_worth + pay.in_money == due
    if pay.ready:
        assert pay.in_money > 0 and pay.change == cash - pay.in_money >= 0
    elif pay.in_money > 0 and pay.problem and "still to pay" in pay.problem:
        assert pay.remaining == pay.in_money - cash > 0


def test_modes_come_from_the_node_when_it_reports_them():
    reported = {"modes_of_payment": [{"mode_of_payment": "Card", "type": "Bank"},
                                     {"mode_of_payment": "Bargeld", "type": "Cash"}]}
    assert modes_from(reported) == (Mode("Card", False), Mode("Bargeld", True))
    assert modes_from({"modes_of_payment": ["Cash", "Voucher"]}) == (CASH, Mode("Voucher", False))


def test_modes_fall_back_to_the_shift_opening_and_the_demo_profile():
    assert modes_from({}, ["Voucher"]) == (CASH, Mode("Voucher", False), CARD)
    assert modes_from(None) == MODES


# --- counting the drawer --------------------------------------------------------------------

def test_denomination_total():
    count = (DenominationCount().with_count(Decimal("50"), 2).with_count(Decimal("0.20"), 3)
             .with_count(Decimal("0.01"), 7))
    assert count.total == Decimal("100.67")
    with pytest.raises(ValueError):
        count.with_count(Decimal("3"), 1)
    with pytest.raises(ValueError):
        count.with_count(Decimal("5"), -1)


@given(st.lists(st.integers(min_value=0, max_value=500), min_size=len(EUR_DENOMINATIONS),
                max_size=len(EUR_DENOMINATIONS)))
def test_denomination_total_is_the_sum_of_pieces_times_value(pieces):
    count = DenominationCount()
    for value, n in zip(EUR_DENOMINATIONS, pieces, strict=True):
        count = count.with_count(value, n)
    assert count.total == sum((v * n for v, n in zip(EUR_DENOMINATIONS, pieces, strict=True)),
                              Decimal(0))
    assert count.total == count.total.quantize(Decimal("0.01"))  # always whole cents


@given(st.dictionaries(st.sampled_from(["Cash", "Card", "Voucher"]), money_st),
       st.dictionaries(st.sampled_from(["Cash", "Card", "Voucher"]), money_st))
def test_compare_counts_a_missing_mode_as_zero(expected, counted):
    rows = compare(expected, counted)
    assert [r.mode for r in rows] == sorted(set(expected) | set(counted))
    for r in rows:
        assert r.difference == counted.get(r.mode, 0) - expected.get(r.mode, 0)


def test_opening_param_always_names_the_cash_mode():
    assert opening_param({"Cash": Decimal(0), "Card": Decimal(0)}, "Cash") == {"Cash": "0"}
    assert opening_param({"Cash": Decimal("100.00"), "Card": Decimal("5")}, "Cash") == {
        "Cash": "100.00", "Card": "5"}


# --- typed amounts --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("12,50", "12.50"), ("12.5", "12.50"), ("€ 3", "3.00"), (" 7 ", "7.00"),
    ("", None), ("abc", None), ("1.234", None), ("-1", None), ("NaN", None),
])
def test_parse_amount(text, value):
    assert parse_amount(text) == (None if value is None else Decimal(value))


def test_parse_qty_and_formats():
    assert parse_qty("1,25") == Decimal("1.25") and parse_qty("0") is None
    assert parse_qty("1.0001") is None
    assert qty(Decimal("1.000")) == "1" and qty(Decimal("0.504")) == "0.504"
    assert editable(Decimal("1234.5")) == "1234.50" == str(parse_amount("1234.50"))


@given(money_st)
def test_an_editable_amount_reads_back_the_same(amount):
    assert parse_amount(editable(amount)) == amount


# --- returns --------------------------------------------------------------------------------

@pytest.mark.parametrize(("scanned", "invoice"), [
    ("C01-2026-000042", "C01-2026-000042"),
    ("c03-2026-000007", "C03-2026-000007"),
    ("https://shop.example/r/C01-2026-000042?x=1", "C01-2026-000042"),
    ("TM:C12-2027-123456", "C12-2027-123456"),
    ("4250100000011", None),
    ("C01-2026-0000421", None),
])
def test_invoice_from_a_scanned_receipt(scanned, invoice):
    assert invoice_from_scan(scanned) == invoice


DOC = {"invoice": "C01-2026-000001", "customer": "Anna", "totals": {"grand_total": "5.00"},
       "items": [{"name": "C01-2026-000001-1", "item_name": "Milk", "qty": "2.000",
                  "returned_qty": "1", "rate": "1.00", "uom": "Nos"},
                 {"name": "C01-2026-000001-2", "item_name": "Water", "qty": "3.000",
                  "returned_qty": "0", "rate": "1.00", "uom": "Nos"}]}


def test_return_lines_checks_what_is_left():
    invoice = Invoice.from_api(DOC)
    assert [ln.returnable for ln in invoice.lines] == [Decimal(1), Decimal(3)]
    assert return_lines(invoice, {"C01-2026-000001-2": Decimal(2),
                                  "C01-2026-000001-1": Decimal(0)}) == [
        {"row": "C01-2026-000001-2", "qty": "2"}]
    with pytest.raises(ValueError, match="only 1 left"):
        return_lines(invoice, {"C01-2026-000001-1": Decimal(2)})
    with pytest.raises(ValueError, match="at least one line"):
        return_lines(invoice, {})


def test_a_return_to_review_says_why_in_words():
    flagged = {"over_returns": [{"invoice": "C02-2026-000003", "return_against": "C01-2026-"
                                 "000001", "counter": "C02", "reason": "over-return: ..."}],
               "unconfirmed": [{"invoice": "C03-2026-000001", "return_against": "C01-2026-"
                                "000001", "counter": "C03", "reason": "C01 could not confirm"}]}
    assert [(r.invoice, r.why) for r in reviews(flagged)] == [
        ("C02-2026-000003", "over-return: ..."), ("C03-2026-000001", "C01 could not confirm")]
    assert reviews({}) == []
    doc = {**DOC, "is_return": True, "unconfirmed": "C01 could not confirm: it is cut off",
           "over_returns": [flagged["over_returns"][0]]}
    assert Invoice.from_api(doc).flags == ("not confirmed by the sale's counter",
                                           "over-return: more given back than sold")
    assert Invoice.from_api(DOC).flags == ()


# --- session --------------------------------------------------------------------------------

def test_session_errors_lock_or_return_to_login():
    assert outcome("session_expired", {"reason": "idle"}) is Outcome.LOCK
    assert outcome("session_expired", {"reason": "locked"}) is Outcome.LOCK
    assert outcome("session_expired", {"reason": "unknown"}) is Outcome.RELOGIN
    assert outcome("permission_denied", {}) is Outcome.NONE
    assert relogin_message({"reason": "unknown"}, "Not logged in") == RESTARTED


def test_session_state_machine():
    user = User.from_api({"user": "ann", "full_name": "Ann", "role": "cashier",
                          "actions": ["sell"], "max_discount_percent": "10"})
    state = SessionState().logged_in(user)
    assert state.phase is Phase.ACTIVE and user.can("sell") and not user.supervises
    locked = state.locked("idle")
    assert locked.phase is Phase.LOCKED and locked.user == user
    assert locked.unlocked().phase is Phase.ACTIVE
    assert locked.lost("restarted") == SessionState(Phase.LOGGED_OUT, None, "restarted")
    assert SessionState().locked("x").phase is Phase.LOGGED_OUT  # nobody to unlock for


def test_lockout_message_shows_until_and_minutes_left():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    text = lockout_message({"until": (now + timedelta(minutes=4, seconds=30)).isoformat()},
                           now, "ann")
    assert "ann is locked until 12:04:30" in text and "about 5 min" in text
    assert "locked" in lockout_message({}, now, "ann")


# --- status ---------------------------------------------------------------------------------

def test_peer_rows():
    rows = peer_rows([{"node": "C02", "live": True, "state": "synced", "behind": 0,
                       "ahead": 0, "heard_ms_ago": 1200, "skew_ms": -3, "skew_warning": False},
                      {"node": "C03", "live": False, "behind": 12, "ahead": 1,
                       "heard_ms_ago": None, "skew_ms": 4000, "skew_warning": True}])
    assert rows[0].lag == "in sync" and rows[0].heard == "1.2 s ago" and rows[0].skew == "-3 ms"
    assert rows[1].lag == "we lack 12; it lacks 1" and "clock skew" in rows[1].skew


def test_erpnext_rows_read_the_forwarder_view_and_the_settings():
    rows = dict(erpnext_rows({"configured": True, "reachable": False, "forwarder": "C01",
                              "last_delivery": None, "pending": 3, "failed": 1}))
    assert rows["ERPNext reachable"] == "no" and rows["Pending deliveries"] == "3"
    assert erpnext_note({"reachable": False}).startswith("Deliveries need attention")
    assert erpnext_note({"settings": {"error": "not set up"}}) == "not set up"
    assert dict(erpnext_rows({"settings": {"url": "https://erp"}}))["ERPNext configured"] == "yes"


def test_printer_banner_only_when_receipts_do_not_print():
    assert printer_problem({"kind": "none", "state": "off"}) is None  # no printer: a choice
    assert printer_problem({"kind": "network", "state": "idle", "online": True}) is None
    text = printer_problem({"kind": "network", "state": "waiting", "online": False,
                            "last_error": "connection refused", "pending": 2, "retry_in_s": 4})
    assert text == "Printer: connection refused; 2 jobs waiting, next try in 4 s"
    assert NOT_AVAILABLE == "not available on this node"


def test_exception_rows_and_deliveries_pending():
    rows = exception_rows([{"id": "POS Invoice/C01-2026-000001", "doctype": "POS Invoice",
                            "name": "C01-2026-000001", "state": "failed", "failures": 2,
                            "status": 417, "exc_type": "NegativeStockError",
                            "message": "Not enough stock", "stage": "invoice"}])
    assert rows[0].id == "POS Invoice/C01-2026-000001"
    assert rows[0].document == "POS Invoice C01-2026-000001"
    assert rows[0].message == "Not enough stock (417 NegativeStockError)"
    assert (rows[0].tries, rows[0].state) == ("2", "failed · invoice")
    merged = dict(erpnext_rows({"settings": {"url": "https://erp"}}, None,
                               {"pending": {"POS Invoice": 3, "Customer": 1}, "failed": 1}))
    assert merged["Pending deliveries"] == "4" and merged["Failed deliveries"] == "1"
    assert "Late sales to reconcile" not in merged
    late = dict(erpnext_rows({}, None, {"pending": {"POS Invoice": 2}, "late": 2, "failed": 0}))
    assert (late["Pending deliveries"], late["Late sales to reconcile"]) == ("2", "2")
    assert dict(erpnext_rows({"pending": 0}, None, {"pending": {"X": 9}}))[
        "Pending deliveries"] == "0"  # erpnext_status's own figure wins


def test_report_rows_sign_the_difference():
    rows = dict(report_rows({"sales_count": 2, "gross_sales": "10.00",
                             "difference": {"Cash": "1.50", "Card": "-2.00"}}))
    assert rows["Sales (2)"] == "10.00"  # as the printed report says it
    assert rows["Difference · Cash"] == "+1.50" and rows["Difference · Card"] == "-2.00"


def test_what_was_refused_reads_event_what_and_why():
    rows = security_rows({
        "refused_events": [{"origin": "C03", "event": "C03:14",
                            "why": "not signed by counter C03: a forgery, or a corrupted copy"}],
        "refused_changes": [{"event": "C02:9", "kind": "user.upserted",
                             "why": "user.upserted by 'bob', who was not an enabled admin then"}]})
    assert rows == [("C03:14", "from C03", "not signed by counter C03: a forgery, or a "
                     "corrupted copy"),
                    ("C02:9", "user.upserted", "user.upserted by 'bob', who was not an "
                     "enabled admin then")]
    assert security_rows({}) == []


@given(st.decimals(min_value=0, max_value=10_000_000 - 1, places=2))
def test_an_amount_a_cashier_types_is_never_taken_for_a_scan(amount):
    for text in (str(amount), str(amount.to_integral_value())):
        assert not looks_scanned(text)


@pytest.mark.parametrize("text", ["40000004", "4250100000011", " 4250100000011 ",
                                  "00012345678905"])
def test_digits_of_a_barcodes_length_are_a_scan(text):
    assert looks_scanned(text)


HUMAN_KEY_S = 0.06  # seconds a key: faster than the fastest hand on a PIN pad
pins = st.text("0123456789", min_size=4, max_size=PIN_MAX_DIGITS)


@given(pin=pins, slower=st.floats(min_value=1.0, max_value=100.0))
def test_a_pin_typed_by_a_hand_or_tapped_is_never_taken_for_a_scan(pin, slower):
    """Every PIN the node accepts is sent as a PIN, however it was entered."""
    assert not scanned_into_pin(pin, HUMAN_KEY_S * slower * len(pin))
    assert not scanned_into_pin(pin, None)  # tapped on the keypad


@given(code=st.text("0123456789", min_size=8, max_size=14),
       speed=st.floats(min_value=0.0, max_value=0.99))
def test_a_barcode_fired_into_the_pin_field_is_a_scan_and_costs_no_login(code, speed):
    """At scanner speed any barcode is a scan; longer than a PIN, it is one at any speed."""
    assert scanned_into_pin(code, SCAN_KEY_S * speed * len(code))
    assert scanned_into_pin(code, 60.0) == (len(code) > PIN_MAX_DIGITS)
    assert not scanned_into_pin(code[:3], 0.0)  # too short for a barcode: a (wrong) PIN

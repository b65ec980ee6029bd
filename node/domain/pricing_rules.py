"""ERPNext 15's Pricing Rules for a POS line, offline: which rules apply, and what they do
to the line's price. Pure.

Follows ``erpnext/accounts/doctype/pricing_rule/`` (``get_pricing_rules``,
``filter_pricing_rules``, ``apply_price_discount_rule``) for price rules on items, item
groups and brands: customer, customer group, territory, company, warehouse, price list and
validity conditions; quantity and amount breaks (in the rule's UOM, or over the sale's
lines of the rule's items together: mixed conditions); priorities; rules
that stack (``apply_multiple_pricing_rules``, also on the discounted rate); margins; and
product rules (``get_product_discount_rule``: free items, also per so many bought). Two
rules that tie are refused as ERPNext refuses them (``PricingConflict``). Rules on the
whole transaction set the invoice's own discount or add free items
(``apply_pricing_rule_on_transaction``, ``price_transaction``). What ERPNext does with the
result (the line's rate, amount, taxes) is ``totals``; ``StorePricing`` is what a counter
holds of the store's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

from tillmesh.node.domain.money import ZERO, to_decimal
from tillmesh.node.errors import ValidationError

HUNDRED = Decimal(100)
APPLY_ON = ("Item Code", "Item Group", "Brand")  # the order ERPNext looks in
TRANSACTION = "Transaction"
_TARGETS = {"Item Code": ("items", "item_code"), "Item Group": ("item_groups", "item_group"),
            "Brand": ("brands", "brand")}
EARLIEST, LATEST = date(2000, 1, 1), date(2500, 12, 31)  # ERPNext's open validity ends


class PricingConflict(ValidationError):
    """Two rules apply to a line at the same priority (ERPNext's
    MultiplePricingRuleConflict): a person must give one a priority."""

    code = "pricing_conflict"


@dataclass(frozen=True)
class PricingRule:
    """A Pricing Rule as ERPNext stores it, the fields a POS line's price depends on."""

    name: str
    title: str
    apply_on: str  # Item Code, Item Group, Brand, or Transaction (the whole invoice's)
    targets: tuple[tuple[str, str], ...]  # (item code / group / brand, its UOM or "")
    price_or_product_discount: str = "Price"
    selling: bool = True
    disabled: bool = False
    rate_or_discount: str = ""  # Rate, Discount Percentage, Discount Amount
    rate: Decimal = ZERO
    discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    apply_discount_on_rate: bool = False
    apply_multiple: bool = False
    priority: str = ""  # ERPNext keeps it as text: "1".."20", or empty
    has_priority: bool = False
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    min_amt: Decimal = ZERO
    max_amt: Decimal = ZERO
    valid_from: date | None = None
    valid_upto: date | None = None
    company: str = ""
    customer: str = ""
    customer_group: str = ""
    territory: str = ""
    warehouse: str = ""
    for_price_list: str = ""
    currency: str = ""
    margin_type: str = ""  # Percentage, Amount
    margin_rate_or_amount: Decimal = ZERO
    coupon_code_based: bool = False
    # A product rule's free item (``get_product_discount_rule``): the line's own item
    # (``same_item``) or another, so many per rule, or per ``recurse_for`` bought
    free_item: str = ""
    same_item: bool = False
    free_qty: Decimal = ZERO
    free_item_uom: str = ""
    free_item_rate: Decimal = ZERO
    is_recursive: bool = False
    recurse_for: Decimal = ZERO
    apply_recursion_over: Decimal = ZERO
    round_free_qty: bool = False
    validate_only: bool = False  # ERPNext's validate_applied_rule: checked, never applied
    apply_discount_on: str = ""  # a transaction rule's: Grand Total or Net Total
    # mixed conditions: the breaks are judged on all the sale's lines of the rule's
    # items, groups or brand together ("any 4 of these")
    mixed: bool = False
    unsupported: str = ""  # why the counter cannot price with it (conditions it lacks)

    @property
    def applicable(self) -> bool:
        """Whether a counter applies it to a line: a selling price rule it can judge.
        ERPNext applies neither a disabled rule nor one that only checks
        (``validate_applied_rule``)."""
        return (self.selling and not self.disabled and not self.validate_only
                and self.price_or_product_discount in ("Price", "Product")
                and not self.unsupported and self.apply_on in APPLY_ON)

    @property
    def on_transaction(self) -> bool:
        """Whether a counter applies it to the whole sale: an enabled selling rule on the
        transaction it can judge (one that only checks included: on the transaction
        ERPNext lowers a larger discount to it)."""
        return (self.selling and not self.disabled and self.apply_on == TRANSACTION
                and self.price_or_product_discount in ("Price", "Product")
                and not self.unsupported)

    @cached_property
    def priority_number(self) -> int:
        return int(self.priority) if self.priority.strip().isdigit() else 0

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> PricingRule:
        """From ERPNext's document (``GET /api/resource/Pricing Rule/<name>``)."""
        apply_on = str(doc.get("apply_on") or "")
        table, key = _TARGETS.get(apply_on, ("", ""))
        targets = tuple((str(row.get(key) or ""), str(row.get("uom") or ""))
                        for row in doc.get(table) or ())
        unsupported = [why for why, present in (
            ("a Python condition", doc.get("condition")),
            ("cumulative quantities", doc.get("is_cumulative")),
            ("a rule on other items", doc.get("apply_rule_on_other")),
            ("a campaign", doc.get("campaign")), ("a sales partner", doc.get("sales_partner")),
            ("a supplier", doc.get("supplier") or doc.get("supplier_group")),
            ("a free item it does not name", doc.get("price_or_product_discount") == "Product"
             and not doc.get("free_item") and (apply_on == TRANSACTION
                                               or not doc.get("same_item"))),
            # ERPNext 15 fails on every invoice such a rule matches (it looks for a line)
            ("free items by quantity on the whole transaction", apply_on == TRANSACTION
             and doc.get("price_or_product_discount") == "Product" and doc.get("is_recursive")),
        ) if present]
        return cls(
            name=str(doc["name"]), title=str(doc.get("title") or doc["name"]),
            apply_on=apply_on, targets=targets,
            price_or_product_discount=str(doc.get("price_or_product_discount") or "Price"),
            selling=bool(doc.get("selling")), disabled=bool(doc.get("disable")),
            rate_or_discount=str(doc.get("rate_or_discount") or ""),
            rate=_dec(doc, "rate"), discount_percentage=_dec(doc, "discount_percentage"),
            discount_amount=_dec(doc, "discount_amount"),
            apply_discount_on_rate=bool(doc.get("apply_discount_on_rate")),
            apply_multiple=bool(doc.get("apply_multiple_pricing_rules")),
            priority=str(doc.get("priority") or ""), has_priority=bool(doc.get("has_priority")),
            min_qty=_dec(doc, "min_qty"), max_qty=_dec(doc, "max_qty"),
            min_amt=_dec(doc, "min_amt"), max_amt=_dec(doc, "max_amt"),
            valid_from=doc_date(doc.get("valid_from")), valid_upto=doc_date(doc.get("valid_upto")),
            company=str(doc.get("company") or ""), customer=str(doc.get("customer") or ""),
            customer_group=str(doc.get("customer_group") or ""),
            territory=str(doc.get("territory") or ""),
            warehouse=str(doc.get("warehouse") or ""),
            for_price_list=str(doc.get("for_price_list") or ""),
            currency=str(doc.get("currency") or ""),
            margin_type=str(doc.get("margin_type") or ""),
            margin_rate_or_amount=_dec(doc, "margin_rate_or_amount"),
            coupon_code_based=bool(doc.get("coupon_code_based")),
            free_item=str(doc.get("free_item") or ""), same_item=bool(doc.get("same_item")),
            free_qty=_dec(doc, "free_qty"), free_item_uom=str(doc.get("free_item_uom") or ""),
            free_item_rate=_dec(doc, "free_item_rate"),
            is_recursive=bool(doc.get("is_recursive")), recurse_for=_dec(doc, "recurse_for"),
            apply_recursion_over=_dec(doc, "apply_recursion_over"),
            round_free_qty=bool(doc.get("round_free_qty")),
            validate_only=bool(doc.get("validate_applied_rule")),
            apply_discount_on=str(doc.get("apply_discount_on") or ""),
            mixed=bool(doc.get("mixed_conditions")),
            unsupported=", ".join(unsupported))


@dataclass(frozen=True)
class ItemDetails:
    """What the row of a rule's free item needs that the rule does not say."""

    item_name: str
    stock_uom: str
    factors: Mapping[str, Decimal]  # UOM -> conversion factor to the stock UOM
    whole: frozenset[str] = frozenset()  # its UOMs that must be whole numbers
    item_tax_template: str | None = None
    item_tax_rates: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class StorePricing:
    """The store's Pricing Rules as a counter holds them, and the trees ERPNext judges
    their conditions in (each name to its parent)."""

    rules: tuple[PricingRule, ...] = ()  # those a counter applies (``applicable``)
    beyond: tuple[PricingRule, ...] = ()  # selling rules it cannot apply, ``unsupported`` says why
    # rules on the whole transaction (``on_transaction``), by name: ERPNext's SQL reads
    # them in primary-key order and applies each in turn
    transaction: tuple[PricingRule, ...] = ()
    item_groups: Mapping[str, str] = field(default_factory=dict)
    customer_groups: Mapping[str, str] = field(default_factory=dict)
    territories: Mapping[str, str] = field(default_factory=dict)
    free_items: Mapping[str, ItemDetails] = field(default_factory=dict)  # rules name them
    # (apply_on, item code / group / brand) -> the rules on it: a line's few candidates
    # are found by its item, groups and brand, not by trying every rule of the store
    index: Mapping[tuple[str, str], tuple[PricingRule, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[PricingRule], *, item_groups: Mapping[str, str],
           customer_groups: Mapping[str, str], territories: Mapping[str, str],
           free_items: Mapping[str, ItemDetails] | None = None) -> StorePricing:
        rules = list(rules)
        selling = [r for r in rules if r.selling and not r.disabled and not r.validate_only]
        applied = tuple(r for r in selling if r.applicable)
        whole = tuple(sorted((r for r in rules if r.on_transaction), key=lambda r: r.name))
        index: dict[tuple[str, str], list[PricingRule]] = {}
        for rule in applied:
            for value in dict.fromkeys(value for value, _ in rule.targets):
                index.setdefault((rule.apply_on, value), []).append(rule)
        return cls(rules=applied, transaction=whole,
                   beyond=tuple(r for r in selling if not r.applicable and not r.on_transaction),
                   item_groups=dict(item_groups), customer_groups=dict(customer_groups),
                   territories=dict(territories), free_items=dict(free_items or {}),
                   index={key: tuple(found) for key, found in index.items()})

    def candidates(self, line: Line) -> list[PricingRule]:
        """The rules that name this line's item, its template, one of its groups or its
        brand: the only ones ``select`` can choose for it."""
        keys = [("Item Code", line.item_code), ("Item Code", line.variant_of),
                *(("Item Group", group) for group in line.item_groups), ("Brand", line.brand)]
        found = [rule for key in keys for rule in self.index.get(key, ())]
        return list({id(rule): rule for rule in found}.values()) if len(found) > 1 else found

    def not_applied(self, line: Line) -> list[str]:
        """The rules on this line's item that this counter cannot apply, and why."""
        return [f"{r.title} ({r.unsupported})" for r in self.beyond
                if r.unsupported and r.apply_on in APPLY_ON and _targets(r, line)]

    def not_applied_to_sales(self) -> list[str]:
        """The rules on the whole transaction this counter cannot apply, and why."""
        return [f"{r.title} ({r.unsupported})" for r in self.beyond
                if r.unsupported and r.apply_on == TRANSACTION]

    def named(self, name: str) -> PricingRule | None:
        """The rule of that name this counter applies, to a line or to the whole sale."""
        return self._by_name.get(name)

    def titles(self, names: Iterable[str]) -> list[str]:
        """What the cashier and the customer read for the rules that priced a line."""
        return [rule.title if (rule := self.named(name)) else name for name in names]

    @cached_property
    def mixed(self) -> bool:
        """Whether a rule judges the sale's lines together (mixed conditions)."""
        return any(r.mixed for r in self.rules)

    @cached_property
    def _by_name(self) -> dict[str, PricingRule]:
        return {r.name: r for r in (*self.rules, *self.transaction)}


def ancestors(tree: Mapping[str, str], name: str) -> tuple[str, ...]:
    """``name`` and its parents up to the root, nearest first (ERPNext's ``get_parent_*``
    for item groups, customer groups and territories). A cycle ends the walk."""
    chain: list[str] = []
    while name and name not in chain:
        chain.append(name)
        name = tree.get(name, "")
    return tuple(chain)


@dataclass(frozen=True)
class Selling:
    """What a sale is priced under: ``*_groups`` are the customer's group and territory
    and the warehouse, each with its ancestors (ERPNext's trees), nearest first."""

    company: str
    price_list: str
    currency: str
    on: date
    customer: str = ""
    customer_groups: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    warehouses: tuple[str, ...] = ()
    coupon_rules: frozenset[str] = frozenset()  # rules the sale's coupon codes name


@dataclass(frozen=True)
class Line:
    """A cart line as the rules see it: ``item_groups`` with ancestors, nearest first;
    ``price_list_rate`` per ``uom``."""

    item_code: str
    qty: Decimal
    uom: str
    conversion_factor: Decimal
    price_list_rate: Decimal
    item_groups: tuple[str, ...] = ()
    brand: str = ""
    variant_of: str = ""

    @property
    def stock_qty(self) -> Decimal:
        return self.qty * self.conversion_factor


@dataclass(frozen=True)
class FreeItem:
    """A row a product rule adds to the invoice (``is_free_item``): ``uom`` empty for
    the item's stock UOM; ``rate`` is its price list rate and rate both."""

    item_code: str
    qty: Decimal
    uom: str
    rate: Decimal
    rule: str


@dataclass(frozen=True)
class Priced:
    """What the rules make of a line, as ERPNext sets it on the invoice row."""

    price_list_rate: Decimal
    discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    margin_type: str = ""
    margin_rate_or_amount: Decimal = ZERO
    pricing_rules: tuple[str, ...] = ()
    free: tuple[FreeItem, ...] = ()

    @property
    def rate(self) -> Decimal | None:
        """The rate ERPNext's ``get_item_details`` sets on the row: the list price less a
        rule's amount off; None leaves it to the totals (a percentage, or no rule)."""
        if self.discount_amount and not self.discount_percentage:
            return self.price_list_rate - self.discount_amount
        return None


def price_line(rules: Iterable[PricingRule], line: Line, selling: Selling,
               basket: Sequence[Line] = ()) -> Priced:
    """The line priced by the rules that apply to it, among the sale's lines ``basket``
    (rules with mixed conditions judge them together); raises PricingConflict on a tie."""
    return apply(select(rules, line, selling, basket), line, selling)


def select(rules: Iterable[PricingRule], line: Line, selling: Selling,
           basket: Sequence[Line] = ()) -> list[PricingRule]:
    """``get_pricing_rules``: the rules that apply to ``line``, in the order applied."""
    pool = [r for r in rules if r.applicable]
    found: list[PricingRule] = []
    for apply_on in APPLY_ON:
        found.extend(_matching(pool, apply_on, line, selling))
        if found and found[0].has_priority:
            continue
        if found and not all(r.apply_multiple for r in found):
            break
    if not found:
        return []
    if all(r.apply_multiple for r in found):
        stacked: dict[int, list[PricingRule]] = {}
        for candidate in found:
            if _filter(line, selling, [candidate], basket) is not None:
                stacked.setdefault(candidate.priority_number or 1, []).append(candidate)
        chosen = [r for key in sorted(stacked) for r in stacked[key]]
    else:
        best = _filter(line, selling, found, basket)
        chosen = [best] if best is not None else []
    # A coupon rule is chosen (or ties) like any other; only then does ERPNext drop it
    # without its coupon, and the line gets nothing from it (recorded: coupon-005/-009/-012).
    return [r for r in chosen if not r.coupon_code_based or r.name in selling.coupon_rules]


def apply(chosen: Sequence[PricingRule], line: Line, selling: Selling) -> Priced:
    """``apply_price_discount_rule`` for each rule in turn."""
    list_rate = line.price_list_rate
    percentage, amount = ZERO, ZERO
    margin_type, margin = "", ZERO
    free: list[FreeItem] = []
    for rule in chosen:
        if rule.price_or_product_discount == "Product":
            free.extend(_free_item(rule, line))
            continue
        # ERPNext stores "Percentage" on rules without a margin too; calculate_margin
        # keeps a margin only where the rule has one.
        if rule.margin_rate_or_amount and (rule.margin_type == "Percentage" or (
                rule.margin_type == "Amount" and rule.currency == selling.currency)):
            margin_type = rule.margin_type
            margin = margin + rule.margin_rate_or_amount if rule.apply_multiple else \
                rule.margin_rate_or_amount
        if rule.rate_or_discount == "Rate":
            if rule.rate and rule.currency == selling.currency:
                uom_blank = _rule_uom(rule, line) != line.uom
                list_rate = rule.rate * (line.conversion_factor if uom_blank else 1)
            percentage = ZERO
        elif rule.rate_or_discount == "Discount Percentage":
            if rule.apply_discount_on_rate and percentage:
                percentage += (HUNDRED - percentage) * (rule.discount_percentage / HUNDRED)
            elif line.price_list_rate:
                amount += line.price_list_rate * (rule.discount_percentage / HUNDRED)
                percentage = amount / line.price_list_rate * HUNDRED
            else:
                percentage += rule.discount_percentage
        # ERPNext 15 names a mixed rule on a group or brand on the row but takes no
        # amount off (recorded: mixed-012, mixed-024); on items it does (mixed-022)
        elif rule.rate_or_discount == "Discount Amount" and not (
                rule.mixed and rule.apply_on != "Item Code"):
            amount += rule.discount_amount
    # ERPNext adds the free items only when the last rule applied is a product rule
    # (``apply_pricing_rule_on_items`` goes by the last rule's kind): a price rule
    # stacked after one drops them (recorded: pricing-045, pricing-046).
    last_gives_items = bool(chosen) and chosen[-1].price_or_product_discount == "Product"
    return Priced(list_rate, percentage, amount, margin_type, margin,
                  tuple(r.name for r in chosen), tuple(free) if last_gives_items else ())


@dataclass(frozen=True)
class InvoiceDiscount:
    """A sale's own discount as ERPNext keeps it on the invoice (a percentage wins over an
    amount, which is then ERPNext's to work out), and what rules on the whole transaction
    made of it: the rule that gave the discount the customer gets (``rules``), the free
    items they add, the rules that only check and found the discount short
    (``short_of``: ERPNext says "User has not applied rule"), and whether ERPNext drops
    the free rows of the lines' rules (``remove_free_item``: rules on the transaction
    exist for the sale, none is met)."""

    additional_discount_percentage: Decimal = ZERO
    discount_amount: Decimal = ZERO
    apply_discount_on: str = ""
    rules: tuple[str, ...] = ()
    free: tuple[FreeItem, ...] = ()
    short_of: tuple[str, ...] = ()
    drops_free_items: bool = False


# (apply_discount_on, percentage) -> the amount ERPNext sets for that percentage off the
# sale's grand or net total before any invoice discount (``set_discount_amount``)
DiscountOf = Callable[[str, Decimal], Decimal]


def price_transaction(rules: Sequence[PricingRule], selling: Selling, *, total_qty: Decimal,
                      total: Decimal, given: InvoiceDiscount,
                      discount_of: DiscountOf) -> InvoiceDiscount:
    """``apply_pricing_rule_on_transaction``: the rules on the whole transaction, in
    order, on a sale of ``total_qty`` units (in the lines' UOMs, free rows too) and
    ``total`` (the lines' amounts), over the cashier's ``given`` discount.

    ERPNext works on the invoice as priced so far: a percentage has already set its
    amount, and after each rule the invoice is priced again. So each matching price rule
    sets its percentage or amount (and the base it is taken from), the last one winning;
    one that only checks (``validate_applied_rule``) keeps a smaller discount and lowers
    a larger one to its own; a coupon rule without its coupon sets the discount to 0 (an
    amount a percentage set stays), with it applies and ends the walk. ERPNext looks at
    neither the rules' validity dates here (a POS Invoice has no ``transaction_date``)
    nor their price list, warehouse or currency (recorded: transaction-cases.json).
    """
    matching = [r for r in rules if r.on_transaction and _whole_sale_conditions(r, selling)]
    if not matching:
        return given
    met = [r for r in matching if _within_sale(r, total_qty, total)]
    if not met:
        return replace(given, drops_free_items=True)
    walk = _Walk(given, discount_of)
    free: list[FreeItem] = []
    short: list[str] = []
    for rule in met:
        if rule.price_or_product_discount == "Product":
            free.append(FreeItem(rule.free_item, rule.free_qty or Decimal(1),
                                 rule.free_item_uom, rule.free_item_rate, rule.name))
            continue
        walk.base = rule.apply_discount_on or walk.base
        coupon_met = False
        for key, value in (("percentage", rule.discount_percentage),
                           ("amount", rule.discount_amount)):
            if not value:
                continue
            if rule.validate_only and walk.current(key) < value:
                short.append(rule.name)
                continue
            coupon_met = rule.coupon_code_based and rule.name in selling.coupon_rules
            walk.set(key, value if coupon_met or not rule.coupon_code_based else ZERO,
                     rule.name)
            if coupon_met:
                break
        walk.priced_again()
        if coupon_met:
            break
    return InvoiceDiscount(walk.percentage, walk.amount, walk.base, walk.given_by(),
                           tuple(free), tuple(dict.fromkeys(short)))


class _Walk:
    """The invoice's discount while ERPNext walks the rules. A percentage sets the amount
    each time the invoice is priced; that amount is worked out only when it matters (a
    rule checks it, or the percentage goes back to 0 and the amount stays), since the
    final pricing works it out anyway."""

    def __init__(self, given: InvoiceDiscount, discount_of: DiscountOf) -> None:
        self.percentage, self.amount = (given.additional_discount_percentage,
                                        given.discount_amount)
        self.base = given.apply_discount_on
        self.discount_of = discount_of
        self.set_by: dict[str, str] = {}  # the rule that set each, where a rule did
        self.priced: tuple[str, Decimal] | None = None
        self.priced_again()

    def priced_again(self) -> None:
        self.priced = (self.base, self.percentage) if self.percentage else None

    def current(self, key: str) -> Decimal:
        if key == "percentage":
            return self.percentage
        return self.discount_of(*self.priced) if self.priced else self.amount

    def set(self, key: str, value: Decimal, rule: str) -> None:
        if key == "percentage":
            if not value and self.priced:  # the amount the percentage set stays
                self.amount = self.discount_of(*self.priced)
            self.percentage = value
        else:
            self.amount = value
        self.set_by[key] = rule

    def given_by(self) -> tuple[str, ...]:
        """The rule that gave what the customer gets (a percentage wins over an amount)."""
        key = "percentage" if self.percentage else "amount"
        value = self.percentage if self.percentage else self.amount
        return (self.set_by[key],) if value and key in self.set_by else ()


def _whole_sale_conditions(rule: PricingRule, selling: Selling) -> bool:
    """``get_other_conditions`` on the invoice: company, customer, customer group and
    territory (a line's rules also look at the warehouse, price list and dates)."""
    return (rule.company in ("", selling.company)
            and rule.customer in ("", selling.customer)
            and (not rule.customer_group or rule.customer_group in selling.customer_groups)
            and (not rule.territory or rule.territory in selling.territories))


def _within_sale(rule: PricingRule, total_qty: Decimal, total: Decimal) -> bool:
    """``filter_pricing_rules_for_qty_amount`` on the invoice's quantity and total."""
    return (rule.min_qty <= total_qty and not (rule.max_qty and total_qty > rule.max_qty)
            and rule.min_amt <= total and not (rule.max_amt and total > rule.max_amt))


def _free_item(rule: PricingRule, line: Line) -> list[FreeItem]:
    """``get_product_discount_rule``: the free quantity, by each ``recurse_for`` bought
    past ``apply_recursion_over`` for a recursive rule (rounded down to whole multiples
    with ``round_free_qty``), else the rule's ``free_qty`` (1 when unset)."""
    qty = rule.free_qty or Decimal(1)
    if rule.is_recursive:
        bought = line.qty - rule.apply_recursion_over
        recurse_for = rule.recurse_for or Decimal(1)  # ERPNext saves 0 as 1
        if bought > 0:
            qty = (bought // recurse_for) * (rule.free_qty or 1) if rule.round_free_qty \
                else bought * qty / recurse_for
    if not qty:
        return []
    code = line.item_code if rule.same_item else rule.free_item
    return [FreeItem(code, qty, rule.free_item_uom, rule.free_item_rate, rule.name)]


def _matching(pool: list[PricingRule], apply_on: str, line: Line,
              selling: Selling) -> list[PricingRule]:
    """``_get_pricing_rules``: rules on ``apply_on`` whose conditions the sale meets, by
    priority (as text, as ERPNext's SQL orders it) then name, both descending."""
    matching = [r for r in pool if r.apply_on == apply_on and _targets(r, line)
                and _conditions(r, selling)]
    return sorted(matching, key=lambda r: (r.priority, r.name), reverse=True)


def _targets(rule: PricingRule, line: Line) -> bool:
    for value, uom in rule.targets:
        if rule.apply_on == "Item Code":
            if value in (line.item_code, line.variant_of) and value and uom in ("", line.uom):
                return True
        elif rule.apply_on == "Item Group":
            if value in line.item_groups and uom in ("", line.uom):
                return True
        elif rule.apply_on == "Brand" and value and value == line.brand:
            return True
    return False


def _conditions(rule: PricingRule, selling: Selling) -> bool:
    """``get_other_conditions`` and the warehouse's: each set on the rule must match."""
    return (_whole_sale_conditions(rule, selling)
            and (not rule.warehouse or rule.warehouse in selling.warehouses)
            and rule.for_price_list in ("", selling.price_list)
            and (rule.valid_from or EARLIEST) <= selling.on <= (rule.valid_upto or LATEST))


def _filter(line: Line, selling: Selling, rules: list[PricingRule],
            basket: Sequence[Line] = ()) -> PricingRule | None:
    """``filter_pricing_rules``: the one rule of ``rules`` for this line's quantity and
    amount, the highest priority winning; None when none is within its breaks. When the
    first rule has mixed conditions, every rule is judged on the quantity and amount of
    the sale's lines of that rule's items together (ERPNext decides by the first)."""
    if rules and rules[0].mixed and basket:
        qty, amount = _together(rules[0], line, basket)
    else:
        qty, amount = line.stock_qty, line.price_list_rate * line.qty
    kept = [r for r in rules if _within(r, line, qty, amount)]
    if len(kept) > 1:
        kept = [r for r in kept if r.currency == selling.currency] or kept
    if kept:
        top = max(r.priority_number for r in kept)
        if top:
            kept = [r for r in kept if r.priority_number == top]
    if len(kept) > 1 and {r.rate_or_discount for r in kept} == {"Discount Percentage"}:
        kept = [r for r in kept if r.for_price_list == selling.price_list] or kept
    if len(kept) > 1:
        raise PricingConflict(
            "Multiple Price Rules exists with same criteria, please resolve conflict by "
            f"assigning priority. Price Rules: {chr(10).join(r.name for r in kept)}")
    return kept[0] if kept else None


def _together(rule: PricingRule, line: Line, basket: Sequence[Line]) -> tuple[Decimal, Decimal]:
    """``get_qty_and_rate_for_mixed_conditions``: the stock quantity and the amount of the
    sale's lines of the rule's items, groups or brand; a line of the priced line's item
    counts at the priced line's quantity and price (as ERPNext counts it)."""
    qty = amount = ZERO
    for row in basket:
        # a row without a brand (or group) counts as the priced line's (ERPNext's
        # ``row.get(apply_on) or args.get(apply_on)``; recorded: mixed-033)
        seen = replace(row, brand=row.brand or line.brand,
                       item_groups=row.item_groups or line.item_groups)
        if not _targets(rule, seen):
            continue
        qty += row.stock_qty
        amount += (line.qty * line.price_list_rate if row.item_code == line.item_code
                   else row.qty * row.price_list_rate)
    return qty, amount


def _within(rule: PricingRule, line: Line, qty: Decimal, amount: Decimal) -> bool:
    """``filter_pricing_rules_for_qty_amount``: quantity breaks in the rule's UOM (its
    factor to the stock UOM). ERPNext scales amount breaks by that factor too, but back to
    1 when the rule's UOM is the line's, and otherwise the factor is 1 here: the amount
    (list price x qty, in the line's UOM) is compared as it stands."""
    factor = line.conversion_factor if _rule_uom(rule, line) == line.uom else Decimal(1)
    return (rule.min_qty * factor <= qty and not (rule.max_qty and qty > rule.max_qty * factor)
            and rule.min_amt <= amount and not (rule.max_amt and amount > rule.max_amt))


def _rule_uom(rule: PricingRule, line: Line) -> str:
    """The UOM of the rule's row that matched ``line`` (``update_pricing_rule_uom``)."""
    for value, uom in rule.targets:
        if value in (line.item_code, line.brand, *line.item_groups):
            return uom
    return ""


def _dec(doc: Mapping[str, Any], key: str) -> Decimal:
    """A number field of a rule (empty: 0); a malformed one refused, named."""
    value = doc.get(key)
    return to_decimal(value, f"Pricing Rule {doc.get('name')} {key}") if value not in (
        None, "") else ZERO


def doc_date(value: Any) -> date | None:
    """A date field of a document (empty: None)."""
    return date.fromisoformat(str(value)[:10]) if value else None

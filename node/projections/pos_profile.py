"""The selling context of this counter, read from replicated ERPNext master data.

POS Profile (company, warehouse, price list, tax template, modes of payment, partial
payment), Mode of Payment (type and account for the company), Sales Taxes and Charges
Template rows, Item Tax Template rates, and the Pricing Rules with the trees they are
judged in and the Coupon Codes that name them (unless the profile ignores them), and the
company's Loyalty Programs. Cached until one of those doctypes changes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tillmesh.node.domain.coupons import Coupon
from tillmesh.node.domain.loyalty import LoyaltyProgram
from tillmesh.node.domain.money import to_decimal
from tillmesh.node.domain.pos_context import Mode, PosContext, tax_rows, template_rates
from tillmesh.node.domain.pricing_rules import ItemDetails, PricingRule, StorePricing
from tillmesh.node.domain.totals import (
    ERPNEXT_RELEASES,
    TaxRow,
    TotalsSettings,
    check_settings,
    nearest_release,
)
from tillmesh.node.errors import ConfigError, NotFoundError, TotalsError, ValidationError
from tillmesh.node.projections import catalog
from tillmesh.node.projections.cached import Cached
from tillmesh.node.projections.master_data import all_docs, get_doc, indexer

log = logging.getLogger(__name__)

_generation = 0  # bumped whenever a doctype the context depends on changes

# What the pull records of the site's release (``erpnext._pull``): a record of Tillmesh's
# own among the master data, "erpnext" and "frappe" release numbers, "invoice_type" and
# the site's "number_format"; the totals engine copies that release's arithmetic and words.
RELEASE = "ERPNext Release"
_WATCHED = ("POS Profile", "Mode of Payment", "Sales Taxes and Charges Template",
            "Item Tax Template", "Global Defaults", "Currency", "Pricing Rule", "Item Group",
            "Customer Group", "Territory", "Coupon Code", "Loyalty Program", RELEASE)
_TREES = (("Item Group", "parent_item_group"), ("Customer Group", "parent_customer_group"),
          ("Territory", "parent_territory"))


def _bump(session: Session, name: str, doc: dict[str, Any] | None) -> None:
    global _generation
    _generation += 1


for _doctype in _WATCHED:
    indexer(_doctype)(_bump)


def _item_taxes(session: Session) -> dict[str, dict[str, Decimal]]:
    """The enabled Item Tax Templates' rates (account -> rate), by template."""
    return {str(doc["name"]): {t["tax_type"]: to_decimal(t.get("tax_rate") or 0)
                               for t in doc.get("taxes", [])}
            for doc in all_docs(session, "Item Tax Template") if not doc.get("disabled")}


def load_context(session: Session, profile: str) -> PosContext:
    doc = get_doc(session, "POS Profile", profile)
    if doc is None:
        raise ConfigError(f"POS Profile {profile!r} is not in the local master data")
    company = doc["company"]
    modes: dict[str, Mode] = {}
    for row in sorted(doc.get("payments", []), key=lambda r: -int(r.get("default") or 0)):
        mop = get_doc(session, "Mode of Payment", row["mode_of_payment"]) or {}
        account = next(
            (a.get("default_account") for a in mop.get("accounts", [])
             if a.get("company") == company),
            None,
        )
        modes[row["mode_of_payment"]] = Mode(row["mode_of_payment"], mop.get("type", "General"),
                                             account)
    if not modes:
        raise ConfigError(f"POS Profile {profile!r} has no modes of payment")
    template = doc.get("taxes_and_charges")
    taxes: tuple[TaxRow, ...] = ()
    if template:
        tdoc = get_doc(session, "Sales Taxes and Charges Template", template)
        taxes = tax_rows(template, tdoc.get("taxes", [])) if tdoc else ()
    ignored = bool(doc.get("ignore_pricing_rule"))
    item_taxes = _item_taxes(session)
    return PosContext(
        profile=profile,
        company=company,
        warehouse=doc["warehouse"],
        price_list=doc["selling_price_list"],
        currency=doc.get("currency") or "EUR",
        customer=doc.get("customer") or "Walk-in Customer",
        taxes_and_charges=template,
        taxes=taxes,
        modes=modes,
        allow_partial_payment=bool(doc.get("allow_partial_payment")),
        apply_discount_on=doc.get("apply_discount_on") or "Grand Total",
        settings=_settings(session, doc.get("currency") or "EUR"),
        pricing=StorePricing() if ignored else _pricing(session, item_taxes),
        coupons={} if ignored else _coupons(session),
        ignores_pricing_rules=ignored,
        loyalty_programs=_loyalty_programs(session, company),
        item_taxes=item_taxes,
    )


def _loyalty_programs(session: Session, company: str) -> dict[str, LoyaltyProgram]:
    """The company's Loyalty Programs, earning as the site's release does; one a counter
    cannot read is left out, logged."""
    programs = {}
    release = priced_release(get_doc(session, RELEASE, RELEASE) or {})
    for doc in all_docs(session, "Loyalty Program"):
        try:
            program = LoyaltyProgram.from_doc(doc, release)
        except (KeyError, ValueError, ValidationError) as exc:
            log.error("Loyalty Program %s cannot be read: %s", doc.get("name"), exc)
            continue
        if program.company in ("", company):
            programs[program.name] = program
    return programs


def _coupons(session: Session) -> dict[str, Coupon]:
    """The store's Coupon Codes; one a counter cannot read is left out, logged."""
    coupons = {}
    for doc in all_docs(session, "Coupon Code"):
        try:
            coupons[str(doc["name"])] = Coupon.from_doc(doc)
        except (KeyError, ValueError) as exc:
            log.error("Coupon Code %s cannot be read: %s", doc.get("name"), exc)
    return coupons


def _pricing(session: Session, item_taxes: dict[str, dict[str, Decimal]]) -> StorePricing:
    """The store's Pricing Rules; one a counter cannot read is kept aside with the reason
    (it is shown, never applied), as are those it cannot price (``unsupported``)."""
    rules = []
    for rule in all_docs(session, "Pricing Rule"):
        try:
            rules.append(PricingRule.from_doc(rule))
        except ValidationError as exc:
            log.error("Pricing Rule %s cannot be read: %s", rule.get("name"), exc.message)
            rules.append(PricingRule(name=str(rule.get("name")), title=str(rule.get("title")),
                                     apply_on="", targets=(), unsupported=exc.message))
    item_groups, customer_groups, territories = (
        {str(d["name"]): str(d.get(parent) or "") for d in all_docs(session, doctype)}
        for doctype, parent in _TREES)
    free_items = {}
    for code in {rule.free_item for rule in rules if rule.free_item}:
        try:
            item = catalog.get_item(session, code)
        except NotFoundError:  # the rule says so when it would add it
            continue
        free_items[code] = ItemDetails(
            item.item_name, item.stock_uom, {u.uom: u.conversion_factor for u in item.uoms},
            frozenset(u.uom for u in item.uoms if u.must_be_whole_number),
            item.item_tax_template, template_rates(item_taxes, item.item_tax_template))
    return StorePricing.of(rules, item_groups=item_groups, customer_groups=customer_groups,
                           territories=territories, free_items=free_items)


def _settings(session: Session, currency: str) -> TotalsSettings:
    # POS Invoice has no disable_rounded_total of its own: Global Defaults decides
    # (erpnext/NOTES.md); cash rounding comes from the currency's smallest fraction.
    defaults = get_doc(session, "Global Defaults", "Global Defaults") or {}
    cur = get_doc(session, "Currency", currency) or {}
    fraction = cur.get("smallest_currency_fraction_value") or "0.01"
    site = get_doc(session, RELEASE, RELEASE) or {}
    settings = TotalsSettings(
        disable_rounded_total=bool(defaults.get("disable_rounded_total")),
        smallest_currency_fraction=to_decimal(fraction, "smallest_currency_fraction_value"),
        release=priced_release(site),
        currency_symbol=str(cur.get("symbol") or ""),
        number_format=str(site.get("number_format") or cur.get("number_format")
                          or TotalsSettings.number_format),
    )
    try:
        check_settings(settings)
    except TotalsError as exc:  # a site's odd number format must not stop the till
        log.error("%s: amounts in ERPNext's words are written as %s", exc.message,
                  TotalsSettings.number_format)
        return replace(settings, number_format=TotalsSettings.number_format)
    return settings


def priced_release(site: dict[str, Any]) -> int:
    """The recorded release the engine copies: its major, the nearest one it knows (a
    store not pulled yet, or a site older than 15, prices as 15; one newer than 16, as
    16, which setup names as not checked)."""
    oldest = ERPNEXT_RELEASES[0]
    try:
        major = int(str(site.get("erpnext") or oldest).split(".")[0])
    except ValueError:
        log.error("ERPNext release %r cannot be read: priced as %s", site.get("erpnext"),
                  oldest)
        return oldest
    return nearest_release(major)


def generation() -> int:
    """Moves whenever a doctype the context depends on changes (``cached.Cached``)."""
    return _generation


class ContextCache:
    def __init__(self, profile: str) -> None:
        self.profile = profile
        self._cached = Cached(generation)

    def get(self, session: Session, today: date) -> PosContext:
        """The context a cart is priced in on ``today`` (the store's date)."""
        return self._cached.get((self.profile, today), lambda: replace(
            load_context(session, self.profile), today=today))

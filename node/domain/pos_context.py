"""What a counter sells under: its POS Profile's company, prices, taxes and modes of payment.

Plain values, read from replicated master data by ``projections.pos_profile``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tillmesh.node.domain.coupons import Coupon
from tillmesh.node.domain.loyalty import LoyaltyProgram
from tillmesh.node.domain.money import to_decimal
from tillmesh.node.domain.pricing_rules import StorePricing
from tillmesh.node.domain.totals import ChargeType, TaxRow, TotalsSettings
from tillmesh.node.errors import ConfigError, PaymentError


@dataclass(frozen=True)
class Mode:
    name: str
    type: str  # Cash, Bank, General, Phone
    account: str | None

    @property
    def is_cash(self) -> bool:
        return self.type == "Cash"


@dataclass(frozen=True)
class PosContext:
    profile: str
    company: str
    warehouse: str
    price_list: str
    currency: str
    customer: str
    taxes_and_charges: str | None
    taxes: tuple[TaxRow, ...]
    modes: dict[str, Mode]  # in the profile's order; the first is the default
    allow_partial_payment: bool
    apply_discount_on: str
    settings: TotalsSettings
    pricing: StorePricing = StorePricing()  # none when the profile ignores Pricing Rules
    today: date | None = None  # the store's date the cart is priced on (rules' validity)
    coupons: Mapping[str, Coupon] = field(default_factory=dict)  # by name
    ignores_pricing_rules: bool = False  # the profile's ignore_pricing_rule
    loyalty_programs: Mapping[str, LoyaltyProgram] = field(default_factory=dict)  # by name
    # the enabled Item Tax Templates' rates (account -> rate), by template
    item_taxes: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def mode(self, name: str) -> Mode:
        if name not in self.modes:
            allowed = ", ".join(self.modes)
            raise PaymentError(f"Mode of payment {name!r} is not in this POS profile ({allowed})")
        return self.modes[name]

    def item_tax_rates(self, template: str | None) -> dict[str, Decimal]:
        """An item's tax rates by account, from this store's templates."""
        return template_rates(self.item_taxes, template)

    @property
    def cash_mode(self) -> str:
        """The mode change is given in: the first Cash mode, else the default mode."""
        for mode in self.modes.values():
            if mode.is_cash:
                return mode.name
        return next(iter(self.modes))


def template_rates(item_taxes: Mapping[str, Mapping[str, Decimal]],
                   template: str | None) -> dict[str, Decimal]:
    """An item's tax rates by account: its template's (``item_taxes``: the enabled Item Tax
    Templates' rates), none for a disabled or unknown template (ERPNext then taxes the
    item at the invoice's rates)."""
    return dict(item_taxes.get(template, {})) if template else {}


def tax_rows(template: str, rows: list[dict[str, Any]]) -> tuple[TaxRow, ...]:
    """The rows of a Sales Taxes and Charges Template, in order.

    A charge type the totals cannot price is refused here, when the profile is read
    (ConfigError naming the template), not as an internal error at every scan.
    """
    for r in rows:
        if r.get("charge_type") not in {t.value for t in ChargeType}:
            raise ConfigError(
                f"Sales Taxes and Charges Template {template!r} row {r.get('idx')}: charge "
                f"type {r.get('charge_type')!r} cannot be priced by this counter"
            )
    return tuple(
        TaxRow(
            charge_type=ChargeType(r["charge_type"]),
            account_head=r["account_head"],
            description=r.get("description") or r["account_head"],
            rate=to_decimal(r.get("rate") or 0, "rate"),
            row_id=int(r["row_id"]) if r.get("row_id") else None,
            included_in_print_rate=bool(r.get("included_in_print_rate")),
            tax_amount=to_decimal(r.get("tax_amount") or 0, "tax_amount"),
        )
        for r in sorted(rows, key=lambda r: int(r.get("idx") or 0))
    )

"""Barcodes a scanner reads at the counter: GTIN check digits and weighed-goods codes. Pure.

GTINs (EAN-13, EAN-8, UPC-A) end in a mod-10 check digit: the body digits, read from
the right, are weighted 3, 1, 3, 1 … and the check digit tops the sum up to a multiple
of 10. That catches every single wrong digit (3 and 1 are both prime to 10) and every
swap of two adjacent digits except those that differ by 5 (0/5, 1/6, 2/7, 3/8, 4/9):
the swap changes the sum by 2·(a - b), a multiple of 10 exactly when |a - b| = 5.

Only all-digit codes of 8, 12 or 13 characters are GTINs and get their check digit
checked. ERPNext lets a store register any text as an Item Barcode (CODE-39 labels,
shelf codes, internal numbers), so every other code is looked up exactly as scanned.

A UPC-A (12 digits) is the EAN-13 with a leading 0: ``036000291452`` and
``0036000291452`` are one product, and scanners are configured to send either form, so
``lookup_forms`` gives both.

Weighed and price-embedded codes (GS1 "restricted circulation", prefixes 20–29) are
printed by the shop's scale. With the default 2-digit prefix and 5 item digits::

    2 1 0 0 0 4 2 0 1 2 3 4 c      prefix "21" | item ref (PLU) "00042" | value "01234" | check
    └┬┘ └───┬───┘ └───┬───┘ │
    prefix  item ref  value  EAN-13 check digit over the first 12 digits

The value is a weight in kg with 3 decimals (``01234`` = 1.234 kg) or a price with 2
decimals (``01234`` = 12.34 EUR), as the rule says. Which prefixes mean what is a store's
choice; ``DEFAULT_RULES`` is a common German set-up (see there) and a node's config can
replace it (``rules_from_config``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from tillmesh.node.domain.const import EMBEDDED_ITEM_DIGITS
from tillmesh.node.errors import BarcodeError, ConfigError

GTIN_LENGTHS = (8, 12, 13)  # EAN-8, UPC-A, EAN-13: the codes whose check digit is checked
EAN13 = 13
ValueKind = Literal["weight", "price"]
DEFAULT_DECIMALS: dict[str, int] = {"weight": 3, "price": 2}  # kg to the gram, EUR to the cent


def is_gtin(code: str) -> bool:
    """True for an all-digit code of a GTIN length (8, 12 or 13)."""
    return len(code) in GTIN_LENGTHS and code.isascii() and code.isdigit()


def gtin_check_digit(body: str) -> int:
    """The check digit for ``body`` (the code without its last digit)."""
    if not (body.isascii() and body.isdigit()):
        raise BarcodeError(f"Barcode {body!r} must be digits only")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def validate_gtin(code: str) -> str:
    """Return ``code`` if it is a GTIN with a correct check digit, else raise BarcodeError."""
    if not is_gtin(code):
        raise BarcodeError(f"Barcode {code!r} is not an EAN-13, EAN-8 or UPC-A")
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise BarcodeError(
            f"Bad check digit in barcode {code}: expected {expected}",
            barcode=code,
            expected=expected,
        )
    return code


def lookup_forms(code: str) -> tuple[str, ...]:
    """The spellings under which a scanned code may be registered, the scanned one first."""
    if len(code) == 12 and is_gtin(code):
        return (code, "0" + code)  # UPC-A as its EAN-13
    if len(code) == EAN13 and code.startswith("0") and is_gtin(code):
        return (code, code[1:])  # EAN-13 of a UPC-A, registered as the 12-digit UPC-A
    return (code,)


@dataclass(frozen=True)
class EmbeddedRule:
    """EAN-13 codes starting with ``prefix`` carry an item ref and a weight or a price.

    ``value_decimals`` defaults to 3 for a weight (kg, to the gram) and 2 for a price.
    The value takes the digits left between the item ref and the check digit.
    """

    prefix: str
    item_digits: int = EMBEDDED_ITEM_DIGITS
    value_kind: ValueKind = "weight"
    value_decimals: int | None = None

    def __post_init__(self) -> None:
        if not (self.prefix.isascii() and self.prefix.isdigit()):
            raise ConfigError(f"embedded barcode prefix {self.prefix!r} must be digits")
        if self.value_kind not in DEFAULT_DECIMALS:
            raise ConfigError(f"embedded barcode value kind {self.value_kind!r} unknown")
        if self.item_digits < 1 or self.value_digits < 1:
            raise ConfigError(
                f"embedded barcode rule {self.prefix}: prefix, {self.item_digits} item digits "
                "and the value must fit in the 12 digits before the check digit"
            )
        if self.value_decimals is None:
            object.__setattr__(self, "value_decimals", DEFAULT_DECIMALS[self.value_kind])
        elif not 0 <= self.value_decimals <= self.value_digits:
            raise ConfigError(f"embedded barcode rule {self.prefix}: bad value_decimals")

    @property
    def value_digits(self) -> int:
        return EAN13 - 1 - len(self.prefix) - self.item_digits

    @property
    def decimals(self) -> int:
        if self.value_decimals is None:  # never after __post_init__; for the type checker
            return DEFAULT_DECIMALS[self.value_kind]
        return self.value_decimals


EmbeddedRules = Sequence[EmbeddedRule]

# A common German set-up (GS1 Germany leaves 20–29 to the store): 21–25 are scale labels
# with the weight in grams, 26–29 labels with the price in cents, both with a 5-digit PLU.
# 20 is left out on purpose: stores use it for fixed in-store article numbers, which are
# registered as ordinary Item Barcodes. A different scale layout is a config change.
DEFAULT_RULES: tuple[EmbeddedRule, ...] = tuple(
    [EmbeddedRule(str(p), EMBEDDED_ITEM_DIGITS, "weight") for p in range(21, 26)]
    + [EmbeddedRule(str(p), EMBEDDED_ITEM_DIGITS, "price") for p in range(26, 30)]
)


@dataclass(frozen=True)
class EmbeddedCode:
    """A parsed scale label: ``item_ref`` is the PLU as printed, ``value`` kg or currency."""

    rule: EmbeddedRule
    item_ref: str
    value: Decimal


def _rule_for(code: str, rules: EmbeddedRules) -> EmbeddedRule | None:
    # The longest matching prefix wins, so "281" can be carved out of a "28" rule.
    best: EmbeddedRule | None = None
    for rule in rules:
        if code.startswith(rule.prefix) and (best is None or len(rule.prefix) > len(best.prefix)):
            best = rule
    return best


def parse_embedded(code: str, rules: EmbeddedRules) -> EmbeddedCode | None:
    """Parse a weighed / price-embedded EAN-13, or None if no rule's prefix matches.

    Raises BarcodeError when a matching code has a bad check digit: a misread label must
    not be sold at a misread weight.
    """
    if len(code) != EAN13 or not is_gtin(code):
        return None
    rule = _rule_for(code, rules)
    if rule is None:
        return None
    validate_gtin(code)
    start = len(rule.prefix)
    item_ref = code[start : start + rule.item_digits]
    raw = code[start + rule.item_digits : EAN13 - 1]
    return EmbeddedCode(rule, item_ref, Decimal(int(raw)).scaleb(-rule.decimals))


def build_embedded(rule: EmbeddedRule, item_ref: str | int, value: Decimal | str | int) -> str:
    """The EAN-13 a scale prints for ``item_ref`` and ``value`` (for tests and demo labels)."""
    ref = str(item_ref).zfill(rule.item_digits)
    units = Decimal(value).scaleb(rule.decimals)
    if len(ref) != rule.item_digits or not ref.isdigit():
        raise BarcodeError(f"Item ref {item_ref!r} does not fit {rule.item_digits} digits")
    if units != units.to_integral_value() or not 0 <= units < 10**rule.value_digits:
        raise BarcodeError(f"Value {value} does not fit rule {rule.prefix}")
    body = rule.prefix + ref + str(int(units)).zfill(rule.value_digits)
    return body + str(gtin_check_digit(body))


def rules_from_config(entries: Iterable[Mapping[str, Any]] | None) -> tuple[EmbeddedRule, ...]:
    """Rules from config entries like ``{"prefix": "28", "value_kind": "price"}``.

    No entries means ``DEFAULT_RULES``. Leaving them on does no harm in a store without
    scales: prefixes 20–29 are for in-store use and never on a manufacturer's product.
    """
    if not entries:
        return DEFAULT_RULES
    rules = []
    for entry in entries:
        unknown = set(entry) - {"prefix", "item_digits", "value_kind", "value_decimals"}
        if unknown or "prefix" not in entry:
            raise ConfigError(f"bad embedded barcode rule {dict(entry)!r}")
        try:
            rules.append(
                EmbeddedRule(
                    str(entry["prefix"]),
                    int(entry.get("item_digits", EMBEDDED_ITEM_DIGITS)),
                    entry.get("value_kind", "weight"),
                    None if entry.get("value_decimals") is None else int(entry["value_decimals"]),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad embedded barcode rule {dict(entry)!r}: {exc}") from exc
    return tuple(rules)

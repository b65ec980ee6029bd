"""The totals engine's release setting: amounts written as ERPNext 16 writes them into its
discount refusal, and settings it refuses. (What 16 computes otherwise is held to the
carts recorded from a real 16.12 in test_totals.py.)"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillmesh.node.domain.totals import TotalsSettings
from tillmesh.node.domain.totals._checks import check_settings, formatted_money
from tillmesh.node.errors import TotalsError

# Frappe's number formats with their (thousands, decimal) separators
FORMATS = {"#,###.##": (",", "."), "#.###,##": (".", ","), "# ###.##": (" ", "."),
           "#'###.##": ("'", "."), "#,###": (",", ""), "#.###": (".", "")}


@given(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False),
       st.sampled_from(sorted(FORMATS)))
def test_an_amount_reads_back_from_how_it_is_written(amount: Decimal, number_format: str
                                                     ) -> None:
    settings = TotalsSettings(currency_symbol="€", number_format=number_format)
    written = formatted_money(amount, settings)
    symbol, _, text = written.partition(" ")
    thousands, decimal = FORMATS[number_format]
    whole, _, fraction = text.partition(decimal) if decimal else (text, "", "")
    assert symbol == "€"
    assert all(len(group) == 3 for group in whole.lstrip("-").split(thousands)[1:])
    read = Decimal(whole.replace(thousands, "") + ("." + fraction if fraction else ""))
    assert read == amount.quantize(Decimal("0.01") if decimal else Decimal(1))


def test_the_refusal_writes_amounts_as_the_site_does() -> None:
    assert formatted_money(Decimal("2.37"), TotalsSettings(
        currency_symbol="€", number_format="#.###,##")) == "€ 2,37"
    assert formatted_money(Decimal("-1234567.5"), TotalsSettings()) == "-1,234,567.50"


@pytest.mark.parametrize(("setting", "value", "said"), [
    ("release", 14, "settings.release must be one of (15, 16), not 14"),
    ("release", 17, "settings.release must be one of (15, 16), not 17"),
    ("number_format", "0.00", "is not a Frappe number format"),
    ("number_format", "#_###.##", "is not a Frappe number format"),
    ("number_format", "", "is not a Frappe number format")])
def test_a_release_or_number_format_it_does_not_know_is_refused(setting: str, value: object,
                                                                 said: str) -> None:
    with pytest.raises(TotalsError, match=said.replace("(", r"\(").replace(")", r"\)")):
        check_settings(TotalsSettings(**{setting: value}))  # type: ignore[arg-type]

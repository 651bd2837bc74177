"""The adjustment maths: un-adjusting splits, distribution factors, piecewise cumulative factors."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from lumia_assets.adjustments import (
    FIRST_DAY,
    capital_gains_in_dividends,
    cumulative_factors,
    distribution_multipliers,
    factors_on,
    later_split_ratios,
)

D1, D2, D3, D4 = date(2024, 11, 4), date(2024, 11, 5), date(2024, 11, 6), date(2024, 11, 7)


def _actions(*rows: tuple[date, str, float, bool]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "action", "value", "in_dividend"])


def test_a_bar_is_multiplied_back_by_every_later_split_but_not_one_on_its_own_date() -> None:
    splits = _actions((D2, "split", 2.0, False), (D4, "split", 0.1, False))
    assert later_split_ratios([D1, D2, D3, D4], splits).tolist() == pytest.approx([0.2, 0.1, 0.1, 1.0])


def test_a_dividend_scales_earlier_bars_by_one_minus_cash_over_the_previous_close() -> None:
    closes = pd.Series([100.0, 98.0, 99.0], index=[D1, D2, D3])
    multipliers = distribution_multipliers(_actions((D2, "dividend", 2.0, False)), closes)
    assert multipliers.to_dict() == {D2: pytest.approx(0.98)}


def test_a_capital_gain_inside_the_dividend_is_not_counted_twice() -> None:
    closes = pd.Series([100.0, 95.0], index=[D1, D2])
    paid = [(D2, "dividend", 5.0), (D2, "capital_gain", 3.0)]
    inside = distribution_multipliers(_actions(*((*r, r[1] == "capital_gain") for r in paid)), closes)
    apart = distribution_multipliers(_actions(*((*r, False) for r in paid)), closes)
    assert (inside[D2], apart[D2]) == (pytest.approx(0.95), pytest.approx(0.92))


def test_the_price_drop_tells_whether_the_gain_is_inside_the_dividend() -> None:
    paid = _actions((D2, "dividend", 5.0, False), (D2, "capital_gain", 3.0, False))
    fell_by_the_dividend = pd.Series([100.0, 95.1], index=[D1, D2])
    fell_by_both = pd.Series([100.0, 92.2], index=[D1, D2])
    assert capital_gains_in_dividends(paid, fell_by_the_dividend) == {D2}
    assert capital_gains_in_dividends(paid, fell_by_both) == set()


def test_a_dividend_on_a_split_day_compares_with_the_previous_close_in_the_new_basis() -> None:
    closes = pd.Series([100.0, 49.0], index=[D1, D2])
    multipliers = distribution_multipliers(_actions((D2, "split", 2.0, False), (D2, "dividend", 1.0, False)), closes)
    assert multipliers[D2] == pytest.approx(1 - 1.0 / 50.0)


def test_cumulative_factors_are_segments_joined_by_date() -> None:
    closes = pd.Series([100.0, 100.0, 50.0, 50.0], index=[D1, D2, D3, D4])
    actions = _actions((D2, "dividend", 1.0, False), (D3, "split", 2.0, False))

    factors = cumulative_factors(actions, closes)

    assert factors["valid_from"].tolist() == [FIRST_DAY, D2]
    assert factors["valid_until"].tolist() == [D2, D3]
    on = factors_on([D1, D2, D3, D4], factors)
    assert on["split_factor"].tolist() == [0.5, 0.5, 1.0, 1.0]
    assert on["dividend_factor"].tolist() == pytest.approx([0.99, 1.0, 1.0, 1.0])


def test_no_actions_no_factors() -> None:
    assert cumulative_factors(_actions(), pd.Series(dtype="float64")).empty

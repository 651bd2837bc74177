"""The bar rules: what may be stored, and the named reason for everything rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from lumia_assets.frames import PRICE_COLUMNS
from lumia_assets.sources.bars import clean_daily_bars

DAYS = [date(2024, 6, 10), date(2024, 6, 11), date(2024, 6, 12)]


def _bar(day: date, **values: float) -> dict[str, object]:
    bar = {"symbol": "AAA", "asset_class": "stock", "date": day, "open": 10.0, "high": 11.0, "low": 9.0,
           "close": 10.5, "adj_close": 10.4, "volume": 1000.0, "source": "yahoo",
           "fetched_at": datetime(2024, 6, 13, tzinfo=UTC)}  # fmt: skip
    return {**bar, **values}


def _clean(*bars: dict[str, object], last_closed: date = DAYS[-1]):
    return clean_daily_bars(pd.DataFrame(list(bars), columns=list(PRICE_COLUMNS)), DAYS, last_closed)


def test_sane_closed_bars_are_kept_as_they_are() -> None:
    clean = _clean(*(_bar(day) for day in DAYS))
    assert clean.bars["date"].tolist() == DAYS
    assert clean.rejected.empty


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"high": 8.0}, "high below low"),
        ({"close": float("nan")}, "close is NaN"),
        ({"low": -1.0}, "non-positive price"),
        ({"volume": -5.0}, "negative volume"),
        ({"close": 12.0}, "open or close outside the high-low range"),
    ],
)
def test_an_insane_bar_is_rejected_with_its_reason(values: dict[str, float], reason: str) -> None:
    clean = _clean(_bar(DAYS[0]), _bar(DAYS[1], **values))

    assert clean.bars["date"].tolist() == [DAYS[0]]
    assert clean.rejected.to_dict("records") == [
        {"symbol": "AAA", "asset_class": "stock", "date": DAYS[1], "reason": reason}
    ]


def test_a_fund_nav_without_open_high_low_is_kept() -> None:
    nan = float("nan")
    clean = _clean(_bar(DAYS[0], open=nan, high=nan, low=nan, volume=0.0))
    assert len(clean.bars) == 1


def test_partial_off_calendar_and_duplicate_bars_are_rejected() -> None:
    clean = _clean(_bar(DAYS[0]), _bar(DAYS[0]), _bar(date(2024, 6, 9)), _bar(DAYS[2]), last_closed=DAYS[1])

    assert clean.bars.empty
    assert sorted(clean.rejected["reason"]) == [
        "more than one bar for the date",
        "more than one bar for the date",
        "not a trading day of the calendar in the asked range",
        "session not closed yet (partial bar)",
    ]

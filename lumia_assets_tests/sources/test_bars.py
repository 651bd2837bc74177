"""The bar rules: what may be stored, and the named reason for everything rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from lumia_assets.frames import CANDLE_COLUMNS, CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import clean_actions, clean_candles, clean_daily_bars

DAYS = [date(2024, 6, 10), date(2024, 6, 11), date(2024, 6, 12)]


def _bar(day: date, **values: float) -> dict[str, object]:
    bar = {"symbol": "AAA", "asset_class": "stock", "date": day, "open": 10.0, "high": 11.0, "low": 9.0,
           "close": 10.5, "volume": 1000.0, "served_adj_close": 10.4, "served_as_of": None, "source": "yahoo",
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


def _action(day: date, action: str, value: float) -> dict[str, object]:
    return {"symbol": "AAA", "asset_class": "stock", "date": day, "action": action, "value": value,
            "in_dividend": False, "source": "yahoo", "fetched_at": datetime(2024, 6, 13, tzinfo=UTC)}  # fmt: skip


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (_action(DAYS[1], "split", 0.0), "split: split ratio is not positive"),
        (_action(DAYS[1], "split", -2.0), "split: split ratio is not positive"),
        (_action(DAYS[1], "dividend", float("nan")), "dividend: amount is NaN"),
        (_action(DAYS[1], "capital_gain", -0.1), "capital_gain: negative amount"),
        (_action(date(2024, 6, 9), "dividend", 0.25), "dividend: no bar on the action's date"),
    ],
)
def test_an_impossible_action_is_rejected_with_its_reason_and_the_rest_kept(action, reason) -> None:
    good = [_action(DAYS[0], "dividend", 0.25), _action(DAYS[2], "split", 2.0)]
    bar_days = pd.DataFrame({"symbol": "AAA", "asset_class": "stock", "date": DAYS})

    clean = clean_actions(pd.DataFrame([*good, action], columns=list(CORPORATE_ACTION_COLUMNS)), bar_days)

    assert clean.rejected.to_dict("records") == [
        {"symbol": "AAA", "asset_class": "stock", "date": action["date"], "reason": reason}
    ]
    assert clean.actions[["date", "action", "value"]].to_dict("records") == [
        {"date": DAYS[0], "action": "dividend", "value": 0.25},
        {"date": DAYS[2], "action": "split", "value": 2.0},
    ]


def test_an_open_candle_and_an_insane_one_are_rejected_naming_the_rule() -> None:
    noon = datetime(2024, 6, 14, 12, tzinfo=UTC)
    hours = [noon + timedelta(hours=h) for h in range(4)]
    candles = pd.DataFrame({
        "symbol": "BTC/USDT", "interval": "1h", "open_time": hours, "open": [10.0, 10.0, 10.0, 10.0],
        "high": [11.0, 9.0, 11.0, 11.0], "low": [9.0, 8.0, 9.0, 9.0], "close": [10.5, 8.5, 10.5, 10.5],
        "volume": 1.0, "source": "binance", "fetched_at": noon,
    })[list(CANDLE_COLUMNS)]  # fmt: skip

    clean = clean_candles(candles, hours[:3], last_closed=hours[2])  # the 15:00 candle is still open

    assert list(clean.bars["open_time"]) == [hours[0], hours[2]]
    reasons = dict(zip(clean.rejected["open_time"], clean.rejected["reason"], strict=True))
    assert reasons == {
        hours[1]: "open or close outside the high-low range",
        hours[3]: "candle not closed yet (still open)",
    }

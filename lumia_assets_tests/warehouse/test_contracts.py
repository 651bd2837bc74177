"""Frame contracts: a frame that breaks its table's contract is rejected up front, naming what is wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from lumia_assets.frames import PRICE_COLUMNS
from lumia_assets.warehouse.contracts import FrameContractError, conform
from lumia_assets.warehouse.schema import corporate_actions, daily_prices, symbol_status
from lumia_assets_tests.warehouse.frames import DAYS, actions, bars, statuses


def _prices(frame: pd.DataFrame) -> pd.DataFrame:
    return conform(frame, daily_prices, PRICE_COLUMNS)


def test_a_missing_and_an_extra_column_are_named() -> None:
    frame = bars("AAPL", DAYS).drop(columns="served_as_of").assign(dividends=0.0)
    with pytest.raises(
        FrameContractError, match=r"daily_prices: .*missing columns \[.served_as_of.\].*\['dividends'\]"
    ):
        _prices(frame)


def test_text_in_a_price_column_is_rejected_naming_the_column() -> None:
    frame = bars("AAPL", DAYS).astype({"close": object})
    frame.loc[1, "close"] = "12.5"
    with pytest.raises(FrameContractError, match=r"daily_prices\.close: expected numbers, got '12.5'"):
        _prices(frame)


def test_numbers_held_in_an_object_column_are_accepted_as_floats() -> None:
    frame = bars("AAPL", DAYS).astype({"volume": object})
    frame.loc[0, "volume"] = 7
    assert _prices(frame)["volume"].tolist() == [7.0, 1000.0, 1000.0]


def test_an_unparseable_date_is_rejected_naming_the_column() -> None:
    frame = bars("AAPL", DAYS).astype({"date": object})
    frame.loc[2, "date"] = "yesterday"
    with pytest.raises(FrameContractError, match=r"daily_prices\.date: expected dates"):
        _prices(frame)


def test_naive_timestamps_are_rejected() -> None:
    frame = bars("AAPL", DAYS).assign(fetched_at=datetime(2024, 12, 5, 1, 0))
    with pytest.raises(FrameContractError, match=r"daily_prices\.fetched_at: timestamps must be tz-aware"):
        _prices(frame)


def test_timestamps_in_another_zone_are_converted_to_utc_and_dates_become_dates() -> None:
    new_york = datetime(2024, 12, 4, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    frame = bars("AAPL", DAYS).assign(fetched_at=new_york, date=pd.to_datetime(DAYS))
    row = _prices(frame).iloc[0]
    assert row["fetched_at"] == datetime(2024, 12, 5, 1, 0, tzinfo=UTC)
    assert row["fetched_at"].utcoffset().total_seconds() == 0
    assert row["date"] == date(2024, 12, 2)


def test_nan_becomes_none() -> None:
    frame = bars("AAPL", DAYS).assign(volume=float("nan"))
    assert _prices(frame)["volume"].tolist() == [None, None, None]


def test_a_repeated_key_is_rejected() -> None:
    with pytest.raises(FrameContractError, match="2 rows repeat a primary key"):
        _prices(pd.concat([bars("AAPL", DAYS), bars("AAPL", DAYS[:1])]))


def test_a_row_without_a_key_is_rejected() -> None:
    frame = bars("AAPL", DAYS)
    frame.loc[1, "date"] = None
    with pytest.raises(FrameContractError, match=r"1 rows have no \['symbol', 'asset_class', 'date'\]"):
        _prices(frame)


@pytest.mark.parametrize(
    ("table", "frame", "message"),
    [
        (daily_prices, bars("AAPL", DAYS, asset_class="bond"), r"daily_prices\.asset_class: unknown values \['bond'\]"),
        (corporate_actions, actions("AAPL", (DAYS[0], "bonus", 1.0)), r"corporate_actions\.action: unknown .*'bonus'"),
        (symbol_status, statuses("rate_limited", "AAPL"), r"symbol_status\.status: unknown values \['rate_limited'\]"),
    ],
)
def test_values_outside_the_allowed_set_are_named(table, frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(FrameContractError, match=message):
        conform(frame, table, list(frame.columns))


def test_an_empty_frame_with_the_right_columns_passes_untouched() -> None:
    assert _prices(pd.DataFrame(columns=list(PRICE_COLUMNS))).empty

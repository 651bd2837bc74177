"""The hourly/daily agreement check on real Binance candles (``../shared/data``): ADA and SOL hourly and daily
klines of 2024, stored as the price assets store them, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from lumia_assets.calendars import crypto_days
from lumia_assets.frames import CANDLE_COLUMNS, PRICE_COLUMNS
from lumia_assets.warehouse.candle_quality import candle_sanity, duplicate_candles, hourly_daily_agreement
from lumia_assets.warehouse.engine import warehouse_engine
from lumia_assets.warehouse.store import upsert_candles, upsert_daily_prices

YEAR = crypto_days(date(2024, 1, 1), date(2024, 12, 31))
FETCHED = datetime(2026, 1, 6, tzinfo=UTC)
KLINES = Path("crypto") / "binance_spot_ohlcv_2017-2026"


def _klines(shared_data: Path, base: str, interval: str) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / KLINES / interval / f"{base}USDT_{interval}.csv.gz")
    moments = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.assign(moment=moments)[(moments >= "2024-01-01") & (moments < "2025-01-01")].reset_index(drop=True)


def _store(engine, shared_data: Path, corrupt=None) -> None:
    for base in ("ADA", "SOL"):
        daily = _klines(shared_data, base, "1d")
        upsert_daily_prices(engine, daily.assign(
            symbol=f"{base}/USDT", asset_class="crypto", date=daily["moment"].dt.date, served_adj_close=None,
            served_as_of=None, source="binance", fetched_at=FETCHED)[list(PRICE_COLUMNS)])  # fmt: skip
        hourly = _klines(shared_data, base, "1h").assign(symbol=f"{base}/USDT", interval="1h", source="binance",
                                                         fetched_at=FETCHED)  # fmt: skip
        hourly = hourly.assign(open_time=hourly["moment"])[list(CANDLE_COLUMNS)]
        upsert_candles(engine, corrupt(hourly) if corrupt else hourly)


def test_real_hourly_and_daily_binance_candles_agree(warehouse_url, shared_data) -> None:
    engine = warehouse_engine(warehouse_url)
    _store(engine, shared_data)

    result = hourly_daily_agreement(engine, YEAR)

    assert result.passed, result.sample
    assert result.checked == 2 * len(YEAR)  # both pairs have all 24 hours on every day of 2024
    first, last = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert candle_sanity(engine, first, last).passed


def test_a_corrupted_real_candle_is_named_by_pair_day_and_field(warehouse_url, shared_data) -> None:
    engine = warehouse_engine(warehouse_url)
    moment = pd.Timestamp("2024-06-14 13:00", tz=UTC)

    def lower_low(hourly: pd.DataFrame) -> pd.DataFrame:
        if hourly["symbol"].iloc[0] == "ADA/USDT":
            at = hourly["open_time"] == moment
            hourly.loc[at, "low"] = hourly.loc[at, "low"] * 0.9  # below the day's low: still a sane candle
        return hourly

    _store(engine, shared_data, corrupt=lower_low)

    result = hourly_daily_agreement(engine, YEAR)

    assert not result.passed and result.failing == 1
    assert [(row["symbol"], row["date"], row["field"]) for row in result.sample] == [("ADA/USDT", "2024-06-14", "low")]
    assert "ADA/USDT on 2024-06-14, low" in result.detail


def test_a_day_short_of_24_hours_is_not_compared(warehouse_url, shared_data) -> None:
    engine = warehouse_engine(warehouse_url)
    gone = pd.Timestamp("2024-03-10 05:00", tz=UTC)
    _store(engine, shared_data, corrupt=lambda hourly: hourly[hourly["open_time"] != gone].reset_index(drop=True))

    with_gap = hourly_daily_agreement(engine, [date(2024, 3, 10)])
    neighbours = hourly_daily_agreement(engine, [date(2024, 3, 9), date(2024, 3, 11)])

    assert with_gap.passed and with_gap.checked == 0  # neither pair has its 24 hours that day: nothing to compare
    assert neighbours.passed and neighbours.checked == 4


def test_duplicate_candles_is_a_guard_under_the_key_and_finds_a_copy_once_it_is_gone(warehouse_url, shared_data
                                                                                      ) -> None:  # fmt: skip
    engine = warehouse_engine(warehouse_url)
    _store(engine, shared_data)
    first, last = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 1, 23, tzinfo=UTC)
    guarded = duplicate_candles(engine, first, last)
    assert guarded.passed and guarded.checked == 48  # two pairs, 24 hours
    if engine.dialect.name == "sqlite":
        return  # SQLite cannot drop a primary key
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE candles DROP CONSTRAINT pk_candles"))
        conn.execute(sa.text("INSERT INTO candles SELECT * FROM candles WHERE symbol = 'SOL/USDT' AND open_time = :t"),
                     {"t": first})  # fmt: skip
    try:
        found = duplicate_candles(engine, first, last)
        assert (found.passed, found.failing, found.checked) == (False, 1, 48)
        assert found.sample[0]["symbol"] == "SOL/USDT" and found.sample[0]["copies"] == 2
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM candles"))
            conn.execute(
                sa.text("ALTER TABLE candles ADD CONSTRAINT pk_candles PRIMARY KEY (symbol, interval, open_time)")
            )

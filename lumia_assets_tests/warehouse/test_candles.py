"""The candles table: hourly crypto candles keyed on (symbol, interval, open_time), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.frames import CANDLE_COLUMNS
from lumia_assets.warehouse.contracts import FrameContractError
from lumia_assets.warehouse.engine import warehouse_engine
from lumia_assets.warehouse.store import upsert_candles

MIDNIGHT = datetime(2024, 3, 10, tzinfo=UTC)  # a US DST change: UTC hours are not affected


def _candles(hours: int, close: float = 100.0, fetched_at: datetime = MIDNIGHT) -> pd.DataFrame:
    opens = [MIDNIGHT + timedelta(hours=hour) for hour in range(hours)]
    return pd.DataFrame({
        "symbol": "BTC/USDT", "interval": "1h", "open_time": opens, "open": 99.0, "high": 101.0, "low": 98.0,
        "close": close, "volume": 12.5, "source": "binance", "fetched_at": fetched_at,
    })[list(CANDLE_COLUMNS)]  # fmt: skip


def _stored(url: str) -> pd.DataFrame:
    query = "SELECT symbol, interval, open_time, close, fetched_at FROM candles ORDER BY open_time"
    with warehouse_engine(url).connect() as conn:
        return pd.read_sql(sa.text(query), conn)


def test_candles_round_trip_in_utc_and_a_rewrite_changes_only_what_changed(warehouse_url) -> None:
    engine = warehouse_engine(warehouse_url)
    assert upsert_candles(engine, _candles(48)) == 48
    later = MIDNIGHT + timedelta(days=3)
    changed = _candles(48, fetched_at=later)
    changed.loc[47, "close"] = 100.5
    upsert_candles(engine, changed)

    stored = _stored(warehouse_url)
    assert len(stored) == 48  # keyed: no duplicates
    times = pd.to_datetime(stored["open_time"], utc=True)
    assert list(times) == [pd.Timestamp(MIDNIGHT + timedelta(hours=h)) for h in range(48)]
    fetched = pd.to_datetime(stored["fetched_at"], utc=True)
    assert (fetched[:47] == pd.Timestamp(MIDNIGHT)).all() and fetched[47] == pd.Timestamp(later)
    assert stored["close"].iloc[47] == 100.5


def test_an_unknown_interval_is_refused_naming_it(warehouse_url) -> None:
    frame = _candles(1).assign(interval="7m")
    with pytest.raises((FrameContractError, sa.exc.IntegrityError), match="interval"):
        upsert_candles(warehouse_engine(warehouse_url), frame)

"""Real upstream data through the same parsers and bar rules the simulator path uses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from lumia_assets.calendars import crypto_days, equity_sessions
from lumia_assets.frames import PRICE_COLUMNS
from lumia_assets.sources.bars import clean_daily_bars
from lumia_assets.sources.candles import candles_to_rows, day_start_ms
from lumia_assets.sources.errors import MalformedResponseError
from lumia_assets.sources.yahoo import history_to_rows

FETCHED_AT = datetime(2026, 1, 6, 12, tzinfo=UTC)
YFINANCE = Path("equities/yfinance_testdata_2001-2026")
BINANCE = Path("crypto/binance_spot_ohlcv_2017-2026/1d")


def _yfinance_frame(shared_data: Path, name: str) -> pd.DataFrame:
    """A yfinance ``history()`` frame as yfinance returns it: a tz-aware local index."""
    frame = pd.read_csv(shared_data / YFINANCE / name)
    index = pd.DatetimeIndex(pd.to_datetime(frame.iloc[:, 0], utc=True)).tz_convert("America/New_York")
    return frame.drop(columns=frame.columns[0]).set_index(index)


def _binance_candles(shared_data: Path, pair: str) -> tuple[pd.DataFrame, list[list[float]]]:
    """The CSV and the same candles as ccxt's ``fetch_ohlcv`` returns them."""
    frame = pd.read_csv(shared_data / BINANCE / f"{pair}_1d.csv.gz")
    days = pd.to_datetime(frame["timestamp"]).dt.date
    candles = [[day_start_ms(d), *row] for d, row in zip(days, frame.iloc[:, 1:].to_numpy().tolist(), strict=True)]
    return frame.assign(date=days), candles


def test_a_real_yfinance_fund_history_becomes_rows_and_capital_gains(shared_data: Path) -> None:
    history = _yfinance_frame(shared_data, "DODFX-1d-cg-double-count.csv.gz")

    rows = history_to_rows(history, "DODFX", "mutual_fund", FETCHED_AT)

    assert list(rows.bars.columns) == list(PRICE_COLUMNS)
    assert rows.bars["date"].tolist() == [ts.date() for ts in history.index]
    assert rows.bars["adj_close"].tolist() == history["Adj Close"].tolist()
    gains = history.loc[history["Capital Gains"] != 0, "Capital Gains"]
    stored_gains = rows.actions.query("action == 'capital_gain'")
    assert stored_gains["value"].tolist() == gains.tolist()
    assert stored_gains["date"].tolist() == [ts.date() for ts in gains.index]


def test_session_dates_never_shift_across_a_dst_change(shared_data: Path) -> None:
    history = _yfinance_frame(shared_data, "EWG-1d-no-bad-divs.csv.gz")
    around_dst = history.loc["2022-03-10":"2022-03-16"]  # US clocks changed on Sunday 2022-03-13

    rows = history_to_rows(around_dst, "EWG", "etf", FETCHED_AT)

    assert rows.bars["date"].tolist() == equity_sessions(date(2022, 3, 10), date(2022, 3, 16))
    clean = clean_daily_bars(rows.bars, equity_sessions(date(2022, 3, 10), date(2022, 3, 16)), date(2022, 3, 16))
    assert clean.rejected.empty


@pytest.mark.parametrize("pair", ["BTCUSDT", "MATICUSDT"])
def test_real_binance_candles_become_utc_day_rows_and_the_open_candle_is_rejected(shared_data: Path, pair) -> None:
    frame, candles = _binance_candles(shared_data, pair)

    rows = candles_to_rows(candles, pair, "binance", FETCHED_AT)

    assert rows["date"].tolist() == frame["date"].tolist()
    assert (
        rows[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
        == frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    )
    assert (rows["adj_close"] == rows["close"]).all()
    last_closed = date(2026, 1, 5)  # the files were downloaded during 2026-01-06 (UTC): its candle is still open
    clean = clean_daily_bars(rows, crypto_days(rows["date"].min(), rows["date"].max()), last_closed)
    assert date(2026, 1, 6) not in set(clean.bars["date"])
    assert clean.rejected["reason"].tolist() == (
        ["session not closed yet (partial bar)"] if frame["date"].max() == date(2026, 1, 6) else []
    )


def test_a_candle_opening_just_before_midnight_utc_is_malformed() -> None:
    midnight = day_start_ms(date(2024, 3, 10))
    with pytest.raises(MalformedResponseError, match="not 00:00 UTC"):
        candles_to_rows([[midnight - 1, 1, 2, 0.5, 1.5, 10]], "BTC/USDT", "binance", FETCHED_AT)

    [row] = candles_to_rows([[midnight, 1, 2, 0.5, 1.5, 10]], "BTC/USDT", "binance", FETCHED_AT).to_dict("records")
    assert row["date"] == date(2024, 3, 10)

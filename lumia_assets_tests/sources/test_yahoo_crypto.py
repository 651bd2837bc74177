"""Yahoo's crypto charts through the real yfinance client, against the simulator: rows, volume units, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lumia_assets.frames import PRICE_COLUMNS
from lumia_assets.sim import MarketSimulator
from lumia_assets.sources.errors import MalformedResponseError, NoDataError
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.yahoo import configure_yfinance, crypto_history_to_rows, fetch_yahoo_crypto

YAHOO = "query2.finance.yahoo.com"
NOW = datetime(2024, 6, 14, 18, 0, tzinfo=UTC)
FIRST, LAST = NOW.date() - timedelta(days=12), NOW.date() - timedelta(days=2)


@pytest.fixture
def session(sim: MarketSimulator, tmp_path):
    sim.set_clock(NOW)
    configure_yfinance(tmp_path / "yfinance")
    return HttpClient(sim.url, timeout=10).yfinance_session()


def test_the_rows_are_the_coins_dollar_candles_of_the_range_with_volume_in_coins(sim, session) -> None:
    history = fetch_yahoo_crypto(session, "BTC/USD", "BTC-USD", FIRST, LAST)

    bars = history.bars
    assert list(bars.columns) == list(PRICE_COLUMNS) and history.actions.empty
    assert set(bars["symbol"]) == {"BTC/USD"} and set(bars["asset_class"]) == {"crypto"}
    assert set(bars["source"]) == {"yahoo"} and bars["served_adj_close"].isna().all()
    assert bars["served_as_of"].isna().all()
    truth = sim.crypto.coin_days("BTC", FIRST, LAST)
    assert list(bars["date"]) == list(truth.index)  # the range only, though the answer runs through today
    for column in ("open", "high", "low", "close"):
        assert bars[column].tolist() == truth[column].tolist()
    # Yahoo serves the day's dollar volume, rounded to the dollar: divided by the close, it is the coins traded
    off = np.abs(bars["volume"].to_numpy() - truth["volume"].to_numpy())
    assert (off <= 0.5 / truth["close"].to_numpy()).all()


def test_a_malformed_answer_is_an_error_naming_the_chart(sim, session) -> None:
    sim.faults.inject(YAHOO, "malformed", path_contains="/v8/finance/chart/BTC-USD")

    with pytest.raises(MalformedResponseError, match="BTC-USD is malformed"):
        fetch_yahoo_crypto(session, "BTC/USD", "BTC-USD", FIRST, LAST)


def test_a_coin_yahoo_does_not_know_is_no_data(session) -> None:
    with pytest.raises(NoDataError, match="NOSUCHCOIN-USD"):
        fetch_yahoo_crypto(session, "NOSUCHCOIN/USD", "NOSUCHCOIN-USD", FIRST, LAST)


def test_a_history_without_volume_is_malformed_naming_the_pair() -> None:
    index = pd.DatetimeIndex([FIRST], tz="UTC")
    history = pd.DataFrame({"Open": [1.0], "High": [1.0], "Low": [1.0], "Close": [1.0], "Adj Close": [1.0]}, index)

    with pytest.raises(MalformedResponseError, match=r"BTC/USD: Yahoo history lacks columns \['Volume'\]"):
        crypto_history_to_rows(history, "BTC/USD", FIRST, LAST, NOW)

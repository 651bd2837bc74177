"""The simulator's hourly candles: they split the daily ones exactly, and each venue serves them in its own shape
and page size to the real ccxt client."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from lumia_assets.sim.crypto import EXCHANGES, HOUR
from lumia_assets.sources.candles import fetch_hourly_candles
from lumia_assets.sources.exchanges import make_exchange
from lumia_assets.sources.http import HttpClient
from lumia_assets_tests.sim.conftest import AFTER_THE_CLOSE

KLINES = {"binance": "/api/v3/klines", "kraken": "/0/public/OHLC", "coinbaseexchange": "/candles"}
HOSTS = {"binance": "api.binance.com", "kraken": "api.kraken.com", "coinbaseexchange": "api.exchange.coinbase.com"}
VALUES = ["open", "high", "low", "close", "volume"]


def _first_pair(sim, exchange: str) -> str:
    return next(p.symbol for p in sim.crypto.pairs(exchange) if p.listed_on is None and p.delisted_on is None)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_the_hours_of_a_day_aggregate_to_its_daily_candle(closed_market, exchange: str) -> None:
    symbol = _first_pair(closed_market, exchange)
    first, last = date(2024, 5, 1), date(2024, 5, 20)
    hours = closed_market.crypto.hourly_candles(exchange, symbol, datetime(2024, 5, 1, tzinfo=UTC),
                                                datetime(2024, 5, 20, 23, tzinfo=UTC))  # fmt: skip
    days = closed_market.crypto.daily_candles(exchange, symbol, first, last).set_index("date")
    grouped = hours.groupby(hours["open_time"].dt.date)
    aggregated = pd.DataFrame({"open": grouped["open"].first(), "high": grouped["high"].max(),
                               "low": grouped["low"].min(), "close": grouped["close"].last(),
                               "volume": grouped["volume"].sum()})  # fmt: skip
    assert (grouped.size() == 24).all() and len(aggregated) == len(days) == 20
    pd.testing.assert_frame_equal(aggregated[VALUES[:4]], days[VALUES[:4]], check_names=False, rtol=0, atol=0)
    pd.testing.assert_series_equal(aggregated["volume"], days["volume"], check_names=False, rtol=1e-12)
    assert (hours["high"] >= hours[["open", "close"]].max(axis=1)).all()
    assert (hours["low"] <= hours[["open", "close"]].min(axis=1)).all()


def test_the_truth_holds_closed_hours_only_while_the_venue_also_serves_the_open_one(closed_market) -> None:
    symbol = _first_pair(closed_market, "binance")
    day = AFTER_THE_CLOSE.date()
    truth = closed_market.crypto.hourly_candles("binance", symbol, datetime(2024, 6, 14, tzinfo=UTC), AFTER_THE_CLOSE)
    served = closed_market.crypto.served("binance", symbol, HOUR, day, day)
    assert truth["open_time"].max() == AFTER_THE_CLOSE - HOUR  # the 20:00 candle closed at 21:00, now
    assert served["key"].max() == AFTER_THE_CLOSE  # the 21:00 candle is open, and served


@pytest.mark.parametrize(("exchange", "hours", "pages"), [
    ("binance", 1, 1), ("binance", 48, 1), ("binance", 720, 1), ("binance", 1500, 2),
    ("kraken", 48, 1), ("coinbaseexchange", 48, 1), ("coinbaseexchange", 720, 3),
])  # fmt: skip
def test_the_real_ccxt_client_gets_the_truth_in_as_few_pages_as_the_venue_allows(
    closed_market, exchange: str, hours: int, pages: int
) -> None:
    symbol = _first_pair(closed_market, exchange)
    end = AFTER_THE_CLOSE - 2 * HOUR
    start = end - (hours - 1) * HOUR
    client = HttpClient(upstream_url=closed_market.url, timeout=5)
    venue = make_exchange(exchange, client.requests_session())
    venue.load_markets()
    closed_market.server.log.clear()

    rows = fetch_hourly_candles(venue, symbol, start, end).bars

    truth = closed_market.crypto.hourly_candles(exchange, symbol, start, end)
    decimals = 5 if exchange == "kraken" else 8  # Kraken prints five decimals
    assert list(rows["open_time"]) == list(truth["open_time"]) and len(rows) == hours
    pd.testing.assert_frame_equal(rows[VALUES[:4]], truth[VALUES[:4]].round(decimals), check_dtype=False, atol=1e-9)
    assert (rows["source"] == exchange).all() and (rows["interval"] == "1h").all()
    assert len(closed_market.requests(host=HOSTS[exchange], path_contains=KLINES[exchange])) == pages


def test_an_hour_range_starts_on_the_hour(closed_market) -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    truth = closed_market.crypto.hourly_candles("binance", _first_pair(closed_market, "binance"), start,
                                                start + timedelta(hours=5))  # fmt: skip
    assert [t.minute for t in truth["open_time"]] == [0] * 6 and truth["open_time"].iloc[0] == pd.Timestamp(start)

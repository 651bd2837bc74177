"""Yahoo's crypto charts as the simulator serves them: every coin's aggregated dollar price, by UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import requests

from lumia_assets.sim import MarketSimulator

YAHOO = "query2.finance.yahoo.com"
NOW = datetime(2024, 6, 14, 18, 0, tzinfo=UTC)  # three quarters into the UTC day
TODAY = NOW.date()


def _chart(sim: MarketSimulator, yahoo_symbol: str, **params: object) -> requests.Response:
    return requests.get(f"{sim.url}/{YAHOO}/v8/finance/chart/{yahoo_symbol}", params=params, timeout=10)


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@pytest.fixture
def clocked(sim: MarketSimulator) -> MarketSimulator:
    sim.set_clock(NOW)
    return sim


def test_a_coin_chart_serves_its_dollar_candles_by_utc_day_with_dollar_volume(clocked: MarketSimulator) -> None:
    first, last = TODAY - timedelta(days=10), TODAY - timedelta(days=1)

    answer = _chart(clocked, "BTC-USD", interval="1d", period1=_epoch(first), period2=_epoch(TODAY))

    assert answer.status_code == 200
    result = answer.json()["chart"]["result"][0]
    truth = clocked.crypto.coin_days("BTC", first, last)
    assert result["timestamp"] == [_epoch(day) for day in truth.index]
    quote = result["indicators"]["quote"][0]
    for column in ("open", "high", "low", "close"):
        assert quote[column] == truth[column].tolist()
    assert quote["volume"] == np.round(truth["volume"] * truth["close"]).astype("int64").tolist()
    assert result["indicators"]["adjclose"][0]["adjclose"] == truth["close"].tolist()
    meta = result["meta"]
    assert {key: meta[key] for key in ("currency", "exchangeName", "fullExchangeName", "instrumentType")} == {
        "currency": "USD", "exchangeName": "CCC", "fullExchangeName": "CCC", "instrumentType": "CRYPTOCURRENCY"
    }  # fmt: skip
    assert (meta["exchangeTimezoneName"], meta["timezone"], meta["gmtoffset"]) == ("UTC", "UTC", 0)


def test_todays_candle_is_served_in_progress(clocked: MarketSimulator) -> None:
    result = _chart(clocked, "ETH-USD", interval="1d", range="5d").json()["chart"]["result"][0]

    assert len(result["timestamp"]) == 5 and result["timestamp"][-1] == _epoch(TODAY)
    whole_day = clocked.crypto.coin_days("ETH", TODAY, TODAY + timedelta(days=1))
    assert whole_day.empty, "the truth holds closed days only"
    quote = result["indicators"]["quote"][0]
    yesterday = clocked.crypto.coin_days("ETH", TODAY - timedelta(days=1), TODAY)
    assert quote["close"][-2] == yesterday["close"].iloc[-1]
    assert quote["low"][-1] <= quote["close"][-1] <= quote["high"][-1]


@pytest.mark.parametrize("yahoo_symbol", ["BTC-USDT", "BTC-EUR", "NOSUCHCOIN-USD"])
def test_only_listed_coins_in_dollars_are_charted(clocked: MarketSimulator, yahoo_symbol: str) -> None:
    answer = _chart(clocked, yahoo_symbol, interval="1d", range="5d")

    assert answer.status_code == 404
    assert answer.json()["chart"]["error"]["code"] == "Not Found"


def test_fault_injection_leaves_out_a_coins_candle(clocked: MarketSimulator) -> None:
    gone = TODAY - timedelta(days=3)
    clocked.faults.inject(YAHOO, "missing_candles", candles={("BTC/USD", gone)})

    result = _chart(clocked, "BTC-USD", interval="1d", range="5d").json()["chart"]["result"][0]

    assert _epoch(gone) not in result["timestamp"] and len(result["timestamp"]) == 4

"""Yahoo's chart API as the simulator serves it, checked with the real yfinance client."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import requests
import yfinance as yf
import yfinance.base
from curl_cffi import requests as curl_requests

from lumia_assets.sim import MarketSimulator, SimConfig

YAHOO = "query2.finance.yahoo.com"
NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY, LAST_DAY = date(2018, 1, 2), date(2024, 6, 14)  # LAST_DAY is the frozen clock's session
NOT_FOUND = {
    "chart": {"result": None, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}
}


class RoutedSession(curl_requests.Session):
    """A curl_cffi session that sends ``https://HOST/PATH`` to ``upstream/HOST/PATH``, like LUMIA_UPSTREAM_URL."""

    def __init__(self, upstream: str) -> None:
        super().__init__(impersonate="chrome")
        self.upstream = upstream

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> curl_requests.Response:
        if url.startswith("https://"):
            url = f"{self.upstream}/{url.removeprefix('https://')}"
        return super().request(method, url, *args, **kwargs)


def _history(sim: MarketSimulator, yahoo_symbol: str, start: date, end: date) -> pd.DataFrame:
    """yfinance's history for ``[start, end]`` (its ``end`` is exclusive), fetched from the simulator."""
    ticker = yf.Ticker(yahoo_symbol, session=RoutedSession(sim.url))
    return ticker.history(start=start, end=end + pd.Timedelta(days=1), auto_adjust=False, actions=True)


def _as_truth(history: pd.DataFrame) -> pd.DataFrame:
    columns = {
        "Open": "open",
        "High": "high",
        "Low": "low",
        "Close": "close",
        "Adj Close": "adj_close",
        "Volume": "volume",
    }
    frame = history.rename(columns=columns)[list(columns.values())].astype({"volume": "float64"})
    return frame.assign(date=history.index.date).reset_index(drop=True)[["date", *columns.values()]]


def _chart(sim: MarketSimulator, yahoo_symbol: str, query: str = "range=max&interval=1d") -> requests.Response:
    return requests.get(f"{sim.url}/{YAHOO}/v8/finance/chart/{yahoo_symbol}?{query}", timeout=5)


def _yahoo_symbol(sim: MarketSimulator, symbol: str) -> str:
    return sim.equities.universe().set_index("symbol").loc[symbol, "yahoo_symbol"]


def _with_action(sim: MarketSimulator, action: str, asset_classes: tuple[str, ...] = ("stock", "etf")) -> str:
    """The first priced symbol of ``asset_classes`` with a ``action`` in its history."""
    universe = sim.equities.universe()
    candidates = universe[~universe["test_issue"] & universe["asset_class"].isin(asset_classes)]["symbol"]
    return next(s for s in candidates if action in set(sim.equities.corporate_actions(s)["action"]))


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# -- the chart API as served --------------------------------------------------------------------------------
def test_the_chart_has_yahoos_meta_and_timestamps_at_the_new_york_open(closed_market: MarketSimulator) -> None:
    chart = _chart(closed_market, "BRK-B", f"period1={_epoch(date(2024, 6, 10))}&period2={_epoch(date(2024, 6, 15))}")

    result = chart.json()["chart"]["result"][0]
    meta = result["meta"]
    assert meta["currency"] == "USD" and meta["exchangeName"] == "NYQ" and meta["instrumentType"] == "EQUITY"
    assert meta["exchangeTimezoneName"] == "America/New_York" and meta["gmtoffset"] == -4 * 3600
    assert meta["dataGranularity"] == "1d" and "max" in meta["validRanges"]
    assert set(meta["currentTradingPeriod"]) == {"pre", "regular", "post"}
    opens = [datetime.fromtimestamp(ts, NEW_YORK) for ts in result["timestamp"]]
    assert [(o.date().day, o.hour, o.minute) for o in opens] == [(d, 9, 30) for d in (10, 11, 12, 13, 14)]
    assert set(result["indicators"]["quote"][0]) == {"open", "high", "low", "close", "volume"}
    assert len(result["indicators"]["adjclose"][0]["adjclose"]) == 5


def test_instrument_types_follow_the_asset_class(closed_market: MarketSimulator) -> None:
    universe = closed_market.equities.universe()
    for asset_class, instrument_type in [("stock", "EQUITY"), ("etf", "ETF"), ("mutual_fund", "MUTUALFUND")]:
        symbol = universe[universe["asset_class"].eq(asset_class) & ~universe["test_issue"]]["yahoo_symbol"].iloc[0]
        assert _chart(closed_market, symbol).json()["chart"]["result"][0]["meta"]["instrumentType"] == instrument_type


def test_split_and_dividend_events_are_keyed_by_their_session_timestamp(closed_market: MarketSimulator) -> None:
    symbol = _with_action(closed_market, "split")
    split = closed_market.equities.corporate_actions(symbol).query("action == 'split'").iloc[0]

    events = _chart(closed_market, _yahoo_symbol(closed_market, symbol)).json()["chart"]["result"][0]["events"]

    [(key, event)] = events["splits"].items()
    assert datetime.fromtimestamp(int(key), NEW_YORK).date() == split["date"] and event["date"] == int(key)
    assert event["numerator"] / event["denominator"] == pytest.approx(split["value"])
    assert event["splitRatio"] == f"{event['numerator']:g}:{event['denominator']:g}"


def test_an_unknown_symbol_is_404_with_yahoos_error(closed_market: MarketSimulator) -> None:
    response = _chart(closed_market, "NOPE")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_yahoo_answers_only_to_its_own_spelling(closed_market: MarketSimulator) -> None:
    assert _chart(closed_market, "BRK-B").status_code == 200
    assert _chart(closed_market, "BRK.B").status_code == 404
    assert _chart(closed_market, "ABR-PD").status_code == 200
    assert _chart(closed_market, "ABR$D").status_code == 404


def test_test_issues_are_unknown_to_yahoo(closed_market: MarketSimulator) -> None:
    assert _chart(closed_market, "ZAZZT").status_code == 404


def test_a_range_without_bars_answers_meta_without_timestamps(closed_market: MarketSimulator) -> None:
    chart = _chart(closed_market, "BRK-B", f"period1={_epoch(date(2017, 1, 1))}&period2={_epoch(date(2017, 6, 1))}")

    result = chart.json()["chart"]["result"][0]
    assert chart.status_code == 200
    assert "timestamp" not in result and result["meta"]["symbol"] == "BRK-B"
    assert result["indicators"]["quote"] == [{}]


def test_todays_bar_is_in_progress_while_the_market_is_open() -> None:
    during, after = (
        MarketSimulator(SimConfig(profile="small", now=datetime(2024, 6, 14, hour, 0, tzinfo=UTC))).start()
        for hour in (15, 21)
    )
    try:
        query = f"period1={_epoch(date(2024, 6, 13))}&period2={_epoch(date(2024, 6, 15))}"
        live, final = (_chart(s, "BRK-B", query).json()["chart"]["result"][0] for s in (during, after))
    finally:
        during.stop()
        after.stop()

    assert live["timestamp"] == final["timestamp"]  # both serve Thursday and Friday
    live_quote, final_quote = live["indicators"]["quote"][0], final["indicators"]["quote"][0]
    assert live_quote["close"][-1] != final_quote["close"][-1]
    assert live_quote["volume"][-1] < final_quote["volume"][-1]
    assert live_quote["close"][0] == final_quote["close"][0]
    assert during.equities.daily_bars("BRK.B", date(2024, 6, 13), date(2024, 6, 14))["date"].tolist() == [
        date(2024, 6, 13)
    ]


# -- the real yfinance client against the simulator ---------------------------------------------------------
def test_yfinance_history_is_exactly_the_markets_daily_bars(closed_market: MarketSimulator) -> None:
    history = _history(closed_market, "BRK-B", date(2023, 1, 1), LAST_DAY)

    truth = closed_market.equities.daily_bars("BRK.B", date(2023, 1, 1), LAST_DAY)
    pd.testing.assert_frame_equal(_as_truth(history), truth, check_exact=True)


def test_yfinance_sees_every_dividend_and_split(closed_market: MarketSimulator) -> None:
    for action, column in [("dividend", "Dividends"), ("split", "Stock Splits")]:
        symbol = _with_action(closed_market, action)
        history = _history(closed_market, _yahoo_symbol(closed_market, symbol), FIRST_DAY, LAST_DAY)

        served = history[column][history[column] != 0]
        truth = closed_market.equities.corporate_actions(symbol).query("action == @action")
        assert list(served.index.date) == list(truth["date"]), symbol
        assert served.tolist() == pytest.approx(truth["value"].tolist()), symbol
        pd.testing.assert_frame_equal(
            _as_truth(history), closed_market.equities.daily_bars(symbol, FIRST_DAY, LAST_DAY)
        )


def test_yfinance_sees_fund_capital_gains(closed_market: MarketSimulator) -> None:
    fund = _with_action(closed_market, "capital_gain", ("mutual_fund",))

    history = _history(closed_market, fund, FIRST_DAY, LAST_DAY)

    gains = history["Capital Gains"][history["Capital Gains"] != 0]
    truth = closed_market.equities.corporate_actions(fund).query("action == 'capital_gain'")
    assert gains.tolist() == pytest.approx(truth["value"].tolist())


def test_yfinance_download_fetches_several_symbols(closed_market: MarketSimulator) -> None:
    symbols = ["BRK-B", "BF-B"]

    frame = yf.download(symbols, start=date(2024, 5, 1), end=date(2024, 6, 15), auto_adjust=False,
                        session=RoutedSession(closed_market.url), progress=False, threads=False)  # fmt: skip

    for yahoo_symbol, symbol in zip(symbols, ["BRK.B", "BF.B"], strict=True):
        truth = closed_market.equities.daily_bars(symbol, date(2024, 5, 1), LAST_DAY)
        assert frame[("Close", yahoo_symbol)].tolist() == truth["close"].tolist()


def test_yfinance_fails_on_an_unknown_symbol_as_against_real_yahoo(closed_market, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="yfinance"):
        history = _history(closed_market, "NOPE", date(2024, 1, 1), LAST_DAY)

    assert history.empty
    assert "NOPE: possibly delisted; no timezone found" in caplog.text


def test_yfinance_reports_no_price_data_before_a_listing(closed_market, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="yfinance"):
        history = _history(closed_market, "BRK-B", date(2016, 1, 1), date(2017, 6, 1))

    assert history.empty
    assert "BRK-B: possibly delisted; no price data found" in caplog.text


def test_yfinance_lacks_the_candles_a_fault_removed(closed_market: MarketSimulator) -> None:
    closed_market.faults.inject(YAHOO, "missing_candles", candles={("BRK-B", date(2024, 6, 12))})

    history = _history(closed_market, "BRK-B", date(2024, 6, 10), LAST_DAY)

    assert list(history.index.date) == [date(2024, 6, d) for d in (10, 11, 13, 14)]


def test_yfinance_goes_through_the_cookie_and_crumb_endpoints(closed_market: MarketSimulator) -> None:
    _history(closed_market, "BRK-B", date(2024, 6, 10), LAST_DAY)

    assert closed_market.requests(host="fc.yahoo.com")
    assert closed_market.requests(path_contains="/v1/test/getcrumb")[0].status == 200
    assert all("crumb=" in r.query_string for r in closed_market.requests(path_contains="/v8/finance/chart/"))

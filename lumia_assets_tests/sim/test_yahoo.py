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
from lumia_assets_tests.sim.conftest import FRIDAY, MONDAY, TUESDAY
from lumia_assets_tests.sim.market_helpers import plain_symbol

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
        truth = closed_market.equities.served_actions(symbol).query("action == @action")
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


# -- history as of the clock --------------------------------------------------------------------------------
def _served(sim: MarketSimulator, symbol: str) -> pd.DataFrame:
    """The range=max chart of ``symbol`` now, by session date: open, high, low, close, volume, adjclose."""
    result = _chart(sim, _yahoo_symbol(sim, symbol)).json()["chart"]["result"][0]
    days = [datetime.fromtimestamp(ts, NEW_YORK).date() for ts in result["timestamp"]]
    adjclose = result["indicators"]["adjclose"][0]
    return pd.DataFrame({**result["indicators"]["quote"][0], **adjclose}, index=days)


def _served_events(sim: MarketSimulator, symbol: str) -> dict[tuple[str, date], float]:
    """The chart's dividends and capitalGains now, by (kind, ex-date)."""
    events = _chart(sim, _yahoo_symbol(sim, symbol)).json()["chart"]["result"][0].get("events", {})
    return {
        (kind, datetime.fromtimestamp(event["date"], NEW_YORK).date()): event["amount"]
        for kind in ("dividends", "capitalGains")
        for event in events.get(kind, {}).values()
    }


def test_advancing_the_clock_one_session_serves_exactly_one_more_bar_and_no_later_events(friday_evening) -> None:
    symbol = plain_symbol(friday_evening)
    friday_evening.equities.add_dividend(symbol, TUESDAY, 0.5)
    before = _served(friday_evening, symbol)

    friday_evening.advance()

    after = _served(friday_evening, symbol)
    assert list(after.index) == [*before.index, MONDAY]
    assert _served_events(friday_evening, symbol) == {}
    assert after["adjclose"].tolist() == after["close"].tolist()  # Tuesday's dividend is not folded in yet
    friday_evening.advance()
    assert _served_events(friday_evening, symbol) == {("dividends", TUESDAY): 0.5}


def test_a_bar_fetched_before_a_2_for_1_split_keeps_its_price_and_after_it_is_halved(friday_evening) -> None:
    symbol = plain_symbol(friday_evening)
    friday_evening.equities.add_split(symbol, MONDAY, 2.0)
    traded = friday_evening.equities.as_traded_bars(symbol, FIRST_DAY, FRIDAY)
    before = _served(friday_evening, symbol).loc[FRIDAY]

    friday_evening.advance()

    after = _served(friday_evening, symbol).loc[FRIDAY]
    assert before["close"] == traded["close"].iloc[-1] and before["volume"] == traded["volume"].iloc[-1]
    for column in ("open", "high", "low", "close", "adjclose"):
        assert after[column] == pytest.approx(before[column] / 2, abs=1e-6), column
    assert after["volume"] == before["volume"] * 2
    pd.testing.assert_frame_equal(friday_evening.equities.as_traded_bars(symbol, FIRST_DAY, FRIDAY), traded)
    monday = friday_evening.equities.as_traded_bars(symbol, MONDAY, MONDAY)["close"].iloc[0]
    assert monday / before["close"] == pytest.approx(0.5, abs=0.1)  # as traded, the price halves at the split


def test_yfinance_history_after_a_split_is_the_markets_daily_bars_exactly(friday_evening) -> None:
    symbol = plain_symbol(friday_evening)
    friday_evening.equities.add_split(symbol, MONDAY, 3.0)
    friday_evening.advance()

    history = _history(friday_evening, _yahoo_symbol(friday_evening, symbol), date(2024, 1, 1), MONDAY)

    truth = friday_evening.equities.daily_bars(symbol, date(2024, 1, 1), MONDAY)
    pd.testing.assert_frame_equal(_as_truth(history), truth, check_exact=True)


def test_after_a_1_for_10_reverse_split_earlier_bars_are_served_ten_times_higher(friday_evening) -> None:
    symbol = plain_symbol(friday_evening)
    friday_evening.equities.add_split(symbol, MONDAY, 0.1)
    before = _served(friday_evening, symbol).loc[FRIDAY]

    friday_evening.advance()

    after = _served(friday_evening, symbol).loc[FRIDAY]
    assert after["close"] == pytest.approx(before["close"] * 10)
    assert after["volume"] == round(before["volume"] / 10)


def test_adjclose_folds_in_a_dividend_once_its_ex_date_session_opens(friday_evening: MarketSimulator) -> None:
    symbol = plain_symbol(friday_evening)
    friday_evening.equities.add_dividend(symbol, MONDAY, 0.5)

    friday_evening.set_clock(datetime(2024, 6, 17, 9, 0, tzinfo=NEW_YORK))  # Monday, before the open
    waiting = _served(friday_evening, symbol)
    friday_evening.set_clock(datetime(2024, 6, 17, 9, 45, tzinfo=NEW_YORK))  # Monday's session in progress
    opened = _served(friday_evening, symbol)

    assert waiting["adjclose"].tolist() == waiting["close"].tolist()
    factor = 1 - 0.5 / opened.loc[FRIDAY, "close"]
    earlier = opened.index < MONDAY
    assert opened["adjclose"][earlier].tolist() == pytest.approx((opened["close"][earlier] * factor).tolist())
    assert opened.loc[MONDAY, "adjclose"] == opened.loc[MONDAY, "close"]


def test_dividends_paid_before_a_split_are_served_split_adjusted(friday_evening: MarketSimulator) -> None:
    symbol = plain_symbol(friday_evening)
    friday_evening.equities.add_dividend(symbol, FRIDAY, 0.6)
    friday_evening.equities.add_split(symbol, MONDAY, 3.0)
    assert _served_events(friday_evening, symbol) == {("dividends", FRIDAY): 0.6}

    friday_evening.advance()

    assert _served_events(friday_evening, symbol) == {("dividends", FRIDAY): pytest.approx(0.2)}
    assert friday_evening.equities.served_actions(symbol).query("action == 'dividend'")["value"].tolist() == [
        pytest.approx(0.2)
    ]
    assert friday_evening.equities.corporate_actions(symbol).query("action == 'dividend'")["value"].tolist() == [0.6]


def test_a_restated_dividend_changes_its_served_amount_and_every_earlier_adjclose(friday_evening) -> None:
    symbol = _with_action(friday_evening, "dividend")
    ex_date, as_traded = (
        friday_evening.equities.corporate_actions(symbol).query("action == 'dividend'").iloc[-1][["date", "value"]]
    )
    paid = _served_events(friday_evening, symbol)[("dividends", ex_date)]  # split-adjusted like the closes
    before = _served(friday_evening, symbol)

    friday_evening.equities.restate_action(symbol, ex_date, "dividend", as_traded * 2)

    after = _served(friday_evening, symbol)
    assert _served_events(friday_evening, symbol)[("dividends", ex_date)] == pytest.approx(paid * 2)
    close = before["close"][before.index < ex_date].iloc[-1]
    change = (1 - 2 * paid / close) / (1 - paid / close)
    earlier = before.index < ex_date
    assert after["adjclose"][earlier].tolist() == pytest.approx((before["adjclose"][earlier] * change).tolist())
    assert after["adjclose"][~earlier].tolist() == before["adjclose"][~earlier].tolist()


@pytest.mark.parametrize("in_dividend, dividend", [(True, 0.7), (False, 0.2)])
def test_adjclose_counts_a_capital_gain_once_inside_the_dividend_or_beside_it(friday_evening, in_dividend, dividend):
    fund = plain_symbol(friday_evening, "mutual_fund")
    friday_evening.equities.add_dividend(fund, MONDAY, 0.2)
    friday_evening.equities.add_capital_gain(fund, MONDAY, 0.5, in_dividend=in_dividend)

    friday_evening.advance()

    served = _served(friday_evening, fund)
    assert _served_events(friday_evening, fund) == {("dividends", MONDAY): dividend, ("capitalGains", MONDAY): 0.5}
    friday_close = served.loc[FRIDAY, "close"]  # either way 0.7 a share is distributed
    assert served.loc[FRIDAY, "adjclose"] == pytest.approx(friday_close * (1 - 0.7 / friday_close), abs=1e-6)

"""The equity market model: a realistic, deterministic universe with Yahoo-style prices and corporate actions."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd
import pytest

from lumia_assets.calendars import equity_sessions
from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets.sim.equities import EquityMarket

NOW = datetime(2024, 6, 14, 21, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> EquityMarket:
    return EquityMarket(SimConfig(profile="small", now=NOW))


@pytest.fixture(scope="module")
def default_market() -> EquityMarket:
    return EquityMarket(SimConfig(profile="default", now=NOW))


def _stocks_with(market: EquityMarket, action: str, count: int = 1) -> list[str]:
    """The first ``count`` stocks or ETFs with at least one ``action``."""
    universe = market.universe()
    live = universe[~universe["test_issue"] & universe["asset_class"].ne("mutual_fund")]
    having = (s for s in live["symbol"] if action in set(market.corporate_actions(s)["action"]))
    return list(itertools.islice(having, count))


def test_the_default_profile_lists_over_16000_instruments_in_realistic_proportions(default_market) -> None:
    universe = default_market.universe()
    real = universe[~universe["test_issue"]]
    by_directory = real.groupby("directory")

    assert len(real) > 16_000
    assert by_directory.size().to_dict() == pytest.approx({"nasdaqlisted": 5_200, "otherlisted": 6_000,
                                                          "mfundslist": 5_500}, abs=3)  # fmt: skip
    etf_share = by_directory["asset_class"].apply(lambda c: (c == "etf").mean())
    assert 0.15 < etf_share["nasdaqlisted"] < 0.25
    assert 0.25 < etf_share["otherlisted"] < 0.45
    assert universe["symbol"].is_unique and universe["yahoo_symbol"].is_unique


def test_mutual_funds_have_five_letter_tickers_ending_in_x_and_a_fund_family(market: EquityMarket) -> None:
    funds = market.universe().query("asset_class == 'mutual_fund'")

    assert funds["symbol"].str.fullmatch(r"[A-Z]{4}X").all()
    assert funds["fund_family"].notna().all()
    assert set(funds["directory"]) == {"mfundslist"}


def test_class_shares_and_preferreds_carry_yahoo_spellings(market: EquityMarket) -> None:
    spelling = market.universe().set_index("symbol")["yahoo_symbol"]

    assert spelling["BRK.B"] == "BRK-B"
    assert spelling["BF.B"] == "BF-B"
    assert spelling["ABR$D"] == "ABR-PD"


def test_test_issues_are_listed_but_never_priced(market: EquityMarket) -> None:
    universe = market.universe()
    test_issues = universe[universe["test_issue"]]

    assert set(test_issues["directory"]) == {"nasdaqlisted", "otherlisted", "mfundslist"}
    assert all(market.by_yahoo_symbol(s).test_issue for s in test_issues["yahoo_symbol"])


def test_the_same_seed_builds_the_same_market_and_another_seed_another() -> None:
    first, again = (EquityMarket(SimConfig(profile="small", now=NOW)) for _ in range(2))
    other = EquityMarket(SimConfig(profile="small", now=NOW, seed=7))

    pd.testing.assert_frame_equal(first.universe(), again.universe())
    pd.testing.assert_frame_equal(
        first.daily_bars("BRK.B", date(2018, 1, 1), date(2024, 6, 14)),
        again.daily_bars("BRK.B", date(2018, 1, 1), date(2024, 6, 14)),
    )
    assert set(first.universe()["symbol"]) != set(other.universe()["symbol"])


def test_bars_fall_on_exactly_the_nyse_sessions_up_to_the_last_close(market: EquityMarket) -> None:
    bars = market.daily_bars("BRK.B", date(2023, 1, 1), date(2024, 12, 31))

    assert list(bars["date"]) == equity_sessions(date(2023, 1, 1), date(2024, 6, 14))
    assert list(bars.columns) == ["date", "open", "high", "low", "close", "adj_close", "volume"]


def test_bars_are_consistent_ohlc_with_positive_volume(market: EquityMarket) -> None:
    bars = market.daily_bars("BRK.B", date(2018, 1, 1), date(2024, 6, 14))

    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["volume"] > 0).all()


def test_funds_are_served_nav_style_with_ohlc_equal_and_no_volume(market: EquityMarket) -> None:
    fund = market.listed("mfundslist")[0].symbol

    bars = market.daily_bars(fund, date(2024, 1, 1), date(2024, 6, 14))

    assert len(bars) > 100
    assert (bars[["open", "high", "low"]].to_numpy() == bars[["close"]].to_numpy()).all()
    assert (bars["volume"] == 0).all()


def test_adjusted_close_folds_in_every_later_dividend_multiplicatively(market: EquityMarket) -> None:
    symbol = _stocks_with(market, "dividend")[0]
    bars = market.daily_bars(symbol, date(2018, 1, 1), date(2024, 6, 14)).set_index("date")
    dividends = market.corporate_actions(symbol).query("action == 'dividend'")

    factor = pd.Series(1.0, index=bars.index)
    for ex_date, cash in zip(dividends["date"], dividends["value"], strict=True):
        before = bars.index < ex_date
        factor[before] *= 1 - cash / bars["close"][before].iloc[-1]

    np.testing.assert_allclose(bars["adj_close"], bars["close"] * factor, rtol=1e-6)
    assert bars["adj_close"].iloc[-1] == bars["close"].iloc[-1]


def test_some_instruments_split_with_2_1_3_1_or_1_10_ratios(default_market: EquityMarket) -> None:
    symbols = _stocks_with(default_market, "split", count=30)
    ratios = {v for s in symbols for v in default_market.corporate_actions(s).query("action == 'split'")["value"]}

    assert len(symbols) == 30
    assert ratios <= {2.0, 3.0, 0.1}


def test_some_funds_distribute_capital_gains(market: EquityMarket) -> None:
    funds = [i.symbol for i in market.listed("mfundslist") if not i.test_issue]

    assert any("capital_gain" in set(market.corporate_actions(f)["action"]) for f in funds)


def test_a_late_listing_has_no_bars_before_its_listing_day(default_market: EquityMarket) -> None:
    universe = default_market.universe()
    late = universe[universe["listed_on"].notna()].iloc[0]

    bars = default_market.daily_bars(late["symbol"], date(2018, 1, 1), date(2024, 6, 14))

    assert bars["date"].iloc[0] == late["listed_on"]


def test_a_delisted_instrument_has_no_bars_from_its_delisting_and_leaves_its_directory(default_market) -> None:
    universe = default_market.universe()
    gone = universe[universe["delisted_on"].notna()].iloc[0]

    bars = default_market.daily_bars(gone["symbol"], date(2018, 1, 1), date(2024, 6, 14))

    assert bars["date"].iloc[-1] < gone["delisted_on"]
    assert gone["symbol"] not in {i.symbol for i in default_market.listed(gone["directory"])}


def test_delist_and_list_new_change_the_directories_until_reset() -> None:
    market = EquityMarket(SimConfig(profile="small", now=NOW))
    victim = market.listed("nasdaqlisted")[0].symbol

    market.delist(victim, NOW.date())
    market.list_new("NEWCO", "Newco Inc. - Common Stock", "NASDAQ", "stock", NOW.date())

    nasdaq = {i.symbol for i in market.listed("nasdaqlisted")}
    assert victim not in nasdaq and "NEWCO" in nasdaq
    assert market.daily_bars("NEWCO", date(2024, 1, 1), NOW.date())["date"].tolist() == [NOW.date()]
    market.reset()
    assert victim in {i.symbol for i in market.listed("nasdaqlisted")}
    assert "NEWCO" not in set(market.universe()["symbol"])


def test_an_unknown_symbol_is_rejected_naming_it(market: EquityMarket) -> None:
    with pytest.raises(KeyError, match="NOPE"):
        market.daily_bars("NOPE", date(2024, 1, 1), date(2024, 6, 14))


def test_daily_bars_never_include_the_session_in_progress() -> None:
    during = MarketSimulator(SimConfig(profile="small", now=datetime(2024, 6, 14, 15, 0, tzinfo=UTC)))

    bars = during.equities.daily_bars("BRK.B", date(2024, 6, 10), date(2024, 6, 14))

    assert bars["date"].iloc[-1] == date(2024, 6, 13)


def test_while_an_ex_dividend_session_is_open_earlier_closes_are_already_adjusted_for_it(market) -> None:
    symbol = _stocks_with(market, "dividend")[0]
    ex_date, cash = market.corporate_actions(symbol).query("action == 'dividend'")[["date", "value"]].iloc[-1]
    during = EquityMarket(SimConfig(profile="small", now=datetime.combine(ex_date, time(15, 0), tzinfo=UTC)))

    bars = during.daily_bars(symbol, date(2018, 1, 1), ex_date)

    assert bars["date"].iloc[-1] < ex_date  # the ex-date's session is still in progress ...
    last = bars.iloc[-1]  # ... but Yahoo's adjclose already folds its dividend into the closes before it
    assert last["adj_close"] == pytest.approx(last["close"] * (1 - cash / last["close"]), rel=1e-6)

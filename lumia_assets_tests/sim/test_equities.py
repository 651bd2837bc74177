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
    dividends = market.served_actions(symbol).query("action == 'dividend'")  # in the bars' split-adjusted basis

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


# -- as traded, and as served -------------------------------------------------------------------------------
def _splits(market: EquityMarket, count: int) -> list[tuple[str, date, float]]:
    """(symbol, ex-date, ratio) of the first ``count`` drawn splits."""
    symbols = _stocks_with(market, "split", count=count)
    return [(s, *market.corporate_actions(s).query("action == 'split'")[["date", "value"]].iloc[0]) for s in symbols]


def test_as_traded_prices_drop_by_the_ratio_at_a_split_while_served_prices_run_on(default_market) -> None:
    for symbol, ex_date, ratio in _splits(default_market, 30):
        traded = default_market.as_traded_bars(symbol, date(2018, 1, 1), NOW.date()).set_index("date")["close"]
        served = default_market.daily_bars(symbol, date(2018, 1, 1), NOW.date()).set_index("date")["close"]
        at = traded.index.get_loc(ex_date)

        assert traded.iloc[at] / traded.iloc[at - 1] * ratio == pytest.approx(1, abs=0.2), symbol
        assert served.iloc[at] / served.iloc[at - 1] == pytest.approx(1, abs=0.2), symbol


def test_served_bars_before_a_split_are_divided_by_its_ratio_with_volume_multiplied(default_market) -> None:
    for symbol, ex_date, ratio in _splits(default_market, 10):
        traded = default_market.as_traded_bars(symbol, date(2018, 1, 1), NOW.date())
        served = default_market.daily_bars(symbol, date(2018, 1, 1), NOW.date())
        before = traded["date"] < ex_date

        for column in ("open", "high", "low", "close"):
            np.testing.assert_allclose(served[column][before], traded[column][before] / ratio, rtol=1e-6)
            assert served[column][~before].tolist() == traded[column][~before].tolist()
        assert served["volume"][before].tolist() == np.round(traded["volume"][before] * ratio).tolist()


def test_as_traded_bars_stay_sane_across_every_kind_of_split(default_market: EquityMarket) -> None:
    splits = _splits(default_market, 30)

    assert {ratio for _, _, ratio in splits} == {2.0, 3.0, 0.1}
    for symbol, _, _ in splits:
        bars = default_market.as_traded_bars(symbol, date(2018, 1, 1), NOW.date())
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all(), symbol
        assert (bars[["open", "close"]].min(axis=1) >= bars["low"]).all(), symbol
        assert (bars["low"] > 0).all() and (bars["volume"] > 0).all(), symbol


def test_half_the_funds_with_capital_gains_pay_them_inside_a_dividend(default_market: EquityMarket) -> None:
    funds = [i.symbol for i in default_market.listed("mfundslist")[:400] if not i.test_issue]
    actions = {f: default_market.corporate_actions(f) for f in funds}
    gains = {f: a for f, a in actions.items() if "capital_gain" in set(a["action"])}

    inside = [f for f, actions in gains.items() if actions["in_dividend"].any()]
    assert 0.35 < len(inside) / len(gains) < 0.65
    for fund in inside:
        by_kind = gains[fund].pivot(index="date", columns="action", values="value")
        paid = by_kind.dropna(subset=["capital_gain"])
        assert (paid["dividend"] > paid["capital_gain"]).all(), fund  # income + gain, every time


def test_a_gain_inside_the_dividend_is_folded_into_adjclose_once(market: EquityMarket) -> None:
    funds = [i.symbol for i in market.listed("mfundslist") if not i.test_issue]
    fund = next(f for f in funds if market.corporate_actions(f)["in_dividend"].any())
    actions = market.corporate_actions(fund)
    ex_date = actions.query("in_dividend")["date"].iloc[-1]
    dividend = actions.query("action == 'dividend' and date == @ex_date")["value"].iloc[0]
    bars = market.daily_bars(fund, date(2018, 1, 1), NOW.date()).set_index("date")
    before = bars[bars.index < ex_date].iloc[-1]
    on = bars.loc[ex_date]

    step = (before["adj_close"] / before["close"]) / (on["adj_close"] / on["close"])
    assert step == pytest.approx(1 - dividend / before["close"], abs=1e-6)


def test_corporate_actions_say_which_gains_are_inside_the_dividend(market: EquityMarket) -> None:
    symbol = _stocks_with(market, "dividend")[0]

    actions = market.corporate_actions(symbol)

    assert list(actions.columns) == ["date", "action", "value", "in_dividend"]
    assert not actions["in_dividend"].any()


# -- corporate-action mutations -----------------------------------------------------------------------------
def test_added_actions_need_a_session_on_or_after_the_listing(market: EquityMarket) -> None:
    late = market.universe().dropna(subset=["listed_on"]).iloc[0]

    with pytest.raises(ValueError, match=r"2024-06-15 is not an NYSE session of BRK\.B"):
        market.add_dividend("BRK.B", date(2024, 6, 15), 0.5)  # a Saturday
    with pytest.raises(ValueError, match=f"not an NYSE session of {late['symbol']}"):
        market.add_split(late["symbol"], date(2018, 1, 2), 2.0)
    with pytest.raises(ValueError, match="positive value other than 1"):
        market.add_split("BRK.B", date(2024, 6, 14), 1.0)


def test_an_action_is_added_once_and_restated_after(market: EquityMarket) -> None:
    market.add_dividend("BRK.B", date(2024, 6, 12), 0.5)
    try:
        with pytest.raises(ValueError, match="restate_action"):
            market.add_dividend("BRK.B", date(2024, 6, 12), 0.6)
        with pytest.raises(ValueError, match="no split on 2024-06-12"):
            market.restate_action("BRK.B", date(2024, 6, 12), "split", 2.0)
        market.restate_action("BRK.B", date(2024, 6, 12), "dividend", 0.6)
        assert market.corporate_actions("BRK.B").query("date == @date(2024, 6, 12)")["value"].tolist() == [0.6]
    finally:
        market.reset()
    assert market.corporate_actions("BRK.B").query("date == @date(2024, 6, 12)").empty


def test_restating_a_gain_inside_the_dividend_moves_the_dividend_with_it(market: EquityMarket) -> None:
    day = date(2024, 6, 12)
    market.add_dividend("BRK.B", day, 0.2)
    market.add_capital_gain("BRK.B", day, 0.5, in_dividend=True)
    try:
        market.restate_action("BRK.B", day, "capital_gain", 0.8)
        paid = market.corporate_actions("BRK.B").query("date == @day").set_index("action")
        assert paid["value"].to_dict() == pytest.approx({"dividend": 1.0, "capital_gain": 0.8})
        assert paid["in_dividend"].to_dict() == {"dividend": False, "capital_gain": True}
    finally:
        market.reset()

"""Weeks of daily operation across corporate actions: the simulator's clock advances one session at a time and each
evening's partition is materialized as the schedule does, with its checks. The record must stay as traded, the
derived series must equal what Yahoo serves that day, and no check may fail on lumia's own history."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.calendars import equity_sessions
from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets_tests.defs.checks_helpers import run_checks
from lumia_assets_tests.defs.prices_helpers import (
    PRICE_VALUES,
    active_equities,
    assert_derived_equals_served,
    derived_prices,
    equity_truth,
    evening,
    load_universes,
    materialize,
    metadata_of,
    quiet_symbols,
    served_truth,
    settings_for,
    stored_prices,
)

pytestmark = pytest.mark.slow
EQUITY = ("stock", "etf", "mutual_fund")
FIRST, D0 = date(2024, 9, 23), date(2024, 10, 1)  # the first collection: a range up to D0
SESSIONS = equity_sessions(date(2024, 10, 2), date(2024, 10, 15))  # then one partition per evening


@pytest.fixture
def market(sim, warehouse_url, tmp_path, monkeypatch):
    """The simulator at D0's evening with a 2:1 split, a 1:10 reverse split, a dividend of about 4% and a fund's capital
    gain paid inside its dividend ahead, and a warehouse holding the universes."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    sim.set_clock(evening(D0))
    split, reverse, payer = quiet_symbols(sim, "stock", 3, FIRST)
    [fund] = quiet_symbols(sim, "mutual_fund", 1, FIRST)
    equities = sim.equities
    equities.add_split(split, SESSIONS[2], 2.0)
    equities.add_split(reverse, SESSIONS[4], 0.1)
    last_close = equities.as_traded_bars(payer, D0, D0)["close"].iloc[0]  # later closes lie in the future
    equities.add_dividend(payer, SESSIONS[5], round(0.04 * last_close, 4))
    nav = equities.as_traded_bars(fund, D0, D0)["close"].iloc[0]
    equities.add_dividend(fund, SESSIONS[7], round(0.01 * nav, 4))
    equities.add_capital_gain(fund, SESSIONS[7], round(0.05 * nav, 4), in_dividend=True)
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    return settings, {"split": split, "reverse": reverse, "payer": payer, "fund": fund}


def _failed_checks(settings, day: date) -> dict[str, str]:
    evaluations = run_checks(settings, "equity_daily_prices", day, day)
    assert evaluations, "no check ran"
    return {name: f"{e.severity}: {e.description}" for name, e in evaluations.items() if not e.passed}


def _as_traded_rows(warehouse_url: str) -> pd.DataFrame:
    """The stored equity bars, in the truth's order (pandas', not the database's collation)."""
    stored = stored_prices(warehouse_url, EQUITY).drop(columns="source")
    return stored.sort_values(["symbol", "date"], ignore_index=True)


def _whole_record(warehouse_url: str) -> pd.DataFrame:
    """Every stored bar, every column but fetched_at, as the database returns it (byte for byte)."""
    query = "SELECT * FROM daily_prices ORDER BY symbol, asset_class, date"
    with warehouse_engine(warehouse_url).connect() as conn:
        return pd.read_sql(sa.text(query), conn).drop(columns=["fetched_at"])


def test_weeks_of_daily_runs_across_splits_and_distributions_keep_the_record_true(sim, warehouse_url, market):
    settings, symbols = market
    assert materialize(settings, [equity_daily_prices], FIRST, D0).success
    assert _failed_checks(settings, D0) == {}

    for day in SESSIONS:
        sim.advance()
        assert sim.now.date() == day
        result = materialize(settings, [equity_daily_prices], day)
        assert result.success, day
        assert metadata_of(result, equity_daily_prices)["restatements"] == 0, day
        assert _failed_checks(settings, day) == {}, day

    everyone = list(active_equities(warehouse_url)["symbol"])
    stored = _as_traded_rows(warehouse_url)
    truth = equity_truth(sim, everyone, FIRST, SESSIONS[-1])
    pd.testing.assert_frame_equal(stored[["symbol", "date", *PRICE_VALUES]], truth, check_dtype=False)
    assert_derived_equals_served(derived_prices(warehouse_url, everyone, FIRST, SESSIONS[-1]),
                                 served_truth(sim, everyone, FIRST, SESSIONS[-1]))  # fmt: skip
    split_rows = stored[stored["symbol"] == symbols["split"]].set_index("date")["close"]
    assert split_rows[SESSIONS[2]] / split_rows[SESSIONS[1]] < 0.7  # as traded: the split's own jump is kept


def test_after_a_split_a_repair_and_a_full_refresh_leave_the_as_traded_rows_byte_identical(sim, warehouse_url, market):
    settings, symbols = market
    assert materialize(settings, [equity_daily_prices], FIRST, D0).success
    for day in SESSIONS[:4]:  # through the 2:1 split
        sim.advance()
        assert materialize(settings, [equity_daily_prices], day).success
    before = _whole_record(warehouse_url)

    repair = materialize(settings, [equity_daily_prices], FIRST, date(2024, 9, 27))
    after_repair = _whole_record(warehouse_url)
    refresh = materialize(settings, [equity_daily_prices], FIRST, SESSIONS[3])
    after_refresh = _whole_record(warehouse_url)

    assert repair.success and refresh.success
    unchanged = ["symbol", "asset_class", "date", "open", "high", "low", "close", "volume", "source"]
    pd.testing.assert_frame_equal(after_repair[unchanged], before[unchanged])
    pd.testing.assert_frame_equal(after_refresh[unchanged], before[unchanged])
    assert metadata_of(refresh, equity_daily_prices)["restatements"] == 0
    pre_split = before[(before["symbol"] == symbols["split"]) & (pd.to_datetime(before["date"]).dt.date < SESSIONS[2])]
    assert not pre_split.empty


def test_a_restated_dividend_is_caught_by_the_next_daily_run_for_one_extra_request(sim, warehouse_url, market):
    settings, symbols = market
    payer, ex_date = symbols["payer"], SESSIONS[5]
    assert materialize(settings, [equity_daily_prices], FIRST, D0).success
    for day in SESSIONS[:7]:
        sim.advance()
        assert materialize(settings, [equity_daily_prices], day).success
    old = sim.equities.corporate_actions(payer).query("date == @ex_date")["value"].iloc[0]
    sim.equities.restate_action(payer, ex_date, "dividend", round(old * 1.5, 4))
    sim.server.log.clear()

    sim.advance()
    result = materialize(settings, [equity_daily_prices], SESSIONS[7])

    assert result.success
    metadata = metadata_of(result, equity_daily_prices)
    assert (metadata["restatements"], metadata["restatement_requests"]) == (1, 1)
    charts = sim.requests(host="query2.finance.yahoo.com", path_contains="/v8/finance/chart/")
    assert len(charts) == metadata["symbols_expected"] + 1
    with warehouse_engine(warehouse_url).connect() as conn:
        [row] = conn.execute(sa.text("SELECT symbol, date, what, old_value, new_value FROM restatements")).all()
    assert (row.symbol, pd.Timestamp(row.date).date(), row.what) == (payer, ex_date, "dividend")
    assert (row.old_value, row.new_value) == (pytest.approx(old), pytest.approx(round(old * 1.5, 4)))
    assert _failed_checks(settings, SESSIONS[7]) == {}
    assert_derived_equals_served(
        derived_prices(warehouse_url, [payer], FIRST, SESSIONS[7]), served_truth(sim, [payer], FIRST, SESSIONS[7])
    )


def test_an_old_window_fetched_after_later_splits_is_stored_as_traded_for_one_request_each(
    sim, warehouse_url, market
) -> None:
    settings, symbols = market
    sim.set_clock(evening(SESSIONS[-1]))  # both splits have gone ex: Yahoo serves the window split-adjusted
    sim.server.log.clear()

    result = materialize(settings, [equity_daily_prices], FIRST, D0)

    assert result.success
    everyone = list(active_equities(warehouse_url)["symbol"])
    stored = _as_traded_rows(warehouse_url)[["symbol", "date", *PRICE_VALUES]]
    pd.testing.assert_frame_equal(stored, equity_truth(sim, everyone, FIRST, D0), check_dtype=False)
    served = served_truth(sim, [symbols["split"]], FIRST, D0)
    assert (served["close"] < stored[stored["symbol"] == symbols["split"]]["close"].to_numpy()).all()
    charts = sim.requests(host="query2.finance.yahoo.com", path_contains="/v8/finance/chart/")
    assert len(charts) == metadata_of(result, equity_daily_prices)["symbols_expected"]
    assert _failed_checks(settings, D0) == {}

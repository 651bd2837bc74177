"""The price assets materialized through Dagster against the simulator, with the real yfinance and ccxt clients."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.errors import PandasDeprecationWarning

from lumia_assets.calendars import crypto_days, equity_sessions
from lumia_assets.defs.prices.assets import closed_dates, crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets.warehouse.gaps import missing_cells
from lumia_assets_tests.defs.prices_helpers import (
    PRICE_VALUES,
    active_equities,
    assert_derived_equals_served,
    crypto_truth,
    derived_prices,
    equity_truth,
    evening,
    materialize,
    metadata_of,
    served_truth,
    stored_actions,
    stored_prices,
)

EQUITY = ("stock", "etf", "mutual_fund")
START, END = date(2024, 4, 29), date(2024, 6, 10)  # 30 NYSE sessions around Memorial Day (2024-05-27)
YAHOO_CHART = "query2.finance.yahoo.com"

pytestmark = pytest.mark.slow


def _equity_cells(sim, warehouse_url: str, start: date, end: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    stored = stored_prices(warehouse_url, EQUITY)
    truth = equity_truth(sim, list(active_equities(warehouse_url)["symbol"]), start, end)
    return stored[["symbol", "date", *PRICE_VALUES]], truth


def test_one_session_equals_the_simulators_bars(sim, warehouse_url, settings) -> None:
    day = date(2024, 6, 10)
    result = materialize(settings, [equity_daily_prices], day)

    assert result.success
    stored, truth = _equity_cells(sim, warehouse_url, day, day)
    pd.testing.assert_frame_equal(stored, truth, check_dtype=False)
    assert set(stored_prices(warehouse_url, EQUITY)["source"]) == {"yahoo"}


def test_an_equity_run_does_not_print_a_library_warning_per_symbol(sim, settings, recwarn) -> None:
    result = materialize(settings, [equity_daily_prices], date(2024, 6, 10))

    assert result.success
    deprecations = [w for w in recwarn if issubclass(w.category, PandasDeprecationWarning)]
    assert deprecations == [], f"{len(deprecations)} warnings, e.g. {deprecations[0].message}"


def test_a_range_of_30_sessions_equals_the_truth_with_its_corporate_actions(sim, warehouse_url, settings) -> None:
    sim.set_clock(evening(END))
    result = materialize(settings, [equity_daily_prices], START, END)

    assert result.success
    stored, truth = _equity_cells(sim, warehouse_url, START, END)
    pd.testing.assert_frame_equal(stored, truth, check_dtype=False)
    assert sorted(set(stored["date"])) == equity_sessions(START, END)
    assert len(equity_sessions(START, END)) == 30
    assert date(2024, 5, 27) not in set(stored["date"])  # Memorial Day
    assert not any(day.weekday() >= 5 for day in stored["date"])
    actions = stored_actions(warehouse_url)
    expected = [
        sim.equities.corporate_actions(symbol).query("@START <= date <= @END").assign(symbol=symbol)
        for symbol in active_equities(warehouse_url)["symbol"]
    ]
    expected_actions = pd.concat(expected, ignore_index=True)
    assert not expected_actions.empty
    assert len(actions) == len(expected_actions)
    assert set(zip(actions["symbol"], actions["date"], actions["action"], strict=True)) == set(
        zip(expected_actions["symbol"], expected_actions["date"], expected_actions["action"], strict=True)
    )
    symbols = list(active_equities(warehouse_url)["symbol"])
    assert_derived_equals_served(
        derived_prices(warehouse_url, symbols, START, END), served_truth(sim, symbols, START, END)
    )


def test_a_range_costs_one_chart_request_per_symbol(sim, warehouse_url, settings) -> None:
    result = materialize(settings, [equity_daily_prices], START, END)

    symbols = metadata_of(result, equity_daily_prices)["symbols_expected"]
    charts = sim.requests(host=YAHOO_CHART, path_contains="/v8/finance/chart/")
    assert len(charts) == symbols
    yahoo_requests = [r for r in sim.requests() if r.host.endswith("yahoo.com")]
    assert len(yahoo_requests) <= symbols * 1.05 + 2  # plus the cookie and crumb, once per run


def test_crypto_days_include_weekends_and_a_range_costs_one_klines_call_per_pair(sim, warehouse_url, settings) -> None:
    start, end = date.today() - timedelta(days=45), date.today() - timedelta(days=2)
    result = materialize(settings, [crypto_daily_prices], start, end)

    assert result.success
    stored = stored_prices(warehouse_url, ("crypto",))
    assert sorted(set(stored["date"])) == crypto_days(start, end)
    by_source = {source: sorted(set(rows["symbol"])) for source, rows in stored.groupby("source")}
    truth = pd.concat([crypto_truth(sim, source, symbols, start, end) for source, symbols in by_source.items()])
    pd.testing.assert_frame_equal(
        stored[["symbol", "date", *PRICE_VALUES]],
        truth.sort_values(["symbol", "date"], ignore_index=True),
        check_dtype=False,
    )
    klines = sim.requests(host="api.binance.com", path_contains="/api/v3/klines")
    assert len(klines) == len(by_source["binance"])


def test_rerunning_a_range_leaves_identical_contents(sim, warehouse_url, settings) -> None:
    materialize(settings, [equity_daily_prices], START, END)
    first = stored_prices(warehouse_url, EQUITY)

    again = materialize(settings, [equity_daily_prices], START, END)

    assert again.success
    pd.testing.assert_frame_equal(first, stored_prices(warehouse_url, EQUITY))


def test_missing_candles_stay_missing_and_are_found_as_gaps(sim, warehouse_url, settings) -> None:
    symbol = active_equities(warehouse_url).query("asset_class == 'stock'")["symbol"].iloc[0]
    yahoo_symbol = sim.equities.universe().set_index("symbol").loc[symbol, "yahoo_symbol"]
    holes = {date(2024, 5, 14), date(2024, 5, 30)}
    sim.faults.inject(YAHOO_CHART, "missing_candles", candles={(yahoo_symbol, day) for day in holes})

    result = materialize(settings, [equity_daily_prices], START, END)

    assert result.success
    stored = stored_prices(warehouse_url, EQUITY).query("symbol == @symbol")
    assert holes.isdisjoint(stored["date"])
    assert len(stored) == 30 - len(holes)  # never invented: no flat fill-in bars
    gaps = missing_cells(warehouse_engine(warehouse_url), EQUITY, equity_sessions(START, END))
    assert set(zip(gaps["symbol"], gaps["date"], strict=True)) >= {(symbol, day) for day in holes}


def test_a_range_that_has_not_closed_is_refused_naming_it() -> None:
    with pytest.raises(dg.Failure, match=r"2024-06-17..2024-06-18 has not closed yet"):
        closed_dates([date(2024, 6, 17), date(2024, 6, 18)], last_closed=date(2024, 6, 14))

    assert closed_dates([date(2024, 6, 14), date(2024, 6, 17)], last_closed=date(2024, 6, 14)) == [date(2024, 6, 14)]


def test_metadata_reports_rows_coverage_requests_and_the_date_range(sim, settings) -> None:
    result = materialize(settings, [equity_daily_prices], START, END)

    metadata = metadata_of(result, equity_daily_prices)
    assert metadata["dagster/partition_row_count"] == metadata["rows_written"] > 0
    assert metadata["dagster/table_name"] == "daily_prices"
    assert (metadata["first_date"], metadata["last_date"]) == (str(START), str(END))
    assert 0 < metadata["coverage_pct"] <= 100
    assert metadata["symbols_covered"] + metadata["symbols_no_data"] == metadata["symbols_expected"]
    assert metadata["upstream_requests"] >= metadata["symbols_expected"]
    assert metadata["peak_memory_mb"] > 0


def _status_count(warehouse_url: str) -> int:
    with warehouse_engine(warehouse_url).connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM symbol_status")).scalar_one()


def test_a_run_killed_midway_keeps_only_whole_batches_and_a_rerun_completes_it(sim, warehouse_url, settings) -> None:
    batch = 5
    sim.faults.inject(YAHOO_CHART, "timeout", delay=0.25, path_contains="/v8/finance/chart/")  # a slow upstream
    command = [sys.executable, "-m", "lumia_assets_tests.defs.run_equity_range", warehouse_url, sim.url,
               str(START), str(END), str(batch)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _status_count(warehouse_url) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()

    statuses = _status_count(warehouse_url)
    expected = len(active_equities(warehouse_url))
    assert 0 < statuses < expected, "the run should have been killed midway"
    assert statuses % batch == 0  # whole batches only
    stored, truth = _equity_cells(sim, warehouse_url, START, END)
    written = set(stored["symbol"])
    pd.testing.assert_frame_equal(
        stored, truth[truth["symbol"].isin(written)].reset_index(drop=True), check_dtype=False
    )

    sim.faults.clear()
    assert materialize(settings, [equity_daily_prices], START, END).success
    stored, truth = _equity_cells(sim, warehouse_url, START, END)
    pd.testing.assert_frame_equal(stored, truth, check_dtype=False)

"""A price selection end to end: only the selected instruments are priced and counted, unknown inclusions are named,
and a symbol newly included gets its history from the gap sensor."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets import clock
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.prices.sensors import HISTORY_TAG, RANGE_END, RANGE_START, price_gap_sensor
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.engine.feeds import EQUITY_FEED, recent_dates
from lumia_assets.settings import Settings
from lumia_assets.warehouse.gaps import missing_cells, partition_gaps
from lumia_assets_tests.defs.checks_helpers import run_checks
from lumia_assets_tests.defs.prices_helpers import (
    PRICE_VALUES,
    equity_truth,
    evening,
    load_universes,
    materialize,
    metadata_of,
    quiet_symbols,
    settings_for,
    stored_prices,
)

EQUITY = ("stock", "etf", "mutual_fund")
DAY = date(2024, 6, 10)
pytestmark = pytest.mark.slow


@pytest.fixture
def settings(sim, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LUMIA_CRYPTO_EXCHANGES", "binance")
    sim.set_clock(evening(DAY) + timedelta(hours=3))  # after the session's 20:00 deadline and the crypto day's
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    return settings


def _usdt_pairs(warehouse_url: str) -> set[str]:
    query = sa.text(
        "SELECT c.symbol FROM crypto c JOIN assets a USING (symbol, asset_class) WHERE a.active AND c.quote = 'USDT'"
    )
    with warehouse_engine(warehouse_url).connect() as conn:
        return set(conn.execute(query).scalars())


def test_five_stocks_one_fund_and_usdt_pairs_price_exactly_those(sim, warehouse_url, settings, monkeypatch, tmp_path):
    stocks = [*quiet_symbols(sim, "stock", 3, DAY), "BRK.B", "BF.B"]
    fund = quiet_symbols(sim, "mutual_fund", 1, DAY)[0]
    picks = tmp_path / "picks.txt"
    picks.write_text("# three quiet stocks and two class-B shares, spelled the Yahoo way and with a slash\n"
                     + "\n".join([*stocks[:3], "BRK-B", "BF/B"]) + "\n")  # fmt: skip
    monkeypatch.setenv("LUMIA_ASSET_CLASSES", "stock,mutual_fund,crypto")
    monkeypatch.setenv("LUMIA_INCLUDE_STOCK", f"@{picks}")
    monkeypatch.setenv("LUMIA_INCLUDE_MUTUAL_FUND", f"{fund}, NOSUCHX")
    monkeypatch.setenv("LUMIA_CRYPTO_QUOTES", "USDT")

    equities = materialize(settings, [equity_daily_prices], DAY)
    crypto = materialize(settings, [crypto_daily_prices], DAY)

    assert equities.success and crypto.success
    stored = stored_prices(warehouse_url, (*EQUITY, "crypto"))
    assert set(stored.loc[stored["asset_class"] != "crypto", "symbol"]) == {*stocks, fund}
    assert set(stored.loc[stored["asset_class"] == "crypto", "symbol"]) == _usdt_pairs(warehouse_url) != set()
    priced = stored[stored["asset_class"] == "stock"].sort_values(["symbol", "date"], ignore_index=True)
    pd.testing.assert_frame_equal(
        priced[["symbol", "date", *PRICE_VALUES]], equity_truth(sim, sorted(stocks), DAY, DAY), check_dtype=False
    )
    selection = Settings.from_env().selection
    gaps = partition_gaps(warehouse_engine(warehouse_url), EQUITY, [DAY], selection=selection)
    assert gaps[["expected", "present", "missing"]].values.tolist() == [[6, 6, 0]]
    metadata = metadata_of(equities, equity_daily_prices)
    assert metadata["symbols_expected"] == 6
    assert metadata["coverage_heatmap"].startswith(
        "![equity_daily_prices: coverage of the last 90 sessions](data:image/png;base64,"
    )
    assert metadata["included_not_listed_sample"] == (
        "NOSUCHX (LUMIA_INCLUDE_MUTUAL_FUND): no mutual_fund listed as NOSUCHX"
    )
    checks = run_checks(settings, "equity_daily_prices", DAY, DAY)
    assert checks["coverage"].passed and checks["coverage"].metadata["selection"].value.startswith("classes stock,")


def test_a_class_turned_off_prices_nothing_and_its_coverage_check_passes(sim, warehouse_url, settings, monkeypatch):
    monkeypatch.setenv("LUMIA_ASSET_CLASSES", "stock,etf,mutual_fund")

    assert materialize(settings, [crypto_daily_prices], DAY).success

    assert stored_prices(warehouse_url, ("crypto",)).empty
    checks = run_checks(settings, "crypto_daily_prices", DAY, DAY)
    assert checks["coverage"].passed, checks["coverage"].description
    assert "the selection prices none of crypto" in checks["coverage"].description


def _tick(settings: Settings, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(instance=instance, resources=build_resources(settings))
    return [r for r in price_gap_sensor(context).run_requests or [] if r.job_name == "equity_prices_job"]


def _run(settings: Settings, request: dg.RunRequest) -> None:
    first = request.tags.get(RANGE_START, request.partition_key)
    last = request.tags.get(RANGE_END, request.partition_key)
    day = date.fromisoformat
    assert materialize(settings, [equity_daily_prices], day(first), day(last), run_config=request.run_config).success


def test_a_symbol_newly_included_is_backfilled_from_the_start_date(sim, warehouse_url, settings, monkeypatch):
    start = date(2024, 5, 1)
    monkeypatch.setenv("LUMIA_PRICES_START_DATE", start.isoformat())
    monkeypatch.setenv("LUMIA_GAP_LOOKBACK_DAYS", "8")
    monkeypatch.setenv("LUMIA_ASSET_CLASSES", "stock")
    first, second, newcomer = quiet_symbols(sim, "stock", 3, start)
    monkeypatch.setenv("LUMIA_INCLUDE", f"{first},{second}")
    window = recent_dates(EQUITY_FEED, Settings.from_env(), clock.utc_now())
    assert materialize(settings, [equity_daily_prices], window[0], window[-1]).success
    instance = dg.DagsterInstance.ephemeral()
    assert _tick(settings, instance) == []  # the first tick records what is priced: nothing is new

    monkeypatch.setenv("LUMIA_INCLUDE", f"{first},{second},{newcomer}")
    requests = _tick(settings, instance)

    history = [r for r in requests if HISTORY_TAG in r.tags]
    assert len(history) == 1 and history[0].run_config["ops"]["equity_daily_prices"]["config"]["symbols"] == [newcomer]
    assert history[0].tags[RANGE_START] == start.isoformat()
    assert date.fromisoformat(history[0].tags[RANGE_END]) < window[0]
    for request in requests:  # the history, and the window's cells as gaps
        _run(settings, request)
    engine = warehouse_engine(warehouse_url)
    assert missing_cells(engine, EQUITY, window, selection=Settings.from_env().selection).empty
    stored = stored_prices(warehouse_url, ("stock",))
    mine = stored[stored["symbol"] == newcomer].reset_index(drop=True)
    truth = equity_truth(sim, [newcomer], start, window[-1])
    pd.testing.assert_frame_equal(mine[["symbol", "date", *PRICE_VALUES]], truth, check_dtype=False)
    assert [r for r in _tick(settings, instance) if HISTORY_TAG in r.tags] == []  # delivered: not asked again

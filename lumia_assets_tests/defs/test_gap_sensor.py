"""Gap recovery: injected missing candles are found, requested as exactly those partitions, and repaired."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import dagster as dg
import pytest

from lumia_assets.calendars import equity_sessions, last_closed_equity_session
from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets.defs.prices.sensors import (
    GAP_REPAIR,
    RANGE_END,
    RANGE_START,
    TRIGGER_TAG,
    plan_repairs,
    price_gap_sensor,
)
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.warehouse.gaps import missing_cells
from lumia_assets_tests.defs.prices_helpers import (
    active_equities,
    load_universes,
    materialize,
    settings_for,
)

EQUITY = ("stock", "etf", "mutual_fund")
LOOKBACK_DAYS = 8


@pytest.fixture
def settings(sim, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LUMIA_GAP_LOOKBACK_DAYS", str(LOOKBACK_DAYS))
    monkeypatch.setenv("LUMIA_CRYPTO_EXCHANGES", "binance")
    settings = replace(settings_for(sim, warehouse_url), crypto_exchanges=("binance",))
    load_universes(settings)
    return settings


def _evaluate(settings, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=build_resources(settings))
    return price_gap_sensor(context)


def _cells(frame) -> set[tuple[str, date]]:
    return set(zip(frame["symbol"], frame["date"], strict=True))


def _equity_requests(result: dg.SensorResult) -> list[dg.RunRequest]:
    return [r for r in result.run_requests or [] if r.job_name == "equity_prices_job"]


@pytest.mark.slow
def test_the_sensor_requests_exactly_the_partitions_with_gaps_and_they_get_repaired(sim, warehouse_url, settings):
    sessions = equity_sessions(date(2020, 1, 2), last_closed_equity_session(datetime.now(UTC)))
    window = [day for day in sessions if (sessions[-1] - day).days <= LOOKBACK_DAYS]
    symbol = active_equities(warehouse_url).query("asset_class == 'stock'")["symbol"].iloc[0]
    yahoo_symbol = sim.equities.universe().set_index("symbol").loc[symbol, "yahoo_symbol"]
    holes = {window[1], window[-2]}
    sim.faults.inject("query2.finance.yahoo.com", "missing_candles", candles={(yahoo_symbol, d) for d in holes})
    assert materialize(settings, [equity_daily_prices], window[0], window[-1]).success
    engine = warehouse_engine(warehouse_url)
    assert {(symbol, d) for d in holes} <= _cells(missing_cells(engine, EQUITY, window))
    instance = dg.DagsterInstance.ephemeral()

    requests = _equity_requests(_evaluate(settings, instance))

    gap_days = {d for d in window if not missing_cells(engine, EQUITY, [d]).empty}
    assert gap_days == holes  # nothing else is missing: listing dates are known
    assert sorted(r.partition_key for r in requests) == sorted(d.isoformat() for d in holes)
    assert all(r.tags[TRIGGER_TAG] == GAP_REPAIR for r in requests)
    sim.faults.clear()
    for request in requests:
        day = date.fromisoformat(request.partition_key)
        assert materialize(settings, [equity_daily_prices], day, run_config=request.run_config).success
    assert missing_cells(engine, EQUITY, window).empty
    assert _equity_requests(_evaluate(settings, instance)) == []


def _spans(requests: list[dg.RunRequest]) -> list[tuple[str, str]]:
    return [(r.tags.get(RANGE_START, r.partition_key), r.tags.get(RANGE_END, r.partition_key)) for r in requests]


def test_adjacent_gaps_share_a_range_run_and_repairs_are_bounded_and_never_repeated(settings) -> None:
    calendar = equity_sessions(date(2024, 5, 27), date(2024, 6, 14))  # Memorial Day is not a session
    days = [(5, 28), (5, 29), (5, 31), (6, 3), (6, 10), (6, 14)]
    gaps = {"equity": [date(2024, month, day) for month, day in days]}
    attempts: dict[str, int] = {}
    limited = replace(settings, gap_max_runs=2, gap_max_attempts=2)

    first = plan_repairs(gaps, {"equity": calendar}, [], attempts, limited)
    assert _spans(first) == [("2024-05-28", "2024-05-29"), ("2024-05-31", "2024-06-03")]  # 05-30 is complete
    assert first[1].partition_key is None and first[1].run_config["ops"]["equity_daily_prices"]["config"] == {
        "only_missing": True
    }

    running = [("equity_prices_job", date(2024, 5, 28), date(2024, 5, 29))]
    second = plan_repairs(gaps, {"equity": calendar}, running, attempts, limited)
    assert _spans(second) == [("2024-05-31", "2024-06-03")]  # one slot left; 05-28..29 is running

    third = plan_repairs(gaps, {"equity": calendar}, [], attempts, limited)
    assert _spans(third) == [("2024-05-28", "2024-05-29"), ("2024-06-10", "2024-06-10")]  # 05-31..06-03: 2 tries
    assert attempts["equity:2024-06-03"] == 2
    assert json.loads(json.dumps(attempts)) == attempts

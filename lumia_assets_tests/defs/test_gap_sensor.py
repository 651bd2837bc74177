"""Gap recovery: injected missing candles are found, requested as exactly those partitions, and repaired."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets import clock
from lumia_assets.calendars import equity_sessions
from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets.defs.prices.sensors import (
    GAP_REPAIR,
    RANGE_END,
    RANGE_START,
    REPAIRING_TAG,
    TRIGGER_TAG,
    InFlight,
    plan_repairs,
    price_gap_sensor,
)
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.engine.feeds import EQUITY_FEED, recent_dates
from lumia_assets.warehouse import repairs
from lumia_assets.warehouse.gaps import CELL_COLUMNS, missing_cells
from lumia_assets.warehouse.schema import gap_repairs
from lumia_assets.warehouse.store import upsert_daily_prices
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.defs.prices_helpers import (
    active_equities,
    load_universes,
    materialize,
    settings_for,
)
from lumia_assets_tests.warehouse.frames import FETCHED_AT, bars, listings

EQUITY = ("stock", "etf", "mutual_fund")
STOCK = ("stock",)
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
def test_the_sensor_requests_exactly_the_missing_cells_and_fetches_late_ones_on_a_later_tick(
    sim, warehouse_url, settings, monkeypatch
) -> None:
    window = recent_dates(EQUITY_FEED, settings, clock.utc_now())  # the sensor's window, whatever the hour
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
    assert {tuple(r.run_config["ops"]["equity_daily_prices"]["config"]["symbols"]) for r in requests} == {(symbol,)}

    def repair(requests: list[dg.RunRequest]) -> None:
        for request in requests:
            day = date.fromisoformat(request.partition_key)
            assert materialize(settings, [equity_daily_prices], day, run_config=request.run_config).success

    repair(requests)  # the bars are late: still missing
    assert _equity_requests(_evaluate(settings, instance)) == []  # the cells wait 15 minutes before the next try
    sim.faults.clear()  # the bars arrive
    later = datetime.now(UTC) + timedelta(minutes=16)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    repair(_equity_requests(_evaluate(settings, instance)))
    assert missing_cells(engine, EQUITY, window).empty
    assert _equity_requests(_evaluate(settings, instance)) == []


def _spans(requests: list[dg.RunRequest]) -> list[tuple[str, str]]:
    return [(r.tags.get(RANGE_START, r.partition_key), r.tags.get(RANGE_END, r.partition_key)) for r in requests]


def _due(*cells: tuple[str, tuple[int, int]]) -> pd.DataFrame:
    rows = [(symbol, "stock", date(2024, month, day), 0) for symbol, (month, day) in cells]
    return pd.DataFrame(rows, columns=["symbol", "asset_class", "date", "attempts"])


def test_adjacent_due_dates_share_a_range_run_of_only_their_due_symbols_within_the_run_budget(settings) -> None:
    calendar = equity_sessions(date(2024, 5, 27), date(2024, 6, 14))  # Memorial Day is not a session
    due = _due(("AAA", (5, 28)), ("BBB", (5, 29)), ("AAA", (5, 31)), ("CCC", (6, 3)), ("AAA", (6, 10)))
    limited = replace(settings, gap_max_runs=2)
    now = datetime(2024, 6, 15, 12, tzinfo=UTC)

    first, covered = plan_repairs({"equity": due}, {"equity": calendar}, [], limited, now)
    assert _spans(first) == [("2024-05-28", "2024-05-29"), ("2024-05-31", "2024-06-03")]  # 05-30 has nothing due
    assert first[0].run_config["ops"]["equity_daily_prices"]["config"] == {
        "only_missing": True, "symbols": ["AAA", "BBB"]
    }  # fmt: skip
    assert first[0].tags[REPAIRING_TAG] == "AAA, BBB"  # the runs list names what a repair fetches
    assert len(covered) == 4

    running = [InFlight("equity_prices_job", date(2024, 5, 28), date(2024, 5, 29))]
    second, _ = plan_repairs({"equity": due}, {"equity": calendar}, running, limited, now)
    assert _spans(second) == [("2024-05-31", "2024-06-03")]  # one slot left; 05-28..29 is being repaired


def test_a_cell_is_retried_with_growing_patience_then_given_up_with_the_last_answer(warehouse_url) -> None:
    engine = warehouse_engine(warehouse_url)
    missing = pd.DataFrame([("AAA", "stock", date(2024, 6, 3))], columns=["symbol", "asset_class", "date"])
    found = datetime(2024, 6, 3, 22, tzinfo=UTC)
    waits = []
    now = found
    for _ in range(5):
        repairs.track(engine, missing, now, timedelta(days=5), STOCK)
        due = repairs.due(engine, ["stock"], now)
        assert (len(due) == 1 and repairs.due(engine, ["stock"], now - timedelta(seconds=1)).empty) or waits == []
        repairs.attempted(engine, due, now)
        nxt = repairs.due(engine, ["stock"], now + timedelta(minutes=14))
        assert nxt.empty
        step = repairs.next_wait(int(due["attempts"].iloc[0]) + 1)
        waits.append(step)
        now += step
    assert waits == [timedelta(minutes=15), timedelta(hours=1), timedelta(hours=6), timedelta(days=1),
                     timedelta(days=1)]  # fmt: skip

    repairs.track(engine, missing, found + timedelta(days=6), timedelta(days=5), STOCK)
    assert repairs.due(engine, ["stock"], found + timedelta(days=6)).empty
    assert repairs.unavailable(engine, ["stock"], [date(2024, 6, 3)])["unavailable"].tolist() == [1]


def _reasons(engine) -> dict[date, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(gap_repairs.c.date, gap_repairs.c.reason).where(gap_repairs.c.unavailable))
        return {pd.Timestamp(day).date(): reason for day, reason in rows}


def test_a_cell_the_fallback_filled_is_tracked_until_its_own_source_serves_it(warehouse_url) -> None:
    engine = warehouse_engine(warehouse_url)
    pair = listings("BTC/USD", asset_class="crypto").assign(base="BTC", quote="USD", exchanges="binance",
                                                            primary_exchange="binance")  # fmt: skip
    sync_universe(engine, "crypto_universe", ("crypto",), pair, seen_at=FETCHED_AT)
    served_later, never = date(2024, 6, 3), date(2024, 6, 4)
    cells = pd.DataFrame([("BTC/USD", "crypto", day) for day in (served_later, never)], columns=list(CELL_COLUMNS))
    crypto, yahoo, found = ("crypto",), ("yahoo",), datetime(2024, 6, 5, 3, tzinfo=UTC)

    repairs.track(engine, cells, found, timedelta(days=5), crypto, yahoo)
    upsert_daily_prices(engine, bars("BTC/USD", [served_later, never], asset_class="crypto"))  # source yahoo
    for tick in range(1, 3):  # both feeds' ticks: the equity feed's leaves crypto's cells alone
        repairs.track(engine, cells.iloc[0:0], found + timedelta(minutes=tick), timedelta(days=5), STOCK)
        repairs.track(engine, cells, found + timedelta(minutes=tick), timedelta(days=5), crypto, yahoo)
    assert repairs.due(engine, crypto, found)["date"].tolist() == [served_later, never]  # first found at ``found``

    upsert_daily_prices(engine, bars("BTC/USD", [served_later], asset_class="crypto").assign(source="binance"))
    repairs.track(engine, cells.iloc[1:], found + timedelta(hours=1), timedelta(days=5), crypto, yahoo)
    assert repairs.due(engine, crypto, found + timedelta(hours=1))["date"].tolist() == [never]

    repairs.track(engine, cells.iloc[1:], found + timedelta(days=6), timedelta(days=5), crypto, yahoo)
    assert _reasons(engine) == {never: "served only by the fallback yahoo"}

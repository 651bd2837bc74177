"""``lumia backfill`` and ``lumia gaps`` against the simulator, recorded in a Dagster home."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from lumia_assets.cli import app
from lumia_assets.commands.demo import SMALL_PROFILE_BOUNDS
from lumia_assets.commands.prices import latest_range
from lumia_assets.defs.prices.hourly_sensors import due_hours
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets.instance import get_instance
from lumia_assets.settings import Settings
from lumia_assets_tests.defs.checks_helpers import execute
from lumia_assets_tests.defs.prices_helpers import (
    FAST_BUDGETS,
    active_equities,
    evening,
    load_universes,
    settings_for,
    stored_prices,
)
from lumia_assets_tests.sim.market_helpers import plain_symbol

runner = CliRunner()
START, END = "2024-06-03", "2024-06-07"
NY, UTC = ZoneInfo("America/New_York"), ZoneInfo("UTC")


@pytest.fixture
def env(sim, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("LUMIA_RATE_LIMITS", FAST_BUDGETS)
    monkeypatch.setenv("LUMIA_CRYPTO_EXCHANGES", "binance")
    monkeypatch.setenv("LUMIA_GAP_LOOKBACK_DAYS", "10")
    load_universes(settings_for(sim, warehouse_url))
    return warehouse_url


@pytest.mark.slow
def test_backfill_fills_the_range_in_one_recorded_run_and_gaps_lists_what_is_missing(sim, env) -> None:
    result = runner.invoke(app, ["backfill", "--start", START, "--end", END, "--assets", "equity"])

    assert result.exit_code == 0, result.output
    assert "equity 2024-06-03..2024-06-07: ok" in result.output
    assert sorted(set(stored_prices(env, ("stock", "etf", "mutual_fund"))["date"].astype(str))) == [
        "2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07",
    ]  # fmt: skip
    runs = get_instance().get_runs(filters=dg.RunsFilter(job_name="equity_prices_job"))
    assert [run.tags["dagster/asset_partition_range_start"] for run in runs] == [START]

    gaps = ["gaps", "--assets", "equity", "--start", START, "--end", END, "--json"]
    complete = runner.invoke(app, gaps)
    assert complete.exit_code == 0 and json.loads(complete.stdout) == []

    execute(env, "DELETE FROM daily_prices WHERE date = :d AND asset_class = 'stock'", d=date(2024, 6, 5))
    missing = runner.invoke(app, gaps)
    assert missing.exit_code == 1
    [row] = json.loads(missing.stdout)
    assert (row["assets"], row["date"]) == ("equity", "2024-06-05")
    assert row["missing"] == row["expected"] - row["present"] > 0
    named = row["missing_symbols"]  # --json names every missing symbol: the stocks trading that day
    assert len(named) == row["missing"] > 5 and named == sorted(named)
    assert set(named) <= set(active_equities(env).query("asset_class == 'stock'")["symbol"])
    table = runner.invoke(app, gaps[:-1], env={"COLUMNS": "400"})
    assert f"{', '.join(named[:5])} (+{len(named) - 5} more)" in table.stdout
    assert ", ".join(named) in runner.invoke(app, [*gaps[:-1], "--symbols"], env={"COLUMNS": "4000"}).stdout


@pytest.mark.slow
def test_collect_crypto_fills_the_hours_the_gap_sensor_watches_in_one_run(sim, env, monkeypatch) -> None:
    for name, value in SMALL_PROFILE_BOUNDS.items():  # the universes' size checks, for the small simulator
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["collect", "--assets", "crypto"])

    assert result.exit_code == 0, result.output
    hours = due_hours(sim.now, Settings.from_env())
    assert f"crypto hourly {hours[0]:%Y-%m-%d-%H:%M}..{hours[-1]:%Y-%m-%d-%H:%M}: ok" in result.output
    with warehouse_engine(env).connect() as conn:
        stored_hours = conn.execute(sa.text("SELECT count(DISTINCT open_time) FROM candles")).scalar()
    assert stored_hours == len(hours) == 48
    assert len(get_instance().get_runs(filters=dg.RunsFilter(job_name="crypto_hourly_prices_job"))) == 1
    first, last = latest_range("crypto", sim.now)
    assert f"crypto reference prices {first}..{last}: ok" in result.output  # CoinGecko's witness of the same days
    with warehouse_engine(env).connect() as conn:
        reference_days = conn.execute(sa.text("SELECT count(DISTINCT date) FROM reference_prices")).scalar()
    assert reference_days == (last - first).days + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2024-13-01", "--end", END], "'2024-13-01' is not a date"),
        (["--start", END, "--end", START], "is after --end"),
        (["--start", "2001-01-02", "--end", END], "before LUMIA_PRICES_START_DATE"),
    ],
)
def test_backfill_refuses_a_bad_range_naming_it(env, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["backfill", *args])

    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("feed", "now", "first", "last"),
    [
        ("equity", datetime(2024, 6, 5, 17, tzinfo=NY), "2024-06-04", "2024-06-05"),  # closed, not yet due
        ("equity", datetime(2024, 6, 5, 21, tzinfo=NY), "2024-06-05", "2024-06-05"),
        ("equity", datetime(2024, 6, 8, 12, tzinfo=NY), "2024-06-07", "2024-06-07"),  # Saturday
        ("crypto", datetime(2024, 6, 5, 1, tzinfo=UTC), "2024-06-03", "2024-06-04"),  # closed, not yet due
        ("crypto", datetime(2024, 6, 5, 3, tzinfo=UTC), "2024-06-04", "2024-06-04"),
    ],
)
def test_collect_fills_the_latest_closed_date_and_the_one_the_freshness_check_expects(
    feed: str, now: datetime, first: str, last: str
) -> None:
    assert latest_range(feed, now) == (date.fromisoformat(first), date.fromisoformat(last))


@pytest.mark.slow
def test_restate_rebuilds_a_history_left_in_two_bases_and_records_what_changed(sim, env, monkeypatch) -> None:
    monkeypatch.setenv("LUMIA_PRICES_START_DATE", "2024-05-01")
    symbol = plain_symbol(sim)
    sim.equities.add_split(symbol, date(2024, 6, 10), 2.0)
    sim.set_clock(evening(date(2024, 6, 14)))
    assert (
        runner.invoke(app, ["backfill", "--start", START, "--end", "2024-06-14", "--assets", "equity"]).exit_code == 0
    )
    halve = "UPDATE daily_prices SET open = open / 2, high = high / 2, low = low / 2, close = close / 2"
    execute(env, halve + " WHERE symbol = :s AND date < :d", s=symbol, d=date(2024, 6, 6))  # as 0.1 stored a repair
    sim.server.log.clear()

    result = runner.invoke(app, ["restate", "--symbols", symbol])

    assert result.exit_code == 0, result.output
    assert "restating 1 symbols: 1 chart requests" in result.output
    assert len(sim.requests(host="query2.finance.yahoo.com", path_contains="/v8/finance/chart/")) == 1
    stored = stored_prices(env, ("stock",)).query("symbol == @symbol").reset_index(drop=True)
    truth = sim.equities.as_traded_bars(symbol, date(2024, 5, 1), date(2024, 6, 14))
    assert stored["close"].tolist() == truth["close"].tolist()
    with warehouse_engine(env).connect() as conn:
        changed = conn.execute(sa.text("SELECT date, what FROM restatements WHERE what = 'bar.close'")).all()
    assert sorted(pd.Timestamp(row.date).date() for row in changed) == [date(2024, 6, 3), date(2024, 6, 4),
                                                                         date(2024, 6, 5)]  # fmt: skip
    report = runner.invoke(app, ["report", "restatements", "--json"])
    assert report.exit_code == 0
    rows = json.loads(report.stdout)["restatements"]
    assert {(row["symbol"], row["what"]) for row in rows} >= {(symbol, "bar.close")}


def test_restate_refuses_a_bad_since_date(env) -> None:
    result = runner.invoke(app, ["restate", "--since", "2024-02-30"])
    assert result.exit_code == 2
    assert "'2024-02-30' is not a date" in result.output


def test_a_warehouse_that_cannot_be_opened_is_a_one_line_error_naming_it(postgres_database_url, monkeypatch) -> None:
    missing = postgres_database_url.rsplit("/", 1)[0] + "/lumia_no_such_database"
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", missing)

    result = runner.invoke(app, ["gaps"])

    assert result.exit_code == 2
    assert "warehouse error: cannot connect to the warehouse" in result.output
    assert '"lumia_no_such_database" does not exist' in result.output and "Traceback" not in result.output


def test_collect_leaves_switched_off_hourly_candles_alone() -> None:
    from dataclasses import replace

    from rich.console import Console

    from lumia_assets.commands.prices import _collect_hours

    console, instance = Console(record=True, width=200), dg.DagsterInstance.ephemeral()
    off = replace(Settings.from_env(), hourly_candles=False)

    assert _collect_hours(console, off, instance)
    assert "crypto hourly: off (LUMIA_HOURLY_CANDLES=false)" in console.export_text()
    assert instance.get_runs() == []

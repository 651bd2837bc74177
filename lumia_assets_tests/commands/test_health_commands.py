"""``lumia status``, ``lumia report`` and ``lumia cleanup`` over a Dagster home and a warehouse loaded from the sim."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from typer.testing import CliRunner

from lumia_assets.calendars import last_closed_crypto_hour
from lumia_assets.cli import app
from lumia_assets.defs.prices.adjusted import adjusted_daily_prices
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.prices.hourly import HOUR_FORMAT, crypto_hourly_prices
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.engine.deadlines import CRYPTO_DEADLINE, EQUITY_DEADLINE
from lumia_assets.instance import get_instance
from lumia_assets.operations.cleanup import cleanup
from lumia_assets_tests.defs.checks_helpers import CHECKS, execute
from lumia_assets_tests.defs.prices_helpers import ALL_ASSETS, active_equities, settings_for

pytestmark = pytest.mark.slow
runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def loaded(sim, warehouse_url, tmp_path, monkeypatch) -> dg.DagsterInstance:
    """Universes and the partitions due now, materialized with their checks into a fresh Dagster home."""
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "LUMIA_WAREHOUSE_URL": warehouse_url,
        "LUMIA_MIN_STOCKS": "20",
        "LUMIA_MIN_FUNDS": "5",
        "LUMIA_MIN_CRYPTO_PAIRS": "5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings, instance, now = settings_for(sim, warehouse_url), get_instance(), datetime.now(UTC)
    runs = [
        ([stock_universe, fund_universe, crypto_universe], None),
        ([equity_daily_prices], EQUITY_DEADLINE.due_partition(now).isoformat()),
        ([crypto_daily_prices], CRYPTO_DEADLINE.due_partition(now).isoformat()),
        ([crypto_hourly_prices], f"{last_closed_crypto_hour(now):{HOUR_FORMAT}}"),
        ([crypto_coins], None),
        ([crypto_reference_prices], CRYPTO_DEADLINE.due_partition(now).isoformat()),
        ([adjusted_daily_prices], None),
    ]
    for selection, partition in runs:
        result = dg.materialize(
            [*ALL_ASSETS, *CHECKS],
            selection=dg.AssetSelection.assets(*selection),
            partition_key=partition,
            resources=build_resources(settings),
            instance=instance,
            raise_on_error=False,
        )
        assert result.success
    return instance


def _invoke(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, list(args))
    return result.exit_code, (json.loads(result.stdout) if "--json" in args and result.stdout.strip() else {})


def test_status_is_healthy_then_fails_when_the_latest_day_loses_bars(loaded, warehouse_url) -> None:
    code, status = _invoke("status", "--json")

    assert code == 0, status
    assert status["healthy"] and status["database"]["reachable"] and status["database"]["size_bytes"] > 0
    by_asset = {a["asset"]: a for a in status["assets"]}
    assert set(by_asset) == {"stock_universe", "fund_universe", "crypto_universe", "equity_daily_prices",
                             "crypto_daily_prices", "crypto_hourly_prices", "adjusted_daily_prices", "crypto_coins",
                             "crypto_reference_prices"}  # fmt: skip
    equity = by_asset["equity_daily_prices"]
    assert equity["fresh"] and equity["latest_partition_filled"] and equity["coverage_pct"] >= 95
    assert equity["failing_checks"] == [] and equity["runs_7d"] == 1 and equity["success_rate_7d_pct"] == 100.0
    assert isinstance(equity["gaps"], int) and equity["age_hours"] < 1

    latest = equity["latest_partition"]
    removed = list(active_equities(warehouse_url)["symbol"][:5])
    for symbol in removed:
        execute(warehouse_url, "DELETE FROM daily_prices WHERE symbol = :s AND date = :d", s=symbol, d=latest)
    code, status = _invoke("status", "--json")

    assert code == 1
    equity = next(a for a in status["assets"] if a["asset"] == "equity_daily_prices")
    assert any(problem.startswith("coverage") for problem in equity["problems"])
    assert equity["missing_symbols"][latest] == sorted(removed)  # the gaps, by name
    assert runner.invoke(app, ["status"]).exit_code == 1  # the table form agrees


def test_every_report_has_its_json_shape_and_weekly_writes_a_png(loaded, tmp_path) -> None:
    code, assets = _invoke("report", "assets", "--json")
    assert code == 0
    row = next(r for r in assets["assets"] if r["asset_class"] == "stock")
    assert set(row) == {"asset_class", "exchange", "active", "inactive", "priced", "coverage_pct", "first_date",
                        "last_date"}  # fmt: skip

    code, daily = _invoke("report", "daily", "--json")
    assert code == 0 and daily["totals"]["runs"] == 7 and daily["totals"]["failed_runs"] == 0
    equity_run = next(r for r in daily["runs"] if r["assets"] == ["equity_daily_prices"])
    assert equity_run["rows_written"] > 0 and equity_run["upstream_requests"] > 0 and equity_run["status"] == "SUCCESS"
    assert {"upstream_429s", "upstream_errors", "duration_s", "partitions", "failed_checks"} <= set(equity_run)

    plot = tmp_path / "week.png"
    code, weekly = _invoke("report", "weekly", "--json", "--plot", str(plot))
    assert code == 0 and len(weekly["days"]) == 7
    assert weekly["days"][-1]["runs"] == 7 and weekly["days"][-1]["success_rate_pct"] == 100.0
    assert plot.read_bytes()[:8] == PNG


def test_coverage_and_a_symbols_prices_are_drawn_and_a_gap_is_listed(loaded, warehouse_url, tmp_path) -> None:
    heatmap = tmp_path / "coverage.png"
    latest = EQUITY_DEADLINE.due_partition(datetime.now(UTC))
    symbol = active_equities(warehouse_url)["symbol"].iloc[0]
    execute(warehouse_url, "DELETE FROM daily_prices WHERE symbol = :s AND date = :d", s=symbol, d=latest)

    code, coverage = _invoke("report", "coverage", "--json", "--sessions", "5", "--plot", str(heatmap))

    assert code == 0 and heatmap.read_bytes()[:8] == PNG
    cells = {(row["asset_class"], row["date"]): row for row in coverage["coverage"]}
    stock = cells[("stock", latest.isoformat())]
    assert stock["expected"] - stock["present"] == 1  # the deleted bar
    assert {asset_class for asset_class, _ in cells} == {"stock", "etf", "mutual_fund", "crypto"}

    chart = tmp_path / "chart.png"
    result = runner.invoke(app, ["plot", "BRK-B", "--out", str(chart)])  # Yahoo's spelling of BRK.B
    assert result.exit_code == 0, result.output
    assert chart.read_bytes()[:8] == PNG and "BRK.B: 1 bars" in result.stdout
    unknown = runner.invoke(app, ["plot", "NOSUCH.X"])
    assert unknown.exit_code == 2 and "no bars stored for NOSUCH.X" in unknown.output and "NOSUCH/X" in unknown.output


def test_cleanup_prunes_exactly_the_runs_older_than_retention_and_keeps_every_price(
    warehouse_url, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", warehouse_url)
    instance = get_instance()
    kept = dg.materialize([_trivial], instance=instance).run_id
    failed = dg.materialize([_broken], instance=instance, raise_on_error=False).run_id
    orphan = (
        "INSERT INTO daily_prices (symbol, asset_class, date, close, source, fetched_at) VALUES (:s, :c, :d, 1, :o, :t)"
    )
    execute(warehouse_url, orphan, s="OLD", c="stock", d=date(2001, 1, 2), o="yahoo", t=datetime.now(UTC))
    bars = _count_bars(warehouse_url)

    code, dry = _invoke("cleanup", "--dry-run", "--retention-days", "30", "--json")
    assert code == 0 and dry["dry_run"] and dry["pruned_runs"] == [] and dry["vacuum"] is None
    assert dry["orphans"]["daily_prices"] == 1  # an orphan (no assets row) is reported, not deleted

    report = cleanup(warehouse_engine(warehouse_url), instance, 1, now=datetime.now(UTC) + timedelta(days=2))

    assert report.pruned_runs == [failed]  # the materializing run is kept for its history
    assert [r.run_id for r in instance.get_runs()] == [kept]
    assert report.orphans["daily_prices"] == 1 and _count_bars(warehouse_url) == bars - 1
    assert report.vacuum is not None


@dg.asset
def _trivial() -> None: ...


@dg.asset
def _broken() -> None:
    raise RuntimeError("upstream down")


def _count_bars(warehouse_url: str) -> int:
    import sqlalchemy as sa

    with warehouse_engine(warehouse_url).connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM daily_prices")).scalar_one()


def test_hourly_candles_switched_off_are_not_judged(loaded, warehouse_url, monkeypatch) -> None:
    from dataclasses import replace

    from lumia_assets.definitions import defs
    from lumia_assets.operations.status import health_status
    from lumia_assets.settings import Settings

    settings, later = Settings.from_env(), datetime.now(UTC) + timedelta(hours=2)  # the hourly candles are stale
    engine = warehouse_engine(warehouse_url)
    judged = {a["asset"]: a for a in health_status(loaded, engine, settings, defs(), later)["assets"]}
    assert judged["crypto_hourly_prices"]["problems"][0].startswith("stale")

    off = health_status(loaded, engine, replace(settings, hourly_candles=False), defs(), later)
    assert "crypto_hourly_prices" not in {a["asset"] for a in off["assets"]}
    assert off["off"] == {"crypto_hourly_prices": "LUMIA_HOURLY_CANDLES=false"}
    monkeypatch.setenv("LUMIA_HOURLY_CANDLES", "false")
    shown = runner.invoke(app, ["status"])
    assert "off, not judged: crypto_hourly_prices (LUMIA_HOURLY_CANDLES=false)" in shown.output

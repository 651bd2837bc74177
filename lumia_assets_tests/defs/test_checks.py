"""Asset checks against the simulator: green on clean data, red with the right severity and sample on corruption."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets_tests.defs.checks_helpers import by_check, execute, run_checks
from lumia_assets_tests.defs.prices_helpers import load_universes, materialize, settings_for

pytestmark = pytest.mark.slow
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
START, END = date(2024, 6, 4), date(2024, 6, 7)


@pytest.fixture
def settings(sim, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name, value in {"LUMIA_MIN_STOCKS": "20", "LUMIA_MIN_FUNDS": "5", "LUMIA_MIN_CRYPTO_PAIRS": "5"}.items():
        monkeypatch.setenv(name, value)
    settings = settings_for(sim, warehouse_url)
    load_universes(settings)
    return settings


def _failed(evaluations: dict[str, dg.AssetCheckEvaluation]) -> dict[str, dg.AssetCheckSeverity]:
    return {name: e.severity for name, e in evaluations.items() if not e.passed}


def _sample(evaluation: dg.AssetCheckEvaluation) -> list[dict]:
    return evaluation.metadata["sample"].value


def test_universe_checks_pass_then_catch_a_drop_a_duplicate_a_missing_exchange_and_name(settings, warehouse_url):
    assert _failed(run_checks(settings, "stock_universe")) == {}

    columns = "asset_class, name, exchange, active, source, first_seen, last_seen"
    last_stock = "(SELECT MAX(symbol) FROM assets WHERE asset_class = 'stock')"
    first_stock = last_stock.replace("MAX", "MIN")
    execute(warehouse_url, f"UPDATE assets SET name = '', exchange = NULL WHERE symbol = {first_stock}")
    execute(warehouse_url, f"INSERT INTO assets (symbol, {columns}) SELECT LOWER(symbol), {columns} FROM assets "
            f"WHERE symbol = {last_stock}")  # fmt: skip
    drop = "INSERT INTO universe_snapshots (universe, taken_at, active_count, added, removed, reactivated) "
    execute(warehouse_url, drop + "VALUES ('stock_universe', :now, 28, 0, 19, 0)", now=datetime.now(UTC))
    evaluations = run_checks(settings, "stock_universe")

    assert _failed(evaluations) == {
        "size_and_churn_within_bounds": ERROR,
        "no_duplicate_symbols": ERROR,
        "required_fields_present": ERROR,
        "names_known": WARN,
    }
    assert "40%" in evaluations["size_and_churn_within_bounds"].description
    assert _sample(evaluations["required_fields_present"])[0]["reason"] == "exchange"
    assert _sample(evaluations["names_known"])[0]["reason"] == "name"
    assert _sample(evaluations["no_duplicate_symbols"])[0]["copies"] == 2


def test_equity_checks_pass_then_flag_high_below_low_a_missing_day_and_a_jump(settings, warehouse_url, monkeypatch):
    assert materialize(settings, [equity_daily_prices], START, END).success
    clean = run_checks(settings, "equity_daily_prices", START, END)
    assert _failed(clean) == {}
    assert clean["coverage"].metadata["partitions"].value == f"{START}..{END}"
    assert clean["coverage"].metadata["dates"].value == 4
    assert clean["table_ohlc_sanity"].metadata["partitions"].value == "all"

    symbol = _first_stock(warehouse_url)
    execute(warehouse_url, "UPDATE daily_prices SET high = low / 2 WHERE symbol = :s AND date = :d", s=symbol, d=START)
    execute(warehouse_url, "DELETE FROM daily_prices WHERE symbol = :s AND date = :d", s=symbol, d=date(2024, 6, 5))
    jump = "UPDATE daily_prices SET close = close * 1.3, high = high * 1.3"
    execute(warehouse_url, jump + " WHERE symbol = :s AND date = :d", s=symbol, d=END)
    monkeypatch.setenv("LUMIA_COVERAGE_THRESHOLD", "99.5")
    evaluations = run_checks(settings, "equity_daily_prices", START, END)

    failed = _failed(evaluations)
    assert failed["ohlc_sanity"] == failed["table_ohlc_sanity"] == ERROR
    assert failed["coverage"] == failed["no_unexplained_jumps"] == WARN
    assert (
        _sample(evaluations["ohlc_sanity"])[0] | {"symbol": symbol, "date": str(START), "reason": "low > high"}
        == (_sample(evaluations["ohlc_sanity"])[0])
    )
    missing = {row["date"]: row["missing_symbols"] for row in _sample(evaluations["coverage"])}
    assert symbol in missing["2024-06-05"]
    jump = _sample(evaluations["no_unexplained_jumps"])[0]
    assert (jump["symbol"], jump["date"]) == (symbol, str(END))
    assert jump["change"] == pytest.approx(0.3, abs=0.1)


def test_a_deleted_day_is_an_error_naming_the_date(sim, settings, warehouse_url) -> None:
    assert materialize(settings, [equity_daily_prices], START, END).success
    execute(warehouse_url, "DELETE FROM daily_prices WHERE date = :d", d=date(2024, 6, 5))

    evaluation = run_checks(settings, "equity_daily_prices", START, END)["coverage"]

    assert (evaluation.passed, evaluation.severity) == (False, ERROR)
    assert _sample(evaluation)[0]["date"] == "2024-06-05"
    assert _sample(evaluation)[0]["coverage"] == 0.0


def test_cross_exchange_check_flags_a_secondary_exchange_that_disagrees(sim, settings, warehouse_url) -> None:
    end = datetime.now(UTC).date() - timedelta(days=2)
    start = end - timedelta(days=2)
    assert materialize(settings, [crypto_daily_prices], start, end).success
    assert _failed(run_checks(settings, "crypto_daily_prices", start, end)) == {}

    symbol = _pair_on_kraken_and_coinbase(warehouse_url)
    sim.crypto.set_price_skew("coinbaseexchange", symbol, 1.1)
    evaluation = run_checks(settings, "crypto_daily_prices", start, end)["cross_exchange_agreement"]

    assert (evaluation.passed, evaluation.severity) == (False, WARN)
    assert {row["symbol"] for row in _sample(evaluation)} == {symbol}
    assert _sample(evaluation)[0]["difference"] == pytest.approx(0.1, abs=0.01)
    assert evaluation.metadata["partitions"].value == f"{start}..{end}"


def _first_stock(warehouse_url: str) -> str:
    from lumia_assets_tests.defs.prices_helpers import active_equities

    return active_equities(warehouse_url).query("asset_class == 'stock'")["symbol"].iloc[0]


def _pair_on_kraken_and_coinbase(warehouse_url: str) -> str:
    """A pair stored from Kraken that Coinbase lists too: Coinbase is its secondary exchange."""
    import sqlalchemy as sa

    from lumia_assets.defs.resources import warehouse_engine

    query = sa.text(
        "SELECT c.symbol FROM crypto c JOIN daily_prices p ON p.symbol = c.symbol AND p.asset_class = 'crypto' "
        "WHERE c.exchanges LIKE '%coinbaseexchange%' AND p.source = 'kraken' ORDER BY c.symbol LIMIT 1"
    )
    with warehouse_engine(warehouse_url).connect() as conn:
        return conn.execute(query).scalar_one()


def test_a_failed_blocking_check_stops_the_downstream_asset_and_one_check_runs_alone(settings, warehouse_url) -> None:
    from lumia_assets.defs.prices.adjusted import adjusted_daily_prices
    from lumia_assets.defs.prices.checks import PRICE_CHECKS
    from lumia_assets.defs.resources import build_resources
    from lumia_assets.operations.status import failing_checks
    from lumia_assets_tests.defs.prices_helpers import ALL_ASSETS

    assert materialize(settings, [equity_daily_prices], START, END).success
    corrupt, other = _first_stock(warehouse_url), _last_stock(warehouse_url)
    execute(warehouse_url, "UPDATE daily_prices SET high = low / 2 WHERE symbol = :s AND date = :d", s=corrupt, d=START)
    tags = {"dagster/asset_partition_range_start": str(START), "dagster/asset_partition_range_end": str(END)}
    checked = dg.DagsterInstance.ephemeral()
    run = dg.materialize(
        [*ALL_ASSETS, *PRICE_CHECKS],
        selection=[equity_daily_prices, adjusted_daily_prices],
        resources=build_resources(settings),
        tags=tags,
        run_config={"ops": {"equity_daily_prices": {"config": {"symbols": [other]}}}},  # leaves the bad bar alone
        instance=checked,
        raise_on_error=False,
    )

    evaluations = by_check(run.get_asset_check_evaluations())
    assert not evaluations["ohlc_sanity"].passed and evaluations["ohlc_sanity"].blocking
    # each partition of the range has its own verdict: only the corrupt bar's day fails
    sanity = sorted((e.partition, e.passed) for e in run.get_asset_check_evaluations() if e.check_name == "ohlc_sanity")
    assert sanity == [("2024-06-04", False), ("2024-06-05", True), ("2024-06-06", True), ("2024-06-07", True)]
    assert evaluations["ohlc_sanity"].metadata["failing_partitions"].value == 1
    sanity_key = dg.AssetCheckKey(equity_daily_prices.key, "ohlc_sanity")
    assert [c["check"] for c in failing_checks(checked, [sanity_key])] == ["ohlc_sanity"]  # lumia status sees it
    assert {e.asset_key for e in run.get_asset_materialization_events()} == {equity_daily_prices.key}
    assert not run.success  # adjusted_daily_prices was skipped, not published over a corrupt bar

    instance = dg.DagsterInstance.ephemeral()
    key = dg.AssetCheckKey(equity_daily_prices.key, "no_duplicate_bars")
    alone = dg.materialize(
        [*ALL_ASSETS, *PRICE_CHECKS],
        selection=dg.AssetSelection.checks(key),
        resources=build_resources(settings),
        tags=tags,
        instance=instance,
        raise_on_error=False,
    )
    assert {e.check_name for e in alone.get_asset_check_evaluations()} == {"no_duplicate_bars"}
    assert alone.success
    # the range's verdict on each of its partitions: none is left planned (the UI would show it skipped)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    assert sorted((r.partition, r.status.value) for r in records) == [
        (day, "SUCCEEDED") for day in ("2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07")
    ]


def _last_stock(warehouse_url: str) -> str:
    from lumia_assets_tests.defs.prices_helpers import active_equities

    return active_equities(warehouse_url).query("asset_class == 'stock'")["symbol"].iloc[-1]


def test_the_table_wide_ohlc_check_reads_the_bars_fetched_since_it_last_passed_and_all_of_them_weekly(
    settings, warehouse_url
) -> None:
    from lumia_assets.defs.prices.table_scans import FULL_SCAN_EVERY, table_scan

    key = dg.AssetCheckKey(dg.AssetKey("equity_daily_prices"), "table_ohlc_sanity")
    with dg.instance_for_test() as instance:
        assert materialize(settings, [equity_daily_prices], START, END, instance=instance).success
        first = run_checks(settings, "equity_daily_prices", START, END, instance)["table_ohlc_sanity"]
        assert first.passed and first.metadata["scanned"].value == "every bar"
        assert first.metadata["checked"].value > 1

        long_ago = datetime.now(UTC) - timedelta(days=3)  # before the last pass less the overlap
        execute(warehouse_url, "UPDATE daily_prices SET fetched_at = :t", t=long_ago)
        symbol = _first_stock(warehouse_url)
        corrupt = "UPDATE daily_prices SET high = low / 2, fetched_at = :t WHERE symbol = :s AND date = :d"
        execute(warehouse_url, corrupt, t=long_ago, s=symbol, d=START)  # an edit that kept the old stamp
        execute(warehouse_url, corrupt, t=datetime.now(UTC), s=symbol, d=END)  # a write since the last pass
        second = run_checks(settings, "equity_daily_prices", START, END, instance)["table_ohlc_sanity"]

        assert second.metadata["scanned"].value.startswith("bars fetched since ")
        assert (second.passed, second.metadata["checked"].value) == (False, 1)
        assert [(row["symbol"], row["date"]) for row in _sample(second)] == [(symbol, str(END))]
        third = run_checks(settings, "equity_daily_prices", START, END, instance)["table_ohlc_sanity"]
        assert not third.passed  # a failure keeps its bars in scope: the start is the last pass's
        a_week_on = datetime.now(UTC) + FULL_SCAN_EVERY
        assert table_scan(instance, key, a_week_on).since is None  # then every bar, the old edit's too

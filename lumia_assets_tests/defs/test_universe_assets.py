"""The universe assets, materialized through Dagster against the simulator with the real HTTP, ccxt code."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.calendars import last_closed_equity_session
from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.defs.universe.checks import UNIVERSE_CHECKS
from lumia_assets.settings import Settings
from lumia_assets.sim import MarketSimulator
from lumia_assets.warehouse.store import record_symbol_status
from lumia_assets_tests.defs.prices_helpers import materialize, settings_for
from lumia_assets_tests.sim.market_helpers import plain_symbol
from lumia_assets_tests.warehouse.frames import statuses

UNIVERSES = [stock_universe, fund_universe, crypto_universe]


def _settings(sim: MarketSimulator, warehouse_url: str, **overrides: object) -> Settings:
    return replace(Settings.from_env(), warehouse_url=warehouse_url, upstream_url=sim.url, **overrides)


def _materialize(asset: dg.AssetsDefinition, settings: Settings) -> dg.ExecuteInProcessResult:
    return dg.materialize(UNIVERSES, selection=[asset], resources=build_resources(settings), raise_on_error=False)


def _assets_table(warehouse_url: str, *asset_classes: str) -> pd.DataFrame:
    query = sa.text(
        "SELECT symbol, asset_class, yahoo_symbol, name, exchange, active FROM assets "
        "WHERE asset_class IN :classes ORDER BY asset_class, symbol"
    ).bindparams(sa.bindparam("classes", expanding=True))
    with warehouse_engine(warehouse_url).connect() as conn:
        return pd.read_sql(query, conn, params={"classes": list(asset_classes)})


def _listed(sim: MarketSimulator, *asset_classes: str) -> set[str]:
    truth = sim.equities.universe()
    live = truth[truth["asset_class"].isin(asset_classes) & ~truth["test_issue"] & truth["delisted_on"].isna()]
    return set(live["symbol"])


def _metadata(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict[str, object]:
    [materialization] = result.asset_materializations_for_node(asset.op.name)
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [event for event in result.all_events if event.is_step_failure]
    data = failure.step_failure_data
    return f"{data.error} {data.user_failure_data.description if data.user_failure_data else ''}"


def test_stock_universe_holds_every_listed_stock_and_etf_of_the_simulator(sim, warehouse_url) -> None:
    result = _materialize(stock_universe, _settings(sim, warehouse_url))

    assert result.success
    table = _assets_table(warehouse_url, "stock", "etf")
    assert set(table["symbol"]) == _listed(sim, "stock", "etf")
    assert table["active"].all()
    truth = sim.equities.universe().set_index("symbol")
    assert (table.set_index("symbol")["yahoo_symbol"] == truth.loc[table["symbol"], "yahoo_symbol"]).all()
    metadata = _metadata(result, stock_universe)
    assert metadata["added"] == len(table) == metadata["dagster/row_count"]
    assert metadata["removed"] == 0
    assert metadata["upstream_requests"] == 2


def test_test_issues_never_enter_the_universe(sim, warehouse_url) -> None:
    _materialize(stock_universe, _settings(sim, warehouse_url))
    truth = sim.equities.universe()
    test_issues = set(truth.loc[truth["test_issue"], "symbol"])
    assert test_issues, "the simulator should list test issues"
    assert not test_issues & set(_assets_table(warehouse_url, "stock", "etf")["symbol"])


def test_materializing_twice_leaves_identical_contents(sim, warehouse_url) -> None:
    settings = _settings(sim, warehouse_url)
    _materialize(stock_universe, settings)
    first = _assets_table(warehouse_url, "stock", "etf")
    second_run = _materialize(stock_universe, settings)

    pd.testing.assert_frame_equal(first, _assets_table(warehouse_url, "stock", "etf"))
    assert _metadata(second_run, stock_universe)["added"] == 0


def test_a_delisted_symbol_is_removed_after_n_runs_and_a_returning_one_reactivated(
    sim, warehouse_url, monkeypatch
) -> None:
    monkeypatch.setenv("LUMIA_DELIST_AFTER_RUNS", "2")
    settings = _settings(sim, warehouse_url)
    _materialize(stock_universe, settings)
    victim = sorted(_listed(sim, "stock"))[0]

    sim.equities.delist(victim, date.today())
    kept_run = _materialize(stock_universe, settings)
    assert (_metadata(kept_run, stock_universe)["removed"], _metadata(kept_run, stock_universe)["absent_kept"]) == (
        0,
        1,
    )
    removed_run = _materialize(stock_universe, settings)
    assert _metadata(removed_run, stock_universe)["removed"] == 1
    assert _metadata(removed_run, stock_universe)["removed_sample"] == victim
    table = _assets_table(warehouse_url, "stock").set_index("symbol")
    assert not table.loc[victim, "active"]

    sim.equities.list_new(victim, "Returning Corp", "NASDAQ", "stock", date.today())
    back_run = _materialize(stock_universe, settings)
    assert _metadata(back_run, stock_universe)["reactivated"] == 1
    assert _assets_table(warehouse_url, "stock").set_index("symbol").loc[victim, "active"]


def test_fund_universe_comes_from_the_nasdaq_fund_list(sim, warehouse_url) -> None:
    result = _materialize(fund_universe, _settings(sim, warehouse_url))

    assert result.success
    assert set(_assets_table(warehouse_url, "mutual_fund")["symbol"]) == _listed(sim, "mutual_fund")
    assert _metadata(result, fund_universe)["source"] == "nasdaqtrader"


def test_fund_universe_falls_back_to_sec_when_the_nasdaq_fund_list_vanishes(sim, warehouse_url) -> None:
    sim.faults.inject("www.nasdaqtrader.com", "status", status=404, path_contains="mfundslist")
    result = _materialize(fund_universe, _settings(sim, warehouse_url))

    assert result.success
    metadata = _metadata(result, fund_universe)
    assert metadata["source"] == "sec"
    assert "mfundslist.txt" in str(metadata["fallback_reason"])
    assert set(_assets_table(warehouse_url, "mutual_fund")["symbol"]) == _listed(sim, "mutual_fund")


def _fund_details(warehouse_url: str) -> pd.DataFrame:
    query = "SELECT a.symbol, a.name, m.fund_family, m.fund_type FROM assets a JOIN mutual_fund m USING (symbol)"
    with warehouse_engine(warehouse_url).connect() as conn:
        return pd.read_sql(sa.text(query + " ORDER BY a.symbol"), conn)


@pytest.fixture
def small_universe_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size checks read their bounds from the environment; the small simulator lists a dozen funds."""
    monkeypatch.setenv("LUMIA_MIN_FUNDS", "5")


def _checked(asset: dg.AssetsDefinition, settings: Settings) -> dg.ExecuteInProcessResult:
    """Materialize ``asset`` with its checks, as a UI "Materialize" does (blocking checks can fail the run)."""
    return dg.materialize([*UNIVERSES, *UNIVERSE_CHECKS], selection=[asset], resources=build_resources(settings),
                          raise_on_error=False)  # fmt: skip


def test_a_sec_fallback_day_keeps_the_stored_fund_names_and_families_and_passes_its_checks(
    sim, warehouse_url, small_universe_bounds
) -> None:
    settings = _settings(sim, warehouse_url)
    assert _checked(fund_universe, settings).success
    named = _fund_details(warehouse_url)

    sim.faults.inject("www.nasdaqtrader.com", "status", status=404, path_contains="mfundslist")
    fallback = _checked(fund_universe, settings)

    assert fallback.success
    assert _metadata(fallback, fund_universe)["source"] == "sec"
    assert named["name"].notna().all() and named["fund_family"].notna().all()
    pd.testing.assert_frame_equal(_fund_details(warehouse_url), named)
    assert all(e.passed for e in fallback.get_asset_check_evaluations())


def test_funds_known_only_from_sec_are_a_counted_warning_not_a_failed_run(
    sim, warehouse_url, small_universe_bounds
) -> None:
    sim.faults.inject("www.nasdaqtrader.com", "status", status=404, path_contains="mfundslist")
    result = _checked(fund_universe, _settings(sim, warehouse_url))

    assert result.success
    failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert list(failed) == ["names_known"]
    assert failed["names_known"].severity == dg.AssetCheckSeverity.WARN
    assert failed["names_known"].metadata["failing"].value == len(_listed(sim, "mutual_fund"))


def test_a_truncated_directory_fails_naming_the_file_and_leaves_the_universe_untouched(sim, warehouse_url) -> None:
    settings = _settings(sim, warehouse_url)
    _materialize(stock_universe, settings)
    before = _assets_table(warehouse_url, "stock", "etf")

    sim.faults.inject("www.nasdaqtrader.com", "truncated", path_contains="otherlisted")
    result = _materialize(stock_universe, settings)

    assert not result.success
    assert "otherlisted.txt" in _failure_message(result)
    pd.testing.assert_frame_equal(before, _assets_table(warehouse_url, "stock", "etf"))


def test_crypto_universe_lists_the_pairs_of_every_configured_exchange(sim, warehouse_url) -> None:
    result = _materialize(crypto_universe, _settings(sim, warehouse_url))

    assert result.success
    expected: dict[str, set[str]] = {}
    for exchange_id in ("binance", "kraken", "coinbaseexchange"):
        markets = sim.crypto.markets(exchange_id)
        for symbol in markets.loc[markets["active"], "symbol"]:
            expected.setdefault(symbol, set()).add(exchange_id)
    with warehouse_engine(warehouse_url).connect() as conn:
        detail = pd.read_sql(sa.text("SELECT symbol, exchanges, primary_exchange FROM crypto"), conn)
    assert set(detail["symbol"]) == set(expected)
    for row in detail.itertuples():
        assert set(row.exchanges.split(",")) == expected[row.symbol]
        assert row.primary_exchange == next(
            e for e in ("binance", "kraken", "coinbaseexchange") if e in expected[row.symbol]
        )
    assert _metadata(result, crypto_universe)["pairs_on_binance"] == len(sim.crypto.markets("binance").query("active"))


def test_an_unknown_exchange_id_fails_clearly_and_changes_nothing(sim, warehouse_url) -> None:
    result = _materialize(crypto_universe, _settings(sim, warehouse_url, crypto_exchanges=("binance", "notanexchange")))

    assert not result.success
    assert "notanexchange" in _failure_message(result)
    assert _assets_table(warehouse_url, "crypto").empty


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("mysql://root@127.0.0.1/lumia", "mysql"),
        ("postgresql+psycopg2://postgres@127.0.0.1:1/lumia", "127.0.0.1:1"),
        ("not a url", "not a url"),
    ],
)
def test_a_bad_warehouse_url_fails_with_a_clear_message(sim, url: str, named: str) -> None:
    result = _materialize(stock_universe, _settings(sim, url))

    assert not result.success
    message = _failure_message(result)
    assert named in message
    assert "LUMIA_WAREHOUSE_URL" in message


@pytest.mark.slow
def test_a_fund_known_only_from_sec_is_named_by_its_first_yahoo_answer(
    sim, warehouse_url, small_universe_bounds, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    sim.faults.inject("www.nasdaqtrader.com", "status", status=404, path_contains="mfundslist")
    settings = settings_for(sim, warehouse_url)
    assert _checked(fund_universe, settings).success
    assert _fund_details(warehouse_url)["name"].isna().all()

    assert materialize(settings, [equity_daily_prices], date(2024, 6, 10)).success

    truth = sim.equities.universe().set_index("symbol")["name"]
    named = _fund_details(warehouse_url).set_index("symbol")["name"]
    assert named.to_dict() == truth[named.index].to_dict()
    assert all(e.passed for e in _checked(fund_universe, settings).get_asset_check_evaluations())


def test_a_retired_symbol_is_asked_again_after_a_week_and_stays_once_it_trades(sim, warehouse_url) -> None:
    settings, now = _settings(sim, warehouse_url), sim.now
    sim.set_clock(now - timedelta(days=8))
    _materialize(stock_universe, settings)
    victim = plain_symbol(sim)
    engine = warehouse_engine(warehouse_url)
    for days_ago in (20, 2):  # "no data" for 20 days, last asked 2 days ago (a halt, say)
        answer = statuses("no_data", victim, checked_at=sim.now - timedelta(days=days_ago))
        record_symbol_status(engine, answer)

    retired = _metadata(_materialize(stock_universe, settings), stock_universe)
    assert (retired["retired_no_data"], retired["retired_no_data_sample"]) == (1, victim)
    assert not _assets_table(warehouse_url, "stock").set_index("symbol").loc[victim, "active"]
    assert _metadata(_materialize(stock_universe, settings), stock_universe)["reprobed_no_data"] == 0
    sim.set_clock(now)  # more than a week after its last answer
    asked_again = _metadata(_materialize(stock_universe, settings), stock_universe)
    assert (asked_again["reprobed_no_data"], asked_again["reactivated"]) == (1, 0)
    assert _metadata(_materialize(stock_universe, settings), stock_universe)["retired_no_data"] == 0  # not yet asked
    assert _assets_table(warehouse_url, "stock").set_index("symbol").loc[victim, "active"]

    session = last_closed_equity_session(sim.now)  # the next price run asks it, and it trades
    run_config = {"ops": {"equity_daily_prices": {"config": {"symbols": [victim]}}}}
    assert materialize(settings_for(sim, warehouse_url), [equity_daily_prices], session, run_config=run_config).success
    kept = _metadata(_materialize(stock_universe, settings), stock_universe)
    assert (kept["retired_no_data"], kept["reprobed_no_data"]) == (0, 0)
    assert _assets_table(warehouse_url, "stock").set_index("symbol").loc[victim, "active"]

"""CoinGecko end to end on both backends: ``crypto_coins`` resolves ambiguous tickers, ``crypto_reference_prices``
equals the simulator's truth at one call per coin, and the reconciliation check passes on agreeing candles and
flags a 3% skew. The real HTTP session layer talks to the simulator's CoinGecko."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.calendars import last_closed_crypto_day
from lumia_assets.defs.prices.assets import crypto_daily_prices
from lumia_assets.defs.prices.checks import PRICE_CHECKS, REFERENCE_AGREEMENT
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.selection import selection_from_env
from lumia_assets.sim.coingecko import CoinGeckoApp
from lumia_assets.sources.coingecko import oldest_served_day
from lumia_assets.warehouse.store import active_symbols
from lumia_assets_tests.defs.checks_helpers import execute, run_checks
from lumia_assets_tests.defs.prices_helpers import ALL_ASSETS, materialize, metadata_of

pytestmark = pytest.mark.slow
CHART = "/market_chart/range"
HOST = "api.coingecko.com"


def _coingecko(sim) -> CoinGeckoApp:
    return sim.server.apps["api.coingecko.com"]


def _table(warehouse_url: str, name: str) -> pd.DataFrame:
    with warehouse_engine(warehouse_url).connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {name}"), conn)  # a fixed table name, no outside input


def _last_days(sim, count: int) -> tuple[date, date]:
    last = last_closed_crypto_day(sim.now)
    return last - timedelta(days=count - 1), last


def test_ambiguous_tickers_resolve_by_market_cap_never_by_first_match(sim, warehouse_url, settings) -> None:
    result = materialize(settings, [crypto_coins])

    assert result.success
    coins = _table(warehouse_url, "coins").set_index("base")
    app = _coingecko(sim)
    listed = [coin.id for coin in app.coins if coin.symbol == "eth"]
    assert listed[0] == "bridged-eth"  # the first match would be the bridged twin
    assert coins.loc["ETH", "coin_id"] == "ethereum"
    assert (coins.loc["ETH", "resolved_by"], coins.loc["ETH", "candidates"]) == ("market_cap", 2)
    twins = {coin.twin_of for coin in app.coins if coin.twin_of}
    assert set(coins.loc[coins["resolved_by"] == "only", "coin_id"]).isdisjoint(twins)
    assert not coins["coin_id"].str.startswith("bridged-").any()
    metadata = metadata_of(result, crypto_coins)
    assert metadata["ambiguous_tickers"] >= 1 and metadata["mapped"] == len(coins)


def test_a_users_mapping_wins_and_an_unknown_id_is_a_clear_error(sim, warehouse_url, settings, monkeypatch) -> None:
    monkeypatch.setenv("LUMIA_COINGECKO_IDS", "ETH=bridged-eth")
    assert materialize(settings, [crypto_coins]).success
    coins = _table(warehouse_url, "coins").set_index("base")
    assert (coins.loc["ETH", "coin_id"], coins.loc["ETH", "resolved_by"]) == ("bridged-eth", "override")

    monkeypatch.setenv("LUMIA_COINGECKO_IDS", "ETH=no-such-coin")
    result = materialize(settings, [crypto_coins])

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "no-such-coin" in str(failure) and "LUMIA_COINGECKO_IDS" in str(failure)
    assert _table(warehouse_url, "coins").set_index("base").loc["ETH", "coin_id"] == "bridged-eth"  # kept


def test_reference_prices_equal_the_truth_at_one_call_per_coin(sim, warehouse_url, settings) -> None:
    first, last = _last_days(sim, 30)
    assert materialize(settings, [crypto_coins]).success
    sim.server.log.clear()

    result = materialize(settings, [crypto_reference_prices], first, last)

    assert result.success
    stored = _table(warehouse_url, "reference_prices")
    app = _coingecko(sim)
    coin_ids = sorted(stored["coin_id"].unique())
    assert (
        len(sim.requests("api.coingecko.com", CHART))
        == len(coin_ids)
        == metadata_of(result, crypto_reference_prices)["coins"]
    )
    for coin_id, rows in stored.groupby("coin_id"):
        truth = app.daily_closes(app.coin(coin_id), first, last)
        dates = pd.to_datetime(rows["date"]).dt.date
        assert list(dates) == list(truth.index)
        assert rows["price_usd"].to_numpy() == pytest.approx(truth.to_numpy(), rel=1e-12)
    assert stored["source"].eq("coingecko").all() and stored["market_cap_usd"].gt(0).all()

    assert materialize(settings, [crypto_reference_prices], first, last).success  # a re-run changes nothing
    assert len(_table(warehouse_url, "reference_prices")) == len(stored)


def test_days_beyond_the_public_plans_365_are_skipped_not_failed(sim, warehouse_url, settings) -> None:
    first, last = _last_days(sim, 400)
    oldest = oldest_served_day(sim.now.date())
    assert materialize(settings, [crypto_coins]).success
    sim.server.log.clear()

    result = materialize(settings, [crypto_reference_prices], first, last)

    assert result.success
    metadata = metadata_of(result, crypto_reference_prices)
    assert metadata["days_not_served"] == (oldest - first).days and metadata["symbols_failed"] == 0
    assert {r.status for r in sim.requests(HOST, CHART)} == {200} and len(sim.requests(HOST, CHART)) == metadata[
        "coins"
    ]
    stored = pd.to_datetime(_table(warehouse_url, "reference_prices")["date"]).dt.date
    assert stored.min() == oldest and stored.max() == last
    assert run_checks(settings, "crypto_reference_prices", first, last)["coverage"].passed  # served days only


def _reconciled(sim, settings, first: date, last: date) -> dg.AssetCheckEvaluation:
    """The reconciliation check's verdict on ``first``..``last``, evaluated in one range run as a backfill runs it
    (one evaluation per partition, all alike)."""
    assert materialize(settings, [crypto_coins]).success
    assert materialize(settings, [crypto_daily_prices], first, last).success
    result = dg.materialize(
        [*ALL_ASSETS, *PRICE_CHECKS],
        selection=dg.AssetSelection.assets(crypto_reference_prices) | dg.AssetSelection.checks(REFERENCE_AGREEMENT),
        resources=build_resources(settings),
        tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
        raise_on_error=False,
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert sorted(e.partition for e in evaluations) == [
        str(first + timedelta(days=n)) for n in range((last - first).days + 1)
    ]
    return evaluations[0]


def test_the_reference_check_passes_on_agreeing_closes(sim, warehouse_url, settings) -> None:
    first, last = _last_days(sim, 5)

    evaluation = _reconciled(sim, settings, first, last)

    assert evaluation.passed, evaluation.metadata["sample"]
    assert evaluation.metadata["checked"].value > 0


def test_the_reference_check_flags_a_three_percent_skew(sim, warehouse_url, settings) -> None:
    first, last = _last_days(sim, 5)
    sim.crypto.set_price_skew("binance", "BTC/USDT", 1.03)

    evaluation = _reconciled(sim, settings, first, last)

    assert not evaluation.passed and evaluation.severity.value == "WARN"
    sample = evaluation.metadata["sample"].value
    assert {row["symbol"] for row in sample} == {"BTC/USDT"}
    assert sample[0]["deviation"] == pytest.approx(0.03, abs=0.002)
    assert evaluation.metadata["failing"].value == (last - first).days + 1


def test_coverage_passes_on_complete_days_and_names_a_missing_coin(sim, warehouse_url, settings) -> None:
    first, last = _last_days(sim, 3)
    assert materialize(settings, [crypto_coins]).success
    assert materialize(settings, [crypto_reference_prices], first, last).success
    complete = run_checks(settings, "crypto_reference_prices", first, last)["coverage"]
    assert complete.passed and complete.metadata["checked"].value == 3

    execute(warehouse_url, "DELETE FROM reference_prices WHERE coin_id = 'ethereum' AND date = :day", day=last)
    thin = run_checks(settings, "crypto_reference_prices", first, last)["coverage"]

    assert not thin.passed and thin.severity == dg.AssetCheckSeverity.WARN
    [day] = thin.metadata["sample"].value
    assert day["date"] == last.isoformat() and day["missing_coins"] == ["ethereum"]


def test_coingecko_429s_are_waited_out(sim, warehouse_url, settings) -> None:
    first, last = _last_days(sim, 3)
    assert materialize(settings, [crypto_coins]).success
    sim.rate_limits.set("api.coingecko.com", 4.0, burst=2)

    result = materialize(settings, [crypto_reference_prices], first, last)

    assert result.success
    metadata = metadata_of(result, crypto_reference_prices)
    assert metadata["upstream_429s"] > 0 and metadata["symbols_failed"] == 0
    coins = _table(warehouse_url, "reference_prices").groupby("coin_id").size()
    assert len(coins) == metadata["coins"] and coins.eq(3).all()


def test_a_demo_key_is_sent_and_a_bad_one_refused(sim, warehouse_url, settings, monkeypatch) -> None:
    monkeypatch.setenv("LUMIA_COINGECKO_API_KEY", "CG-lumia-test")
    assert materialize(settings, [crypto_coins]).success

    monkeypatch.setenv("LUMIA_COINGECKO_API_KEY", "not-a-demo-key")
    result = materialize(settings, [crypto_coins])

    assert not result.success
    assert "401" in str(result.get_step_failure_events()[0].step_failure_data.error)


def test_a_coin_list_gutted_by_an_outage_is_refused_and_the_map_kept(sim, warehouse_url, settings) -> None:
    assert materialize(settings, [crypto_coins]).success
    mapped = _table(warehouse_url, "coins")
    short_list = [{"id": "bitcoin", "symbol": "btc", "name": "Bitcoin"}]  # a cut-short answer, as from a bad edge
    sim.faults.inject(HOST, "status", status=200, body=short_list, path_contains="/coins/list", times=1)

    result = materialize(settings, [crypto_coins])

    assert not result.success
    assert "refusing, the stored map is kept" in str(result.get_step_failure_events()[0].step_failure_data.error)
    pd.testing.assert_frame_equal(_table(warehouse_url, "coins"), mapped)


def test_top_coins_before_any_coin_is_mapped_is_an_error_not_an_empty_run(sim, warehouse_url, settings, monkeypatch
                                                                          ) -> None:  # fmt: skip
    monkeypatch.setenv("LUMIA_CRYPTO_TOP_COINS", "3")
    day = last_closed_crypto_day(sim.now)

    result = materialize(settings, [crypto_daily_prices], day, day)

    assert not result.success
    assert "materialize crypto_coins" in str(result.get_step_failure_events()[0].step_failure_data.error)


def test_top_coins_by_market_cap_narrow_the_priced_pairs(sim, warehouse_url, settings) -> None:
    assert materialize(settings, [crypto_coins]).success
    coins = _table(warehouse_url, "coins")
    top = set(coins.loc[coins["market_cap_rank"] <= 3, "base"])
    assert top

    selection = selection_from_env({"LUMIA_CRYPTO_TOP_COINS": "3"})
    priced = active_symbols(warehouse_engine(warehouse_url), ["crypto"], selection=selection)

    assert len(priced) and {symbol.split("/")[0] for symbol in priced["symbol"]} == top

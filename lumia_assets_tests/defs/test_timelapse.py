"""The time-lapse of ``timelapse.py``: 20 sessions of daily operation, driven only by lumia's schedules and sensors,
through listings, a delisting, a rename, a vanished fund list, a 429 storm, a no-data day, an exchange outage, a
split and a dividend. Afterwards every cell equals the truth, every outage is repaired, and ERROR alerts fired
exactly on the days with a real problem."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.definitions import defs as load_definitions
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets.sim import MarketSimulator
from lumia_assets_tests.timelapse import Timelapse, assert_record_is_the_truth, environment, run_timelapse

pytestmark = [pytest.mark.slow, pytest.mark.longest]


@pytest.fixture
def timelapse(sim: MarketSimulator, warehouse_url: str, tmp_path, monkeypatch) -> Timelapse:
    for name, value in environment(sim, warehouse_url, str(tmp_path / "dagster_home"), "small").items():
        monkeypatch.setenv(name, value)
    return run_timelapse(sim, load_definitions(), dg.DagsterInstance.ephemeral())


def _assets(warehouse_url: str) -> pd.DataFrame:
    query = "SELECT symbol, asset_class, name, active, listed_on FROM assets ORDER BY symbol"
    with warehouse_engine(warehouse_url).connect() as conn:
        frame = pd.read_sql(sa.text(query), conn)
    return frame.assign(active=frame["active"].astype(bool)).set_index("symbol")


def test_twenty_sessions_of_daily_operation_end_true_repaired_and_alerting_only_on_real_problems(
    sim: MarketSimulator, warehouse_url: str, timelapse: Timelapse
) -> None:
    sessions, symbols = timelapse.sessions, timelapse.symbols
    last = sessions[-1]

    origins = {run.origin for run in timelapse.runs}  # every schedule and sensor launched runs
    assert origins == {"universes_before_prices", "equity_prices_after_the_close", "crypto_prices_after_midnight",
                       "crypto_reference_after_midnight", "price_gap_sensor", "adjusted_prices_automation",
                       "freshness_checks_sensor"}  # fmt: skip
    assert timelapse.unexpected_alerts() == []
    assert timelapse.silent_problems() == []
    assert all(run.success for run in timelapse.runs if run.at.date() > sessions[-2])  # the last day is calm

    assert_record_is_the_truth(sim, warehouse_url, last)

    assets = _assets(warehouse_url)
    assert not assets.loc[symbols["delisted"], "active"]
    assert not assets.loc[symbols["renamed"], "active"] and assets.loc[symbols["renamed_to"], "active"]
    assert assets.loc[symbols["listed"], "active"]
    assert pd.Timestamp(assets.loc[symbols["listed"], "listed_on"]).date() == sessions[2]
    funds = assets[assets["asset_class"] == "mutual_fund"]
    assert funds.loc[funds["active"], "name"].notna().all()  # SEC's fallback kept the names; Yahoo named the new
    renames = [
        record.asset_materialization.metadata["renamed_sample"].value
        for record in timelapse.instance.fetch_materializations(dg.AssetKey("fund_universe"), limit=100).records
    ]
    assert f"{symbols['renamed']} -> {symbols['renamed_to']}" in str(renames)
    _assert_reference_prices_are_the_truth(sim, warehouse_url)
    reconciled = timelapse.instance.event_log_storage.get_asset_check_summary_records(
        [dg.AssetCheckKey(dg.AssetKey("crypto_daily_prices"), "reference_agreement")]
    )
    latest = next(iter(reconciled.values())).last_completed_check_execution_record.event.asset_check_evaluation
    assert latest.passed and latest.metadata["checked"].value > 0


def _assert_reference_prices_are_the_truth(sim: MarketSimulator, warehouse_url: str) -> None:
    """Every coin has CoinGecko's price for every day from the first reference run on, equal to the truth."""
    with warehouse_engine(warehouse_url).connect() as conn:
        stored = pd.read_sql(sa.text("SELECT coin_id, date, price_usd FROM reference_prices"), conn)
    stored["date"] = pd.to_datetime(stored["date"]).dt.date
    app = sim.server.apps["api.coingecko.com"]
    first, last = stored["date"].min(), stored["date"].max()
    assert stored["coin_id"].nunique() > 1
    for coin_id, rows in stored.groupby("coin_id"):
        truth = app.daily_closes(app.coin(coin_id), first, last)
        assert list(rows.sort_values("date")["date"]) == list(truth.index), coin_id  # no day missing
        assert rows.sort_values("date")["price_usd"].to_numpy() == pytest.approx(truth.to_numpy(), rel=1e-12)

"""Warehouse maintenance: orphans go, delisted history stays, the duplicate guard, VACUUM/ANALYZE on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.maintenance import (
    remove_duplicate_prices,
    remove_orphans,
    run_maintenance,
    vacuum_analyze,
)
from lumia_assets.warehouse.store import record_symbol_status, upsert_corporate_actions, upsert_daily_prices
from lumia_assets.warehouse.universe import sync_universe
from lumia_assets_tests.warehouse.frames import DAYS, FETCHED_AT, actions, bars, listings, statuses

NO_ORPHANS = {"etf": 0, "mutual_fund": 0, "crypto": 0, "corporate_actions": 0, "symbol_status": 0, "daily_prices": 0}


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    engine = connect_warehouse(warehouse_url)
    yield engine
    engine.dispose()


def _seed(engine: sa.Engine) -> None:
    """AAPL is listed, MSFT was delisted (deactivated); GHOST and AAPL-as-an-ETF never had an assets row."""
    sync_universe(engine, "stock_universe", ("stock",), listings("AAPL", "MSFT"), seen_at=FETCHED_AT)
    sync_universe(engine, "stock_universe", ("stock",), listings("AAPL"), seen_at=FETCHED_AT, max_removed_fraction=0.5)
    upsert_daily_prices(
        engine,
        pd.concat([bars("AAPL", DAYS), bars("MSFT", DAYS), bars("GHOST", DAYS), bars("AAPL", DAYS[:1], 5, "etf")]),
    )
    upsert_corporate_actions(
        engine, pd.concat([actions("MSFT", (DAYS[0], "dividend", 0.1)), actions("GHOST", (DAYS[1], "split", 2.0))])
    )
    record_symbol_status(engine, statuses("ok", "AAPL", "MSFT", "GHOST"))


def _price_keys(engine: sa.Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(sa.text("SELECT DISTINCT symbol, asset_class FROM daily_prices"))}


def test_remove_orphans_deletes_rows_without_an_instrument_and_keeps_delisted_history(engine: sa.Engine) -> None:
    _seed(engine)
    orphans = {**NO_ORPHANS, "corporate_actions": 1, "symbol_status": 1, "daily_prices": 4}

    assert remove_orphans(engine, dry_run=True) == orphans
    assert ("GHOST", "stock") in _price_keys(engine)
    assert remove_orphans(engine) == orphans
    assert _price_keys(engine) == {("AAPL", "stock"), ("MSFT", "stock")}
    assert remove_orphans(engine) == NO_ORPHANS


def test_remove_duplicate_prices_is_a_no_op_behind_the_primary_key(engine: sa.Engine) -> None:
    assert remove_duplicate_prices(engine) == 0


def test_remove_duplicate_prices_raises_when_the_primary_key_is_gone(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite cannot drop a primary key")
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE daily_prices DROP CONSTRAINT pk_daily_prices"))
    try:
        with pytest.raises(RuntimeError, match="duplicate bars are possible"):
            remove_duplicate_prices(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "ALTER TABLE daily_prices ADD CONSTRAINT pk_daily_prices PRIMARY KEY (symbol, asset_class, date)"
                )
            )


def test_vacuum_analyze_runs_outside_a_transaction_and_keeps_the_data(engine: sa.Engine) -> None:
    _seed(engine)
    report = vacuum_analyze(engine)
    assert report.backend == engine.dialect.name
    assert report.statements[0].startswith("VACUUM")
    assert report.seconds >= 0
    assert len(_price_keys(engine)) == 4


def test_run_maintenance_reports_every_step(engine: sa.Engine) -> None:
    _seed(engine)
    report = run_maintenance(engine, vacuum=False)
    assert (report.orphans["daily_prices"], report.duplicate_prices, report.vacuum) == (4, 0, None)
    assert run_maintenance(engine).vacuum is not None

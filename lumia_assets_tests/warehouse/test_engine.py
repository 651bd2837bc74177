"""Connecting and migrating: automatic, idempotent, concurrent-safe, and clear about bad URLs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from lumia_assets.warehouse.engine import WarehouseError, connect_warehouse, parse_warehouse_url

TABLES = {
    "assets",
    "etf",
    "mutual_fund",
    "crypto",
    "daily_prices",
    "corporate_actions",
    "symbol_status",
    "universe_snapshots",
}


def test_first_use_creates_every_table(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES


def test_migrating_twice_and_concurrently_is_harmless(warehouse_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: connect_warehouse(warehouse_url), range(4)))
    with engines[0].connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0001"


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = connect_warehouse(f"sqlite:///{tmp_path / 'nested' / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"


@pytest.mark.parametrize("raw", ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"])
def test_postgresql_urls_always_use_psycopg2(raw: str) -> None:
    assert parse_warehouse_url(raw).drivername == "postgresql+psycopg2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "is not a SQLAlchemy URL"),
        ("mysql://root@127.0.0.1/lumia", "uses the 'mysql' backend"),
        ("sqlite://", "has no database file"),
        ("postgresql+psycopg2://postgres:secret@127.0.0.1:1/lumia", "cannot connect to the warehouse"),
    ],
)
def test_a_bad_url_is_a_clear_error_that_masks_the_password(raw: str, message: str) -> None:
    with pytest.raises(WarehouseError, match=message) as error:
        connect_warehouse(raw)
    assert "LUMIA_WAREHOUSE_URL" in str(error.value)
    assert "secret" not in str(error.value)


def test_a_missing_postgresql_database_is_named(postgres_database_url: str) -> None:
    missing = sa.engine.make_url(postgres_database_url).set(database="lumia_no_such_db")
    with pytest.raises(WarehouseError, match="lumia_no_such_db"):
        connect_warehouse(missing.render_as_string(hide_password=False))

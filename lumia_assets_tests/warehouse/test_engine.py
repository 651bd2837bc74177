"""Connecting and migrating: automatic, idempotent, concurrent-safe, data-preserving, and clear about bad URLs."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from lumia_assets.warehouse.engine import (
    MIGRATIONS_DIR,
    WarehouseError,
    connect_warehouse,
    create_warehouse_engine,
    parse_warehouse_url,
)
from lumia_assets.warehouse.store import upsert_daily_prices
from lumia_assets_tests.warehouse.frames import DAYS, bars

HEAD = "0007"  # the newest migration
TABLES = {
    "assets",
    "etf",
    "mutual_fund",
    "crypto",
    "daily_prices",
    "corporate_actions",
    "symbol_status",
    "universe_snapshots",
    "gap_repairs",
    "priced_instruments",
    "coins",
    "reference_prices",
}
CONNECT_IN_A_CHILD = (
    "import sys; from lumia_assets.warehouse.engine import connect_warehouse; connect_warehouse(sys.argv[1])"
)


def _revision(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()


def test_first_use_creates_every_table(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert _revision(engine) == HEAD


def test_a_warehouse_of_the_previous_version_upgrades_keeping_its_rows(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")  # a new SQLite file
        command.downgrade(config, "0001")  # the suite's PostgreSQL database, already at head
        columns = "symbol, asset_class, date, close, adj_close, source, fetched_at"
        conn.execute(
            sa.text(
                f"INSERT INTO daily_prices ({columns}) VALUES ('AAPL', 'stock', :day, 193.12, 192.5, 'yahoo', :at)"
            ),
            {"day": DAYS[0], "at": datetime(2024, 12, 3, tzinfo=UTC)},
        )
    engine = connect_warehouse(warehouse_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT close, served_adj_close, served_as_of FROM daily_prices")).one()
        derived = conn.execute(sa.text("SELECT adj_close FROM adjusted_prices")).scalar_one()
    assert tuple(row) == (193.12, 192.5, None)
    assert derived == 193.12
    assert _revision(engine) == HEAD


def test_migrating_from_many_threads_at_once_is_harmless(warehouse_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: connect_warehouse(warehouse_url), range(4)))
    assert {_revision(engine) for engine in engines} == {HEAD}


def test_two_processes_migrating_at_once_both_succeed(warehouse_url: str) -> None:
    children = [
        subprocess.Popen([sys.executable, "-c", CONNECT_IN_A_CHILD, warehouse_url], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    errors = [child.communicate(timeout=60)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    assert _revision(connect_warehouse(warehouse_url)) == HEAD


def test_migrating_again_keeps_the_data(warehouse_url: str) -> None:
    upsert_daily_prices(connect_warehouse(warehouse_url), bars("AAPL", DAYS))
    engine = connect_warehouse(warehouse_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM daily_prices")).scalar_one() == len(DAYS)


def _stamp(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})


def test_a_warehouse_from_a_newer_release_is_refused_by_name(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    _stamp(engine, "9999")
    try:
        with pytest.raises(WarehouseError, match=r"'9999'.*newer lumia_assets"):
            connect_warehouse(warehouse_url)
    finally:
        _stamp(engine, HEAD)  # the PostgreSQL database is shared by the session's tests


def test_sqlite_runs_in_wal_mode_with_foreign_keys_in_a_created_directory(tmp_path: Path) -> None:
    engine = connect_warehouse(f"sqlite:///{tmp_path / 'nested' / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000


@pytest.mark.parametrize("raw", ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"])
def test_postgresql_urls_always_use_psycopg2(raw: str) -> None:
    assert parse_warehouse_url(raw).drivername == "postgresql+psycopg2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "is not a SQLAlchemy URL"),
        ("postgresql://postgres:secret@127.0.0.1:port/lumia", "is not a SQLAlchemy URL"),
        ("mysql://root:secret@127.0.0.1/lumia", "uses the 'mysql' backend"),
        ("sqlite://", "has no database file"),
        ("sqlite:////proc/lumia/warehouse.db", "cannot create /proc/lumia"),
        ("postgresql+psycopg2://postgres:secret@127.0.0.1:1/lumia", "cannot connect to the warehouse"),
    ],
)
def test_a_bad_url_is_a_clear_error_that_masks_the_password(raw: str, message: str) -> None:
    with pytest.raises(WarehouseError, match=message) as error:
        connect_warehouse(raw)
    assert "LUMIA_WAREHOUSE_URL" in str(error.value)
    assert "secret" not in str(error.value)


def test_a_missing_postgresql_database_is_named_and_not_created(postgres_database_url: str) -> None:
    missing = sa.engine.make_url(postgres_database_url).set(database="lumia_no_such_db")
    with pytest.raises(WarehouseError, match=r"lumia_no_such_db.*database exists"):
        connect_warehouse(missing.render_as_string(hide_password=False))
    admin = sa.create_engine(postgres_database_url)
    with admin.connect() as conn:
        names = conn.execute(sa.text("SELECT datname FROM pg_database")).scalars().all()
    admin.dispose()
    assert "lumia_no_such_db" not in names


def test_head_revision_is_alembics_head_and_a_current_warehouse_skips_alembic(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from lumia_assets.warehouse.engine import HEAD_REVISION, MIGRATIONS_DIR, schema_is_current

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    url = f"sqlite:///{tmp_path / 'w.db'}"
    probe = (
        "import sys, sqlalchemy as sa\n"
        "from lumia_assets.warehouse.engine import connect_warehouse, schema_is_current\n"
        f"engine = connect_warehouse({url!r})\n"
        "print(schema_is_current(engine), 'alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert first == ["True", "True"]  # a new warehouse is migrated with Alembic
    assert again == ["True", "False"]  # a current one is opened without it
    assert not schema_is_current(sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}"))

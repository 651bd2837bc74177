"""Connecting to the warehouse: URL validation, SQLite pragmas, and automatic Alembic migrations."""

from __future__ import annotations

import fcntl
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0007"  # the newest migration under migrations/versions; a test checks it against Alembic
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
MIGRATION_LOCK_ID = 0x6C756D6961  # "lumia": one PostgreSQL advisory lock for schema upgrades


class WarehouseError(RuntimeError):
    """The warehouse can't be used: a bad URL, an unreachable server, a failed migration."""


def _describe(url: URL | str) -> str:
    """The URL for a message, its password masked (also in strings SQLAlchemy could not parse)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def parse_warehouse_url(raw: str) -> URL:
    """Parse and normalise ``LUMIA_WAREHOUSE_URL``; PostgreSQL always goes through psycopg2."""
    try:
        url = sa.engine.make_url(raw)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise WarehouseError(
            f"LUMIA_WAREHOUSE_URL={_describe(raw)!r} is not a SQLAlchemy URL; use e.g. sqlite:////path/warehouse.db "
            "or postgresql+psycopg2://user:password@host:5432/database"
        ) from exc
    backend = url.get_backend_name()
    if backend == "postgres" or (backend == "postgresql" and url.get_driver_name() != "psycopg2"):
        url = url.set(drivername="postgresql+psycopg2")
        backend = "postgresql"
    if backend not in SUPPORTED_BACKENDS:
        raise WarehouseError(
            f"LUMIA_WAREHOUSE_URL={_describe(url)!r} uses the {backend!r} backend; "
            "the warehouse supports sqlite and postgresql+psycopg2"
        )
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise WarehouseError(
            f"LUMIA_WAREHOUSE_URL={_describe(url)!r} has no database file; an in-memory SQLite warehouse would "
            "lose every row between processes. Use sqlite:////absolute/path/warehouse.db"
        )
    return url


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    """WAL, a busy timeout and foreign keys; and let SQLAlchemy, not pysqlite, begin transactions."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA busy_timeout=30000")
    _switch_to_wal(dbapi_connection)
    for pragma in ("synchronous=NORMAL", "foreign_keys=ON"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _switch_to_wal(dbapi_connection: sqlite3.Connection, attempts: int = 300) -> None:
    """Enter WAL mode. The switch needs the database to itself and ignores the busy timeout, so wait for it."""
    for _ in range(attempts - 1):
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.1)
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _begin_sqlite_transaction(conn: Connection) -> None:
    """Begin with the write lock: DDL becomes transactional, and read-then-write never fails with SQLITE_BUSY."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_parent_directory(url: URL) -> None:
    directory = Path(url.database).expanduser().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(
            f"cannot create {directory} for the warehouse LUMIA_WAREHOUSE_URL={_describe(url)!r}: {exc.strerror}. "
            "Point it at a writable directory."
        ) from exc


def create_warehouse_engine(raw_url: str) -> Engine:
    """An engine for ``raw_url`` that has been checked to connect (no schema changes)."""
    url = parse_warehouse_url(raw_url)
    if url.get_backend_name() == "sqlite":
        _create_parent_directory(url)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _configure_sqlite_connection)
        sa.event.listen(engine, "begin", _begin_sqlite_transaction)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise WarehouseError(
            f"cannot connect to the warehouse LUMIA_WAREHOUSE_URL={_describe(url)!r}: {reason}. "
            "Check that the server is running and the database exists."
        ) from exc
    return engine


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (SQLite has no advisory locks)."""
    lock_path = Path(f"{engine.url.database}.migrate.lock")
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def schema_is_current(engine: Engine) -> bool:
    """Whether the warehouse is at ``HEAD_REVISION`` already: one query, without loading Alembic."""
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    except sa.exc.SQLAlchemyError:  # no alembic_version table yet: a new warehouse
        return False


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest Alembic revision. Idempotent, safe across processes, never drops data.

    PostgreSQL serialises concurrent upgrades with an advisory lock, SQLite with a lock file beside the database.
    A warehouse already at the newest revision (every step of every run but the first) costs one query: Alembic
    and its migration scripts load only when there is something to upgrade.
    """
    if schema_is_current(engine):
        return
    from alembic import command  # loads where a warehouse is first opened, not with the code location
    from alembic.config import Config
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        with _sqlite_file_lock(engine) if is_sqlite else nullcontext(), engine.begin() as conn:
            if not is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": MIGRATION_LOCK_ID})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        raise WarehouseError(
            f"migrating the warehouse at {_describe(engine.url)!r} failed: {exc}. Nothing was changed; if the "
            "warehouse was migrated by a newer lumia_assets, upgrade this installation."
        ) from exc


def connect_warehouse(raw_url: str) -> Engine:
    """Connect to the warehouse at ``raw_url`` and bring its schema up to date."""
    engine = create_warehouse_engine(raw_url)
    try:
        migrate(engine)
    except WarehouseError:
        engine.dispose()
        raise
    return engine


@cache
def warehouse_engine(url: str) -> Engine:
    """One migrated engine per warehouse URL and process."""
    return connect_warehouse(url)

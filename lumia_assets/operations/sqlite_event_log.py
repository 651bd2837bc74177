"""Dagster's SQLite event log, keeping its database connections from one event to the next.

Dagster's SQLite event log builds a new engine and opens a new connection for every statement group it runs, and
closing a database's last connection checkpoints its write-ahead log: about 10 ms an event, most of a stored event's
cost. A range run's check step stores one evaluation per check and partition (2,555 for a year of crypto). This
subclass keeps an engine and an idle connection for each database it used recently; schema, queries and locking
are Dagster's. ``dagster.yaml`` names it as the instance's ``event_log_storage``, in the folder Dagster's default
storage uses (``$DAGSTER_HOME/history/runs``); bench/events.py measures it.

It also commits with ``PRAGMA synchronous=NORMAL`` (config ``synchronous``, default ``NORMAL``): in write-ahead-log
mode, which Dagster's databases use, a commit then waits for no ``fsync``, half of what remains of an event's cost.
SQLite's documented trade-off: a crash of the machine (power, kernel) may roll back the last events committed
before it, a crash of a process loses nothing, and the database is never corrupted. ``FULL`` is Dagster's default.
The warehouse is a database of its own, untouched by this.
"""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster._core.instance.ref import _event_logs_directory
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

OPEN_DATABASES = 8  # the index and the runs used last: a daemon that reads many runs reopens the older ones
POOL_SIZE = 1  # one idle connection a database: the storage runs one statement group at a time (its lock)
POOL_OVERFLOW = 2  # Dagster's schema set-up inspects a new database while holding a connection to it
SYNCHRONOUS = ("NORMAL", "FULL")
DEFAULT_SYNCHRONOUS = "NORMAL"


def default_directory() -> str:
    """Where Dagster's default SQLite storage keeps the event log: ``$DAGSTER_HOME/history/runs``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise dg.DagsterInvalidConfigError(
            f"{PooledSqliteEventLogStorage.__name__}: DAGSTER_HOME is not set, so there is no default base_dir; "
            "set DAGSTER_HOME or give event_log_storage a base_dir",
            [],
            None,
        )
    return _event_logs_directory(home)


class RecentEngines:
    """Engines by database, at most ``limit`` (the least recently used is disposed), and none inherited: a forked
    process (the multiprocess executor forks every step) drops its parent's unclosed, as SQLAlchemy prescribes."""

    def __init__(self, limit: int) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._limit = limit
        self._pid = os.getpid()

    def get(self, name: str) -> Engine | None:
        """The engine kept for ``name``, if this process made one."""
        if os.getpid() != self._pid:
            for engine in self._engines.values():
                engine.dispose(close=False)  # the parent's connections stay open for the parent
            self._engines.clear()
            self._pid = os.getpid()
        engine = self._engines.get(name)
        if engine is not None:
            self._engines.move_to_end(name)
        return engine

    def add(self, name: str, engine: Engine) -> None:
        """Keep ``engine`` for ``name``, disposing the least recently used beyond the limit."""
        self._engines[name] = engine
        if len(self._engines) > self._limit:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()

    def dispose(self) -> None:
        """Close every kept connection."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (a database per run, and an index) with an engine and an idle connection kept
    for each database used recently, instead of a new engine and connection for every statement group."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None,
                 synchronous: str = DEFAULT_SYNCHRONOUS) -> None:  # fmt: skip
        if synchronous not in SYNCHRONOUS:
            raise dg.DagsterInvalidConfigError(
                f"{type(self).__name__}: synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}",
                [],
                synchronous,
            )
        self._synchronous = synchronous
        self._recent = RecentEngines(limit=OPEN_DATABASES)  # before Dagster's set-up, which already connects
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {
            "base_dir": dg.Field(
                dg.StringSource,
                is_required=False,
                description="The run databases' folder; by default $DAGSTER_HOME/history/runs, as Dagster's own.",
            ),
            "synchronous": dg.Field(
                dg.Enum("SqliteSynchronous", [dg.EnumValue(mode) for mode in SYNCHRONOUS]),
                default_value=DEFAULT_SYNCHRONOUS,
                description="SQLite's PRAGMA synchronous for the event log's commits: NORMAL, or FULL (Dagster's).",
            ),
        }

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(
            config_value.get("base_dir") or default_directory(),
            inst_data=inst_data,
            synchronous=config_value.get("synchronous", DEFAULT_SYNCHRONOUS),
        )

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _engine(self, shard: str) -> Engine:
        engine = self._recent.get(shard)
        if engine is None:
            engine = create_engine(
                create_db_conn_string(self._base_dir, shard),
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                # the lock above serialises the threads that share a connection (the event watcher's, the step's)
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            sa.event.listen(engine, "connect", self._configure)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            self._recent.add(shard, engine)
        return engine

    def _configure(self, dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute(f"PRAGMA synchronous={self._synchronous}")  # one of SYNCHRONOUS, never user text

    def has_table(self, table_name: str) -> bool:
        """Whether the index has ``table_name``. Dagster asks before every check evaluation and asset event, each
        time over an engine of its own; a table once there stays (migrations only add them), so a yes is kept."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def wipe(self) -> None:
        with self._db_lock:
            self._recent.dispose()  # wiping deletes the run databases: no connection may hold one open
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            self._recent.dispose()

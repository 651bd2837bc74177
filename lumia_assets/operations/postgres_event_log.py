"""dagster-postgres's event log, keeping a server session from one event to the next.

dagster-postgres opens a new PostgreSQL session for every statement group outside dagster-webserver (a connection,
authentication, and its close): about three quarters of an event's cost, about 11 ms of 13 on loopback with trust
authentication, more over a network or with TLS. A range run's check step stores one evaluation per check and
partition (2,555 for a year of crypto). This subclass gives each process the small pool dagster-webserver already
uses; schema and queries are dagster-postgres's. ``deploy/dagster.postgres.yaml`` names it as the instance's
``event_log_storage``; bench/events.py measures it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import (
    create_pg_connection,
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy.engine import Connection

POOL_SIZE = 2  # idle sessions a process keeps: an asset event's transaction holds one while Dagster asks for another
POOL_OVERFLOW = 4  # the event watcher's polling thread, and bursts from a run's other threads
POOL_RECYCLE_SECONDS = 3600  # as dagster-webserver's: no session outlives an hour


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres's event log with a small pool of sessions per process. A forked process (the multiprocess
    executor forks every step) drops its parent's sessions unclosed, as SQLAlchemy prescribes, and opens its own."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None) -> None:  # fmt: skip
        self._pid = os.getpid()  # before dagster-postgres's set-up, which already connects
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._engine.dispose()
        self._engine = create_pg_engine(
            postgres_url,
            token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,  # a session the server dropped (a restart, an idle timeout) is replaced, not an error
        )

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def _connect(self) -> AbstractContextManager[Connection]:
        if os.getpid() != self._pid:
            self._engine.dispose(close=False)  # the parent's sessions stay open for the parent
            self._pid = os.getpid()
        return create_pg_connection(self._engine)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()

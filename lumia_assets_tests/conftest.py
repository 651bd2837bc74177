"""Fixtures shared by the whole suite: both warehouse backends, and the market simulator.

PostgreSQL is not optional: when 127.0.0.1:5432 (or ``LUMIA_TEST_POSTGRES_URL``) is unreachable,
every PostgreSQL-parametrized test errors instead of skipping, so CI goes red.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    from lumia_assets.sim import MarketSimulator


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_ADMIN_URL = os.environ.get("LUMIA_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the ``longest`` tests evenly over the run order, each at the head of an equal share. pytest-xdist's
    worksteal scheduler hands each worker a contiguous share of this order, so with two workers each starts with
    one of them, beside the short tests, instead of both being left to run last on two otherwise idle workers."""
    longest = [item for item in items if item.get_closest_marker("longest")]
    if not longest:
        return
    rest = [item for item in items if not item.get_closest_marker("longest")]
    share = -(-len(rest) // len(longest))  # ceiling: every share but the last is full
    items[:] = [test for n, head in enumerate(longest) for test in [head, *rest[n * share : (n + 1) * share]]]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real public market-data files (read-only fixtures)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: the suite needs ../shared/data beside the checkout")
    return SHARED_DATA


@contextmanager
def fresh_postgres_databases(count: int, prefix: str) -> Iterator[list[str]]:
    """``count`` new, empty databases on the test server, named ``prefix_<random>``; dropped afterwards, even
    if a connection still holds one. The suite fails, never skips, when the server is unreachable."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = [f"{prefix}_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL}: {exc}. The suite needs it.")
    try:
        yield names
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_url(database: str) -> str:
    """The URL of ``database`` on the test server."""
    return sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def dagster_pg_environment(database: str) -> dict[str, str]:
    """The ``DAGSTER_PG_*`` variables deploy/dagster.postgres.yaml reads, for ``database`` on the test server."""
    admin = sa.engine.make_url(POSTGRES_ADMIN_URL)
    return {
        "DAGSTER_PG_USERNAME": admin.username or "postgres",
        "DAGSTER_PG_PASSWORD": admin.password or "",
        "DAGSTER_PG_HOST": admin.host or "127.0.0.1",
        "DAGSTER_PG_DB": database,
    }


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, dropped at the end."""
    with fresh_postgres_databases(1, "lumia_test") as (name,):
        yield postgres_url(name)


def _empty_postgres_tables(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
        if tables:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty warehouse URL, once per backend: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    url = request.getfixturevalue("postgres_database_url")
    _empty_postgres_tables(url)
    return url


@pytest.fixture(autouse=True)
def isolated_yfinance(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh yfinance for every test: its own cookie and time-zone cache, no shared session, crumb, memoized
    answers or raised-errors switch left behind by an earlier test."""
    import yfinance as yf
    import yfinance.base
    import yfinance.cache
    from yfinance.data import SingletonMeta, YfData

    monkeypatch.setattr(yfinance.cache._CookieCacheManager, "_Cookie_cache", None)
    monkeypatch.setattr(yfinance.cache._TzCacheManager, "_tz_cache", None)
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))
    monkeypatch.delitem(SingletonMeta._instances, YfData, raising=False)
    monkeypatch.setattr(yfinance.base, "_tz_info_fetch_ctr", 0)
    hide_exceptions = yf.config.debug.hide_exceptions
    YfData.cache_get.cache_clear()
    yield
    yf.config.debug.hide_exceptions = hide_exceptions
    SingletonMeta._instances.pop(YfData, None)


@pytest.fixture(scope="session")
def simulator() -> Iterator[MarketSimulator]:
    """One small-profile simulator on a free loopback port for the whole session."""
    from lumia_assets.sim import MarketSimulator, SimConfig

    sim = MarketSimulator(SimConfig(profile="small"))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: MarketSimulator, monkeypatch: pytest.MonkeyPatch) -> MarketSimulator:
    """The session simulator with clean faults, rate limits, request log and clock, upstream routed to it and
    lumia's clock following its clock."""
    from lumia_assets import clock

    simulator.reset()
    monkeypatch.setenv("LUMIA_UPSTREAM_URL", simulator.url)
    monkeypatch.setattr(clock, "utc_now", lambda: simulator.now)  # lumia and its upstream agree on "today"
    return simulator

"""The instances the product ships (dagster.yaml, deploy/dagster.postgres.yaml) keep their event logs' connections
from one event to the next, store what Dagster's own event logs store, and never share a connection with a
forked process."""

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from lumia_assets.operations.postgres_event_log import PooledPostgresEventLogStorage
from lumia_assets.operations.sqlite_event_log import PooledSqliteEventLogStorage, RecentEngines
from lumia_assets_tests.conftest import REPO_ROOT, dagster_pg_environment, fresh_postgres_databases, postgres_url

PRODUCT_INSTANCE = {"sqlite": REPO_ROOT / "dagster.yaml", "postgresql": REPO_ROOT / "deploy" / "dagster.postgres.yaml"}
DAGSTERS_OWN = {
    "sqlite": "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n",
    "postgresql": "storage:\n  postgres:\n    postgres_url:\n      env: LUMIA_TEST_DAGSTER_PG_URL\n",
}
POOLED = {"sqlite": PooledSqliteEventLogStorage, "postgresql": PooledPostgresEventLogStorage}
DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
CHECKS = 3

InstanceFactory = Callable[[str], dg.DagsterInstance]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def instances(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstanceFactory]:
    """Instances on ``backend``, each in a home (and PostgreSQL database) of its own: ``"product"`` from the file
    the product ships, ``"dagster"`` with Dagster's own storage of that backend."""
    with ExitStack() as stack:

        def make(kind: str) -> dg.DagsterInstance:
            home = tmp_path / kind
            home.mkdir()
            if kind == "product":
                shutil.copyfile(PRODUCT_INSTANCE[backend], home / "dagster.yaml")
            else:
                (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + DAGSTERS_OWN[backend])
            monkeypatch.setenv("DAGSTER_HOME", str(home))
            if backend == "postgresql":
                (database,) = stack.enter_context(fresh_postgres_databases(1, "lumia_events"))
                for name, value in dagster_pg_environment(database).items():
                    monkeypatch.setenv(name, value)
                monkeypatch.setenv("LUMIA_TEST_DAGSTER_PG_URL", postgres_url(database))
            instance = dg.DagsterInstance.get()
            stack.callback(instance.dispose)  # before its database is dropped: the stack unwinds in reverse
            return instance

        yield make


@dg.asset(partitions_def=DAYS)
def prices() -> None:
    """A partitioned asset for the checks to judge."""


SPECS = [dg.AssetCheckSpec(f"check_{n}", asset=prices, partitions_def=DAYS) for n in range(CHECKS)]


@dg.multi_asset_check(specs=SPECS, can_subset=True)
def verdicts(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckEvaluation]:
    """A range run's verdicts as the product's check steps yield them: one per check and partition, the last
    partition failing."""
    for key in context.partition_keys:
        for spec in SPECS:
            yield dg.AssetCheckEvaluation(asset_key=spec.asset_key, check_name=spec.name, partition=key,
                                          passed=key != context.partition_keys[-1], blocking=False)  # fmt: skip


def _range_run(instance: dg.DagsterInstance, partitions: int) -> int:
    """Materialize ``verdicts`` over the first ``partitions`` days; the DBAPI connections it opened."""
    keys = DAYS.get_partition_keys()[:partitions]
    opened = []

    def count(dbapi_connection: object, record: object) -> None:
        opened.append(dbapi_connection)

    sa.event.listen(sa.engine.Engine, "connect", count)
    try:
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        assert dg.materialize([prices, verdicts], instance=instance, tags=tags).success
    finally:
        sa.event.remove(sa.engine.Engine, "connect", count)
    return len(opened)


def test_the_shipped_instances_name_the_pooled_event_logs(instances: InstanceFactory, backend: str) -> None:
    instance = instances("product")
    assert type(instance.event_log_storage) is POOLED[backend]
    if backend == "sqlite":  # where Dagster's default storage keeps it, so an existing home keeps its history
        assert Path(instance.event_log_storage._base_dir) == Path(os.environ["DAGSTER_HOME"]) / "history" / "runs"


def test_a_range_runs_verdicts_are_stored_as_dagsters_own_event_log_stores_them_without_a_connection_each(
    instances: InstanceFactory,
) -> None:
    short, long = 3, 12
    stored, opened = {}, {}
    for kind in ("dagster", "product"):
        instance = instances(kind)
        _range_run(instance, 1)  # the first run also creates tables, snapshots and indexes
        opened[kind] = _range_run(instance, long) - _range_run(instance, short)  # what the extra evaluations cost
        stored[kind] = {
            spec.name: sorted(
                (record.partition, record.status.value)
                for record in instance.event_log_storage.get_asset_check_execution_history(spec.key, limit=100)
            )
            for spec in SPECS
        }
    assert stored["product"] == stored["dagster"]
    assert all(len(history) == 1 + short + long for history in stored["product"].values())
    assert opened["dagster"] >= (long - short) * CHECKS  # at least a connection an evaluation
    assert opened["product"] == 0  # the same connections, however many evaluations a run stores


def test_a_forked_process_opens_its_own_connection_and_leaves_its_parents(instances: InstanceFactory) -> None:
    storage = instances("product").event_log_storage
    with storage.index_connection() as conn:
        inherited = conn.connection.dbapi_connection
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through its exit code)
        code = 3
        try:
            with storage.index_connection() as conn:
                own = conn.connection.dbapi_connection is not inherited
                code = 0 if own and conn.execute(sa.text("SELECT 1")).scalar() == 1 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with storage.index_connection() as conn:
        assert conn.connection.dbapi_connection is inherited  # kept between uses, and still the parent's to use
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("backend", ["sqlite"])  # only SQLite's wipe deletes database files
def test_a_wiped_sqlite_event_log_stores_and_reads_again(instances: InstanceFactory) -> None:
    instance = instances("product")
    _range_run(instance, 2)
    instance.event_log_storage.wipe()
    assert not instance.event_log_storage.get_asset_check_execution_history(SPECS[0].key, limit=10)
    _range_run(instance, 3)
    assert len(instance.event_log_storage.get_asset_check_execution_history(SPECS[0].key, limit=10)) == 3


@pytest.mark.parametrize(("config", "synchronous"), [({}, 1), ({"synchronous": "FULL"}, 2)])  # NORMAL, FULL
def test_the_sqlite_event_log_commits_as_configured(tmp_path: Path, config: dict, synchronous: int) -> None:
    storage = PooledSqliteEventLogStorage.from_config_value(None, {"base_dir": str(tmp_path), **config})
    with storage.index_connection() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == synchronous
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"  # where NORMAL never corrupts
    storage.dispose()


def test_an_unknown_synchronous_mode_is_refused_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(dg.DagsterInvalidConfigError, match="NORMAL, FULL, not 'OFF'"):
        PooledSqliteEventLogStorage(str(tmp_path), synchronous="OFF")


def test_without_dagster_home_or_base_dir_the_sqlite_event_log_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"DAGSTER_HOME is not set.*base_dir"):
        PooledSqliteEventLogStorage.from_config_value(None, {})
    storage = PooledSqliteEventLogStorage.from_config_value(None, {"base_dir": str(tmp_path)})
    assert storage.get_all_run_ids() == [] and (tmp_path / "index.db").is_file()
    storage.dispose()


class _Engine:
    def __init__(self) -> None:
        self.disposed = 0

    def dispose(self, close: bool = True) -> None:
        self.disposed += 1


def test_recent_engines_dispose_the_least_recently_used_beyond_their_limit() -> None:
    recent = RecentEngines(limit=2)
    first, second, third = _Engine(), _Engine(), _Engine()
    recent.add("index", first)
    recent.add("run-a", second)
    assert recent.get("index") is first  # now the most recently used
    recent.add("run-b", third)
    assert (first.disposed, second.disposed, third.disposed) == (0, 1, 0)
    assert recent.get("run-a") is None and recent.get("index") is first and recent.get("run-b") is third

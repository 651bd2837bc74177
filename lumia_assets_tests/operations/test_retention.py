"""Run-history retention against a real (temporary) Dagster instance seeded with runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from lumia_assets.operations.retention import prune_runs


@dg.asset
def trivial() -> int:
    print("computed")
    return 1


@dg.asset
def broken() -> int:
    raise RuntimeError("upstream down")


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        yield instance


def _seed(instance: dg.DagsterInstance) -> tuple[list[str], datetime]:
    """A materializing, a failed and a materializing run, then one still in progress; and the third's creation."""
    for asset in (trivial, broken, trivial):
        dg.materialize([asset], instance=instance, raise_on_error=False)
    instance.add_run(dg.DagsterRun(job_name="prices", status=dg.DagsterRunStatus.STARTED))
    records = instance.get_run_records(ascending=True)
    return [r.dagster_run.run_id for r in records], records[2].create_timestamp


def _run_ids(instance: dg.DagsterInstance) -> list[str]:
    return [r.dagster_run.run_id for r in instance.get_run_records(ascending=True)]


def test_dry_run_lists_runs_created_before_the_cutoff_and_deletes_nothing(instance: dg.DagsterInstance) -> None:
    (materialized, failed, *_), cutoff = _seed(instance)
    before = _run_ids(instance)
    assert prune_runs(instance, cutoff, dry_run=True, keep_materializing_runs=False) == [materialized, failed]
    assert _run_ids(instance) == before


def test_prune_deletes_runs_with_their_event_and_compute_logs(instance: dg.DagsterInstance, tmp_path: Path) -> None:
    (materialized, failed, recent, started), cutoff = _seed(instance)
    compute_logs = tmp_path / "storage" / materialized
    assert compute_logs.is_dir() and instance.all_logs(materialized)

    elsewhere = cutoff.astimezone(timezone(timedelta(hours=-5)))
    assert prune_runs(instance, elsewhere, keep_materializing_runs=False) == [materialized, failed]
    assert _run_ids(instance) == [recent, started]
    assert instance.all_logs(materialized) == []
    assert not compute_logs.exists()


def test_runs_that_materialized_or_are_unfinished_are_kept_by_default(instance: dg.DagsterInstance) -> None:
    (materialized, failed, recent, started), _ = _seed(instance)
    assert prune_runs(instance, datetime.now(UTC) + timedelta(days=1)) == [failed]
    assert _run_ids(instance) == [materialized, recent, started]


def test_a_naive_cutoff_is_refused(instance: dg.DagsterInstance) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        prune_runs(instance, datetime(2024, 1, 1))

"""Dagster run-history retention: delete finished runs created before a cutoff, with their event and compute logs.

Deleting a run deletes its event log, asset materialization events included: Dagster then forgets that the run
materialized its partitions (they can show as missing, and automation may materialize them again). So runs that
recorded a materialization are kept unless ``keep_materializing_runs=False``; failed, canceled and
materialization-free runs (sensor, maintenance and check-only runs) are what retention usually clears.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dagster as dg

_LOG = logging.getLogger(__name__)
FINISHED_STATUSES = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
PAGE_SIZE = 500


def _finished_run_ids(instance: dg.DagsterInstance, older_than: datetime) -> list[str]:
    """Ids of finished runs created strictly before ``older_than``, oldest first."""
    filters = dg.RunsFilter(created_before=older_than, statuses=list(FINISHED_STATUSES))
    run_ids: list[str] = []
    while True:
        cursor = run_ids[-1] if run_ids else None
        page = instance.get_run_records(filters=filters, limit=PAGE_SIZE, ascending=True, cursor=cursor)
        run_ids += [record.dagster_run.run_id for record in page]
        if len(page) < PAGE_SIZE:
            return run_ids


def _materialized(instance: dg.DagsterInstance, run_id: str) -> bool:
    events = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1)
    return bool(events.records)


def prune_runs(
    instance: dg.DagsterInstance,
    older_than: datetime,
    dry_run: bool = False,
    *,
    keep_materializing_runs: bool = True,
    logger: logging.Logger = _LOG,
) -> list[str]:
    """Delete finished runs created before ``older_than`` (tz-aware), their event logs and compute logs.

    Runs still queued or in progress are never touched; see the module docstring for
    ``keep_materializing_runs``. Returns the ids deleted, oldest first; with ``dry_run``, the ids that would be,
    and nothing is deleted.
    """
    if older_than.tzinfo is None:
        raise ValueError(f"older_than={older_than.isoformat()} must be tz-aware")
    # Dagster compares the naive UTC wall time it stores with older_than's, whatever its zone: convert first.
    candidates = _finished_run_ids(instance, older_than.astimezone(UTC))
    run_ids = [r for r in candidates if not (keep_materializing_runs and _materialized(instance, r))]
    if not dry_run:
        for run_id in run_ids:
            # Dagster keys a run's compute logs [run_id, "compute_logs", step]; the prefix covers them all.
            instance.compute_log_manager.delete_logs(prefix=[run_id])
            instance.delete_run(run_id)
    logger.info(
        "%s %d finished runs created before %s (%d kept for their materializations)",
        "would prune" if dry_run else "pruned",
        len(run_ids),
        older_than.isoformat(),
        len(candidates) - len(run_ids),
    )
    return run_ids

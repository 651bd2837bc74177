"""Monthly cleanup: warehouse maintenance plus Dagster run-history retention, for ``lumia cleanup`` and the job.

Price rows are never deleted by age: only orphans (rows without an ``assets`` row) go, and only Dagster runs
older than the retention window are pruned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from lumia_assets.operations.retention import prune_runs
from lumia_assets.warehouse.maintenance import VacuumReport, remove_duplicate_prices, remove_orphans, run_maintenance


@dataclass(frozen=True)
class CleanupReport:
    """What a cleanup did (or, with ``dry_run``, would do)."""

    dry_run: bool
    retention_days: int
    orphans: dict[str, int]
    duplicate_prices: int
    vacuum: VacuumReport | None
    pruned_runs: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cleanup(
    engine: Engine,
    instance: dg.DagsterInstance,
    retention_days: int,
    dry_run: bool = False,
    now: datetime | None = None,
) -> CleanupReport:
    """Remove orphans, check the duplicate guard, VACUUM/ANALYZE, prune runs older than ``retention_days``.

    With ``dry_run``: count orphans and list the runs that would be pruned; nothing is deleted or vacuumed.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    if dry_run:
        orphans, duplicates, vacuum = remove_orphans(engine, dry_run=True), remove_duplicate_prices(engine), None
    else:
        report = run_maintenance(engine)
        orphans, duplicates, vacuum = report.orphans, report.duplicate_prices, report.vacuum
    pruned = prune_runs(instance, cutoff, dry_run=dry_run)
    return CleanupReport(dry_run, retention_days, orphans, duplicates, vacuum, pruned)

"""What a table-wide check over bars one at a time must look at: the bars written since it last passed.

A rule about one bar alone (OHLC sanity) still holds for a bar that passed and has not been written since, and
every write that changes a bar stamps it with a new ``fetched_at`` (``warehouse/store.py``). So after a pass, the
next evaluation reads only the bars fetched since that pass began, less ``OVERLAP`` (a run's fetch-to-commit delay
and clock drift between machines). A failed evaluation doesn't move the start: the bad bars stay in scope until they
are repaired. Every ``FULL_SCAN_EVERY``, and whenever there is no passing evaluation on record, every bar is read
again, which also catches rows changed outside the writers (a manual edit, a restore).

The start of each scan, and of the last full one, travel in the check's own metadata, so the history in the UI says
what each evaluation looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

OVERLAP = timedelta(days=1)
FULL_SCAN_EVERY = timedelta(days=7)
HISTORY_LOOKED_AT = 20  # evaluations back to find the last pass; none in them: a full scan, as after a long outage
SCAN_STARTED, LAST_FULL_SCAN = "scan_started", "last_full_scan"


@dataclass(frozen=True)
class TableScan:
    """One evaluation's scope: bars fetched at or after ``since`` (None: every bar)."""

    started: datetime
    since: datetime | None
    last_full_scan: datetime

    def metadata(self) -> dict[str, Any]:
        """What the evaluation read, for the check's metadata (and the next evaluation's start)."""
        scanned = "every bar" if self.since is None else f"bars fetched since {self.since.isoformat()}"
        return {
            "partitions": "all",
            "scanned": scanned,
            SCAN_STARTED: dg.MetadataValue.timestamp(self.started),
            LAST_FULL_SCAN: dg.MetadataValue.timestamp(self.last_full_scan),
        }


def _timestamp(metadata: dict[str, dg.MetadataValue], name: str) -> datetime | None:
    value = metadata.get(name)
    return datetime.fromtimestamp(value.value, UTC) if isinstance(value, dg.TimestampMetadataValue) else None


def table_scan(instance: dg.DagsterInstance, key: dg.AssetCheckKey, now: datetime) -> TableScan:
    """The scope of check ``key``'s evaluation starting at ``now`` (tz-aware), from its last passing evaluation."""
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=HISTORY_LOOKED_AT)
    evaluations = (record.evaluation for record in history)  # a planned one (this run's) has no verdict
    passed = next((e for e in evaluations if isinstance(e, dg.AssetCheckEvaluation) and e.passed), None)
    metadata = dict(passed.metadata) if passed else {}
    previous_start, last_full = _timestamp(metadata, SCAN_STARTED), _timestamp(metadata, LAST_FULL_SCAN)
    if previous_start is None or last_full is None or now - last_full >= FULL_SCAN_EVERY:
        return TableScan(now, None, now)
    return TableScan(now, previous_start - OVERLAP, last_full)

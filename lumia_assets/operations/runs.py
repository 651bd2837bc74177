"""What a Dagster run targeted, for alerts, reports and status."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg


def planned_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[str]:
    """The assets ``run`` selected, or (for runs without a selection) those it planned to materialize."""
    if run.asset_selection:
        return {key.to_user_string() for key in run.asset_selection}
    planned = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return {record.event_log_entry.dagster_event.asset_key.to_user_string() for record in planned.records}


def run_partitions(tags: Mapping[str, str]) -> str | None:
    """The partition, or ``start..end`` range, a run targeted."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start}..{end}" if start else None


def run_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The assets the run targeted (its job's name when none)."""
    return ", ".join(sorted(planned_assets(instance, run))) or run.job_name

"""What a Dagster run targeted, for alerts and reports."""

from __future__ import annotations

import dagster as dg


def planned_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[str]:
    """The assets ``run`` selected, or (for runs without a selection) those it planned to materialize."""
    if run.asset_selection:
        return {key.to_user_string() for key in run.asset_selection}
    planned = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return {record.event_log_entry.dagster_event.asset_key.to_user_string() for record in planned.records}

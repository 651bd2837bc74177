"""Freshness read from the Dagster instance: whether a ``FreshnessPolicy`` holds, and whether the partition due by
the calendar has arrived (the ``latest_partition_fresh`` checks and ``lumia status`` both ask)."""

from datetime import datetime

import dagster as dg
from dagster._core.definitions.freshness import CronFreshnessPolicy, TimeWindowFreshnessPolicy
from dagster._utils.schedules import get_latest_completed_cron_tick

from lumia_assets.engine.deadlines import PartitionDeadline

FRESH_UNTIL = "dagster/fresh_until_timestamp"
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def policy_passes(policy: dg.FreshnessPolicy, last_materialized: float, now: datetime) -> bool:
    """Whether a materialization at ``last_materialized`` (epoch seconds) satisfies ``policy`` at ``now``, as
    Dagster's freshness daemon evaluates it."""
    if isinstance(policy, CronFreshnessPolicy):
        tick = get_latest_completed_cron_tick(policy.deadline_cron, now, policy.timezone)
        return last_materialized >= tick.timestamp() - policy.lower_bound_delta.total_seconds()
    assert isinstance(policy, TimeWindowFreshnessPolicy)
    return now.timestamp() - last_materialized < policy.fail_window.to_timedelta().total_seconds()


def evaluate_partition_freshness(
    instance: dg.DagsterInstance, deadline: PartitionDeadline, now: datetime
) -> dg.AssetCheckResult:
    """Pass when the partition due at ``now`` has a materialization; an older one (a backfill) does not count.

    Before the asset's first materialization the check fails as a WARN, "not yet collected": nothing has gone
    stale yet, so it alerts no one, and the sensor runs it again once the first collection materializes the asset.
    A due partition older than every collected one is history the gap sensor has yet to backfill (a first evening
    collects its own session before the earlier ones): a WARN too.
    """
    due, key = deadline.due_partition(now), dg.AssetKey(deadline.asset_name)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[due.isoformat()]), limit=1
    ).records
    metadata: dict = {"expected_partition": due.isoformat(), "deadline": deadline.due_at(due).isoformat()}
    if records:
        metadata["materialized_at"] = dg.MetadataValue.timestamp(records[0].timestamp)
        metadata[FRESH_UNTIL] = dg.MetadataValue.timestamp(deadline.next_deadline(now).timestamp())
        return dg.AssetCheckResult(passed=True, description=f"partition {due} arrived", metadata=metadata)
    due_by = f"partition {due} was due by {deadline.due_at(due):%Y-%m-%d %H:%M %Z}"
    materialized = instance.get_materialized_partitions(key)
    if not materialized:
        severity, description = WARN, f"not yet collected: {deadline.asset_name} was never materialized ({due_by})"
    elif due.isoformat() < (first := min(materialized)):
        severity, description = WARN, f"not yet backfilled: {due_by}, before the first collected one ({first})"
    else:
        severity, description = ERROR, f"{due_by} and has not arrived"
    return dg.AssetCheckResult(passed=False, severity=severity, description=description, metadata=metadata)

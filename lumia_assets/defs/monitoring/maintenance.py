"""``maintenance_job``: the monthly cleanup (``lumia cleanup``) as a Dagster job on a monthly schedule."""

import dagster as dg
from pydantic import Field

from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.operations.cleanup import cleanup
from lumia_assets.settings import Settings


class CleanupConfig(dg.Config):
    """Run options for the cleanup."""

    dry_run: bool = Field(default=False, description="Report what would be deleted; delete nothing.")
    retention_days: int | None = Field(
        default=None, ge=1, description="Keep runs younger than this (default: LUMIA_RUN_RETENTION_DAYS)."
    )


@dg.op(description="Orphans, duplicate guard, VACUUM/ANALYZE, and run-history retention.")
def monthly_cleanup(
    context: dg.OpExecutionContext, config: CleanupConfig, warehouse: WarehouseResource
) -> dg.Output[None]:
    retention = config.retention_days or Settings.from_env().run_retention_days
    report = cleanup(warehouse.engine(), context.instance, retention, config.dry_run)
    context.log.info(f"cleanup: {report.as_dict()}")
    return dg.Output(
        None,
        metadata={
            "orphans_removed": sum(report.orphans.values()),
            "orphans": dg.MetadataValue.json(report.orphans),
            "runs_pruned": len(report.pruned_runs),
            "vacuum_seconds": report.vacuum.seconds if report.vacuum else 0.0,
            "dry_run": report.dry_run,
        },
    )


@dg.job(description="Monthly warehouse maintenance and Dagster run-history retention.")
def maintenance_job() -> None:
    monthly_cleanup()


monthly_maintenance = dg.ScheduleDefinition(
    name="monthly_maintenance",
    job=maintenance_job,
    cron_schedule="0 4 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="First day of the month, 04:00 UTC, after the crypto run and before the US open.",
)

"""Alert sensors, on by default: failed runs, and failed ERROR-severity asset checks.

Both deliver through ``lumia_assets.engine.notifications``: always to the log, and to the webhook
(LUMIA_ALERT_WEBHOOK_URL) and Slack (LUMIA_SLACK_TOKEN + LUMIA_SLACK_CHANNEL) when configured.
"""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from lumia_assets.engine.notifications import Alert, AlertSink, deliver, sinks_from_settings
from lumia_assets.operations.runs import run_assets, run_partitions
from lumia_assets.settings import Settings

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
RUNS_PER_TICK = 100


def alert_sinks(logger: logging.Logger) -> list[AlertSink]:
    """The sinks configured in the environment (the log sink always)."""
    settings = Settings.from_env()
    return sinks_from_settings(settings.alert_webhook_url, settings.slack_token, settings.slack_channel, logger)


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts (log, webhook, Slack) when any run of this code location fails.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    alert = Alert(
        title=f"run of {run.job_name} failed",
        asset=run_assets(context.instance, run),
        partition=run_partitions(run.tags),
        check="run",
        severity="ERROR",
        message=context.failure_event.message or "the run failed",
        run_id=run.run_id,
    )
    deliver(alert, alert_sinks(context.log))


def failed_error_checks(instance: dg.DagsterInstance, run: dg.DagsterRun) -> Iterator[Alert]:
    """An alert per ERROR-severity check evaluation of ``run`` that failed."""
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        sample = evaluation.metadata.get("sample")
        yield Alert(
            title=f"check {evaluation.check_name} failed on {evaluation.asset_key.to_user_string()}",
            asset=evaluation.asset_key.to_user_string(),
            partition=evaluation.partition or run_partitions(run.tags),
            check=evaluation.check_name,
            severity=evaluation.severity.value,
            message=evaluation.description or "",
            sample=list(sample.value) if sample is not None else [],
            run_id=run.run_id,
        )


@dg.sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Alerts (log, webhook, Slack) for every failed ERROR-severity asset check of a finished run.",
)
def check_failure_alert(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Cursor: the update time of the last finished run looked at (unset: start from now, no history)."""
    if context.cursor is None:
        context.update_cursor(str(datetime.now(UTC).timestamp()))
        return dg.SkipReason("first evaluation: alerting on runs that finish from now on")
    after = datetime.fromtimestamp(float(context.cursor), UTC)
    filters = dg.RunsFilter(statuses=FINISHED, updated_after=after)
    records = context.instance.get_run_records(filters=filters, limit=RUNS_PER_TICK, ascending=True)
    sinks = alert_sinks(context.log)
    sent = sum(
        deliver(alert, sinks) > 0 for r in records for alert in failed_error_checks(context.instance, r.dagster_run)
    )
    if records:
        context.update_cursor(str(max(r.update_timestamp for r in records).timestamp()))
    return dg.SkipReason(f"{len(records)} finished runs looked at, {sent} check alerts sent")

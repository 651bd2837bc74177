"""Daily collection, on by default: universes and equities after the US close, crypto after 00:00 UTC."""

import dagster as dg

from lumia_assets.calendars import EQUITY_TIMEZONE, last_closed_crypto_day, last_closed_equity_session
from lumia_assets.defs.prices.jobs import crypto_prices_job, equity_prices_job, universe_job


@dg.schedule(
    job=universe_job,
    cron_schedule="0 17 * * 1-5",
    execution_timezone=EQUITY_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def universes_before_prices(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Refresh the universes an hour before the equity prices run, so new listings are priced the same day."""
    return dg.RunRequest(run_key=f"universes:{context.scheduled_execution_time.date()}")


@dg.schedule(
    job=equity_prices_job,
    cron_schedule="0 18 * * 1-5",
    execution_timezone=EQUITY_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def equity_prices_after_the_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The latest closed NYSE session, two hours after the regular close (one run per session, holidays skip)."""
    session = last_closed_equity_session(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"equity:{session}", partition_key=session.isoformat())


@dg.schedule(
    job=crypto_prices_job,
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def crypto_prices_after_midnight(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The UTC day that has just closed."""
    day = last_closed_crypto_day(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"crypto:{day}", partition_key=day.isoformat())

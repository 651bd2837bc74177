"""Collection, on by default: universes and equities after the US close, crypto after 00:00 UTC (CoinGecko's
reference prices after the candles), and the hourly crypto candles five minutes past every hour."""

from collections.abc import Callable
from typing import Any

import dagster as dg

from lumia_assets.calendars import (
    EQUITY_TIMEZONE,
    last_closed_crypto_day,
    last_closed_crypto_hour,
    last_closed_equity_session,
)
from lumia_assets.defs.prices.hourly import HOUR_FORMAT, HOURLY_CANDLES_ON
from lumia_assets.defs.prices.jobs import (
    crypto_hourly_prices_job,
    crypto_prices_job,
    crypto_reference_job,
    equity_prices_job,
    universe_job,
)


def _scheduled(job: Any, cron: str, timezone: str, running: bool = True) -> Callable[[Callable], dg.ScheduleDefinition]:
    """A schedule of ``job`` at ``cron`` in ``timezone``, running from the first deploy unless not ``running``."""
    status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    return dg.schedule(job=job, cron_schedule=cron, execution_timezone=timezone, default_status=status)


@_scheduled(universe_job, "0 17 * * 1-5", EQUITY_TIMEZONE)
def universes_before_prices(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Refresh the universes an hour before the equity prices run, so new listings are priced the same day."""
    return dg.RunRequest(run_key=f"universes:{context.scheduled_execution_time.date()}")


@_scheduled(equity_prices_job, "0 18 * * 1-5", EQUITY_TIMEZONE)
def equity_prices_after_the_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The latest closed NYSE session, two hours after the regular close (one run per session, holidays skip)."""
    session = last_closed_equity_session(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"equity:{session}", partition_key=session.isoformat())


@_scheduled(crypto_prices_job, "15 0 * * *", "UTC")
def crypto_prices_after_midnight(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The UTC day that has just closed."""
    day = last_closed_crypto_day(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"crypto:{day}", partition_key=day.isoformat())


@_scheduled(crypto_reference_job, "30 0 * * *", "UTC")
def crypto_reference_after_midnight(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """CoinGecko's reference prices of the UTC day that has just closed, and the check comparing that day's candles
    with them (after the daily candles' run at 00:15)."""
    day = last_closed_crypto_day(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"crypto-reference:{day}", partition_key=day.isoformat())


@_scheduled(crypto_hourly_prices_job, "5 * * * *", "UTC", running=HOURLY_CANDLES_ON)
def crypto_hourly_after_the_hour(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The UTC hour that has just closed, five minutes after it."""
    hour = f"{last_closed_crypto_hour(context.scheduled_execution_time):{HOUR_FORMAT}}"
    return dg.RunRequest(run_key=f"crypto-hourly:{hour}", partition_key=hour)

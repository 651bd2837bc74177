"""Gap recovery: a sensor that turns partitions with missing (symbol, date) cells into repair runs.

Each repair run fetches only the symbols with gaps in its partitions; adjacent partitions with gaps share one range
run, so a week-long outage costs one request per affected symbol, not one per symbol and day. At most
``LUMIA_GAP_MAX_RUNS`` repair runs are in flight; a partition already being repaired is not requested again, and
one that stays incomplete after ``LUMIA_GAP_MAX_ATTEMPTS`` repairs is left to the reports (the upstream does not
have those bars).
"""

import json
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg

from lumia_assets import clock
from lumia_assets.calendars import calendar_dates
from lumia_assets.defs.prices.assets import PriceFeed
from lumia_assets.defs.prices.jobs import (
    FEEDS,
    RANGE_END,
    RANGE_START,
    crypto_prices_job,
    equity_prices_job,
    range_tags,
)
from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.settings import Settings
from lumia_assets.warehouse.gaps import partition_gaps

TRIGGER_TAG = "lumia/trigger"
GAP_REPAIR = "gap_repair"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def recent_dates(feed: PriceFeed, settings: Settings, now: datetime) -> list[date]:
    """The feed's closed dates of the last ``gap_lookback_days`` days, not before the configured start."""
    last = feed.last_closed(now)
    first = max(settings.prices_start, last - timedelta(days=settings.gap_lookback_days))
    return calendar_dates(feed.calendar, first, last)


def repairs_in_flight(instance: dg.DagsterInstance) -> list[tuple[str, date, date]]:
    """(job name, first date, last date) of the repair runs queued or running."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: GAP_REPAIR}, statuses=IN_FLIGHT))
    spans = []
    for run in runs:
        first = run.tags.get(RANGE_START, run.tags.get("dagster/partition"))
        last = run.tags.get(RANGE_END, first)
        if first and last:
            spans.append((run.job_name, date.fromisoformat(first), date.fromisoformat(last)))
    return spans


def repair_request(name: str, first: date, last: date, attempt: int) -> dg.RunRequest:
    """One run filling only the missing cells of the partitions ``first``..``last``."""
    _, job, asset_name = FEEDS[name]
    if first == last:
        where: dict[str, Any] = {"partition_key": first.isoformat(), "tags": {TRIGGER_TAG: GAP_REPAIR}}
    else:
        where = {"tags": {TRIGGER_TAG: GAP_REPAIR, **range_tags(first, last)}}
    return dg.RunRequest(
        run_key=f"gap:{name}:{first.isoformat()}:{last.isoformat()}:{attempt}",
        job_name=job.name,
        run_config={"ops": {asset_name: {"config": {"only_missing": True}}}},
        **where,
    )


def contiguous_runs(days: list[date], calendar: list[date]) -> list[list[date]]:
    """``days`` split into runs of dates that follow each other in ``calendar`` (no trading day between)."""
    position = {day: index for index, day in enumerate(calendar)}
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and position[day] == position[runs[-1][-1]] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def plan_repairs(
    gaps: dict[str, list[date]],
    calendars: dict[str, list[date]],
    in_flight: list[tuple[str, date, date]],
    attempts: dict[str, int],
    settings: Settings,
) -> list[dg.RunRequest]:
    """Requests for the partitions with gaps, oldest first per feed, within the in-flight and attempt bounds.

    Adjacent partitions with gaps become one range run, which fetches each symbol's missing range in one
    request. ``attempts`` (feed:date -> repairs requested) is updated in place.
    """
    budget = settings.gap_max_runs - len(in_flight)
    requests: list[dg.RunRequest] = []
    for name, days in gaps.items():
        job_name = FEEDS[name].job.name

        def due(day: date, job_name: str = job_name, name: str = name) -> bool:
            running = any(job == job_name and first <= day <= last for job, first, last in in_flight)
            return not running and attempts.get(f"{name}:{day.isoformat()}", 0) < settings.gap_max_attempts

        for run in contiguous_runs([day for day in days if due(day)], calendars[name]):
            if budget <= 0:
                return requests
            keys = [f"{name}:{day.isoformat()}" for day in run]
            attempt = max(attempts.get(key, 0) for key in keys) + 1
            attempts.update({key: attempts.get(key, 0) + 1 for key in keys})
            budget -= 1
            requests.append(repair_request(name, run[0], run[-1], attempt))
    return requests


@dg.sensor(
    jobs=[equity_prices_job, crypto_prices_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Finds missing (symbol, date) cells of active symbols in recent partitions and requests repair runs.",
)
def price_gap_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    settings = Settings.from_env()
    now = clock.utc_now()
    gaps: dict[str, list[date]] = {}
    calendars = {name: recent_dates(feed, settings, now) for name, (feed, _, _) in FEEDS.items()}
    for name, (feed, _, _) in FEEDS.items():
        counts = partition_gaps(warehouse.engine(), feed.asset_classes, calendars[name])
        gaps[name] = [day for day, missing in zip(counts["date"], counts["missing"], strict=True) if missing > 0]
    attempts: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    # Forget the attempts of partitions that are complete now.
    attempts = {
        key: n for key, n in attempts.items() if date.fromisoformat(key.split(":")[1]) in gaps[key.split(":")[0]]
    }
    requests = plan_repairs(gaps, calendars, repairs_in_flight(context.instance), attempts, settings)
    for name, days in gaps.items():
        if days:
            context.log.info(f"{name}: {len(days)} partitions with gaps, oldest {days[0]}")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(attempts, sort_keys=True))

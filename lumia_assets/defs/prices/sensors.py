"""Gap recovery: a sensor that turns missing (symbol, date) cells into repair runs, each cell on its own schedule.

Every missing cell of the last ``LUMIA_GAP_LOOKBACK_DAYS`` whose partition is due (equities at 20:00 New York,
crypto at 02:00 UTC the next day, as the freshness checks count: the daily schedule has had its turn first) is
tracked (``warehouse/repairs.py``): due at once, then again after 15 minutes, 1 hour, 6 hours and daily, until
``LUMIA_GAP_MAX_DAYS`` after it was found, when it is marked unavailable with the upstream's last answer. A
repair run fetches only the due symbols of its dates; adjacent dates share one range run, so a week-long outage
costs one request per affected symbol. At most ``LUMIA_GAP_MAX_RUNS`` repairs are in flight and a date being
repaired is not requested again, so a tick asks for at most that many runs, each of at most one request per due
symbol. A cell filled by the opt-in crypto fallback (``LUMIA_CRYPTO_FALLBACKS``) is repaired the same way: the
exchanges are asked again until one serves it, and its bar then replaces the fallback's.

Before the window, the sensor backfills history the price selection owes (``warehouse/priced.py``): an
instrument newly selected (a symbol added to ``LUMIA_INCLUDE``, a new fund) gets one run fetching its range from
``LUMIA_PRICES_START_DATE`` up to the window, in one request per symbol, with the same back-off if it brings
nothing.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.calendars import calendar_dates
from lumia_assets.defs.prices.jobs import (
    FEED_JOBS,
    RANGE_END,
    RANGE_START,
    crypto_prices_job,
    equity_prices_job,
    range_tags,
)
from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.engine.feeds import recent_dates
from lumia_assets.settings import Settings
from lumia_assets.warehouse import priced, repairs
from lumia_assets.warehouse.gaps import missing_cells

TRIGGER_TAG = "lumia/trigger"
GAP_REPAIR = "gap_repair"
REPAIRING_TAG = "lumia/repairing"  # the symbols a repair run fetches, as the runs list shows them
REPAIRING_SHOWN = 20
HISTORY_TAG = "lumia/history"  # a repair run backfilling the history of newly selected instruments
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class InFlight(NamedTuple):
    """A repair run queued or running: its job, its partition range, and whether it backfills history."""

    job: str
    first: date
    last: date
    history: bool = False


def repairs_in_flight(instance: dg.DagsterInstance) -> list[InFlight]:
    """The repair runs queued or running."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: GAP_REPAIR}, statuses=IN_FLIGHT))
    spans = []
    for run in runs:
        first = run.tags.get(RANGE_START, run.tags.get("dagster/partition"))
        last = run.tags.get(RANGE_END, first)
        if first and last:
            history = HISTORY_TAG in run.tags
            spans.append(InFlight(run.job_name, date.fromisoformat(first), date.fromisoformat(last), history))
    return spans


def repairing_label(symbols: Sequence[str]) -> str:
    """The symbols a repair run fetches, for its tag: all of them while short, else the first and how many more
    (the run config lists every one)."""
    shown = ", ".join(symbols[:REPAIRING_SHOWN])
    return shown if len(symbols) <= REPAIRING_SHOWN else f"{shown} (+{len(symbols) - REPAIRING_SHOWN} more)"


def repair_request(
    name: str, first: date, last: date, symbols: Sequence[str], now: datetime, history: bool = False
) -> dg.RunRequest:
    """One run fetching ``symbols``' missing cells of the partitions ``first``..``last``; a ``history`` run fetches
    their whole range (newly selected instruments own no bar there yet)."""
    feed, job = FEED_JOBS[name]
    chosen = sorted(set(symbols))
    tags = {TRIGGER_TAG: GAP_REPAIR, REPAIRING_TAG: repairing_label(chosen)} | (
        {HISTORY_TAG: "true"} if history else {}
    )
    if first == last:
        where: dict[str, Any] = {"partition_key": first.isoformat(), "tags": tags}
    else:
        where = {"tags": {**tags, **range_tags(first, last)}}
    return dg.RunRequest(
        run_key=f"{'history' if history else 'gap'}:{name}:{first.isoformat()}:{last.isoformat()}:"
        f"{now.isoformat(timespec='minutes')}",
        job_name=job.name,
        run_config={"ops": {feed.asset_name: {"config": {"only_missing": not history, "symbols": chosen}}}},
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
    due: dict[str, pd.DataFrame],
    calendars: dict[str, list[date]],
    in_flight: list[InFlight],
    settings: Settings,
    now: datetime,
) -> tuple[list[dg.RunRequest], pd.DataFrame]:
    """Requests for the cells due for a repair (per feed: ``CELL_COLUMNS`` and ``attempts``), oldest first, and the
    cells they cover.

    Adjacent dates with due cells become one range run, which fetches each of their symbols' missing range in one
    request. Dates already being repaired wait; at most ``LUMIA_GAP_MAX_RUNS`` repairs are in flight.
    """
    budget = settings.gap_max_runs - len(in_flight)
    requests: list[dg.RunRequest] = []
    covered: list[pd.DataFrame] = []
    for name, cells in due.items():
        job_name = FEED_JOBS[name].job.name
        running = {day for run in in_flight if run.job == job_name for day in calendars[name]
                   if run.first <= day <= run.last}  # fmt: skip
        days = [day for day in sorted(set(cells["date"])) if day in calendars[name] and day not in running]
        for run in contiguous_runs(days, calendars[name]):
            if budget <= 0:
                break
            chosen = cells[cells["date"].isin(run)]
            budget -= 1
            requests.append(repair_request(name, run[0], run[-1], list(chosen["symbol"]), now))
            covered.append(chosen)
    return requests, pd.concat(covered, ignore_index=True) if covered else pd.DataFrame()


@dg.sensor(
    jobs=[equity_prices_job, crypto_prices_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Finds missing (symbol, date) cells of active symbols in recent partitions and requests repair runs.",
)
def price_gap_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    settings, engine, now = Settings.from_env(), warehouse.engine(), clock.utc_now()
    calendars = {name: recent_dates(feed, settings, now) for name, (feed, _) in FEED_JOBS.items()}
    due: dict[str, pd.DataFrame] = {}
    for name, (feed, _) in FEED_JOBS.items():
        provisional = feed.fallback_sources
        missing = missing_cells(engine, feed.asset_classes, calendars[name], selection=settings.selection,
                                provisional=provisional)  # fmt: skip
        repairs.track(engine, missing, now, timedelta(days=settings.gap_max_days), feed.asset_classes, provisional)
        due[name] = repairs.due(engine, feed.asset_classes, now)
        if not missing.empty:
            context.log.info(f"{name}: {len(missing)} missing cells, {len(due[name])} due for a repair now")
    in_flight = repairs_in_flight(context.instance)
    requests, covered = plan_repairs(due, calendars, in_flight, settings, now)
    repairs.attempted(engine, covered, now)
    budget = settings.gap_max_runs - len(in_flight) - len(requests)
    requests += owed_history(context, engine, settings, calendars, in_flight, budget, now)
    return dg.SensorResult(run_requests=requests)


def owed_history(
    context: dg.SensorEvaluationContext,
    engine: Engine,
    settings: Settings,
    calendars: dict[str, list[date]],
    in_flight: list[InFlight],
    budget: int,
    now: datetime,
) -> list[dg.RunRequest]:
    """Per feed without a history run in flight, while the budget lasts: record what the selection prices and
    request the history it owes."""
    requests = []
    for name, (feed, job) in FEED_JOBS.items():
        if len(requests) >= budget or not calendars[name] or any(r.history and r.job == job.name for r in in_flight):
            continue
        window_start = calendars[name][0]
        new = priced.record_selection(engine, feed.asset_classes, settings.selection, settings.prices_start,
                                      window_start, now)  # fmt: skip
        if new:
            context.log.info(f"{name}: {new} instruments newly selected; their history is owed")
        owed = priced.history_due(engine, feed.asset_classes, window_start, now)
        request = history_request(name, owed, window_start, now)
        if request is not None:
            requests.append(request)
            priced.history_requested(engine, owed, now)
    return requests


def history_request(name: str, owed: pd.DataFrame, window_start: date, now: datetime) -> dg.RunRequest | None:
    """One run backfilling the ``owed`` instruments' history (``priced.HISTORY_COLUMNS``) up to the gap window."""
    if owed.empty:
        return None
    first = owed["history_from"].min()
    days = [day for day in calendar_dates(FEED_JOBS[name].feed.calendar, first, window_start) if day < window_start]
    return repair_request(name, days[0], days[-1], list(owed["symbol"]), now, history=True) if days else None

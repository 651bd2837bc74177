"""A stand-in for ``dagster-daemon`` on simulated time: lumia's schedules and sensors ticked at chosen instants.

The daemon evaluates schedules at their cron ticks and sensors at a fixed cadence, with Dagster's clock frozen at
the tick (as Dagster's own tests do) and the simulator's clock, which lumia follows, set to it. Every run a tick
requests is executed in-process at once, the way the daemon would launch it, with the request's partition, tags
and config; a step retry waits out its delay in simulated time. Each finished run is judged like the alert
sensors judge it: a failed run, or a failed ERROR-severity check, is an alert.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from unittest.mock import patch

import dagster as dg
from dagster._core.test_utils import freeze_time
from dagster._utils.schedules import cron_string_iterator

from lumia_assets.defs.monitoring.alerts import failed_error_checks
from lumia_assets.operations.runs import run_assets, run_partitions
from lumia_assets.sim import MarketSimulator

FRESHNESS_SENSOR = "freshness_checks_sensor"
AUTOMATION_SENSOR = "adjusted_prices_automation"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # every event still reaches the instance


@dataclass(frozen=True)
class RunOutcome:
    """One run a tick launched, and the alerts it would have raised."""

    at: datetime
    origin: str  # the schedule or sensor that requested it
    job: str
    partitions: str | None
    success: bool
    alerts: tuple[str, ...]


@dataclass
class Daemon:
    """Ticks the schedules and sensors of ``defs`` against ``instance`` on ``sim``'s clock."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    sim: MarketSimulator
    sensors: tuple[str, ...]
    runs: list[RunOutcome] = field(default_factory=list)
    skipped_schedules: frozenset[str] = frozenset()  # schedules this daemon leaves stopped
    _cursors: dict[str, str | None] = field(default_factory=dict)
    _run_keys: set[tuple[str, str]] = field(default_factory=set)
    _automation_cursor: object = None

    def advance(self, until: datetime, sensor_interval: timedelta) -> None:
        """Run time forward to ``until``: every schedule tick in (now, ``until``], and the sensors now and every
        ``sensor_interval`` before ``until`` (the next call ticks them at its start). At one instant schedules
        go first, then the sensors in ``sensors`` order."""
        start = self.sim.now
        schedules = self.defs.get_repository_def().schedule_defs
        ticks = [(tick, 0, s.name) for s in schedules if s.name not in self.skipped_schedules
                 for tick in _cron_ticks(s, start, until)]  # fmt: skip
        sensor_ticks = [start + sensor_interval * step for step in range(int((until - start) / sensor_interval))]
        ticks += [(tick, 1 + order, name) for tick in sensor_ticks for order, name in enumerate(self.sensors)]
        for tick, kind, name in sorted(ticks):
            if kind == 0:
                self._tick_schedule(name, tick)
            else:
                self._tick_sensor(name, tick)
        self.sim.set_clock(until)

    def _tick_schedule(self, name: str, tick: datetime) -> None:
        schedule = self.defs.resolve_schedule_def(name)
        self.sim.set_clock(tick)
        with freeze_time(tick):
            context = dg.build_schedule_context(
                instance=self.instance, scheduled_execution_time=tick, repository_def=self.defs.get_repository_def()
            )
            data = schedule.evaluate_tick(context)
        for request in data.run_requests or []:
            self._launch(name, request, schedule.job_name, {"dagster/schedule_name": name})

    def _tick_sensor(self, name: str, tick: datetime) -> None:
        self.sim.set_clock(tick)
        if name == AUTOMATION_SENSOR:
            self._tick_automation(tick)
            return
        sensor = self.defs.resolve_sensor_def(name)
        with freeze_time(tick):
            context = dg.build_sensor_context(
                instance=self.instance,
                cursor=self._cursors.get(name),
                sensor_name=name,
                repository_def=self.defs.get_repository_def(),
                resources=self.defs.get_repository_def().get_top_level_resources(),
            )
            data = sensor.evaluate_tick(context)
        self._cursors[name] = data.cursor
        for request in data.run_requests or []:
            job = request.job_name or (sensor.job_name if sensor.has_jobs else None)
            self._launch(name, request, job, {"dagster/sensor_name": name})

    def _tick_automation(self, tick: datetime) -> None:
        """The declarative-automation sensor: what its conditions request, as one run of those assets."""
        sensor = self.defs.resolve_sensor_def(AUTOMATION_SENSOR)
        with freeze_time(tick):
            result = dg.evaluate_automation_conditions(
                defs=self.defs,
                instance=self.instance,
                asset_selection=sensor.asset_selection,
                evaluation_time=tick,
                cursor=self._automation_cursor,
            )
        self._automation_cursor = result.cursor
        keys = [r.key for r in result.results if r.true_subset.size]
        if keys:
            job = self.defs.resolve_implicit_global_asset_job_def()
            self._execute(AUTOMATION_SENSOR, job, dg.RunRequest(asset_selection=keys), {})

    def _launch(self, origin: str, request: dg.RunRequest, job_name: str | None, tags: dict[str, str]) -> None:
        if request.run_key is not None:
            if (origin, request.run_key) in self._run_keys:
                return  # the daemon launches a run key once per schedule or sensor
            self._run_keys.add((origin, request.run_key))
        job = self.defs.resolve_job_def(job_name) if job_name else self.defs.resolve_implicit_global_asset_job_def()
        self._execute(origin, job, request, tags)

    def _execute(self, origin: str, job: dg.JobDefinition, request: dg.RunRequest, tags: dict[str, str]) -> None:
        if request.asset_check_keys:
            job = job.get_subset(asset_selection=set(), asset_check_selection=set(request.asset_check_keys))
        elif request.asset_selection:
            job = job.get_subset(asset_selection=set(request.asset_selection))
        with patch("dagster._core.execution.plan.active.time", SimulatedWaits(self.sim)):
            result = job.execute_in_process(
                instance=self.instance,
                partition_key=request.partition_key,
                run_config={**(request.run_config or {}), **QUIET},
                tags={**request.tags, **tags},
                raise_on_error=False,
            )
        run = result.dagster_run
        partitions = run_partitions(run.tags)
        checks = failed_error_checks(self.instance, run)
        alerts = [f"{a.check} on {a.asset} [{a.partition}]: {a.message}" for a in checks]
        if not result.success:
            failure = next((_failure_text(e) for e in result.all_events if e.is_step_failure), "the run failed")
            alerts.insert(0, f"run of {run_assets(self.instance, run)} [{partitions}] failed: {failure}")
        self.runs.append(RunOutcome(self.sim.now, origin, run.job_name, partitions, result.success, tuple(alerts)))


class SimulatedWaits:
    """The ``time`` module as Dagster's step executor sees it: a step retry's delay passes in simulated time, on
    the simulator's clock, instead of sleeping through it on the wall clock."""

    def __init__(self, sim: MarketSimulator) -> None:
        self._sim = sim
        self._slept = 0.0

    def time(self) -> float:
        return time.time() + self._slept

    def sleep(self, seconds: float) -> None:
        self._slept += seconds
        self._sim.set_clock(self._sim.now + timedelta(seconds=seconds))


def _cron_ticks(schedule: dg.ScheduleDefinition, after: datetime, until: datetime) -> Iterator[datetime]:
    """The schedule's ticks in (``after``, ``until``]."""
    timezone = schedule.execution_timezone or "UTC"
    for tick in cron_string_iterator(after.timestamp(), schedule.cron_schedule, timezone):
        if tick > until:
            return
        if tick > after:
            yield tick.astimezone(until.tzinfo)


def _failure_text(event: dg.DagsterEvent) -> str:
    """What a step failure says: the ``Failure``'s description, or the error's message."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message.strip() if data.error else event.message or "the step failed"

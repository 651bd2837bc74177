"""The hourly candles' checks, in one step like the daily assets' (``defs/check_steps.py``): OHLC sanity and
duplicates (ERROR, blocking), coverage per hour (WARN; ERROR when an hour lost most of its candles), and agreement
with the daily candles (ERROR). The agreement check runs on ``crypto_daily_prices`` too, over the days of its
partitions.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.calendars import last_closed_crypto_hour
from lumia_assets.defs.check_results import ERROR, coverage_severity, partitions_label
from lumia_assets.defs.check_steps import Check, Verdict, check_step
from lumia_assets.defs.prices.hourly import HOURLY_PARTITIONS, crypto_hourly_prices, window_hours
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.settings import Settings
from lumia_assets.warehouse import candle_quality, quality

AGREEMENT_DESCRIPTION = (
    "For every pair and UTC day with all 24 hourly candles and a daily candle from the same venue, the hours "
    "aggregate to the day: open = the first open, close = the last close, high = the maximum, low = the minimum, "
    "volume = the sum (relative 1e-9). A disagreement names the pair, the day and the field."
)


@dataclass(frozen=True)
class HourScope:
    """What one check evaluation looks at: the warehouse and the run's closed hours."""

    engine: Engine
    hours: list[datetime]
    partitions: str

    @property
    def days(self) -> list[date]:
        """The UTC days the hours fall on."""
        return sorted({hour.date() for hour in self.hours})

    def metadata(self) -> dict[str, Any]:
        return {"partitions": self.partitions, "hours": len(self.hours)}


def hour_scope(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource,
               partitioned: bool) -> HourScope:  # fmt: skip
    """The run's closed hours."""
    last_closed = last_closed_crypto_hour(clock.utc_now())
    hours = [hour for hour in window_hours(context.partition_time_window) if hour <= last_closed]
    return HourScope(warehouse.engine(), hours, partitions_label(context))


def sanity(scope: HourScope) -> Verdict:
    if not scope.hours:
        return Verdict(quality.quality_result(0, 0, [], "no closed hour"), ERROR, scope.metadata())
    result = candle_quality.candle_sanity(scope.engine, scope.hours[0], scope.hours[-1])
    return Verdict(result, ERROR, scope.metadata())


def duplicates(scope: HourScope) -> Verdict:
    if not scope.hours:
        return Verdict(quality.quality_result(0, 0, [], "no closed hour"), ERROR, scope.metadata())
    return Verdict(candle_quality.duplicate_candles(scope.engine, scope.hours[0], scope.hours[-1]), ERROR,
                   scope.metadata())  # fmt: skip


def coverage(scope: HourScope) -> Verdict:
    settings = Settings.from_env()
    threshold = settings.coverage_threshold
    result = candle_quality.candle_coverage(scope.engine, scope.hours, threshold / 100, selection=settings.selection)
    metadata = {"threshold_pct": threshold, "selection": settings.selection.describe(), **scope.metadata()}
    return Verdict(result, coverage_severity(result), metadata)


def agreement(scope: HourScope) -> Verdict:
    return Verdict(candle_quality.hourly_daily_agreement(scope.engine, scope.days), ERROR, scope.metadata())


HOURLY_CHECKS = [
    Check("candle_sanity", "Candles of the partitions: low ≤ open, close ≤ high; prices > 0; volume ≥ 0.", True, True,
          sanity),
    Check("no_duplicate_candles", "No (symbol, interval, open time) stored twice in the partitions.", True, True,
          duplicates),
    Check("coverage", "Each hour has candles for at least LUMIA_COVERAGE_THRESHOLD % of the active pairs the "
          "selection prices.", False, True, coverage),
    Check("hourly_daily_agreement", AGREEMENT_DESCRIPTION, False, True, agreement),
]  # fmt: skip
HOURLY_PRICE_CHECKS = check_step(crypto_hourly_prices, HOURLY_CHECKS, hour_scope, HOURLY_PARTITIONS)

"""Gap recovery for the hourly candles: a sensor that turns missing (pair, hour) cells of the last 48 hours into a
repair run.

An hour is due 15 minutes after it closes, as its freshness check counts (the :05 schedule has had its turn). One
repair run at a time fetches every pair with a missing hour over the range from the oldest missing hour to the
newest, one request per pair (48 hours are one page on every venue). The same gap is asked for at most once an
hour: its run key holds the hour of the attempt, so a venue that never had the candle costs at most 48 requests
before the hour leaves the window. Nothing is invented: an hour no venue serves stays missing.
"""

import hashlib
from datetime import UTC, datetime, time, timedelta

import dagster as dg

from lumia_assets import clock
from lumia_assets.calendars import crypto_hours, last_closed_crypto_hour
from lumia_assets.defs.prices.hourly import HOUR_FORMAT, HOURLY_CANDLES_ON, crypto_hourly_prices
from lumia_assets.defs.prices.jobs import RANGE_END, RANGE_START, crypto_hourly_prices_job
from lumia_assets.defs.prices.sensors import GAP_REPAIR, IN_FLIGHT, REPAIRING_TAG, TRIGGER_TAG, repairing_label
from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.settings import Settings
from lumia_assets.warehouse.candle_quality import missing_candles

LOOKBACK_HOURS = 48
DUE_AFTER = timedelta(minutes=15)


def due_hours(now: datetime, settings: Settings) -> list[datetime]:
    """The open times of the last ``LOOKBACK_HOURS`` hours due by ``now``, from ``LUMIA_HOURLY_START_DATE`` on."""
    last = last_closed_crypto_hour(now - DUE_AFTER)
    first = max(last - timedelta(hours=LOOKBACK_HOURS - 1), datetime.combine(settings.hourly_start, time(), UTC))
    return crypto_hours(first, last) if first <= last else []


def hourly_repair_request(first: datetime, last: datetime, symbols: list[str], now: datetime) -> dg.RunRequest:
    """One run fetching ``symbols`` from the hour ``first`` to the hour ``last``; asked once per hour of ``now``."""
    digest = hashlib.sha1(",".join(symbols).encode()).hexdigest()[:12]
    attempt = now.replace(minute=0, second=0, microsecond=0)
    return dg.RunRequest(
        run_key=f"hourly-gap:{first:{HOUR_FORMAT}}..{last:{HOUR_FORMAT}}:{digest}:{attempt:{HOUR_FORMAT}}",
        job_name=crypto_hourly_prices_job.name,
        run_config={"ops": {crypto_hourly_prices.op.name: {"config": {"symbols": symbols}}}},
        tags={
            TRIGGER_TAG: GAP_REPAIR,
            REPAIRING_TAG: repairing_label(symbols),
            RANGE_START: f"{first:{HOUR_FORMAT}}",
            RANGE_END: f"{last:{HOUR_FORMAT}}",
        },
    )


@dg.sensor(
    jobs=[crypto_hourly_prices_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING if HOURLY_CANDLES_ON else dg.DefaultSensorStatus.STOPPED,
    description="Finds missing (pair, hour) candles of the last 48 hours and requests a repair run.",
)
def hourly_gap_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    settings, now = Settings.from_env(), clock.utc_now()
    missing = missing_candles(warehouse.engine(), due_hours(now, settings), selection=settings.selection)
    if missing.empty:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no candle missing in the last {LOOKBACK_HOURS} hours"))
    repairs = dg.RunsFilter(job_name=crypto_hourly_prices_job.name, tags={TRIGGER_TAG: GAP_REPAIR}, statuses=IN_FLIGHT)
    if context.instance.get_runs(filters=repairs, limit=1):
        return dg.SensorResult(skip_reason=dg.SkipReason("an hourly repair run is in flight"))
    first, last = (moment.to_pydatetime() for moment in (missing["open_time"].min(), missing["open_time"].max()))
    symbols = sorted(set(missing["symbol"]))
    context.log.info(f"{len(missing)} missing candles of {len(symbols)} pairs from {first:%Y-%m-%d %H:%M} UTC")
    return dg.SensorResult(run_requests=[hourly_repair_request(first, last, symbols, now)])

"""Hourly crypto candles: one partition per UTC hour, under the daily candles' record rules.

Closed candles only, upserts keyed on (symbol, interval, open time), ``source`` and ``fetched_at`` on every row,
failover Binance → Kraken → Coinbase, nothing invented. A range run fetches each pair's whole range at once (1,000
hourly candles per Binance klines call), and a backfill runs in chunks of at most 30 days, so one run never holds
more than a month of candles in flight (and a month of one pair is one Binance page, one Kraken answer).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from lumia_assets import clock
from lumia_assets.calendars import crypto_hours, last_closed_crypto_hour
from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.metadata import peak_memory_mb, sample, tally_metadata, upstream_metadata
from lumia_assets.defs.prices.assets import GROUP, OWNERS, RETRY, fail_below_success_rate, instruments_to_collect
from lumia_assets.defs.prices.partitions import SETTINGS
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.defs.universe.assets import crypto_universe
from lumia_assets.engine.candles import DEFAULT_BATCH_SIZE, CandleReport, collect_candles
from lumia_assets.engine.feeds import CRYPTO_FEED
from lumia_assets.settings import Settings

HOUR = timedelta(hours=1)
HOUR_FORMAT = "%Y-%m-%d-%H:%M"  # Dagster's hourly partition keys
MAX_HOURS_PER_RUN = 720  # 30 days: one Binance page (1,000) and one Kraken answer (its newest 720) per pair
# LUMIA_HOURLY_CANDLES=false: a deployment without hourly candles (a daily cron of ``lumia collect``, say). The
# asset stays defined, for the UI and a later change of mind; its schedule and sensor start stopped, ``lumia
# collect`` skips it, and neither ``lumia status`` nor the freshness sensor judges it.
HOURLY_CANDLES_ON = SETTINGS.hourly_candles
HOURLY_PARTITIONS = dg.HourlyPartitionsDefinition(start_date=f"{SETTINGS.hourly_start:%Y-%m-%d}-00:00", timezone="UTC")


class CandleRunConfig(dg.Config):
    """Run options for an hourly candle materialization."""

    symbols: list[str] = Field(default_factory=list, description="Only these pairs (a repair); empty: all of them.")
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, gt=0, description="Pairs per write transaction (at most).")
    min_success_rate: float = Field(
        default=0.95, ge=0.0, le=1.0, description="Fail the run when fewer pairs than this share got an answer."
    )


def window_hours(window: dg.TimeWindow) -> list[datetime]:
    """The open times of the UTC hours inside a partition time window (its end is exclusive)."""
    return crypto_hours(window.start.astimezone(UTC), window.end.astimezone(UTC) - HOUR)


def closed_hours(hours: list[datetime], last_closed: datetime) -> list[datetime]:
    """The hours of ``hours`` whose candle has closed; asking only for open ones is an error naming them."""
    closed = [hour for hour in hours if hour <= last_closed]
    if hours and not closed:
        raise dg.Failure(
            description=f"{hours[0]:%Y-%m-%d %H:%M}..{hours[-1]:%Y-%m-%d %H:%M} UTC has not closed yet (the latest "
            f"closed hour opened at {last_closed:%Y-%m-%d %H:%M}); no open candle is stored",
            allow_retries=False,
        )
    return closed


def candle_metadata(report: CandleReport, client: Any) -> dict[str, Any]:
    """Materialization metadata under stable keys, so the UI can plot them over time."""
    rejected = report.rejected_rows
    rejections = (f"{r.symbol} {r.open_time:%Y-%m-%d %H:%M}: {r.reason}" for r in rejected.itertuples())
    return {
        "dagster/table_name": "candles",
        "dagster/partition_row_count": report.rows_written,
        "rows_written": report.rows_written,
        "first_hour": f"{report.hours[0]:%Y-%m-%d %H:%M}" if report.hours else "",
        "last_hour": f"{report.hours[-1]:%Y-%m-%d %H:%M}" if report.hours else "",
        "hours": len(report.hours),
        **tally_metadata(report),
        "rejected_rows": len(rejected),
        "rejected_sample": sample(rejections),
        **upstream_metadata(client),
        "peak_memory_mb": peak_memory_mb(),
    }


with accepted(dg.BetaWarning):  # BackfillPolicy.multi_run: a long backfill runs in bounded chunks
    hourly_candle_asset = dg.asset(
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "sql"},
        partitions_def=HOURLY_PARTITIONS,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_HOURS_PER_RUN),
        deps=[crypto_universe],
        pool="crypto_exchanges",
        retry_policy=RETRY,
        tags={"dagster/priority": "-15"},
        description="Hourly candles of every selected crypto pair, from its first venue in LUMIA_CRYPTO_EXCHANGES that "
        "serves the range (table candles, interval 1h). One partition per UTC hour, from LUMIA_HOURLY_START_DATE.",
    )


@hourly_candle_asset
def crypto_hourly_prices(
    context: dg.AssetExecutionContext, config: CandleRunConfig, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.MaterializeResult:
    from lumia_assets.engine.crypto_fetch import CryptoFetch  # ccxt loads in crypto steps only

    settings = Settings.from_env()
    last_closed = last_closed_crypto_hour(clock.utc_now())
    hours = closed_hours(window_hours(context.partition_time_window), last_closed)
    engine = warehouse.engine()
    instruments = instruments_to_collect(engine, CRYPTO_FEED, [], False, settings.selection, upstream.crypto_exchanges)
    if config.symbols:
        chosen = set(config.symbols)
        instruments = [instrument for instrument in instruments if instrument.symbol in chosen]
    context.log.info(f"collecting {len(instruments)} pairs over {len(hours)} hours: "
                     f"{hours[0]:%Y-%m-%d %H:%M}..{hours[-1]:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    client = upstream.client()
    report = collect_candles(engine, instruments, hours, CryptoFetch(client).hourly, last_closed=last_closed,
                             batch_size=config.batch_size, log=context.log)  # fmt: skip
    metadata = candle_metadata(report, client)
    fail_below_success_rate(report, config.min_success_rate, metadata)
    return dg.MaterializeResult(metadata=metadata)

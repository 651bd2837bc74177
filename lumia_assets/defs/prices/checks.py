"""Price checks: per evaluated partition range (partitioned checks) and over the whole table (asset-level).

ERROR for corrupt data (OHLC sanity, duplicate bars, derived adjustments disagreeing with the upstream's), blocking;
WARN for degraded data (coverage below LUMIA_COVERAGE_THRESHOLD, unexplained jumps, cross-exchange disagreement);
coverage is an ERROR when a date has lost most of its bars.
A partitioned check in a range run evaluates every date of the range and names the partitions in its metadata.
"""

from collections.abc import Callable
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from lumia_assets import clock
from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.check_results import ERROR, WARN, check_result
from lumia_assets.defs.prices.assets import (
    CRYPTO_FEED,
    EQUITY_FEED,
    PriceFeed,
    crypto_daily_prices,
    equity_daily_prices,
    venues,
)
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS, EQUITY_PARTITIONS, window_dates
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.settings import Settings
from lumia_assets.sources.candles import fetch_daily_candles, serves_range
from lumia_assets.sources.errors import SourceError
from lumia_assets.sources.exchanges import make_exchange
from lumia_assets.warehouse import quality, repairs
from lumia_assets.warehouse.store import active_symbols

JUMP_THRESHOLDS = {"equity": 0.25, "crypto": 0.5}
MISSING_DAY_COVERAGE = 0.5  # below this share of symbols, a date counts as missing: ERROR, alerting
CROSS_EXCHANGE_SAMPLE = 10
CROSS_EXCHANGE_TOLERANCE = 0.005


def coverage_severity(result: quality.QualityResult) -> dg.AssetCheckSeverity:
    """WARN for a thin date; ERROR when a date lost most of its bars (a missing day is missing data, not noise)."""
    worst = min((row["coverage"] for row in result.sample), default=1.0)
    return ERROR if worst < MISSING_DAY_COVERAGE else WARN


def evaluated_dates(context: dg.AssetCheckExecutionContext, feed: PriceFeed) -> list[date]:
    """The calendar dates of the run's partition (range) that have closed."""
    last_closed = feed.last_closed(clock.utc_now())
    return [day for day in window_dates(context.partition_time_window, feed.calendar) if day <= last_closed]


def partitions_metadata(context: dg.AssetCheckExecutionContext, dates: list[date]) -> dict[str, Any]:
    """Which partitions the check evaluated: ``first..last`` of the run's range, and how many dates."""
    keys = context.partition_key_range
    return {"partitions": keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}", "dates": len(dates)}


def _window(dates: list[date]) -> quality.Window:
    return (dates[0], dates[-1]) if dates else (date.max, date.min)  # an empty window matches nothing


def partitioned_check(**spec: Any) -> Callable[[Callable[..., dg.AssetCheckResult]], dg.AssetChecksDefinition]:
    """``dg.asset_check(**spec)`` for a check evaluated per partition of its asset."""

    def decorate(check: Callable[..., dg.AssetCheckResult]) -> dg.AssetChecksDefinition:
        with accepted(dg.PreviewWarning):  # partitions_def on a check: results per partition, as the UI shows them
            return dg.asset_check(**spec)(check)

    return decorate


def window_checks(asset: dg.AssetsDefinition, feed: PriceFeed, partitions: dg.PartitionsDefinition) -> list:
    """The partitioned checks every price asset has."""
    classes = feed.asset_classes

    def partition_check(name: str, description: str, blocking: bool):
        return partitioned_check(
            asset=asset, name=name, description=description, blocking=blocking, partitions_def=partitions
        )

    @partition_check("ohlc_sanity", "Bars of the partitions: low ≤ open, close ≤ high; prices > 0; volume ≥ 0.", True)
    def ohlc(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        dates = evaluated_dates(context, feed)
        result = quality.ohlc_sanity(warehouse.engine(), classes, _window(dates))
        return check_result(result, ERROR, **partitions_metadata(context, dates))

    @partition_check("no_duplicate_bars", "No (symbol, date) stored twice in the partitions.", True)
    def duplicates(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        dates = evaluated_dates(context, feed)
        result = quality.duplicate_prices(warehouse.engine(), classes, _window(dates))
        return check_result(result, ERROR, **partitions_metadata(context, dates))

    @partition_check(
        "coverage", "Each date has bars for at least LUMIA_COVERAGE_THRESHOLD % of the active symbols.", False
    )
    def coverage(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        dates = evaluated_dates(context, feed)
        threshold = Settings.from_env().coverage_threshold
        result = quality.price_coverage(warehouse.engine(), classes, dates, threshold / 100)
        given_up = repairs.unavailable(warehouse.engine(), classes, dates)
        return check_result(
            result,
            coverage_severity(result),
            threshold_pct=threshold,
            unavailable_cells=int(given_up["unavailable"].sum()) if not given_up.empty else 0,
            **partitions_metadata(context, dates),
        )

    jump = JUMP_THRESHOLDS[feed.calendar]

    @partition_check(
        "no_unexplained_jumps", f"No close moves more than {jump:.0%} in a day without a corporate action.", False
    )
    def jumps(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        dates = evaluated_dates(context, feed)
        result = quality.unexplained_jumps(warehouse.engine(), classes, _window(dates), jump)
        return check_result(result, WARN, threshold=jump, **partitions_metadata(context, dates))

    return [ohlc, duplicates, coverage, jumps]


def table_checks(asset: dg.AssetsDefinition, feed: PriceFeed) -> list:
    """Asset-level checks over every stored date of the asset."""

    @dg.asset_check(asset=asset, name="table_ohlc_sanity", blocking=True, description="OHLC sanity of every bar.")
    def table_ohlc(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return check_result(quality.ohlc_sanity(warehouse.engine(), feed.asset_classes), ERROR, partitions="all")

    @dg.asset_check(
        asset=asset, name="table_no_duplicate_bars", blocking=True, description="No (symbol, date) stored twice."
    )
    def table_duplicates(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return check_result(quality.duplicate_prices(warehouse.engine(), feed.asset_classes), ERROR, partitions="all")

    return [table_ohlc, table_duplicates]


@partitioned_check(
    asset=equity_daily_prices,
    name="adjustments_consistent",
    blocking=True,
    partitions_def=EQUITY_PARTITIONS,
    description="The adjusted close derived from the stored record, as of the day Yahoo adjusted to, agrees with "
    "the one Yahoo served (within 1e-6 relative).",
)
def equity_adjustments_consistent(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    dates = evaluated_dates(context, EQUITY_FEED)
    result = quality.adjustment_consistency(warehouse.engine(), EQUITY_FEED.asset_classes, _window(dates))
    return check_result(result, ERROR, **partitions_metadata(context, dates))


def secondary_closes(primary: pd.DataFrame, pairs: pd.DataFrame, upstream: UpstreamResource) -> pd.DataFrame:
    """Closes of each sampled pair from the first configured exchange listing it other than its stored source."""
    first, last = primary["date"].min(), primary["date"].max()
    session, today = upstream.client().requests_session(), clock.utc_now().date()
    exchanges: dict[str, Any] = {}
    frames = []
    for symbol, source in primary.groupby("symbol")["source"].first().items():
        listed_on = pairs.loc[pairs["symbol"] == symbol, "exchanges"].iloc[0]
        others = [
            v for v in venues(listed_on, upstream.crypto_exchanges) if v != source and serves_range(v, first, today)
        ]
        if not others:
            continue
        exchange = exchanges.setdefault(others[0], make_exchange(others[0], session))
        try:
            frames.append(fetch_daily_candles(exchange, str(symbol), first, last).bars)
        except SourceError:
            continue  # the secondary is unreachable or has no data: nothing to compare, not a disagreement
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["symbol", "date", "close"])


@partitioned_check(
    asset=crypto_daily_prices,
    name="cross_exchange_agreement",
    partitions_def=CRYPTO_PARTITIONS,
    description=f"For up to {CROSS_EXCHANGE_SAMPLE} pairs listed on two exchanges, stored closes agree with the "
    f"secondary exchange's within {CROSS_EXCHANGE_TOLERANCE:.1%}.",
)
def crypto_cross_exchange_agreement(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
) -> dg.AssetCheckResult:
    dates = evaluated_dates(context, CRYPTO_FEED)
    active = active_symbols(warehouse.engine(), CRYPTO_FEED.asset_classes)
    pairs = active[active["exchanges"].fillna("").str.contains(",")].head(CROSS_EXCHANGE_SAMPLE)
    primary = quality.stored_closes(warehouse.engine(), "crypto", list(pairs["symbol"]), _window(dates))
    secondary = secondary_closes(primary, pairs, upstream) if not primary.empty else primary
    result = quality.cross_source_disagreement(primary, secondary, CROSS_EXCHANGE_TOLERANCE)
    return check_result(
        result,
        WARN,
        pairs_sampled=len(pairs),
        tolerance=CROSS_EXCHANGE_TOLERANCE,
        **partitions_metadata(context, dates),
    )


PRICE_CHECKS = [
    *window_checks(equity_daily_prices, EQUITY_FEED, EQUITY_PARTITIONS),
    *window_checks(crypto_daily_prices, CRYPTO_FEED, CRYPTO_PARTITIONS),
    *table_checks(equity_daily_prices, EQUITY_FEED),
    *table_checks(crypto_daily_prices, CRYPTO_FEED),
    equity_adjustments_consistent,
    crypto_cross_exchange_agreement,
]

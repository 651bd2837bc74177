"""Price checks: one step per price asset evaluates all its quality checks, per partition range and table-wide.

ERROR for corrupt data (OHLC sanity, duplicate bars, derived adjustments disagreeing with the upstream's), blocking;
WARN for degraded data (coverage below LUMIA_COVERAGE_THRESHOLD, unexplained jumps, cross-exchange disagreement,
disagreement with CoinGecko's reference prices);
coverage is an ERROR when a date has lost most of its bars.

Each asset's checks run in one step (``defs/check_steps.py``). A partitioned check in a range run evaluates every
date of the range and names the partitions in its metadata; the table-wide ones (``table_*``) are unpartitioned
and look at every stored date.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.defs.check_results import ERROR, WARN, coverage_severity, partitions_label
from lumia_assets.defs.check_steps import Check, ScopeFactory, Verdict, check_step
from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.defs.prices.hourly_checks import AGREEMENT_DESCRIPTION
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS, EQUITY_PARTITIONS, window_dates
from lumia_assets.defs.prices.table_scans import table_scan
from lumia_assets.defs.reference.assets import crypto_reference_prices
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.engine.feeds import CRYPTO_FEED, EQUITY_FEED, PriceFeed
from lumia_assets.settings import Settings
from lumia_assets.warehouse import candle_quality, quality, repairs
from lumia_assets.warehouse.references import DOLLAR_QUOTES, reference_disagreement
from lumia_assets.warehouse.store import active_symbols

JUMP_THRESHOLDS = {"equity": 0.25, "crypto": 0.5}
CROSS_EXCHANGE_SAMPLE = 10
CROSS_EXCHANGE_TOLERANCE = 0.005
REFERENCE_TOLERANCE = 0.01
REFERENCE_AGREEMENT = dg.AssetCheckKey(crypto_daily_prices.key, "reference_agreement")


@dataclass(frozen=True)
class Scope:
    """What one check evaluation looks at: the feed, the warehouse, and the run's closed dates (partitioned)."""

    feed: PriceFeed
    engine: Engine
    upstream: UpstreamResource
    instance: dg.DagsterInstance  # the checks' own history
    dates: list[date]
    partitions: str  # "first..last" of the run's range, one key, or "all" (table-wide)

    @property
    def window(self) -> quality.Window:
        """``(first, last)`` of the dates; an empty window matches nothing."""
        return (self.dates[0], self.dates[-1]) if self.dates else (date.max, date.min)

    def metadata(self) -> dict[str, Any]:
        """Which partitions the check evaluated, and how many dates."""
        return {"partitions": self.partitions, "dates": len(self.dates)}


def evaluated_dates(context: dg.AssetCheckExecutionContext, feed: PriceFeed) -> list[date]:
    """The calendar dates of the run's partition (range) that have closed."""
    last_closed = feed.last_closed(clock.utc_now())
    return [day for day in window_dates(context.partition_time_window, feed.calendar) if day <= last_closed]


def window_checks(feed: PriceFeed) -> list[Check[Scope]]:
    """The partitioned checks every price asset has."""
    classes, jump = feed.asset_classes, JUMP_THRESHOLDS[feed.calendar]

    def ohlc(scope: Scope) -> Verdict:
        return Verdict(quality.ohlc_sanity(scope.engine, classes, scope.window), ERROR, scope.metadata())

    def duplicates(scope: Scope) -> Verdict:
        return Verdict(quality.duplicate_prices(scope.engine, classes, scope.window), ERROR, scope.metadata())

    def coverage(scope: Scope) -> Verdict:
        settings = Settings.from_env()
        threshold, selection = settings.coverage_threshold, settings.selection
        result = quality.price_coverage(scope.engine, classes, scope.dates, threshold / 100, selection=selection)
        given_up = repairs.unavailable(scope.engine, classes, scope.dates)
        unavailable = int(given_up["unavailable"].sum()) if not given_up.empty else 0
        metadata = {"threshold_pct": threshold, "unavailable_cells": unavailable, "selection": selection.describe(),
                    **scope.metadata()}  # fmt: skip
        return Verdict(result, coverage_severity(result), metadata)

    def jumps(scope: Scope) -> Verdict:
        result = quality.unexplained_jumps(scope.engine, classes, scope.window, jump)
        return Verdict(result, WARN, {"threshold": jump, **scope.metadata()})

    return [
        Check(
            "ohlc_sanity", "Bars of the partitions: low ≤ open, close ≤ high; prices > 0; volume ≥ 0.", True, True, ohlc
        ),
        Check("no_duplicate_bars", "No (symbol, date) stored twice in the partitions.", True, True, duplicates),
        Check(
            "coverage",
            "Each date has bars for at least LUMIA_COVERAGE_THRESHOLD % of the active symbols the selection prices.",
            False,
            True,
            coverage,
        ),
        Check(
            "no_unexplained_jumps",
            f"No close moves more than {jump:.0%} in a day without a corporate action.",
            False,
            True,
            jumps,
        ),
    ]


def table_checks(feed: PriceFeed) -> list[Check[Scope]]:
    """Asset-level checks over every stored date of the asset."""
    classes = feed.asset_classes

    def table_ohlc(scope: Scope) -> Verdict:
        key = dg.AssetCheckKey(dg.AssetKey(feed.asset_name), "table_ohlc_sanity")
        scan = table_scan(scope.instance, key, datetime.now(UTC))  # the system's time, as ``fetched_at`` is
        return Verdict(quality.ohlc_sanity(scope.engine, classes, since=scan.since), ERROR, scan.metadata())

    def table_duplicates(scope: Scope) -> Verdict:
        return Verdict(quality.duplicate_prices(scope.engine, classes), ERROR, {"partitions": "all"})

    return [
        Check(
            "table_ohlc_sanity",
            "OHLC sanity of every bar: those fetched since the last pass, and every bar once a week.",
            True,
            False,
            table_ohlc,
        ),
        Check("table_no_duplicate_bars", "No (symbol, date) stored twice.", True, False, table_duplicates),
    ]


def adjustments_consistent(scope: Scope) -> Verdict:
    """The derived adjusted close agrees with the one Yahoo served, as of the day Yahoo adjusted to."""
    result = quality.adjustment_consistency(scope.engine, scope.feed.asset_classes, scope.window)
    return Verdict(result, ERROR, scope.metadata())


def cross_exchange_agreement(scope: Scope) -> Verdict:
    """Stored closes of a sample of multi-listed pairs agree with a secondary exchange's. Rows of an aggregated
    fallback (``source`` yahoo) are no exchange's closes: they are left out."""
    active = active_symbols(scope.engine, scope.feed.asset_classes, selection=Settings.from_env().selection)
    pairs = active[active["exchanges"].fillna("").str.contains(",")].head(CROSS_EXCHANGE_SAMPLE)
    stored = quality.stored_closes(scope.engine, "crypto", list(pairs["symbol"]), scope.window)
    primary = stored[~stored["source"].isin(scope.feed.fallback_sources)]
    if primary.empty:
        secondary = primary
    else:
        from lumia_assets.engine.crypto_fetch import secondary_closes  # ccxt loads in crypto steps only

        session = scope.upstream.client().requests_session()
        secondary = secondary_closes(primary, pairs, session, scope.upstream.crypto_exchanges)
    result = quality.cross_source_disagreement(primary, secondary, CROSS_EXCHANGE_TOLERANCE)
    metadata = {"pairs_sampled": len(pairs), "tolerance": CROSS_EXCHANGE_TOLERANCE, **scope.metadata()}
    return Verdict(result, WARN, metadata)


def reference_agreement(scope: Scope) -> Verdict:
    """Stored dollar-quoted closes agree with CoinGecko's price of their coin that day."""
    result = reference_disagreement(scope.engine, scope.window, REFERENCE_TOLERANCE)
    return Verdict(result, WARN, {"tolerance": REFERENCE_TOLERANCE, **scope.metadata()})


def hourly_daily_agreement(scope: Scope) -> Verdict:
    """The days' daily candles agree with the 24 hourly candles of the same venue, where those are stored."""
    return Verdict(candle_quality.hourly_daily_agreement(scope.engine, scope.dates), ERROR, scope.metadata())


EQUITY_CHECKS = [
    *window_checks(EQUITY_FEED),
    *table_checks(EQUITY_FEED),
    Check(
        "adjustments_consistent",
        "The adjusted close derived from the stored record, as of the day Yahoo adjusted to, agrees with the one "
        "Yahoo served (within 1e-6 relative).",
        True,
        True,
        adjustments_consistent,
    ),
]
CRYPTO_CHECKS = [
    *window_checks(CRYPTO_FEED),
    *table_checks(CRYPTO_FEED),
    Check(
        "cross_exchange_agreement",
        f"For up to {CROSS_EXCHANGE_SAMPLE} pairs listed on two exchanges, stored closes agree with the secondary "
        f"exchange's within {CROSS_EXCHANGE_TOLERANCE:.1%}.",
        False,
        True,
        cross_exchange_agreement,
    ),
    Check("hourly_daily_agreement", AGREEMENT_DESCRIPTION, False, True, hourly_daily_agreement),
    # evaluated by crypto_reference_job once the day's reference prices are in (crypto_prices_job leaves it out)
    Check(
        REFERENCE_AGREEMENT.name,
        f"Stored closes of pairs quoted in {', '.join(DOLLAR_QUOTES)} agree with CoinGecko's price of their coin at "
        f"the end of that UTC day within {REFERENCE_TOLERANCE:.0%}; the metadata shows the largest deviations. Days "
        "without a reference price are not compared.",
        False,
        True,
        reference_agreement,
        additional_deps=(crypto_reference_prices,),
    ),
]


def price_scope(feed: PriceFeed) -> ScopeFactory[Scope]:
    """What the feed's checks look at: the run's closed dates (partitioned checks) or every stored date."""

    def scope(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        upstream: UpstreamResource,
        partitioned: bool,
    ) -> Scope:
        parts = (feed, warehouse.engine(), upstream, context.instance)
        if not partitioned:
            return Scope(*parts, [], "all")
        return Scope(*parts, evaluated_dates(context, feed), partitions_label(context))

    return scope


PRICE_CHECKS = [
    check_step(equity_daily_prices, EQUITY_CHECKS, price_scope(EQUITY_FEED), EQUITY_PARTITIONS),
    check_step(crypto_daily_prices, CRYPTO_CHECKS, price_scope(CRYPTO_FEED), CRYPTO_PARTITIONS),
]

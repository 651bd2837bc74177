"""Checks over CoinGecko's witness: most bases are mapped to a coin (WARN, on ``crypto_coins``), and each day has
the reference prices of the coins it should (WARN, on ``crypto_reference_prices``). The stored candles' agreement
with the reference prices is one of ``crypto_daily_prices``' checks (``defs/prices/checks.py``).

Neither can fail a run: a small token may not be on CoinGecko at all, and a coin CoinGecko failed for is a gap the
next run fills. Each says which rows to look at.
"""

from dataclasses import dataclass
from datetime import date

import dagster as dg
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.defs.check_results import WARN, check_result, partitions_label
from lumia_assets.defs.check_steps import Check, Verdict, check_step
from lumia_assets.defs.metadata import sample
from lumia_assets.defs.prices.checks import evaluated_dates
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.engine.feeds import CRYPTO_FEED
from lumia_assets.settings import Settings
from lumia_assets.sources.coingecko import oldest_served_day
from lumia_assets.warehouse.quality import quality_result
from lumia_assets.warehouse.references import (
    active_bases,
    mapped_bases,
    reference_coins,
    reference_coverage,
)

MIN_MAPPED_SHARE = 0.5


@dataclass(frozen=True)
class ReferenceScope:
    """What the reference prices' checks look at: the warehouse and the run's closed UTC days."""

    engine: Engine
    days: list[date]
    partitions: str


def reference_scope(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource,
                    partitioned: bool) -> ReferenceScope:  # fmt: skip
    """The run's closed days that CoinGecko serves (the past 365 days)."""
    oldest = oldest_served_day(clock.utc_now().date())
    days = [day for day in evaluated_dates(context, CRYPTO_FEED) if day >= oldest]
    return ReferenceScope(warehouse.engine(), days, partitions_label(context))


def coverage(scope: ReferenceScope) -> Verdict:
    settings = Settings.from_env()
    coins = reference_coins(scope.engine, settings.selection, settings.coingecko_max_coins)["coin_id"]
    result = reference_coverage(scope.engine, list(coins), scope.days, settings.coverage_threshold / 100)
    metadata = {"threshold_pct": settings.coverage_threshold, "coins": len(coins), "partitions": scope.partitions,
                "dates": len(scope.days)}  # fmt: skip
    return Verdict(result, WARN, metadata)


REFERENCE_CHECKS = check_step(
    crypto_reference_prices,
    [Check("coverage", "Each day has reference prices for at least LUMIA_COVERAGE_THRESHOLD % of the coins the "
           "asset collects (the largest LUMIA_COINGECKO_MAX_COINS with a selected dollar-quoted pair).", False, True,
           coverage)],
    reference_scope,
    CRYPTO_PARTITIONS,
)  # fmt: skip


@dg.asset_check(
    asset=crypto_coins,
    name="bases_mapped",
    description=f"At least {MIN_MAPPED_SHARE:.0%} of the base currencies of the active pairs stand for a CoinGecko "
    "coin; the metadata lists those that don't (not on CoinGecko, or ambiguous without a market cap).",
)
def bases_mapped(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    engine = warehouse.engine()
    bases, mapped = active_bases(engine), set(mapped_bases(engine))
    unmapped = [base for base in bases if base not in mapped]
    share = 1 - len(unmapped) / len(bases) if bases else 1.0
    failing = len(unmapped) if share < MIN_MAPPED_SHARE else 0
    result = quality_result(failing, len(bases), [], f"{len(bases) - len(unmapped)} of {len(bases)} bases mapped")
    return check_result(result, WARN, mapped_pct=round(100 * share, 2), unmapped_sample=sample(unmapped))

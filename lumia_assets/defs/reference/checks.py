"""Checks over CoinGecko's witness: the stored dollar-quoted closes agree with the coins' reference prices (WARN,
on ``crypto_daily_prices``), most bases are mapped to a coin (WARN, on ``crypto_coins``), and each day has the
reference prices of the coins it should (WARN, on ``crypto_reference_prices``).

None can fail a run: an exchange may trade a coin a little off its aggregated price, a small token may not be on
CoinGecko at all, and a coin CoinGecko failed for is a gap the next run fills. Each says which rows to look at.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import dagster as dg
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.check_results import WARN, check_result, partitions_label
from lumia_assets.defs.check_steps import Check, Verdict, check_step, per_partition
from lumia_assets.defs.metadata import sample
from lumia_assets.defs.prices.assets import crypto_daily_prices
from lumia_assets.defs.prices.checks import evaluated_dates
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.engine.feeds import CRYPTO_FEED
from lumia_assets.settings import Settings
from lumia_assets.sources.coingecko import oldest_served_day
from lumia_assets.warehouse.quality import quality_result
from lumia_assets.warehouse.references import (
    DOLLAR_QUOTES,
    active_bases,
    mapped_bases,
    reference_coins,
    reference_coverage,
    reference_disagreement,
)

REFERENCE_TOLERANCE = 0.01
MIN_MAPPED_SHARE = 0.5

REFERENCE_AGREEMENT = "reference_agreement"
with accepted(dg.PreviewWarning):  # partitions_def on a check spec: results per partition, as the UI shows them
    REFERENCE_AGREEMENT_SPEC = dg.AssetCheckSpec(
        REFERENCE_AGREEMENT,
        asset=crypto_daily_prices,
        additional_deps=[crypto_reference_prices],
        partitions_def=CRYPTO_PARTITIONS,
        description=f"Stored closes of pairs quoted in {', '.join(DOLLAR_QUOTES)} agree with CoinGecko's price of "
        f"their coin at the end of that UTC day within {REFERENCE_TOLERANCE:.0%}; the metadata shows the largest "
        "deviations. Days without a reference price are not compared.",
    )


# a multi-asset check of one spec: a range run reports a result per partition, which a plain asset check's one
# required output cannot
@dg.multi_asset_check(specs=[REFERENCE_AGREEMENT_SPEC], can_subset=True, name="crypto_daily_prices_reference_agreement")
def reference_agreement(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation]:
    """The run's closed days of dollar-quoted candles against CoinGecko's reference prices."""
    days = evaluated_dates(context, CRYPTO_FEED)
    if days:
        result = reference_disagreement(warehouse.engine(), (days[0], days[-1]), REFERENCE_TOLERANCE)
    else:
        result = quality_result(0, 0, [], "no closed day")
    metadata = {"tolerance": REFERENCE_TOLERANCE, "partitions": partitions_label(context), "dates": len(days)}
    verdict = check_result(result, WARN, REFERENCE_AGREEMENT_SPEC.key, **metadata)
    if context.has_partition_key:
        yield verdict
    else:
        yield from per_partition(verdict, context.partition_keys, blocking=False)


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

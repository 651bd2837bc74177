"""Checks over CoinGecko's witness: the stored dollar-quoted closes agree with the coins' reference prices (WARN,
on ``crypto_daily_prices``), and most bases are mapped to a coin (WARN, on ``crypto_coins``).

Neither can fail a run: an exchange may trade a coin a little off its aggregated price, and a small token may not
be on CoinGecko at all. Both say which rows to look at.
"""

from collections.abc import Iterator

import dagster as dg

from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.check_results import WARN, check_result, partitions_label
from lumia_assets.defs.check_steps import per_partition
from lumia_assets.defs.metadata import sample
from lumia_assets.defs.prices.assets import crypto_daily_prices
from lumia_assets.defs.prices.checks import evaluated_dates
from lumia_assets.defs.prices.partitions import CRYPTO_PARTITIONS
from lumia_assets.defs.reference.assets import crypto_coins, crypto_reference_prices
from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.engine.feeds import CRYPTO_FEED
from lumia_assets.warehouse.quality import quality_result
from lumia_assets.warehouse.references import DOLLAR_QUOTES, active_bases, mapped_bases, reference_disagreement

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

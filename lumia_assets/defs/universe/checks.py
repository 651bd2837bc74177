"""Universe checks: size and churn within bounds, no duplicate symbols, required fields present (ERROR, blocking:
a broken universe must not drive a price run), and names known (WARN: a fund known only from SEC's list has no
name until Yahoo's first answer gives it one; a fallback day must never fail the universe run)."""

from collections.abc import Callable

import dagster as dg

from lumia_assets.defs.check_results import ERROR, WARN, check_result
from lumia_assets.defs.resources import WarehouseResource
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.settings import Settings
from lumia_assets.warehouse import quality

MAX_CHURN = 0.2  # the share of the previous snapshot a run may remove; sync_universe refuses more


def universe_checks(
    asset: dg.AssetsDefinition, asset_classes: tuple[str, ...], min_rows: Callable[[Settings], int]
) -> list[dg.AssetChecksDefinition]:
    """The checks of one universe asset; ``min_rows`` reads its lower bound from the settings."""
    universe = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset,
        name="size_and_churn_within_bounds",
        blocking=True,
        description=f"At least LUMIA_MIN_* active instruments, and at most {MAX_CHURN:.0%} of the previous "
        "snapshot removed (a directory that suddenly lost rows is an error).",
    )
    def bounds(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        minimum = min_rows(Settings.from_env())
        result = quality.universe_bounds(warehouse.engine(), universe, minimum, MAX_CHURN)
        return check_result(result, ERROR, min_rows=minimum, max_churn=MAX_CHURN)

    @dg.asset_check(
        asset=asset,
        name="no_duplicate_symbols",
        blocking=True,
        description="No symbol stored under two spellings differing only in case or padding.",
    )
    def duplicates(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return check_result(quality.duplicate_symbols(warehouse.engine(), asset_classes), ERROR)

    @dg.asset_check(
        asset=asset,
        name="required_fields_present",
        blocking=True,
        description="Every active instrument has an exchange and source (crypto: base, quote, primary exchange).",
    )
    def required(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return check_result(quality.missing_required_fields(warehouse.engine(), asset_classes), ERROR)

    @dg.asset_check(
        asset=asset,
        name="names_known",
        description="Every active instrument has a name. Funds known only from SEC's list (no names) get theirs "
        "from Yahoo's first answer; until then they are counted here as a warning.",
    )
    def names(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return check_result(quality.missing_names(warehouse.engine(), asset_classes), WARN)

    return [bounds, duplicates, required, names]


UNIVERSE_CHECKS = [
    *universe_checks(stock_universe, ("stock", "etf"), lambda settings: settings.min_stocks),
    *universe_checks(fund_universe, ("mutual_fund",), lambda settings: settings.min_funds),
    *universe_checks(crypto_universe, ("crypto",), lambda settings: settings.min_crypto_pairs),
]

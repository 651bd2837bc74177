"""Universe checks: size and churn within bounds, no duplicate symbols, required fields present (ERROR, blocking:
a broken universe must not drive a price run), and names known (WARN: a fund known only from SEC's list has no
name until Yahoo's first answer gives it one; a fallback day must never fail the universe run).

Each universe asset's checks run in one step (``defs/check_steps.py``)."""

from collections.abc import Callable

import dagster as dg
from sqlalchemy.engine import Engine

from lumia_assets.defs.check_results import ERROR, WARN
from lumia_assets.defs.check_steps import Check, Verdict, check_step
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
from lumia_assets.settings import Settings
from lumia_assets.warehouse import quality

MAX_CHURN = 0.2  # the share of the previous snapshot a run may remove; sync_universe refuses more


def warehouse_scope(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource, partitioned: bool
) -> Engine:
    """Universe checks look at the warehouse only."""
    return warehouse.engine()


def universe_checks(
    asset: dg.AssetsDefinition, asset_classes: tuple[str, ...], min_rows: Callable[[Settings], int]
) -> dg.AssetChecksDefinition:
    """The check step of one universe asset; ``min_rows`` reads its lower bound from the settings."""
    universe = asset.key.to_user_string()

    def bounds(engine: Engine) -> Verdict:
        minimum = min_rows(Settings.from_env())
        result = quality.universe_bounds(engine, universe, minimum, MAX_CHURN)
        return Verdict(result, ERROR, {"min_rows": minimum, "max_churn": MAX_CHURN})

    def duplicates(engine: Engine) -> Verdict:
        return Verdict(quality.duplicate_symbols(engine, asset_classes), ERROR, {})

    def required(engine: Engine) -> Verdict:
        return Verdict(quality.missing_required_fields(engine, asset_classes), ERROR, {})

    def names(engine: Engine) -> Verdict:
        return Verdict(quality.missing_names(engine, asset_classes), WARN, {})

    checks = [
        Check(
            "size_and_churn_within_bounds",
            f"At least LUMIA_MIN_* active instruments, and at most {MAX_CHURN:.0%} of the previous snapshot removed "
            "(a directory that suddenly lost rows is an error).",
            True,
            False,
            bounds,
        ),
        Check(
            "no_duplicate_symbols",
            "No symbol stored under two spellings differing only in case or padding.",
            True,
            False,
            duplicates,
        ),
        Check(
            "required_fields_present",
            "Every active instrument has an exchange and source (crypto: base, quote, primary exchange).",
            True,
            False,
            required,
        ),
        Check(
            "names_known",
            "Every active instrument has a name. Funds known only from SEC's list (no names) get theirs from Yahoo's "
            "first answer; until then they are counted here as a warning.",
            False,
            False,
            names,
        ),
    ]
    return check_step(asset, checks, warehouse_scope)


UNIVERSE_CHECKS = [
    universe_checks(stock_universe, ("stock", "etf"), lambda settings: settings.min_stocks),
    universe_checks(fund_universe, ("mutual_fund",), lambda settings: settings.min_funds),
    universe_checks(crypto_universe, ("crypto",), lambda settings: settings.min_crypto_pairs),
]

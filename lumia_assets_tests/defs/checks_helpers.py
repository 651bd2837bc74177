"""Run asset checks alone (no materialization) against a loaded warehouse, and read their evaluations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import dagster as dg
import sqlalchemy as sa

from lumia_assets.defs.prices.checks import PRICE_CHECKS
from lumia_assets.defs.prices.hourly_checks import HOURLY_PRICE_CHECKS
from lumia_assets.defs.reference.checks import REFERENCE_CHECKS, bases_mapped
from lumia_assets.defs.resources import build_resources, warehouse_engine
from lumia_assets.defs.universe.checks import UNIVERSE_CHECKS
from lumia_assets.settings import Settings
from lumia_assets_tests.defs.prices_helpers import ALL_ASSETS

CHECKS = [*UNIVERSE_CHECKS, *PRICE_CHECKS, HOURLY_PRICE_CHECKS, REFERENCE_CHECKS, bases_mapped]


def run_checks(
    settings: Settings,
    asset: str,
    start: date | str | None = None,
    end: date | str | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dict[str, dg.AssetCheckEvaluation]:
    """Evaluate every check of ``asset`` (over ``start``..``end`` for partitioned ones) on ``instance`` (default: an
    ephemeral one, without history), by check name (``by_check``)."""
    tags = {}
    if start is not None:
        tags = {"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)}
    result = dg.materialize(
        [*ALL_ASSETS, *CHECKS],
        selection=dg.AssetSelection.checks_for_assets(asset),
        resources=build_resources(settings),
        tags=tags,
        instance=instance,
        raise_on_error=False,
    )
    return by_check(result.get_asset_check_evaluations())


def by_check(evaluations: Sequence[dg.AssetCheckEvaluation]) -> dict[str, dg.AssetCheckEvaluation]:
    """Per check name, its first failing evaluation (a range run reports one per partition), else its last."""
    found: dict[str, dg.AssetCheckEvaluation] = {}
    for evaluation in evaluations:
        if evaluation.check_name not in found or found[evaluation.check_name].passed:
            found[evaluation.check_name] = evaluation
    return found


def execute(warehouse_url: str, statement: str, **params: object) -> None:
    with warehouse_engine(warehouse_url).begin() as conn:
        conn.execute(sa.text(statement), params)

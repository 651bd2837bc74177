"""One step per asset for its checks: the checks are the specs of one ``multi_asset_check`` (``can_subset``).

A run evaluates the selected checks one after the other in that step, on its pooled warehouse connection,
instead of a step (and, under the multiprocess executor, a process) each. Each check keeps its own key, history,
metadata and blocking flag in the UI, and any one of them can run alone.
"""

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import dagster as dg

from lumia_assets.defs.api_notices import accepted
from lumia_assets.defs.check_results import check_result
from lumia_assets.defs.resources import UpstreamResource, WarehouseResource
from lumia_assets.warehouse.quality import QualityResult

ScopeT = TypeVar("ScopeT")


@dataclass(frozen=True)
class Verdict:
    """A check's outcome before it becomes the ``AssetCheckResult`` of its key."""

    result: QualityResult
    severity: dg.AssetCheckSeverity
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Check(Generic[ScopeT]):
    """One check of an asset: its spec's fields and how to evaluate it over a scope."""

    name: str
    description: str
    blocking: bool
    partitioned: bool  # evaluated per partition of the asset, else over the whole asset
    evaluate: Callable[[ScopeT], Verdict]
    additional_deps: tuple[dg.AssetsDefinition, ...] = ()  # assets it reads besides its own: it runs after them


# (context, warehouse, upstream, partitioned) -> what the checks of that kind look at
ScopeFactory = Callable[[dg.AssetCheckExecutionContext, WarehouseResource, UpstreamResource, bool], ScopeT]


def check_step(
    asset: dg.AssetsDefinition,
    checks: Sequence[Check[ScopeT]],
    scope: ScopeFactory[ScopeT],
    partitions: dg.PartitionsDefinition | None = None,
) -> dg.AssetChecksDefinition:
    """The step evaluating the selected ``checks`` of ``asset`` in order, each reported under its own key.

    ``scope`` is built once per kind the selection needs: partitioned (the run's partitions) and asset-wide.
    """
    order = {check.name: index for index, check in enumerate(checks)}
    by_name = {check.name: check for check in checks}
    with accepted(dg.PreviewWarning):  # partitions_def on a check spec: results per partition, as the UI shows them
        specs = [
            dg.AssetCheckSpec(
                check.name,
                asset=asset,
                description=check.description,
                blocking=check.blocking,
                additional_deps=check.additional_deps,
                partitions_def=partitions if check.partitioned else None,
            )
            for check in checks
        ]

    @dg.multi_asset_check(
        name=f"{asset.key.to_python_identifier()}_checks",
        specs=specs,
        can_subset=True,
        description=f"The checks of {asset.key.to_user_string()}, evaluated in one step.",
    )
    def evaluate(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, upstream: UpstreamResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = sorted((by_name[key.name] for key in context.selected_asset_check_keys), key=lambda c: order[c.name])
        scopes: dict[bool, ScopeT] = {}
        for check in selected:
            if check.partitioned not in scopes:
                scopes[check.partitioned] = scope(context, warehouse, upstream, check.partitioned)
            verdict = check.evaluate(scopes[check.partitioned])
            result = check_result(verdict.result, verdict.severity, dg.AssetCheckKey(asset.key, check.name),
                                  **verdict.metadata)  # fmt: skip
            if check.partitioned and partitions is not None and not context.has_partition_key:
                failed = failing_partitions(partitions, context.partition_keys, verdict.result.failing_at)
                yield from per_partition(result, context.partition_keys, check.blocking, failed)
            else:
                yield result

    return evaluate


def failing_partitions(
    partitions: dg.PartitionsDefinition, partition_keys: Sequence[str], failing_at: frozenset[date] | None
) -> set[str] | None:
    """The partitions of ``partition_keys`` holding a failing unit's date (the day overlaps the partition's window,
    in its time zone) or hour (its open time falls in it); None where the check did not tell its failing units'
    dates apart, or the partitions are not time windows."""
    if failing_at is None or not isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return None
    windows = sorted((partitions.time_window_for_partition_key(key), key) for key in partition_keys)
    starts = [window.start for window, _ in windows]
    failed = set()
    for when in failing_at:
        first, last = _span(when, partitions.timezone)
        position = max(bisect_right(starts, first) - 1, 0)  # the window starting at or before it, then onwards
        while position < len(windows) and windows[position][0].start < last:
            if windows[position][0].end > first:
                failed.add(windows[position][1])
            position += 1
    return failed


def _span(when: date, timezone: str) -> tuple[datetime, datetime]:
    """A failing unit as a half-open span of time: an hour at its open time, a day in the partitions' time zone."""
    if isinstance(when, datetime):
        return when, when + timedelta(microseconds=1)
    start = datetime.combine(when, time(), ZoneInfo(timezone))
    return start, start + timedelta(days=1)


def per_partition(
    result: dg.AssetCheckResult, partition_keys: Sequence[str], blocking: bool, failed: set[str] | None
) -> Iterator[dg.AssetCheckEvaluation]:
    """A range run's verdict on each of its partitions. Dagster plans a partitioned check once per partition of the
    range, and a result without a partition would leave every one of them planned (shown as skipped). A failing
    range fails only the ``failed`` partitions where the check tells them apart, else every one of them."""
    metadata = dict(result.metadata)
    if not result.passed and failed is not None:
        metadata["failing_partitions"] = len(failed)
    for partition in partition_keys:
        passed = result.passed or (failed is not None and partition not in failed)
        yield dg.AssetCheckEvaluation(
            asset_key=result.asset_key,
            check_name=result.check_name,
            passed=passed,
            metadata=metadata,
            severity=result.severity,
            description=result.description,
            blocking=blocking,
            partition=partition,
        )

"""Turn a warehouse ``QualityResult`` into a Dagster ``AssetCheckResult`` with metadata a person can act on."""

from typing import Any

import dagster as dg

from lumia_assets.warehouse.quality import QualityResult

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
MISSING_PERIOD_COVERAGE = 0.5  # below this share of symbols, a date or hour counts as missing: ERROR, alerting


def coverage_severity(result: QualityResult) -> dg.AssetCheckSeverity:
    """WARN for a thin date or hour; ERROR when one lost most of its bars (a missing period is missing data, not
    noise). ``result.sample`` holds the worst periods, each with its ``coverage``."""
    worst = min((row["coverage"] for row in result.sample), default=1.0)
    return ERROR if worst < MISSING_PERIOD_COVERAGE else WARN


def partitions_label(context: dg.AssetCheckExecutionContext) -> str:
    """``first..last`` of the run's partition range, or its one key."""
    keys = context.partition_key_range
    return keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"


def check_result(
    result: QualityResult, severity: dg.AssetCheckSeverity, key: dg.AssetCheckKey | None = None, /, **metadata: Any
) -> dg.AssetCheckResult:
    """Pass or fail with ``severity``, for check ``key`` (needed where one step evaluates several checks);
    metadata holds the counts, the failing sample and ``metadata``."""
    return dg.AssetCheckResult(
        asset_key=key.asset_key if key else None,
        check_name=key.name if key else None,
        passed=result.passed,
        severity=severity,
        description=result.detail,
        metadata={
            "failing": result.failing,
            "checked": result.checked,
            "sample": dg.MetadataValue.json(result.sample),
            **metadata,
        },
    )

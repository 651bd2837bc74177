"""Turn a warehouse ``QualityResult`` into a Dagster ``AssetCheckResult`` with metadata a person can act on."""

from typing import Any

import dagster as dg

from lumia_assets.warehouse.quality import QualityResult

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


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

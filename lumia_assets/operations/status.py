"""``lumia status``: per-asset health from the Dagster instance and the warehouse, and an overall verdict."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lumia_assets.engine.feeds import FEEDS, PriceFeed, recent_dates
from lumia_assets.operations.freshness import evaluate_partition_freshness, policy_passes
from lumia_assets.operations.runs import planned_assets
from lumia_assets.settings import Settings
from lumia_assets.warehouse.gaps import missing_symbols, partition_gaps
from lumia_assets.warehouse.reports import database_size
from lumia_assets.warehouse.selection import unknown_includes

FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
PRICE_ASSETS: dict[str, PriceFeed] = {feed.asset_name: feed for feed in FEEDS.values()}
SUCCESS_WINDOW = timedelta(days=7)
FAILED_CHECK = AssetCheckExecutionRecordStatus.FAILED
HOURLY_ASSET = "crypto_hourly_prices"


def database_status(engine: Engine) -> dict[str, Any]:
    """Whether the warehouse answers, its backend and size."""
    try:
        return {"reachable": True, "backend": engine.dialect.name, "size_bytes": database_size(engine), "error": None}
    except SQLAlchemyError as exc:
        return {"reachable": False, "backend": engine.dialect.name, "size_bytes": None, "error": str(exc)}


def failing_checks(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]) -> list[dict[str, Any]]:
    """The checks whose latest completed evaluation failed, or that failed on any partition of the run that made
    it (a range run gives each partition its own verdict), with severity and description."""
    storage = instance.event_log_storage
    summaries = storage.get_asset_check_summary_records(list(check_keys))
    failing = []
    for key, summary in sorted(summaries.items(), key=lambda item: item[0].to_user_string()):
        record = summary.last_completed_check_execution_record
        if record is not None and record.status != FAILED_CHECK:
            failed = list(storage.get_asset_check_execution_history(key, limit=1, status={FAILED_CHECK}))
            record = failed[0] if failed and failed[0].run_id == record.run_id else record
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        if evaluation is not None and not evaluation.passed:
            failing.append(
                {"check": key.name, "severity": evaluation.severity.value, "description": evaluation.description}
            )
    return failing


def success_rate(runs: dict[str, tuple[set[str], bool]], name: str) -> tuple[int, float | None]:
    """Finished runs that targeted asset ``name``, and the share that succeeded (percent)."""
    mine = [succeeded for targets, succeeded in runs.values() if name in targets]
    return len(mine), (round(100 * sum(mine) / len(mine), 1) if mine else None)


def _price_status(engine: Engine, settings: Settings, feed: PriceFeed, due: str, now: datetime) -> dict[str, Any]:
    selection = settings.selection
    latest = partition_gaps(engine, feed.asset_classes, [date.fromisoformat(due)], selection=selection).iloc[0]
    coverage = round(100 * latest["present"] / latest["expected"], 2) if latest["expected"] else 100.0
    gaps = partition_gaps(engine, feed.asset_classes, recent_dates(feed, settings, now), selection=selection)
    gapped = list(gaps.loc[gaps["missing"] > 0, "date"])
    symbols = missing_symbols(engine, feed.asset_classes, gapped, selection=selection)
    return {
        "coverage_pct": coverage,
        "gaps": int(gaps["missing"].sum()),
        "missing_symbols": {day.isoformat(): names for day, names in symbols.items()},
    }


def asset_status(
    instance: dg.DagsterInstance,
    engine: Engine | None,
    settings: Settings,
    key: dg.AssetKey,
    policy: dg.FreshnessPolicy | None,
    check_keys: Sequence[dg.AssetCheckKey],
    runs: dict[str, tuple[set[str], bool]],
    now: datetime,
) -> dict[str, Any]:
    """One asset's health; ``problems`` lists what makes it unhealthy (empty: healthy)."""
    name = key.to_user_string()
    latest = instance.get_latest_materialization_event(key)
    status: dict[str, Any] = {
        "asset": name,
        "last_materialization": datetime.fromtimestamp(latest.timestamp, UTC).isoformat() if latest else None,
        "age_hours": round((now.timestamp() - latest.timestamp) / 3600, 1) if latest else None,
        "fresh": bool(latest) and (policy is None or policy_passes(policy, latest.timestamp, now)),
        "latest_partition": None,
        "latest_partition_filled": None,
        "coverage_pct": None,
        "gaps": None,
        "missing_symbols": None,  # price assets: per date of the lookback with gaps, the symbols missing
    }
    if name in PRICE_ASSETS:
        feed = PRICE_ASSETS[name]
        freshness = evaluate_partition_freshness(instance, feed.deadline, now)
        status["latest_partition"] = freshness.metadata["expected_partition"].value
        status["fresh"] = status["fresh"] and freshness.passed
        if engine is not None:
            status.update(_price_status(engine, settings, feed, status["latest_partition"], now))
            status["latest_partition_filled"] = (
                freshness.passed and status["coverage_pct"] >= settings.coverage_threshold
            )
    status["failing_checks"] = failing_checks(instance, [k for k in check_keys if k.asset_key == key])
    status["runs_7d"], status["success_rate_7d_pct"] = success_rate(runs, name)
    status["problems"] = _problems(status, settings)
    return status


def _problems(status: dict[str, Any], settings: Settings) -> list[str]:
    problems = []
    if status["last_materialization"] is None:
        problems.append("never materialized")
    elif not status["fresh"]:
        partition = f" (partition {status['latest_partition']} missing)" if status["latest_partition"] else ""
        problems.append(f"stale: last materialized {status['age_hours']} h ago{partition}")
    if status["coverage_pct"] is not None and status["coverage_pct"] < settings.coverage_threshold:
        problems.append(f"coverage {status['coverage_pct']}% < {settings.coverage_threshold}%")
    problems += [f"check {c['check']} failing" for c in status["failing_checks"] if c["severity"] == "ERROR"]
    return problems


def health_status(
    instance: dg.DagsterInstance, engine: Engine, settings: Settings, defs: dg.Definitions, now: datetime | None = None
) -> dict[str, Any]:
    """Every asset's status, the database's, and ``healthy`` (no problem anywhere)."""
    now = now or datetime.now(UTC)
    database = database_status(engine)
    graph = defs.resolve_asset_graph()
    check_keys = list(graph.asset_check_keys)
    records = instance.get_run_records(dg.RunsFilter(created_after=now - SUCCESS_WINDOW, statuses=list(FINISHED)))
    runs = {
        r.dagster_run.run_id: (
            planned_assets(instance, r.dagster_run),
            r.dagster_run.status == dg.DagsterRunStatus.SUCCESS,
        )
        for r in records
    }
    reachable = engine if database["reachable"] else None
    off = switched_off(settings)
    assets = [
        asset_status(instance, reachable, settings, key, graph.get(key).freshness_policy, check_keys, runs, now)
        for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
        if key.to_user_string() not in off
    ]
    healthy = database["reachable"] and not any(a["problems"] for a in assets)
    selection = {
        "priced": settings.selection.describe(),
        "included_not_listed": [str(s) for s in unknown_includes(reachable, settings.selection)] if reachable else [],
    }
    return {"healthy": healthy, "checked_at": now.isoformat(), "database": database, "selection": selection,
            "assets": assets, "off": off}  # fmt: skip


def switched_off(settings: Settings) -> dict[str, str]:
    """The assets this deployment does not collect, not judged, each with the setting that turned it off."""
    return {} if settings.hourly_candles else {HOURLY_ASSET: "LUMIA_HOURLY_CANDLES=false"}

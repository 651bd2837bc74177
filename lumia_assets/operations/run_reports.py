"""``lumia report daily|weekly``: runs, rows, requests, coverage and memory, read from the Dagster instance.

Materialization metadata uses the stable keys the price and universe assets write (``rows_written``,
``coverage_pct``, ``upstream_requests``, ``upstream_429s``, ``upstream_errors``, ``peak_memory_mb``). A range run
records one materialization per partition with the same metadata, so each asset counts once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg

from lumia_assets.operations.runs import run_partitions

COUNTERS = ("rows_written", "upstream_requests", "upstream_429s", "upstream_errors")


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    return getattr(metadata.get(key), "value", None)


def _metadata_by_asset(instance: dg.DagsterInstance, run_id: str) -> dict[str, Mapping[str, Any]]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    by_asset = {}
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is not None:
            by_asset[materialization.asset_key.to_user_string()] = materialization.metadata
    return by_asset


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return sorted(
        f"{e.asset_key.to_user_string()}:{e.check_name} ({e.severity.value})" for e in evaluations if not e.passed
    )


def run_summary(instance: dg.DagsterInstance, record: dg.RunRecord) -> dict[str, Any]:
    """One run: job, status, duration, partitions, and the counters summed over the assets it materialized."""
    run = record.dagster_run
    metadata = _metadata_by_asset(instance, run.run_id)
    coverages = [c for m in metadata.values() if (c := _value(m, "coverage_pct")) is not None]
    memory = [m_ for m in metadata.values() if (m_ := _value(m, "peak_memory_mb")) is not None]
    duration = record.end_time - record.start_time if record.start_time and record.end_time else None
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "status": run.status.value,
        "created_at": record.create_timestamp.astimezone(UTC).isoformat(),
        "duration_s": round(duration, 1) if duration is not None else None,
        "partitions": run_partitions(run.tags),
        "assets": sorted(metadata),
        **{key: sum(int(_value(m, key) or 0) for m in metadata.values()) for key in COUNTERS},
        "coverage_pct": min(coverages) if coverages else None,
        "peak_memory_mb": max(memory) if memory else None,
        "failed_checks": _failed_checks(instance, run.run_id),
    }


def _runs_on(instance: dg.DagsterInstance, day: date) -> list[dg.RunRecord]:
    start = datetime.combine(day, time(), UTC)
    filters = dg.RunsFilter(created_after=start, created_before=start + timedelta(days=1))
    return list(instance.get_run_records(filters=filters, ascending=True))


def daily_report(instance: dg.DagsterInstance, day: date) -> dict[str, Any]:
    """The runs created on ``day`` (UTC) and their totals."""
    runs = [run_summary(instance, record) for record in _runs_on(instance, day)]
    totals = {key: sum(r[key] for r in runs) for key in COUNTERS}
    totals.update(
        runs=len(runs),
        failed_runs=sum(r["status"] == "FAILURE" for r in runs),
        failed_checks=sum(len(r["failed_checks"]) for r in runs),
    )
    return {"date": day.isoformat(), "runs": runs, "totals": totals}


def weekly_report(instance: dg.DagsterInstance, end: date) -> dict[str, Any]:
    """Seven days ending on ``end``: success rate, worst coverage, rows, run time and peak memory per day."""
    days = []
    for offset in range(6, -1, -1):
        runs = daily_report(instance, end - timedelta(days=offset))["runs"]
        finished = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        coverages = [r["coverage_pct"] for r in runs if r["coverage_pct"] is not None]
        memory = [r["peak_memory_mb"] for r in runs if r["peak_memory_mb"] is not None]
        days.append(
            {
                "date": (end - timedelta(days=offset)).isoformat(),
                "runs": len(runs),
                "success_rate_pct": round(100 * sum(r["status"] == "SUCCESS" for r in finished) / len(finished), 1)
                if finished
                else None,
                "coverage_pct": min(coverages) if coverages else None,
                "rows_written": sum(r["rows_written"] for r in runs),
                "run_seconds": round(sum(r["duration_s"] or 0 for r in runs), 1),
                "peak_memory_mb": max(memory) if memory else None,
            }
        )
    return {"start": days[0]["date"], "end": days[-1]["date"], "days": days}


TRENDS = ("success_rate_pct", "coverage_pct", "rows_written", "run_seconds", "peak_memory_mb")

"""Materialization metadata shared by the assets, under stable keys the Dagster UI can plot."""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from lumia_assets.engine.batches import Tally
from lumia_assets.sources.http import HttpClient

SAMPLE_SIZE = 20


def sample(symbols: Iterable[str], size: int = SAMPLE_SIZE) -> str:
    """A short, sorted, comma-separated sample of ``symbols`` (with the count of the rest)."""
    ordered = sorted(symbols)
    head = ", ".join(ordered[:size])
    more = len(ordered) - size
    return f"{head} (+{more} more)" if more > 0 else head


def tally_metadata(tally: Tally) -> dict[str, Any]:
    """What a collection's fetches gave per symbol: coverage, genuine "no data", failures, ranges not served, and
    the symbols each source served."""
    return {
        "symbols_expected": tally.expected,
        "symbols_covered": len(tally.covered),
        "coverage_pct": round(100 * tally.coverage, 2),
        "symbols_no_data": len(tally.no_data),
        "no_data_sample": sample(f"{s} ({kind})" for s, kind in tally.no_data.items()),
        "symbols_failed": len(tally.failed),
        "failed_sample": sample(f"{s}: {error}" for s, error in tally.failed.items()),
        "success_rate_pct": round(100 * tally.success_rate, 2),
        "symbols_not_served": len(tally.not_served),
        "not_served_sample": sample(f"{s}: {why}" for s, why in tally.not_served.items()),
        "symbols_by_source": dg.MetadataValue.json(tally.sources),
        "batches": tally.batches,
    }


def fallback_metadata(tally: Tally, fallback_sources: Sequence[str]) -> dict[str, int]:
    """How many symbols a feed with fallbacks got from them (their rows' ``source``); nothing for other feeds."""
    if not fallback_sources:
        return {}
    return {"symbols_from_fallback": sum(tally.sources.get(source, 0) for source in fallback_sources)}


def upstream_metadata(client: HttpClient) -> dict[str, Any]:
    """Requests, 429s and errors the run sent upstream, in total and per host."""
    totals = client.stats.totals()
    per_host = {
        host: {"requests": s.requests, "429": s.status_429, "errors": s.errors, "4xx": s.status_4xx}
        for host, s in sorted(client.stats.snapshot().items())
    }
    return {
        "upstream_requests": totals.requests,
        "upstream_429s": totals.status_429,
        "upstream_errors": totals.errors,
        "upstream_by_host": dg.MetadataValue.json(per_host),
        "upstream_policy": dg.MetadataValue.json(client.policy.snapshot()),
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    On Linux this is ``VmHWM``: ``ru_maxrss`` would carry over the peak of the parent that forked us.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def counts_metadata(prefix: str, counts: Mapping[str, int]) -> dict[str, int]:
    """``{prefix}_{key}: count`` entries, one per key."""
    return {f"{prefix}_{key}": int(value) for key, value in sorted(counts.items())}

"""Render the JSON that ``bench/backfill.py --json FILE`` writes as the Markdown tables of ``bench/RESULTS.md``.

Usage: ``python bench/report.py FILE [FILE ...]`` (one file per backfill.py run; tables are printed to stdout).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RSS_TARGET_MB = 200
REQUEST_RATIO_TARGET = 1.05
WRITE_RATIO_TARGET = 0.5


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def stage_rows(backend: dict[str, Any]) -> list[str]:
    """One table row per measured materialization."""
    rows = []
    for s in backend["stages"]:
        requests = ", ".join(f"{k}: {v}" for k, v in s["sim_requests"].items())
        ratio = f"{s['request_ratio']:.3f} ({s['minimum_requests']} min)" if s["request_ratio"] is not None else "-"
        span = f"{s['start']}..{s['end']}" if s["start"] else "-"
        rows.append(
            f"| {backend['backend']} | {s['name']} | {span} | {s['wall_seconds']:.1f} | {s['run_seconds']:.1f} | "
            f"{s['rows_written']:,} | {s['rows_per_second']:,.0f} | {s['symbols_covered']:,}/{s['symbols_expected']:,} "
            f"| {s['upstream_requests_metadata']:,} | {requests} | {ratio} | {s['peak_rss_mb']:.0f} |"
        )
    return rows


def write_rows(backend: dict[str, Any]) -> list[str]:
    w = backend.get("write_path")
    if not w:
        return []
    return [
        f"| {backend['backend']} | {w['rows']:,} in {w['batches']} batches | {w['raw_rows_per_s']:,.0f} | "
        f"{w['product_insert_rows_per_s']:,.0f} | {w['ratio_insert']:.2f} | {w['product_rewrite_rows_per_s']:,.0f} | "
        f"{w['ratio_rewrite']:.2f} |"
    ]


def peer_rows(peer: dict[str, Any]) -> list[str]:
    lumia = peer["lumia"]
    return [
        f"| lumia crypto_daily_prices | {peer['pairs']} | {lumia['wall_seconds']:.1f} (run {lumia['run_seconds']:.1f}) "
        f"| {peer['lumia_klines']:,} | {peer['lumia_klines_per_pair']:.2f} | {lumia['rows_written']:,} rows | "
        f"{lumia['peak_rss_mb']:.0f} |",
        f"| freqtrade download-data | {peer['pairs']} | {peer['freqtrade_wall_s']:.1f} | {peer['freqtrade_klines']:,} "
        f"| {peer['freqtrade_klines_per_pair']:.2f} | {peer['freqtrade_candles']:,} candles in "
        f"{peer['freqtrade_files']} files (exit {peer['freqtrade_exit']}) | {peer['freqtrade_peak_rss_mb']:.0f} |",
    ]


def render(reports: list[dict[str, Any]]) -> str:
    backends = [b for r in reports for b in r["backends"]]
    lines = [
        "| backend | stage | partitions | wall s | run s | rows written | rows/s (run) | symbols covered | "
        "upstream requests (metadata) | simulator log | request ratio | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend in backends:
        lines += stage_rows(backend)
    lines += [
        "",
        "| backend | rows | raw rows/s | write_price_batch rows/s (insert) | ratio | rows/s (re-write) | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend in backends:
        lines += write_rows(backend)
    peers = [r["peer"] for r in reports if r.get("peer")]
    if peers:
        lines += [
            "",
            "| tool | pairs | wall s | klines calls | klines/pair | stored | peak RSS MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for peer in peers:
            lines += peer_rows(peer)
            lines += ["", f"freqtrade klines calls per pair (calls: pairs): {peer['freqtrade_klines_distribution']}"]
            lines += [f"freqtrade requests: {peer['freqtrade_requests']}"]
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    print(render([json.loads(Path(p).read_text()) for p in paths]))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Time-lapse benchmark of issue #11: weeks of daily operation at full universe size.

Usage::

    .venv/bin/python bench/timelapse.py [--profile default|small] [--backend sqlite|postgresql]
        [--sessions 20] [--rate-limits LUMIA_RATE_LIMITS] [--json FILE]

The scenario is the test's (``lumia_assets_tests/timelapse.py``): lumia starts on an empty warehouse and an
ephemeral instance, and a stand-in for ``dagster-daemon`` ticks its schedules and sensors on the simulator's clock
(profile "default": about 16,700 equities and 2,200 crypto pairs) through ``--sessions`` NYSE sessions from
2024-10-01, running every run they request in this process: a listing, a delisting and a rename, mfundslist.txt
vanishing, a two-day Yahoo 429 storm, a no-data day, Binance down for a day, a split and a dividend (the changes
need 18 sessions; fewer sessions stop the scenario early).

Figures per session: wall seconds, runs, alerts, and the ratio of its wall time to the median calm session (the
baseline, measured in the same run). At the end: alerts outside a real problem's window (target 0), real problems
that raised no ERROR (target 0), whether the warehouse equals the simulator's truth (every cell, as traded, the
derived series as served, crypto per venue), and upstream requests per host. ``--json`` writes the figures after
every session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from backfill import log, warehouse

from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets_tests.defs.prices_helpers import FAST_BUDGETS
from lumia_assets_tests.timelapse import SESSIONS, Timelapse, assert_record_is_the_truth, environment, run_timelapse

# Yahoo at 400 requests/s: a full-universe daily run is bound by lumia, not by the budget
FULL_SIZE_BUDGETS = FAST_BUDGETS.replace("query2.finance.yahoo.com=100:20", "query2.finance.yahoo.com=400:100")


def session_figures(timelapse: Timelapse) -> list[dict[str, Any]]:
    """Per session: wall time, runs, alerts, what changed, and the wall-time ratio to the median calm session."""
    changed = {change.first for change in timelapse.changes}
    calm = [seconds for index, seconds in enumerate(timelapse.seconds)
            if index > 0 and index not in changed and not timelapse.troubled(index)]  # fmt: skip
    baseline = statistics.median(calm) if calm else None
    figures = []
    for index, seconds in enumerate(timelapse.seconds):
        runs = timelapse.runs_of(index)
        figures.append(
            {
                "session": index,
                "date": timelapse.sessions[index].isoformat(),
                "changes": [c.what for c in timelapse.changes if c.first == index],
                "wall_s": round(seconds, 1),
                "runs": len(runs),
                "failed_runs": sum(not run.success for run in runs),
                "alerts": sum(len(run.alerts) for run in runs),
                "ratio_to_calm_median": round(seconds / baseline, 2) if baseline else None,
            }
        )
    return figures


def verdict(sim: MarketSimulator, url: str, timelapse: Timelapse) -> dict[str, Any]:
    """The end state: alerts where they belong, and the warehouse against the truth."""
    try:
        assert_record_is_the_truth(sim, url, timelapse.sessions[-1])
        record = "equals the truth"
    except AssertionError as exc:
        record = f"differs: {str(exc)[:2000]}"
    return {
        "unexpected_alerts": [f"{at.isoformat()}: {alert[:300]}" for at, alert in timelapse.unexpected_alerts()],
        "silent_problems": timelapse.silent_problems(),
        "record": record,
        "requests_per_host": dict(Counter(request.host for request in sim.requests())),
        "total_wall_s": round(sum(timelapse.seconds), 1),
        "runs": len(timelapse.runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["default", "small"], default="default")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--rate-limits", default=FULL_SIZE_BUDGETS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import dagster as dg

    from lumia_assets import clock

    sim = MarketSimulator(SimConfig(profile=args.profile)).start()
    clock.utc_now = lambda: sim.now  # lumia and its upstream agree on "today"
    report: dict[str, Any] = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "args": vars(args)}
    with tempfile.TemporaryDirectory() as workdir, warehouse(args.backend, Path(workdir), "timelapse") as url:
        os.environ.update(environment(sim, url, workdir, args.profile) | {"LUMIA_RATE_LIMITS": args.rate_limits})
        from lumia_assets.definitions import defs

        def on_session(timelapse: Timelapse, summary: str) -> None:
            log(summary)
            report["sessions"] = session_figures(timelapse)
            if args.json:
                args.json.write_text(json.dumps(report, indent=2, default=str))

        timelapse = run_timelapse(sim, defs(), dg.DagsterInstance.ephemeral(), args.sessions, on_session)
        report["sessions"] = session_figures(timelapse)
        report["verdict"] = verdict(sim, url, timelapse)
    sim.stop()
    log(json.dumps(report["verdict"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Per-symbol cost of turning a Yahoo answer into as-traded rows (``sources.yahoo.history_to_rows``), against a
baseline checkout in the same run.

Usage::

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/parse.py --baseline /tmp/base [--repeats 7] [--calls 50]

The frames are real yfinance answers from ``../shared/data/equities/yfinance_testdata_2001-2026`` (funds whose
dividends include their capital gains, and an ETF without gains, the common case), each whole and cut to its last
252 sessions (a year's range). Each figure is the median over ``--repeats`` of the mean of ``--calls`` calls, in ms;
the baseline runs the same script with ``PYTHONPATH`` set to the other checkout, and the ratio is this checkout over
the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "equities" / "yfinance_testdata_2001-2026"
FRAMES = ("DODFX-1d-cg-double-count.csv.gz", "JENYX-1d-cg-double-count.csv.gz", "EWG-1d-no-bad-divs.csv.gz")
FETCHED_AT = datetime(2026, 1, 6, tzinfo=UTC)


def _frame(name: str) -> pd.DataFrame:
    """A yfinance ``history()`` frame as yfinance returns it: a tz-aware local index."""
    frame = pd.read_csv(DATA / name)
    index = pd.DatetimeIndex(pd.to_datetime(frame.iloc[:, 0], utc=True)).tz_convert("America/New_York")
    return frame.drop(columns=frame.columns[0]).set_index(index)


def measure(repeats: int, calls: int) -> dict[str, float]:
    """ms per ``history_to_rows`` call, per frame and cut."""
    from lumia_assets.sources.yahoo import history_to_rows

    figures = {}
    for name in FRAMES:
        whole = _frame(name)
        for cut, history in (("whole", whole), ("252", whole.tail(252))):
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                for _ in range(calls):
                    history_to_rows(history, "X", "mutual_fund", FETCHED_AT)
                runs.append((time.perf_counter() - started) / calls * 1000)
            figures[f"{name.split('-')[0]} {cut} ({len(history)} bars)"] = statistics.median(runs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a checkout to compare with (its lumia_assets is imported)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)  # the baseline's subprocess
    args = parser.parse_args()
    if args.measure_only:
        print(json.dumps(measure(args.repeats, args.calls)))
        return
    baseline = {}
    if args.baseline:
        command = [sys.executable, __file__, "--measure-only", "--repeats", str(args.repeats),
                   "--calls", str(args.calls)]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": args.baseline}
        baseline = json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)
    current = measure(args.repeats, args.calls)
    print("| frame | this checkout ms | baseline ms | ratio |\n|---|---|---|---|")
    for key, value in current.items():
        base = baseline.get(key)
        ratio = f"{value / base:.2f}" if base else ""
        print(f"| {key} | {value:.2f} | {f'{base:.2f}' if base else ''} | {ratio} |")


if __name__ == "__main__":
    main()

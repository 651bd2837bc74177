"""Memory benchmark of issue #12: the peak RSS of every process of a price run, measured from outside.

Usage::

    .venv/bin/python bench/memory.py [--backend sqlite|postgresql] [--equities N] [--stages daily,year] [--json FILE]

The simulator (profile ``default``, seed 42) runs in a thread. Each stage is the real command a user runs,
``dagster asset materialize -m lumia_assets.definitions --select ASSET --partition-range A...B``, in a subprocess
with ``DAGSTER_HOME`` and the warehouse in a temp dir. While it runs, every process of its tree (the CLI, the
multiprocess executor's forkserver and step processes) is sampled every 0.2 s; a process's peak is its
``VmHWM`` (the kernel's high-water mark, read from ``/proc/PID/status`` until it exits), so a short-lived step
process is not missed between samples. Figures: wall time, the peak of each process by its step, the largest
peak, and its ratio to the baseline measured in the same run: a bare import of the code location (``import
lumia_assets.definitions; defs()``). The universes are materialized first (setup, not measured); with
``--equities N`` all but N stocks/ETFs/funds are then marked inactive, so a quicker run still has the full
batch shape (the batch size bounds memory, not the universe).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from backfill import warehouse

from lumia_assets.calendars import last_closed_crypto_day, last_closed_equity_session
from lumia_assets.sim import MarketSimulator, SimConfig

SEED = 42
BUDGETS = ",".join(
    f"{host}=1000"
    for host in ("query1.finance.yahoo.com", "query2.finance.yahoo.com", "api.binance.com", "api.kraken.com",
                 "api.exchange.coinbase.com")
)  # fmt: skip
TARGETS_MB = {"daily": 200, "year": 250}
SAMPLE_SECONDS = 0.2


def vm_hwm_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def describe(process: psutil.Process) -> str:
    """A short name for a process of the run: the step it executes, or its role."""
    try:
        argv = process.cmdline()
    except psutil.Error:
        return "?"
    command = " ".join(argv)
    for marker in ("execute_step", "forkserver", "asset materialize"):
        if marker in command:
            return {"execute_step": "step", "forkserver": "forkserver", "asset materialize": "cli"}[marker]
    return Path(argv[0]).name if argv else "?"


def run_measured(args: Sequence[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``args``; the wall time and the peak VmHWM of each process of its tree."""
    started = time.monotonic()
    with log.open("w") as out:
        root = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        peaks: dict[int, tuple[str, float]] = {}
        parent = psutil.Process(root.pid)
        while root.poll() is None:
            try:
                tree = [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for process in tree:
                peak = vm_hwm_mb(process.pid)
                if peak is not None:
                    name = peaks.get(process.pid, (describe(process), 0.0))[0]
                    peaks[process.pid] = (name, max(peak, peaks.get(process.pid, ("", 0.0))[1]))
            time.sleep(SAMPLE_SECONDS)
        code = root.wait()
    by_role: dict[str, float] = {}
    for name, peak in peaks.values():
        by_role[name] = max(by_role.get(name, 0.0), peak)
    return {
        "exit_code": code,
        "wall_seconds": round(time.monotonic() - started, 1),
        "processes": len(peaks),
        "peak_by_role_mb": {k: round(v, 1) for k, v in sorted(by_role.items())},
        "peak_mb": round(max((peak for _, peak in peaks.values()), default=0.0), 1),
    }


def import_baseline_mb() -> float:
    """VmHWM of a fresh interpreter that imports the code location and builds its definitions."""
    probe = (
        "import lumia_assets.definitions as d; d.defs()\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


@dataclass(frozen=True)
class World:
    """What a memory-measuring benchmark runs in: the simulator, the import baseline, a temp folder and warehouse,
    and the subprocesses' environment (``DAGSTER_HOME`` in the folder, upstream routed to the simulator)."""

    sim: MarketSimulator
    baseline_mb: float
    folder: Path
    url: str
    env: dict[str, str]


@contextmanager
def measured_world(backend: str, name: str, budgets: str, **settings: str) -> Iterator[World]:
    """The default simulator (seed ``SEED``), the bare import's VmHWM, and a fresh ``backend`` warehouse; the
    environment has the rate ``budgets`` and the further LUMIA_* ``settings``."""
    sim = MarketSimulator(SimConfig(profile="default", seed=SEED)).start()
    baseline = import_baseline_mb()
    print(f"code location import baseline: {baseline:.1f} MB (VmHWM)", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix=f"lumia-{name}-") as tmp, warehouse(backend, Path(tmp), name) as url:
            home = Path(tmp) / "dagster_home"
            home.mkdir()
            env = {**os.environ, "DAGSTER_HOME": str(home), "LUMIA_UPSTREAM_URL": sim.url,
                   "LUMIA_WAREHOUSE_URL": url, "LUMIA_RATE_LIMITS": budgets, **settings}  # fmt: skip
            yield World(sim, baseline, Path(tmp), url, env)
    finally:
        sim.stop()


def materialize_args(select: str, first: str | None = None, last: str | None = None) -> list[str]:
    """``dagster asset materialize`` of ``select``, over the partitions ``first``..``last`` when given."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    args = [dagster, "asset", "materialize", "-m", "lumia_assets.definitions", "--select", select]
    return [*args, "--partition-range", f"{first}...{last}"] if first else args


def keep_equities(url: str, count: int) -> None:
    """Mark every equity but the first ``count`` (by symbol) inactive."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE assets SET active = false WHERE asset_class IN ('stock', 'etf', 'mutual_fund') AND symbol "
                "NOT IN (SELECT symbol FROM assets WHERE asset_class IN ('stock', 'etf', 'mutual_fund') AND active "
                "ORDER BY symbol LIMIT :n)"
            ),
            {"n": count},
        )
    engine.dispose()


def stages(now: datetime, names: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """(name, asset, first, last) of each measured stage."""
    session, day = last_closed_equity_session(now), last_closed_crypto_day(now)
    plan = {
        "daily": [("equity daily", "equity_daily_prices", session, session),
                  ("crypto daily", "crypto_daily_prices", day, day)],
        "year": [("equity year", "equity_daily_prices", session - timedelta(days=364), session),
                 ("crypto year", "crypto_daily_prices", day - timedelta(days=364), day)],
    }  # fmt: skip
    return [(name, asset, str(first), str(last)) for stage in names for name, asset, first, last in plan[stage]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--equities", type=int, default=0, help="keep only N active equities (0: all)")
    parser.add_argument("--stages", default="daily,year", help="comma-separated: daily, year")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    settings = {"LUMIA_PRICES_START_DATE": "2020-01-01", "LUMIA_MIN_STOCKS": "1", "LUMIA_MIN_FUNDS": "1",
                "LUMIA_MIN_CRYPTO_PAIRS": "1"}  # fmt: skip
    with measured_world(options.backend, "memory", BUDGETS, **settings) as world:
        baseline, tmp, url, env = world.baseline_mb, world.folder, world.url, world.env
        results: dict[str, Any] = {"backend": options.backend, "import_baseline_mb": round(baseline, 1), "stages": []}
        setup = materialize_args("stock_universe,fund_universe,crypto_universe")
        print("universes:", run_measured(setup, env, Path(tmp) / "universes.log")["wall_seconds"], "s", flush=True)
        if options.equities:
            keep_equities(url, options.equities)
        for name, asset, first, last in stages(datetime.now(UTC), options.stages.split(",")):
            figures = run_measured(materialize_args(asset, first, last), env, Path(tmp) / f"{asset}.log")
            target = TARGETS_MB["year" if "year" in name else "daily"]
            figures |= {"stage": name, "range": f"{first}..{last}", "target_mb": target,
                        "ratio_to_import": round(figures["peak_mb"] / baseline, 2)}  # fmt: skip
            if figures["exit_code"]:
                figures["log_tail"] = (Path(tmp) / f"{asset}.log").read_text()[-2000:]
            results["stages"].append(figures)
            print(json.dumps(figures), flush=True)
    print("\n| stage | range | wall s | processes | peak by role MB | peak MB | × import | target MB |")
    print("|---|---|---|---|---|---|---|---|")
    for s in results["stages"]:
        verdict = "meets" if s["peak_mb"] <= s["target_mb"] else "misses"
        print(f"| {s['stage']} | {s['range']} | {s['wall_seconds']} | {s['processes']} | {s['peak_by_role_mb']} | "
              f"{s['peak_mb']} | {s['ratio_to_import']} | {s['target_mb']} ({verdict}) |")  # fmt: skip
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Hourly candles benchmark of issue #14: a 30-day backfill of every pair, and the hourly schedule's run.

Usage::

    .venv/bin/python bench/hourly.py [--backend sqlite|postgresql] [--days 30] [--json FILE]

The simulator (profile ``default``, seed 42: about 2,000 pairs on Binance, Kraken and Coinbase) runs in a thread.
Each stage is one run of the hourly range, as a chunk of a UI backfill runs it (``dagster asset materialize
--partition-range`` takes only single-run assets; this asset's backfills run in 720-hour chunks), started by
``bench/backfill.py materialize`` in a subprocess; every process of its tree is sampled for its ``VmHWM``
(``bench/memory.py``). Figures: wall time, peak RSS, its ratio to the bare import of the code location measured in
the same run and what it holds above the floor of any crypto run (the import, ccxt and the venues' markets),
candles stored, and the venues' requests against the minimum: per stored pair, one page of its venue per 1,000
(Binance), 720 (Kraken) or 300 (Coinbase) hours, plus each venue's market list.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from memory import materialize_args, measured_world, run_measured

from lumia_assets.calendars import last_closed_crypto_hour
from lumia_assets.defs.prices.hourly import HOUR_FORMAT
from lumia_assets.sim import MarketSimulator
from lumia_assets.sources.candles import DEFAULT_PAGE_SIZE, PAGE_SIZES
from lumia_assets.warehouse.schema import candles

TARGET_MB = 250
TARGET_RATIO = 1.05
VENUE_HOSTS = {"binance": "api.binance.com", "kraken": "api.kraken.com",
               "coinbaseexchange": "api.exchange.coinbase.com"}  # fmt: skip
CANDLE_PATHS = ("/api/v3/klines", "/0/public/OHLC", "/candles")
BUDGETS = ",".join(f"{host}=1000" for host in VENUE_HOSTS.values())
HOUR = timedelta(hours=1)


# What a crypto run holds before its first candle: the code location, ccxt, and the three venues' market lists.
FLOOR_PROBE = """
import lumia_assets.definitions as d; d.defs()
from lumia_assets.engine.crypto_fetch import CryptoFetch
from lumia_assets.settings import Settings
from lumia_assets.sources.http import HttpClient
fetch = CryptoFetch(HttpClient.from_settings(Settings.from_env()))
for venue in ("binance", "kraken", "coinbaseexchange"):
    fetch.exchange(venue)
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


def floor_mb(env: dict[str, str]) -> float:
    """VmHWM of a fresh interpreter that imports the code location and ccxt and loads the three venues' markets from
    the simulator: the least a crypto run can hold."""
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", FLOOR_PROBE], env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return int(out.stdout.split()[-1]) / 1024


def stored_by_venue(url: str, first: datetime, last: datetime) -> Counter[str]:
    """How many pairs each venue served the hours ``first``..``last``, and the candles, from the candles stored."""
    query = (
        sa.select(candles.c.source, sa.func.count(sa.distinct(candles.c.symbol)), sa.func.count())
        .where(candles.c.open_time.between(first, last))
        .group_by(candles.c.source)
    )
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    engine.dispose()
    return Counter({source: int(pairs) for source, pairs, _ in rows}) + Counter({"candles": sum(n for *_, n in rows)})


def requests_by_kind(sim: MarketSimulator) -> dict[str, int]:
    """The venues' answered requests: candle pages per venue, and everything else (market lists)."""
    counts: Counter[str] = Counter()
    for venue, host in VENUE_HOSTS.items():
        for record in sim.requests(host=host):
            counts[venue if any(path in record.path for path in CANDLE_PATHS) else "markets"] += 1
    return dict(counts)


def minimum_requests(stored: Counter[str], hours: int, markets: int) -> int:
    """One page per pair of its venue's page size, and the market lists the run had to load."""
    pages = sum(
        n * math.ceil(hours / PAGE_SIZES.get(v, DEFAULT_PAGE_SIZE)) for v, n in stored.items() if v in VENUE_HOSTS
    )
    return pages + markets


def stage(sim: MarketSimulator, env: dict[str, str], url: str, workdir: Path, name: str, last: datetime,
          hours: int, baseline: float) -> dict[str, Any]:  # fmt: skip
    """Materialize the ``hours`` up to the hour opening at ``last`` and measure it."""
    first = last - timedelta(hours=hours - 1)
    sim.server.log.clear()
    keys = ["--start", f"{first:{HOUR_FORMAT}}", "--end", f"{last:{HOUR_FORMAT}}"]
    driver = [sys.executable, str(Path(__file__).with_name("backfill.py")), "materialize", "--select",
              "crypto_hourly_prices", *keys]  # fmt: skip
    figures = run_measured(driver, env, workdir / f"{name}.log")
    if figures["exit_code"]:
        raise SystemExit(f"{name} failed:\n" + (workdir / f"{name}.log").read_text()[-3000:])
    made = requests_by_kind(sim)
    stored = stored_by_venue(url, first, last)
    minimum = minimum_requests(stored, hours, made.get("markets", 0))
    total = sum(made.values())
    return {**figures, "stage": name, "hours": hours, "range": f"{first:%Y-%m-%d %H:00}..{last:%Y-%m-%d %H:00} UTC",
            "pairs_by_venue": {v: stored[v] for v in VENUE_HOSTS if stored[v]}, "candles": stored["candles"],
            "requests": made, "minimum_requests": minimum, "request_ratio": round(total / minimum, 3),
            "ratio_to_import": round(figures["peak_mb"] / baseline, 2)}  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--days", type=int, default=30, help="days of the backfill stage")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    with measured_world(options.backend, "hourly", BUDGETS, LUMIA_MIN_CRYPTO_PAIRS="1") as world:
        sim, baseline, tmp, url, env = world.sim, world.baseline_mb, world.folder, world.url, world.env
        floor = floor_mb(env)
        print(f"crypto run floor (code location, ccxt, three venues' markets): {floor:.1f} MB", flush=True)
        results: dict[str, Any] = {"backend": options.backend, "import_baseline_mb": round(baseline, 1),
                                   "floor_mb": round(floor, 1), "stages": []}  # fmt: skip
        setup = run_measured(materialize_args("crypto_universe"), env, Path(tmp) / "universe.log")
        print(f"crypto universe: {setup['wall_seconds']} s", flush=True)
        # the schedule's run first (the hour that just closed), then the backfill of the days before it
        latest = last_closed_crypto_hour(datetime.now(UTC))
        plan = (("hourly schedule run", latest, 1), (f"{options.days}-day backfill", latest - HOUR, 24 * options.days))
        for name, last, hours in plan:
            figures = stage(sim, env, url, tmp, name, last, hours, baseline)
            figures["above_floor_mb"] = round(figures["peak_mb"] - floor, 1)
            results["stages"].append(figures)
            print(json.dumps(figures), flush=True)
    print(
        "\n| stage | hours | wall s | pairs by venue | candles | requests / minimum | peak MB (× import; above the "
        "floor) | targets |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in results["stages"]:
        meets = s["peak_mb"] <= TARGET_MB and s["request_ratio"] <= TARGET_RATIO
        print(f"| {s['stage']} | {s['hours']} | {s['wall_seconds']} | {s['pairs_by_venue']} | {s['candles']} | "
              f"{sum(s['requests'].values())} / {s['minimum_requests']} = {s['request_ratio']} | {s['peak_mb']} "
              f"({s['ratio_to_import']}; +{s['above_floor_mb']}) | ≤ {TARGET_RATIO}, < {TARGET_MB} MB: "
              f"{'meets' if meets else 'misses'} |")  # fmt: skip
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""CoinGecko reference prices at full size (issue #14): requests against the minimum and wall time against the
rate bound, on a simulator that enforces CoinGecko's free tier (50 calls a minute, 429 beyond).

Usage::

    .venv/bin/python bench/reference.py [--backend sqlite|postgresql] [--days 365] [--json FILE]

The simulator (profile ``default``, seed 42: 1,200 base currencies, 1,334 CoinGecko ids) runs in a thread and
limits ``api.coingecko.com`` to 50 calls a minute. Each stage is one ``dagster asset materialize`` in a subprocess
(every process of its tree sampled for its ``VmHWM``): the coin map, then the reference prices of the latest closed
day and of a range of ``--days`` days. The minimum is one ``/coins/list`` call and a ``/coins/markets`` call per
250 candidate ids for the map, and one ``market_chart/range`` call per coin for the prices; the bound is the
minimum ÷ 50 a minute, plus 10 s for start-up.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from memory import materialize_args, measured_world, run_measured

from lumia_assets.calendars import last_closed_crypto_day
from lumia_assets.sim import MarketSimulator
from lumia_assets.sources.coingecko import MARKETS_PAGE

HOST = "api.coingecko.com"
SERVER_RATE = 50 / 60  # CoinGecko's free tier
START_UP_SECONDS = 10.0
TARGET_REQUESTS = 1.0  # requests ÷ minimum
TARGET_WALL = 1.2  # wall ÷ (minimum ÷ rate + start-up)
EXCHANGE_BUDGETS = ",".join(f"{h}=1000" for h in ("api.binance.com", "api.kraken.com", "api.exchange.coinbase.com"))


def scalars(url: str, query: str) -> list[Any]:
    """The first column of a fixed query's rows (no outside input)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        values = list(conn.execute(sa.text(query)).scalars())
    engine.dispose()
    return values


def stage(sim: MarketSimulator, env: dict[str, str], workdir: Path, name: str, select: str,
          minimum: Callable[[], int], first: str | None = None, last: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Materialize ``select`` (over ``first``..``last``) and measure it against the ``minimum`` requests (counted
    once the run is done)."""
    sim.server.log.clear()
    figures = run_measured(materialize_args(select, first, last), env, workdir / f"{name}.log")
    if figures["exit_code"]:
        raise SystemExit(f"{name} failed:\n" + (workdir / f"{name}.log").read_text()[-3000:])
    records = sim.requests(host=HOST)
    answered = [r for r in records if r.status != 429]
    least = minimum()
    bound = least / SERVER_RATE + START_UP_SECONDS
    return {**figures, "stage": name, "requests": len(answered), "status_429": len(records) - len(answered),
            "minimum_requests": least, "request_ratio": round(len(answered) / least, 3),
            "bound_seconds": round(bound, 1), "wall_ratio": round(figures["wall_seconds"] / bound, 3)}  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--days", type=int, default=365, help="days of the range stage")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    with measured_world(options.backend, "reference", EXCHANGE_BUDGETS, LUMIA_MIN_CRYPTO_PAIRS="1") as world:
        sim, tmp, url, env = world.sim, world.folder, world.url, world.env
        run_measured(materialize_args("crypto_universe"), env, tmp / "universe.log")
        sim.rate_limits.set(HOST, SERVER_RATE, burst=5, retry_after=10)
        app = sim.server.apps[HOST]
        bases = set(scalars(url, "SELECT DISTINCT base FROM crypto"))
        candidates = [coin for coin in app.coins if coin.symbol.upper() in bases]
        results: dict[str, Any] = {"backend": options.backend, "import_baseline_mb": round(world.baseline_mb, 1),
                                   "coins_listed": len(app.coins), "stages": []}  # fmt: skip
        last = last_closed_crypto_day(datetime.now(UTC))
        first = last - timedelta(days=options.days - 1)

        def coins_priced() -> int:
            return len(scalars(url, "SELECT DISTINCT coin_id FROM reference_prices"))

        plan = [
            ("coin map", "crypto_coins", lambda: 1 + math.ceil(len(candidates) / MARKETS_PAGE), None),
            ("reference prices, one day", "crypto_reference_prices", coins_priced, last),
            (f"reference prices, {options.days} days", "crypto_reference_prices", coins_priced, first),
        ]
        for name, select, minimum, start in plan:
            figures = stage(sim, env, tmp, name, select, minimum, start and str(start), start and str(last))
            figures["rows"] = scalars(url, "SELECT count(*) FROM reference_prices")[0]
            results["stages"].append(figures)
            print(json.dumps(figures), flush=True)
    print("\n| stage | requests / minimum | 429s | wall s | bound s | wall / bound | peak MB | targets |")
    print("|---|---|---|---|---|---|---|---|")
    for s in results["stages"]:
        meets = s["request_ratio"] <= TARGET_REQUESTS and s["wall_ratio"] <= TARGET_WALL
        print(f"| {s['stage']} | {s['requests']} / {s['minimum_requests']} = {s['request_ratio']} | "
              f"{s['status_429']} | {s['wall_seconds']} | {s['bound_seconds']} | {s['wall_ratio']} | {s['peak_mb']} | "
              f"requests ≤ {TARGET_REQUESTS}, wall ≤ {TARGET_WALL}: {'meets' if meets else 'misses'} |")  # fmt: skip
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Adjustments benchmark of issue #10: the as-traded record, its derived series, and ``lumia restate``.

Usage::

    .venv/bin/python bench/adjustments.py [--profile default|small] [--backend sqlite|postgresql|both] [--part 1,2,3]
        [--day YYYY-MM-DD] [--ex-dates 200] [--rate-limits LUMIA_RATE_LIMITS] [--restate-sample 300] [--json FILE]

Part 1, a daily partition on an ex-date-heavy day: the simulator (profile "default", seed 42) runs in a thread
with its clock at the evening of the session before ``--day`` (D-1). Universes are materialized, then the
``equity_daily_prices`` partition D-1 (the baseline: the previous session, no injected ex-dates, into an empty
record). The clock then advances to D's evening, ``--ex-dates`` dividends with ex-date D are injected on plain
stocks (``add_dividend``), and partition D runs alone, like the schedule. Figures: Yahoo chart requests per symbol
(target <= 1.01), wall time, ``restatements``, ``restatement_requests``, rows written, and
``adjustment_consistency`` over D; ratios D / D-1.

Part 2, reads of the derived series: a warehouse of synthetic as-traded bars (``--symbols`` x ``--sessions``,
quarterly dividends, a 2:1 split on one symbol in 20) written through ``write_price_batch`` (so the factors are
the writer's), then the median of ``--repeats`` warm timings of ``adjusted_series`` (one symbol, whole history;
target < 50 ms on SQLite) and ``adjusted_closes_on`` (every symbol, one date; target < 1 s), each against the same
columns read raw from ``daily_prices``.

Part 3, the cost of ``lumia restate``: on part 1's warehouse, the symbols ``restate_job`` would re-fetch (one
request each), then ``restate_job`` on a sample of ``--restate-sample`` of them with
``LUMIA_PRICES_START_DATE`` one year back; whole-universe figures are extrapolated from the sample.

Every materialization or job runs in a fresh subprocess (``adjustments.py materialize|restate ...``), whose lumia
clock (``lumia_assets.clock.utc_now``) is pinned to the simulator's via ``BENCH_NOW``, so both agree on "today".
Figures print as they come; ``--json`` also writes them to a file after every step. PostgreSQL runs use a throwaway
database on 127.0.0.1:5432, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from backfill import Report, classify, log, run_subprocess, warehouse

from lumia_assets.calendars import equity_sessions
from lumia_assets.sim import MarketSimulator, SimConfig

SEED = 42
EQUITY_CLASSES = ("stock", "etf", "mutual_fund")
DEFAULT_RATE_LIMITS = "query1.finance.yahoo.com=400:100,query2.finance.yahoo.com=400:100"
BATCH_SYMBOLS = 200
SPLIT_EVERY = 20  # one symbol in 20 splits 2:1 (part 2)
DIVIDEND_EVERY = 63  # sessions between ex-dates: quarterly (part 2)
RESTATE_KEYS = ("symbols_restated", "rows_written", "values_changed", "symbols_failed")


# --- the subprocess drivers -----------------------------------------------------------------------------------


def pin_clock() -> None:
    """Make lumia's clock read ``BENCH_NOW`` (the simulator's time) in this process."""
    from lumia_assets import clock

    now = datetime.fromisoformat(os.environ["BENCH_NOW"])
    clock.utc_now = lambda: now


def restate_main(symbols: list[str]) -> None:
    """Run ``restate_job`` for ``symbols`` in this process; print its op's output metadata as JSON."""
    import dagster as dg

    from lumia_assets.definitions import defs

    started = time.perf_counter()
    job = defs().resolve_job_def("restate_job")
    result = job.execute_in_process(
        run_config={"ops": {"restate_prices": {"config": {"symbols": symbols}}}},
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )
    run_seconds = time.perf_counter() - started
    outputs = [e.step_output_data.metadata for e in result.all_node_events if e.is_successful_output]
    metadata = {k: getattr(v, "value", v) for k, v in (outputs[0] if outputs else {}).items()}
    print(json.dumps({"success": result.success, "run_seconds": run_seconds, "metadata": metadata}, default=str))


# --- part 1: a daily partition with 200 ex-dates --------------------------------------------------------------


def run_driver(sim: MarketSimulator, workdir: Path, name: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``adjustments.py ARGS`` at the simulator's time; its JSON report plus wall time and simulator requests."""
    sim.server.log.clear()
    out = workdir / f"{name}.json"
    env = {**env, "BENCH_NOW": sim.now.isoformat()}
    code, wall, rss = run_subprocess([sys.executable, __file__, *args], env, out)
    figures: dict[str, Any] = {"name": name, "exit": code, "wall_s": wall, "peak_rss_mb": rss}
    figures["sim_requests"] = dict(sorted(classify(sim).items()))
    if code != 0:
        figures["error"] = out.with_suffix(".log").read_text()[-3000:]
        log(f"{name}: the driver exited with {code}: {figures['error']}")
        return figures
    return figures | json.loads(out.read_text().strip().splitlines()[-1])


def partition_figures(stage: dict[str, Any], asset: str = "equity_daily_prices") -> dict[str, Any]:
    """The figures of one partition run, from its metadata and the simulator's log."""
    meta = stage.get("metadata", {}).get(asset, {})
    expected = int(meta.get("symbols_expected", 0) or 0)
    charts = stage["sim_requests"].get("yahoo_chart", 0)
    keys = ("rows_written", "symbols_expected", "symbols_covered", "restatements", "restatement_requests")
    return {
        "success": stage.get("success", False),
        "wall_s": round(stage["wall_s"], 1),
        "run_s": round(stage.get("run_seconds", 0.0), 1),
        "chart_requests": charts,
        "chart_requests_per_symbol": charts / expected if expected else None,
        **{key: meta.get(key) for key in keys},
        "upstream_requests": meta.get("upstream_requests"),
        "peak_rss_mb": round(stage["peak_rss_mb"]),
    }


def plain_stocks(sim: MarketSimulator) -> list[str]:
    """Listed, non-test stocks, spread over the sorted universe (every 50th first, then the rest)."""
    universe = sim.equities.universe()
    plain = universe[
        (universe["asset_class"] == "stock")
        & ~universe["test_issue"]
        & universe["delisted_on"].isna()
        & universe["listed_on"].isna()
    ]
    symbols = list(plain["symbol"])
    return symbols[::50] + [s for i, s in enumerate(symbols) if i % 50]


def inject_dividends(sim: MarketSimulator, day: date, count: int) -> list[str]:
    """Dividends with ex-date ``day`` on ``count`` plain stocks without an action that day (0.05..0.50 a share)."""
    injected: list[str] = []
    for symbol in plain_stocks(sim):
        if len(injected) == count:
            break
        try:
            sim.equities.add_dividend(symbol, day, round(0.05 + 0.45 * (len(injected) % 10) / 9, 2))
        except ValueError:  # the generated market has an action on that day already
            continue
        injected.append(symbol)
    return injected


def actions_on(url: str, day: date) -> dict[str, int]:
    """The recorded corporate actions dated ``day``, by kind (injected and generated)."""
    import sqlalchemy as sa

    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.warehouse.schema import corporate_actions as a

    query = sa.select(a.c.action, sa.func.count()).where(a.c.date == day).group_by(a.c.action)
    with warehouse_engine(url).connect() as conn:
        return {action: int(n) for action, n in conn.execute(query)}


def consistency(url: str, day: date) -> dict[str, Any]:
    """``adjustment_consistency`` over ``day`` (the check ``adjustments_consistent``), with its timing."""
    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.warehouse.quality import adjustment_consistency

    started = time.perf_counter()
    result = adjustment_consistency(warehouse_engine(url), EQUITY_CLASSES, (day, day))
    return {"seconds": round(time.perf_counter() - started, 2), **asdict(result)}


def part_one(sim: MarketSimulator, url: str, workdir: Path, env: dict[str, str], day: date, ex_dates: int) -> dict:
    """Baseline partition D-1 on an empty record, then partition D after injecting ``ex_dates`` dividends on D."""
    runs: dict[str, Any] = {}
    universes = run_driver(sim, workdir, "universes", materialize_args("stock_universe", "fund_universe"), env)
    log(f"universes: exit {universes['exit']}, wall {universes['wall_s']:.1f}s")
    previous = sim.now.date()
    base = run_driver(sim, workdir, "baseline", materialize_args("equity_daily_prices", day=previous), env)
    runs["baseline"] = partition_figures(base) | {"day": str(previous)}
    log(f"baseline partition {previous}: {runs['baseline']}")
    sim.advance(1)
    runs["injected"] = inject_dividends(sim, day, ex_dates)
    log(f"clock {sim.now.isoformat()}; {len(runs['injected'])} dividends injected with ex-date {day}")
    heavy = run_driver(sim, workdir, "ex_dates", materialize_args("equity_daily_prices", day=day), env)
    runs["ex_dates"] = partition_figures(heavy) | {"day": str(day), "actions_recorded_on_day": actions_on(url, day)}
    runs["ex_dates"]["consistency"] = consistency(url, day)
    log(f"ex-date partition {day}: {runs['ex_dates']}")
    runs["ratios"] = ratios(runs["ex_dates"], runs["baseline"])
    log(f"ratios D / D-1: {runs['ratios']}")
    return runs


def materialize_args(*select: str, day: date | None = None) -> list[str]:
    dated = ["--start", str(day), "--end", str(day)] if day else []
    return ["materialize", "--select", *select, *dated]


def ratios(measured: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """measured / baseline of wall time and chart requests per symbol."""
    keys = ("wall_s", "chart_requests_per_symbol")
    return {key: measured[key] / baseline[key] if measured[key] and baseline[key] else None for key in keys}


# --- part 2: reads of the derived series -----------------------------------------------------------------------


def synthetic_symbol(symbol: str, index: int, sessions: list[date], fetched_at: datetime) -> tuple[pd.DataFrame, list]:
    """One symbol's as-traded bars and actions: a random walk, quarterly dividends, maybe a 2:1 split mid-way."""
    rng = np.random.default_rng(index)
    close = 20.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, len(sessions))))
    split_at = len(sessions) // 2 if index % SPLIT_EVERY == 0 else None
    if split_at is not None:
        close[split_at:] /= 2.0
    bars = pd.DataFrame(
        {"symbol": symbol, "asset_class": "stock", "date": sessions, "open": close, "high": close * 1.01,
         "low": close * 0.99, "close": close, "volume": 1e5, "served_adj_close": np.nan, "served_as_of": None,
         "source": "synthetic", "fetched_at": fetched_at}
    )  # fmt: skip
    dividends = dividend_days(index, sessions)
    actions = [(symbol, sessions[i], "dividend", round(float(close[i]) * 0.005, 4)) for i in dividends]
    if split_at is not None:
        actions.append((symbol, sessions[split_at], "split", 2.0))
    return bars, actions


def dividend_days(index: int, sessions: list[date]) -> range:
    """Every ``DIVIDEND_EVERY`` sessions from an offset per symbol; one symbol in two pays none."""
    return range(index % DIVIDEND_EVERY + 1, len(sessions), DIVIDEND_EVERY) if index % 2 == 0 else range(0)


def synthetic_batch(symbols: Sequence[str], first: int, sessions: list[date]) -> Any:
    """A ``PriceBatch`` of ``symbols`` (indexed from ``first``)."""
    from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
    from lumia_assets.warehouse.store import IDENTITY_COLUMNS, STATUS_COLUMNS, PriceBatch

    fetched_at = datetime.now(UTC)
    made = [synthetic_symbol(s, first + i, sessions, fetched_at) for i, s in enumerate(symbols)]
    bars = pd.concat([b for b, _ in made], ignore_index=True)[list(PRICE_COLUMNS)]
    rows = [a for _, actions in made for a in actions]
    actions = pd.DataFrame(rows, columns=["symbol", "date", "action", "value"]).assign(
        asset_class="stock", in_dividend=False, source="synthetic", fetched_at=fetched_at
    )[list(CORPORATE_ACTION_COLUMNS)]
    empty = {"statuses": STATUS_COLUMNS, "identities": IDENTITY_COLUMNS}
    return PriceBatch(bars=bars, actions=actions, **{k: pd.DataFrame(columns=list(v)) for k, v in empty.items()})


def build_synthetic(engine: Any, symbols: list[str], sessions: list[date]) -> dict[str, Any]:
    """Write every symbol through ``write_price_batch``, ``BATCH_SYMBOLS`` a batch; the write figures."""
    from lumia_assets.warehouse.store import write_price_batch

    started, bars, segments = time.perf_counter(), 0, 0
    for first in range(0, len(symbols), BATCH_SYMBOLS):
        counts = write_price_batch(engine, synthetic_batch(symbols[first : first + BATCH_SYMBOLS], first, sessions))
        bars, segments = bars + counts.bars, segments + counts.factor_segments
    seconds = time.perf_counter() - started
    log(f"synthetic warehouse: {bars:,} bars, {segments:,} factor segments written in {seconds:.1f}s")
    return {"bars": bars, "factor_segments_written": segments, "write_s": round(seconds, 1)}


def median_ms(action: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``action``, in ms, after two warm-up calls."""
    for _ in range(2):
        action()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def raw_series(engine: Any, symbol: str, start: date, end: date) -> pd.DataFrame:
    """The baseline of ``adjusted_series``: the same columns from ``daily_prices`` (served_adj_close as adj_close)."""
    import sqlalchemy as sa

    from lumia_assets.warehouse.schema import daily_prices as p

    query = (
        sa.select(p.c.symbol, p.c.asset_class, p.c.date, p.c.open, p.c.high, p.c.low, p.c.close, p.c.volume,
                  p.c.served_adj_close)
        .where(p.c.symbol == symbol, p.c.asset_class == "stock", p.c.date.between(start, end))
        .order_by(p.c.date)
    )  # fmt: skip
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in query.selected_columns])
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date)


def raw_closes_on(engine: Any, day: date) -> pd.DataFrame:
    """The baseline of ``adjusted_closes_on``: symbol, asset_class, close, served_adj_close of ``day``."""
    import sqlalchemy as sa

    from lumia_assets.warehouse.schema import daily_prices as p

    query = sa.select(p.c.symbol, p.c.asset_class, p.c.close, p.c.served_adj_close).where(
        p.c.date == day, p.c.asset_class.in_(["stock"])
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in query.selected_columns])


def factor_table_size(engine: Any) -> dict[str, int]:
    import sqlalchemy as sa

    from lumia_assets.warehouse.schema import adjustment_factors as f

    query = sa.select(sa.func.count(), sa.func.count(sa.distinct(f.c.symbol)))
    with engine.connect() as conn:
        rows, symbols = conn.execute(query).one()
    return {"factor_rows": int(rows), "factor_symbols": int(symbols)}


def part_two(url: str, symbols: int, sessions: int, repeats: int) -> dict[str, Any]:
    """Build the synthetic warehouse on ``url`` and time the derived reads against the raw ones."""
    from lumia_assets.warehouse.adjustments import adjusted_closes_on, adjusted_series
    from lumia_assets.warehouse.engine import connect_warehouse

    engine = connect_warehouse(url)
    days = equity_sessions(date(2021, 1, 4), date(2026, 11, 27))[-sessions:]
    names = [f"SYN{i:05d}" for i in range(symbols)]
    figures: dict[str, Any] = {"symbols": symbols, "sessions": len(days)} | build_synthetic(engine, names, days)
    figures |= factor_table_size(engine)
    symbol, day, start, end = names[0], days[len(days) // 3], days[0], days[-1]  # SYN00000: a split and dividends
    series_rows = len(adjusted_series(engine, symbol, "stock", start, end))
    closes_rows = len(adjusted_closes_on(engine, day, ("stock",)))
    timings = {
        "series_derived_ms": median_ms(lambda: adjusted_series(engine, symbol, "stock", start, end), repeats),
        "series_raw_ms": median_ms(lambda: raw_series(engine, symbol, start, end), repeats),
        "closes_derived_ms": median_ms(lambda: adjusted_closes_on(engine, day, ("stock",)), repeats),
        "closes_raw_ms": median_ms(lambda: raw_closes_on(engine, day), repeats),
    }
    figures |= {k: round(v, 2) for k, v in timings.items()} | {"series_rows": series_rows, "closes_rows": closes_rows}
    figures["series_ratio"] = timings["series_derived_ms"] / timings["series_raw_ms"]
    figures["closes_ratio"] = timings["closes_derived_ms"] / timings["closes_raw_ms"]
    figures |= {"repeats": repeats, "series_symbol": symbol, "closes_day": str(day)}
    engine.dispose()
    log(f"derived reads: {figures}")
    return figures


# --- part 3: the cost of lumia restate ------------------------------------------------------------------------


def part_three(sim: MarketSimulator, url: str, workdir: Path, env: dict[str, str], sample: int) -> dict[str, Any]:
    """How many symbols ``restate_job`` would re-fetch; ``restate_job`` on ``sample`` of them, extrapolated."""
    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.warehouse.adjustments import adjusted_symbols

    chosen = adjusted_symbols(warehouse_engine(url), EQUITY_CLASSES)
    figures: dict[str, Any] = {"symbols_to_restate": len(chosen), "requests_full": len(chosen)}
    log(f"restate would re-fetch {len(chosen)} symbols: {len(chosen)} chart requests")
    if not sample or not chosen:
        return figures
    picked = sorted({s for s, _ in chosen[:: max(1, len(chosen) // sample)]})[:sample]
    start = sim.now.date() - timedelta(days=365)
    stage = run_driver(sim, workdir, "restate", ["restate", *picked], env | {"LUMIA_PRICES_START_DATE": str(start)})
    meta = stage.get("metadata", {})
    charts = stage["sim_requests"].get("yahoo_chart", 0)
    restated = int(meta.get("symbols_restated", 0) or 0)
    figures |= {
        "sample_symbols": len(picked),
        "sample_success": stage.get("success", False),
        "sample_prices_start": str(start),
        "sample_wall_s": round(stage["wall_s"], 1),
        "sample_run_s": round(stage.get("run_seconds", 0.0), 1),
        "sample_chart_requests": charts,
        "sample_requests_per_symbol": charts / restated if restated else None,
        **{f"sample_{key}": meta.get(key) for key in RESTATE_KEYS},
    }
    if restated:
        figures["extrapolated_run_s"] = round(figures["sample_run_s"] / restated * len(chosen), 0)
    log(f"restate sample: {figures}")
    return figures


# --- the whole benchmark ---------------------------------------------------------------------------------------


def previous_session(day: date) -> date:
    return equity_sessions(day - timedelta(days=10), day)[-2]


def bench_backend(backend: str, args: argparse.Namespace, parts: set[int], workdir: Path, report: Report) -> None:
    """The chosen parts on one backend, recorded in ``report[backend]``."""
    figures: dict[str, Any] = report.setdefault(backend, {})
    if 2 in parts:
        with warehouse(backend, workdir, "reads") as url:
            figures["reads"] = part_two(url, args.symbols, args.sessions, args.repeats)
            report.save()
    if not parts & {1, 3}:
        return
    sim = MarketSimulator(SimConfig(profile=args.profile, seed=SEED, as_of=previous_session(args.day))).start()
    try:
        with warehouse(backend, workdir, "daily") as url:
            env = run_env(workdir / backend, sim, url, args.rate_limits)
            log(f"simulator on {sim.url}, clock {sim.now.isoformat()}; warehouse {url}")
            figures["daily"] = part_one(sim, url, workdir / backend, env, args.day, args.ex_dates)
            report.save()
            if 3 in parts:
                figures["restate"] = part_three(sim, url, workdir / backend, env, args.restate_sample)
                report.save()
    finally:
        sim.stop()


def run_env(home: Path, sim: MarketSimulator, url: str, rate_limits: str) -> dict[str, str]:
    """The drivers' environment: a persistent DAGSTER_HOME, the simulator as upstream, the warehouse, budgets."""
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home / "dagster_home"),
        "LUMIA_UPSTREAM_URL": sim.url,
        "LUMIA_WAREHOUSE_URL": url,
        "LUMIA_RATE_LIMITS": rate_limits,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=["default", "small"], help="simulator universe")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--part", default="1,2,3", help="comma-separated parts to run (1, 2, 3)")
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 11, 30), help="the ex-date session D")
    parser.add_argument("--ex-dates", type=int, default=200, help="dividends injected with ex-date D (part 1)")
    parser.add_argument("--rate-limits", default=DEFAULT_RATE_LIMITS, help="LUMIA_RATE_LIMITS for parts 1 and 3")
    parser.add_argument("--restate-sample", type=int, default=300, help="symbols restated for real (part 3; 0: none)")
    parser.add_argument("--symbols", type=int, default=2000, help="synthetic symbols (part 2)")
    parser.add_argument("--sessions", type=int, default=1260, help="synthetic sessions per symbol (part 2)")
    parser.add_argument("--repeats", type=int, default=25, help="timed repetitions per read (part 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    parts = {int(p) for p in args.part.split(",") if p}
    if 3 in parts:
        parts.add(1)  # restate measures part 1's record
    workdir = Path(tempfile.mkdtemp(prefix="lumia-bench-adj-"))
    report = Report(args.json, command=" ".join(["python", *sys.argv]), started=datetime.now(UTC).isoformat())
    report |= {"cpus": os.cpu_count(), "parts": sorted(parts), "rate_limits": args.rate_limits}
    log(f"workdir {workdir}; parts {sorted(parts)}")
    try:
        for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
            bench_backend(backend, args, parts, workdir, report)
    finally:
        report["finished"] = datetime.now(UTC).isoformat()
        report.save()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("materialize", "restate"):
        pin_clock()
        if sys.argv[1] == "restate":
            restate_main(sys.argv[2:])
        else:
            from backfill import materialize_cli

            materialize_cli(sys.argv[2:])
    else:
        main()

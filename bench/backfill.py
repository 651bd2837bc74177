"""Backfill benchmark of issue #3: the price assets against the simulator's default universe.

Usage::

    .venv/bin/python bench/backfill.py [--profile default] [--backend sqlite|postgresql|both|none]
        [--rate-limits LUMIA_RATE_LIMITS] [--freqtrade PATH|''] [--json FILE]
    .venv/bin/python bench/report.py FILE...   # the JSON as the Markdown tables of bench/RESULTS.md

The script starts the market simulator (seed 42, no server-side rate limits: the simulator's defaults) in a thread,
and for each warehouse backend (SQLite in a temp dir; PostgreSQL in a throwaway database on 127.0.0.1:5432, dropped
at the end) it measures:

(a) one daily partition of the full universe: ``equity_daily_prices`` for the latest closed NYSE session and
    ``crypto_daily_prices`` for the latest closed UTC day;
(b) a one-year backfill: one range run of the last 365 days of each (about 252 sessions for equities);
(c) the write path: ``write_price_batch`` against a raw ``COPY`` (PostgreSQL) or ``executemany`` (SQLite) of the
    same rows into an unconstrained table; on PostgreSQL also against that raw ``COPY`` binary-encoded by the
    product's encoder (the database-side reference), on SQLite against a plain ``executemany`` upsert;
(d) the request ratio of (a) and (b): requests made / the minimum the sources' batching allows;
(e) once, the freqtrade peer: ``freqtrade download-data`` of the same Binance pairs and year vs lumia's
    ``crypto_daily_prices`` with ``LUMIA_CRYPTO_EXCHANGES=binance`` and the product's default client budgets.
    freqtrade (installed in its own venv, default /tmp/ft-venv) reaches the simulator through ``ccxt_config`` /
    ``ccxt_async_config``: every ccxt Binance ``urls.api`` entry rewritten to ``SIM/HOST/PATH``.

``--backend none`` runs only (e); ``--freqtrade ''`` skips it. ``--rate-limits`` sets ``LUMIA_RATE_LIMITS`` for
(a) and (b): the product's client-side budgets (Yahoo 5 req/s by default) otherwise bound those runs.

Each materialization runs in a fresh subprocess (``backfill.py materialize ...``, a small driver around
``dg.materialize`` on a persistent ``DAGSTER_HOME``), so its wall time includes start-up and its peak RSS
(VmHWM, which unlike ``ru_maxrss`` does not inherit this process's peak across fork+exec) is its own. Upstream
requests come from the simulator's request log and from the run's ``upstream_requests`` metadata. Figures print
as they come; ``--json`` also writes them to a file after every step.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pandas as pd

from lumia_assets.calendars import equity_sessions, last_closed_crypto_day, last_closed_equity_session
from lumia_assets.sim import MarketSimulator, SimConfig

PG_ADMIN_DSN = "dbname=postgres user=postgres host=127.0.0.1 port=5432"
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
SEED = 42
YEAR_DAYS = 365
WRITE_SYMBOLS = 1000  # symbols x ~252 sessions of simulator truth for the write-path comparison
WRITE_BATCH_SYMBOLS = 200  # the product's batch size (collection.DEFAULT_BATCH_SIZE)
WRITE_REPEATS = 3
YAHOO_HOSTS = ("query1.finance.yahoo.com", "query2.finance.yahoo.com")
COOKIE_HOSTS = ("fc.yahoo.com", "guce.yahoo.com", "consent.yahoo.com")
CANDLE_PATHS = {
    "api.binance.com": "/api/v3/klines",
    "api.kraken.com": "/0/public/OHLC",
    "api.exchange.coinbase.com": "/candles",
}
VENUE_HOSTS = {
    "binance": "api.binance.com",
    "kraken": "api.kraken.com",
    "coinbaseexchange": "api.exchange.coinbase.com",
}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# --- the subprocess driver -------------------------------------------------------------------------------------


def materialize_main(select: list[str], start: str | None, end: str | None) -> None:
    """Materialize ``select`` (a partition range when dated) in this process; print its metadata as JSON."""
    import dagster as dg

    from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
    from lumia_assets.defs.prices.hourly import crypto_hourly_prices
    from lumia_assets.defs.resources import build_resources
    from lumia_assets.defs.universe.assets import crypto_universe, fund_universe, stock_universe
    from lumia_assets.settings import Settings

    assets = [stock_universe, fund_universe, crypto_universe, equity_daily_prices, crypto_daily_prices,
              crypto_hourly_prices]  # fmt: skip
    by_name = {a.key.to_user_string(): a for a in assets}
    tags = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end} if start else {}
    started = time.perf_counter()
    result = dg.materialize(
        assets,
        selection=[by_name[name] for name in select],
        resources=build_resources(Settings.from_env()),
        tags=tags,
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )
    run_seconds = time.perf_counter() - started
    metadata = {
        name: {k: getattr(v, "value", v) for k, v in result.asset_materializations_for_node(name)[-1].metadata.items()}
        for name in select
        if result.asset_materializations_for_node(name)
    }
    print(
        json.dumps(
            {
                "success": result.success,
                "run_seconds": run_seconds,
                "vm_hwm_mb": vm_hwm_mb("self"),
                "metadata": metadata,
            },
            default=str,
        )
    )


# --- measuring runs --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One measured materialization (one subprocess)."""

    name: str
    backend: str
    select: list[str]
    start: str | None
    end: str | None
    success: bool = False
    wall_seconds: float = 0.0
    run_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    metadata_peak_mb: float = 0.0
    rows_written: int = 0
    symbols_expected: int = 0
    symbols_covered: int = 0
    upstream_requests_metadata: int = 0
    upstream_429s: int = 0
    sim_requests: dict[str, int] = field(default_factory=dict)  # category -> count, from the simulator log
    request_ratio: float | None = None
    minimum_requests: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_written / self.run_seconds if self.run_seconds else 0.0


def vm_hwm_mb(pid: int | str) -> float:
    """The peak RSS (VmHWM) of process ``pid``'s current image, in MB; 0 when it is gone.

    Unlike ``ru_maxrss``, VmHWM restarts at ``exec``: a child forked from this (large) process does not inherit
    our own peak.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def run_subprocess(args: Sequence[str], env: dict[str, str], out: Path) -> tuple[int, float, float]:
    """Run ``args`` (stdout to ``out``, stderr to ``out``.log); return (exit code, wall seconds, peak RSS in MB).

    The peak is VmHWM polled every 50 ms until the process exits (its last reading is the run's peak but for the
    final 50 ms; the lumia driver also reports its own VmHWM at the very end).
    """
    started = time.perf_counter()
    peak = 0.0
    with out.open("w") as stdout, out.with_suffix(".log").open("w") as stderr:
        proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr)
        while proc.poll() is None:
            peak = max(peak, vm_hwm_mb(proc.pid))
            time.sleep(0.05)
    return proc.returncode, time.perf_counter() - started, peak


def classify(sim: MarketSimulator) -> Counter[str]:
    """The simulator's answered requests by category: yahoo chart, cookie/crumb, candles per host, market lists."""
    counts: Counter[str] = Counter()
    for record in sim.requests():
        if record.host in YAHOO_HOSTS and record.path.startswith("/v8/finance/chart/"):
            counts["yahoo_chart"] += 1
        elif record.host in COOKIE_HOSTS or record.path == "/v1/test/getcrumb":
            counts["yahoo_cookie_crumb"] += 1
        elif record.host in YAHOO_HOSTS:
            counts["yahoo_other"] += 1
        elif record.host in CANDLE_PATHS and CANDLE_PATHS[record.host] in record.path:
            counts[f"{record.host} candles"] += 1
        else:
            counts[f"{record.host} {record.path}"] += 1
        if record.status == 429:
            counts["status_429"] += 1
    return counts


class Report(dict[str, Any]):
    """Every figure of the benchmark, saved to ``path`` (when given) after each step."""

    def __init__(self, path: Path | None, **figures: Any) -> None:
        super().__init__(figures)
        self.path = path

    def save(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self, indent=2, default=_jsonable))


def _jsonable(value: object) -> object:
    if isinstance(value, Stage):
        return asdict(value) | {"rows_per_second": value.rows_per_second}
    return str(value)


class Runner:
    """Runs materializations in subprocesses against one warehouse and one DAGSTER_HOME."""

    def __init__(
        self, sim: MarketSimulator, backend: str, warehouse_url: str, workdir: Path, report: Report, **env: str
    ) -> None:
        self.sim, self.backend, self.workdir, self.report = sim, backend, workdir, report
        self.stages: list[Stage] = []
        home = workdir / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "LUMIA_UPSTREAM_URL": sim.url,
            "LUMIA_WAREHOUSE_URL": warehouse_url,
            **env,
        }

    def run(self, name: str, select: list[str], start: date | None = None, end: date | None = None) -> Stage:
        stage = Stage(name, self.backend, select, str(start) if start else None, str(end) if end else None)
        self.sim.server.log.clear()
        args = [sys.executable, __file__, "materialize", "--select", *select]
        if start:
            args += ["--start", str(start), "--end", str(end)]
        out = self.workdir / f"{name}.json"
        code, stage.wall_seconds, stage.peak_rss_mb = run_subprocess(args, self.env, out)
        stage.sim_requests = dict(sorted(classify(self.sim).items()))
        if code != 0:
            log(f"{name}: the driver exited with {code}: {out.with_suffix('.log').read_text()[-3000:]}")
            self.stages.append(stage)
            self.report.save()
            return stage
        report = json.loads(out.read_text().strip().splitlines()[-1])
        stage.success, stage.run_seconds = report["success"], report["run_seconds"]
        stage.peak_rss_mb = max(stage.peak_rss_mb, report["vm_hwm_mb"])
        for meta in report["metadata"].values():
            stage.rows_written += int(meta.get("rows_written", meta.get("dagster/row_count", 0)) or 0)
            stage.symbols_expected += int(meta.get("symbols_expected", 0) or 0)
            stage.symbols_covered += int(meta.get("symbols_covered", 0) or 0)
            stage.upstream_requests_metadata += int(meta.get("upstream_requests", 0) or 0)
            stage.upstream_429s += int(meta.get("upstream_429s", 0) or 0)
            stage.metadata_peak_mb = max(stage.metadata_peak_mb, float(meta.get("peak_memory_mb", 0) or 0))
        log(f"{name}: {describe(stage)}")
        self.stages.append(stage)
        self.report.save()
        return stage


def describe(stage: Stage) -> str:
    ratio = f", request ratio {stage.request_ratio:.3f}" if stage.request_ratio is not None else ""
    return (
        f"success={stage.success} wall {stage.wall_seconds:.1f}s (run {stage.run_seconds:.1f}s), "
        f"{stage.rows_written} rows ({stage.rows_per_second:,.0f}/s), {stage.symbols_covered}/{stage.symbols_expected}"
        f" symbols, {stage.upstream_requests_metadata} upstream requests (metadata), peak RSS "
        f"{stage.peak_rss_mb:.0f} MB{ratio}; simulator log {stage.sim_requests}"
    )


# --- the request ratio (d) ----------------------------------------------------------------------------------------


def equity_minimum(stage: Stage) -> int:
    """Yahoo: one chart request per symbol per range."""
    return stage.symbols_expected


def crypto_minimum(stage: Stage, warehouse_url: str, days: int, exchanges: Sequence[str]) -> int:
    """Per pair, ceil(days / page) candle calls on the venue the product uses for it, plus one market list per venue.

    A venue's market list is counted as the distinct non-candle endpoints it was asked for (Binance: exchangeInfo).
    """
    from lumia_assets.defs.prices.assets import venues
    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.sources.candles import DEFAULT_PAGE_SIZE, PAGE_SIZES
    from lumia_assets.warehouse.store import active_symbols

    active = active_symbols(warehouse_engine(warehouse_url), ("crypto",))
    primaries = Counter(next(iter(venues(listed, exchanges)), None) for listed in active["exchanges"])
    candles = sum(n * math.ceil(days / PAGE_SIZES.get(v, DEFAULT_PAGE_SIZE)) for v, n in primaries.items() if v)
    hosts = {VENUE_HOSTS[v] for v in primaries if v}
    markets = sum(1 for key in stage.sim_requests if key.split(" ")[0] in hosts and not key.endswith("candles"))
    return candles + markets


def set_ratio(stage: Stage, minimum: int, made: int) -> None:
    stage.minimum_requests = minimum
    stage.request_ratio = made / minimum if minimum else None
    log(f"{stage.name}: {made} requests made / {minimum} minimum = {stage.request_ratio:.3f}")


def crypto_made(stage: Stage) -> int:
    hosts = set(VENUE_HOSTS.values())
    return sum(n for key, n in stage.sim_requests.items() if key.split(" ")[0] in hosts)


def yahoo_made(stage: Stage) -> int:
    return sum(stage.sim_requests.get(k, 0) for k in ("yahoo_chart", "yahoo_cookie_crumb", "yahoo_other"))


# --- warehouses -----------------------------------------------------------------------------------------------------


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped on exit; yields its SQLAlchemy URL."""
    import psycopg2

    def admin(sql: str) -> None:
        conn = psycopg2.connect(PG_ADMIN_DSN)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.close()

    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.format(db=name)
    finally:
        from lumia_assets.defs.resources import warehouse_engine

        warehouse_engine.cache_clear()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def warehouse(backend: str, workdir: Path, suffix: str) -> Iterator[str]:
    """A fresh warehouse URL for ``backend``."""
    if backend == "postgresql":
        with postgres_database(f"lumia_bench_{os.getpid()}_{suffix}") as url:
            yield url
    else:
        yield f"sqlite:///{workdir / f'warehouse_{suffix}.db'}"


# --- the write path (c) ---------------------------------------------------------------------------------------------


def truth_rows(sim: MarketSimulator, start: date, end: date, count: int) -> list[pd.DataFrame]:
    """Batches of ``WRITE_BATCH_SYMBOLS`` symbols' bars from the simulator's truth, shaped as ``PRICE_COLUMNS``."""
    from lumia_assets.frames import PRICE_COLUMNS

    fetched_at = datetime.now(UTC)
    universe = sim.equities.universe()
    listed = universe[~universe["test_issue"] & universe["delisted_on"].isna() & universe["listed_on"].isna()]
    symbols = list(listed["symbol"][:count])
    frames = []
    for symbol in symbols:
        bars = sim.equities.daily_bars(symbol, start, end).rename(columns={"adj_close": "served_adj_close"})
        frames.append(
            bars.assign(symbol=symbol, asset_class="stock", served_as_of=end, source="yahoo", fetched_at=fetched_at)
        )
    batches = [frames[i : i + WRITE_BATCH_SYMBOLS] for i in range(0, len(frames), WRITE_BATCH_SYMBOLS)]
    return [pd.concat(batch, ignore_index=True)[list(PRICE_COLUMNS)] for batch in batches]


def product_write(engine: Any, batches: list[pd.DataFrame]) -> None:
    """The product's path: one ``write_price_batch`` transaction per batch (bars only)."""
    from lumia_assets.frames import CORPORATE_ACTION_COLUMNS
    from lumia_assets.warehouse.store import IDENTITY_COLUMNS, STATUS_COLUMNS, PriceBatch, write_price_batch

    empty = {"actions": CORPORATE_ACTION_COLUMNS, "statuses": STATUS_COLUMNS, "identities": IDENTITY_COLUMNS}
    for bars in batches:
        write_price_batch(engine, PriceBatch(bars=bars, **{k: pd.DataFrame(columns=list(v)) for k, v in empty.items()}))


def _driver_tuples(bars: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """The baselines' SQLite parameters: plain tuples, dates and timestamps as strings."""
    rows = bars.assign(date=bars["date"].astype(str), fetched_at=bars["fetched_at"].astype(str))
    return rows.itertuples(index=False, name=None)


def raw_write(engine: Any, batches: list[pd.DataFrame]) -> None:
    """The plain baseline: COPY (PostgreSQL) or executemany (SQLite) into ``raw_prices``, one commit per batch."""
    conn = engine.raw_connection()
    try:
        for bars in batches:
            cursor = conn.cursor()
            if engine.dialect.name == "postgresql":
                buffer = io.StringIO()
                bars.to_csv(buffer, index=False, header=False)
                buffer.seek(0)
                cursor.copy_expert(f"COPY raw_prices ({', '.join(bars.columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
            else:
                # the warehouse's connections leave pysqlite in autocommit: without BEGIN each row would commit
                cursor.execute("BEGIN")
                marks = ", ".join("?" * len(bars.columns))
                cursor.executemany(f"INSERT INTO raw_prices VALUES ({marks})", _driver_tuples(bars))
            conn.commit()
            cursor.close()
    finally:
        conn.close()


def raw_binary_write(engine: Any, batches: list[pd.DataFrame], table: str = "raw_prices") -> None:
    """PostgreSQL's database-side reference: the raw ``COPY`` into ``table`` with the product's binary encoder
    (``bulk.copy_binary``) instead of ``to_csv``, one commit per batch."""
    from lumia_assets.warehouse.bulk import copy_binary
    from lumia_assets.warehouse.schema import daily_prices

    conn = engine.raw_connection()
    try:
        for bars in batches:
            cursor = conn.cursor()
            stream = io.BytesIO(copy_binary(bars, daily_prices))
            cursor.copy_expert(f"COPY {table} ({', '.join(bars.columns)}) FROM STDIN WITH (FORMAT binary)", stream)
            conn.commit()
            cursor.close()
    finally:
        conn.close()


def plain_upsert_write(engine: Any, batches: list[pd.DataFrame]) -> None:
    """SQLite's plain upsert: ``executemany`` of tuples, ``INSERT ... ON CONFLICT DO UPDATE`` of every column, into
    ``daily_prices``, one transaction per batch."""
    conn = engine.raw_connection()
    try:
        for bars in batches:
            columns = list(bars.columns)
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("symbol", "asset_class", "date"))
            statement = (
                f"INSERT INTO daily_prices ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                f"ON CONFLICT (symbol, asset_class, date) DO UPDATE SET {updates}"
            )
            cursor = conn.cursor()
            cursor.execute("BEGIN")
            cursor.executemany(statement, _driver_tuples(bars))
            conn.commit()
            cursor.close()
    finally:
        conn.close()


def timed(action: Callable[[], None], reset: Callable[[], None], repeats: int = WRITE_REPEATS) -> float:
    """The median of ``repeats`` timings of ``action``, calling ``reset`` before each."""
    timings = []
    for _ in range(repeats):
        reset()
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return sorted(timings)[len(timings) // 2]


def write_path(sim: MarketSimulator, url: str, start: date, end: date) -> dict[str, Any]:
    """Rows per second of the product's upsert vs a raw bulk load of the same rows, and their ratios."""
    import sqlalchemy as sa

    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.frames import PRICE_COLUMNS

    engine = warehouse_engine(url)
    batches = truth_rows(sim, start, end, WRITE_SYMBOLS)
    rows = sum(len(b) for b in batches)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS raw_prices")
        conn.exec_driver_sql(
            f"CREATE TABLE raw_prices AS SELECT {', '.join(PRICE_COLUMNS)} FROM daily_prices WHERE 1=0"
        )

    def clear(table: str) -> Callable[[], None]:
        # An empty table: TRUNCATE on PostgreSQL, where DELETE would leave every key as a dead index entry for the
        # next insert of the same keys to step over; SQLite empties a table on an unqualified DELETE.
        emptying = f"TRUNCATE {table}" if engine.dialect.name == "postgresql" else f"DELETE FROM {table}"

        def run() -> None:
            with engine.begin() as conn:
                conn.execute(sa.text(emptying))

        return run

    fresh = timed(lambda: product_write(engine, batches), clear("daily_prices"))
    rewrite = timed(lambda: product_write(engine, batches), lambda: None)  # every row conflicts, none changed
    changed = [bars.assign(volume=bars["volume"] + 1) for bars in batches]  # every row conflicts and changed
    rewrite_changed = timed(lambda: product_write(engine, changed), lambda: product_write(engine, batches))
    raw = timed(lambda: raw_write(engine, batches), clear("raw_prices"))
    result = {
        "rows": rows,
        "batches": len(batches),
        "product_insert_s": fresh,
        "product_rewrite_s": rewrite,
        "raw_s": raw,
        "product_insert_rows_per_s": rows / fresh,
        "product_rewrite_rows_per_s": rows / rewrite,
        "raw_rows_per_s": rows / raw,
        "ratio_insert": raw / fresh,
        "ratio_rewrite": raw / rewrite,
        "product_rewrite_changed_s": rewrite_changed,
        "ratio_rewrite_changed": raw / rewrite_changed,
    }
    if engine.dialect.name == "postgresql":  # how near the database work is: the same raw COPY, binary-encoded
        raw_binary = timed(lambda: raw_binary_write(engine, batches), clear("raw_prices"))
        with engine.begin() as conn:  # the database's own floor: the same key and indexes to maintain
            conn.exec_driver_sql("DROP TABLE IF EXISTS raw_indexed")
            conn.exec_driver_sql("CREATE TABLE raw_indexed (LIKE daily_prices INCLUDING ALL)")
        indexed = timed(lambda: raw_binary_write(engine, batches, "raw_indexed"), clear("raw_indexed"))
        result |= {
            "raw_binary_s": raw_binary,
            "ratio_insert_vs_raw_binary": raw_binary / fresh,
            "ratio_rewrite_vs_raw_binary": raw_binary / rewrite,
            "raw_binary_indexed_s": indexed,
            "ratio_insert_vs_raw_binary_indexed": indexed / fresh,
        }
    if engine.dialect.name == "sqlite":  # the SQLite bar: at least as fast as a plain executemany upsert
        plain_insert = timed(lambda: plain_upsert_write(engine, batches), clear("daily_prices"))
        plain_rewrite = timed(lambda: plain_upsert_write(engine, batches), lambda: None)
        plain_changed = timed(lambda: plain_upsert_write(engine, changed), lambda: product_write(engine, batches))
        result |= {
            "ratio_rewrite_changed_vs_plain_upsert": plain_changed / rewrite_changed,
            "plain_upsert_insert_s": plain_insert,
            "plain_upsert_rewrite_s": plain_rewrite,
            "ratio_insert_vs_plain_upsert": plain_insert / fresh,
            "ratio_rewrite_vs_plain_upsert": plain_rewrite / rewrite,
        }
    log(f"write path ({engine.dialect.name}): {json.dumps(result)}")
    engine.dispose()
    return result


# --- the freqtrade peer (e) -----------------------------------------------------------------------------------------


def ccxt_urls(sim_url: str) -> dict[str, Any]:
    """ccxt binance's ``urls.api``, every entry rerouted to the simulator (https://HOST/... -> SIM/HOST/...)."""
    import ccxt

    from lumia_assets.sources.exchanges import EXCHANGE_OPTIONS

    api = ccxt.binance().describe()["urls"]["api"]
    routed = {key: value.replace("https://", f"{sim_url}/") for key, value in api.items()}
    return {"urls": {"api": routed}, "options": EXCHANGE_OPTIONS["binance"]}


def freqtrade_config(sim_url: str, pairs: list[str], path: Path) -> Path:
    ccxt_config = ccxt_urls(sim_url)
    config = {
        "trading_mode": "spot",
        "stake_currency": "USDT",
        "dry_run": True,
        "dataformat_ohlcv": "feather",
        "exchange": {
            "name": "binance",
            "key": "",
            "secret": "",
            "pair_whitelist": pairs,
            "ccxt_config": ccxt_config,
            "ccxt_async_config": ccxt_config,
        },
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def klines_per_pair(sim: MarketSimulator) -> Counter[str]:
    return Counter(parse_qs(r.query_string).get("symbol", ["?"])[0] for r in sim.requests("api.binance.com", "klines"))


def count_feather_rows(python: Path, files: list[Path]) -> int:
    """Rows in freqtrade's feather files, read with freqtrade's own interpreter (it has pyarrow; ours need not)."""
    code = "import sys, pandas as pd; print(sum(len(pd.read_feather(f)) for f in sys.argv[1:]))"
    return int(subprocess.run([str(python), "-c", code, *map(str, files)], capture_output=True, text=True).stdout or 0)


def peer_comparison(
    sim: MarketSimulator, workdir: Path, report: Report, freqtrade: str, start: date, end: date
) -> dict[str, Any]:
    """lumia's crypto_daily_prices (Binance only) vs ``freqtrade download-data`` of the same pairs and days."""
    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.warehouse.store import active_symbols

    url = f"sqlite:///{workdir / 'warehouse_peer.db'}"
    runner = Runner(
        sim, "sqlite", url, workdir / "peer", report, LUMIA_CRYPTO_EXCHANGES="binance", LUMIA_RATE_LIMITS=""
    )
    runner.run("peer-universe", ["crypto_universe"])
    pairs = sorted(active_symbols(warehouse_engine(url), ("crypto",))["symbol"])
    lumia = runner.run("peer-lumia-crypto-year", ["crypto_daily_prices"], start, end)
    lumia_klines = klines_per_pair(sim)
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "start": str(start),
        "end": str(end),
        "lumia": asdict(lumia),
        "lumia_klines": sum(lumia_klines.values()),
        "lumia_klines_per_pair": sum(lumia_klines.values()) / len(pairs),
    }
    config = freqtrade_config(sim.url, pairs, workdir / "freqtrade.json")
    datadir = Path(tempfile.mkdtemp(prefix="ft-data-"))
    userdir = workdir / "ft-user"
    userdir.mkdir(exist_ok=True)
    timerange = f"{start:%Y%m%d}-{end + timedelta(days=1):%Y%m%d}"
    args = [
        freqtrade,
        "download-data",
        "--exchange",
        "binance",
        "--pairs",
        *pairs,
        "--timeframes",
        "1d",
        "--timerange",
        timerange,
        "--datadir",
        str(datadir),
        "--userdir",
        str(userdir),
        "-c",
        str(config),
        "--data-format-ohlcv",
        "feather",
    ]
    result["freqtrade_command"] = " ".join(args[:5]) + f" <{len(pairs)} pairs> " + " ".join(args[5 + len(pairs) :])
    sim.server.log.clear()
    code, wall, rss = run_subprocess(args, dict(os.environ), workdir / "freqtrade.out")
    klines = klines_per_pair(sim)
    files = list(datadir.rglob("*-1d.feather"))
    candles = count_feather_rows(Path(freqtrade).parent / "python", files)
    result.update(
        {
            "freqtrade_exit": code,
            "freqtrade_wall_s": wall,
            "freqtrade_peak_rss_mb": rss,
            "freqtrade_klines": sum(klines.values()),
            "freqtrade_klines_per_pair": sum(klines.values()) / len(pairs),
            "freqtrade_klines_distribution": dict(Counter(klines.values())),
            "freqtrade_requests": dict(classify(sim)),
            "freqtrade_files": len(files),
            "freqtrade_candles": candles,
            "lumia_rows": lumia.rows_written,
        }
    )
    log(f"peer: {json.dumps({k: v for k, v in result.items() if k != 'lumia'})}")
    shutil.rmtree(datadir, ignore_errors=True)
    return result


# --- the whole benchmark ---------------------------------------------------------------------------------------


def bench_backend(
    sim: MarketSimulator,
    backend: str,
    workdir: Path,
    report: Report,
    session: date,
    day: date,
    rate_limits: str,
    write_only: bool = False,
) -> None:
    """(a) to (d) on one backend (only (c) with ``write_only``), recorded in ``report["backends"]``."""
    equity_start = equity_sessions(session - timedelta(days=YEAR_DAYS - 1), session)[0]
    report["backends"].append({"backend": backend, "stages": []})
    if not write_only:
        report["backends"][-1]["stages"] = materialization_stages(
            sim, backend, workdir, report, session, day, rate_limits
        )
    with warehouse(backend, workdir, f"{backend}_write") as url:
        report["backends"][-1]["write_path"] = write_path(sim, url, equity_start, session)
        report.save()


def materialization_stages(
    sim: MarketSimulator, backend: str, workdir: Path, report: Report, session: date, day: date, rate_limits: str
) -> list[Stage]:
    """(a), (b) and (d) on a fresh warehouse of ``backend``."""
    from lumia_assets.settings import DEFAULT_CRYPTO_EXCHANGES

    equity_start = equity_sessions(session - timedelta(days=YEAR_DAYS - 1), session)[0]
    crypto_start = day - timedelta(days=YEAR_DAYS - 1)
    with warehouse(backend, workdir, backend) as url:
        runner = Runner(sim, backend, url, workdir / backend, report, LUMIA_RATE_LIMITS=rate_limits)
        report["backends"][-1]["stages"] = runner.stages
        runner.run("universes", ["stock_universe", "fund_universe", "crypto_universe"])
        for name, asset, start, end in [
            ("daily-equity", "equity_daily_prices", session, session),
            ("daily-crypto", "crypto_daily_prices", day, day),
            ("year-equity", "equity_daily_prices", equity_start, session),
            ("year-crypto", "crypto_daily_prices", crypto_start, day),
        ]:
            stage = runner.run(name, [asset], start, end)
            if asset == "equity_daily_prices":
                set_ratio(stage, equity_minimum(stage), yahoo_made(stage))
            else:
                days = (end - start).days + 1
                set_ratio(stage, crypto_minimum(stage, url, days, DEFAULT_CRYPTO_EXCHANGES), crypto_made(stage))
            report.save()
    return runner.stages


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=["default", "small"])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both", "none"])
    parser.add_argument("--freqtrade", default="/tmp/ft-venv/bin/freqtrade", help="freqtrade executable ('' to skip)")
    parser.add_argument(
        "--rate-limits",
        default="",
        help="LUMIA_RATE_LIMITS for (a)-(b) (the product's client-side budgets; '' keeps its defaults). The peer "
        "comparison always runs with the defaults.",
    )
    parser.add_argument("--write-only", action="store_true", help="measure only the write path (c)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    session, day = last_closed_equity_session(now), last_closed_crypto_day(now)
    sim = MarketSimulator(SimConfig(profile=args.profile, seed=SEED)).start()
    workdir = Path(tempfile.mkdtemp(prefix="lumia-bench-"))
    log(f"simulator {args.profile} on {sim.url}; workdir {workdir}; session {session}, UTC day {day}")
    report = Report(args.json, profile=args.profile, now=now.isoformat(), cpus=os.cpu_count(), backends=[])
    report["command"] = " ".join(["python", *sys.argv])
    try:
        for backend in {"both": ["sqlite", "postgresql"], "none": []}.get(args.backend, [args.backend]):
            bench_backend(sim, backend, workdir, report, session, day, args.rate_limits, args.write_only)
        if args.freqtrade:
            report["peer"] = peer_comparison(
                sim, workdir, report, args.freqtrade, day - timedelta(days=YEAR_DAYS - 1), day
            )
            report.save()
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def materialize_cli(argv: list[str]) -> None:
    """``materialize --select A [B ...] [--start D --end D]``: the subprocess driver both benchmarks start."""
    driver = argparse.ArgumentParser()
    driver.add_argument("--select", nargs="+", required=True)
    driver.add_argument("--start")
    driver.add_argument("--end")
    parsed = driver.parse_args(argv)
    materialize_main(parsed.select, parsed.start, parsed.end)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "materialize":
        materialize_cli(sys.argv[2:])
    else:
        main()

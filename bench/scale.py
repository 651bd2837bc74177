"""Scale benchmark of issue #12, item 6: the cost of a day's checks, the gap sensor and ``lumia status`` at one and
five years of the full universe on PostgreSQL, and of the table-wide checks.

Usage::

    nice -n 5 .venv/bin/python bench/scale.py [--years 1,5] [--symbols N] [--repeats 3] [--json FILE]
        [--keep] [--reuse] [--revision REV] [--explain DIR] [--cli] [--label TEXT]
    nice -n 5 .venv/bin/python bench/scale.py --years 1 --symbols 300 --repeats 1   # a quick run, ~40 s

For each ``--years`` value the script builds a throwaway database ``lumia_scale_<Y>y`` (``_<N>s`` with
``--symbols``) on 127.0.0.1:5432, dropped at the end unless ``--keep``; ``--reuse`` measures a kept database again
instead of building it (it is migrated to the newest revision first, and that migration is timed: it builds the
new indexes on the full table). ``--revision`` builds the schema at an older Alembic revision (then upgraded, timed,
before measuring), to see what a migration costs on a full warehouse.

The data:

* the universe: the simulator's default profile (seed 42) fetched through the product's own directory and ccxt
  readers and stored with ``sync_universe``, like the universe assets do; instruments delisted within the window
  are added inactive, and every equity's ``listed_on`` is set as Yahoo's identity answer would (truth, or the
  simulator's history start);
* ``daily_prices``: a synthetic as-traded random walk per instrument over every NYSE session (UTC day for crypto)
  of the window, from its listing to its delisting: positive, low <= open, close <= high, no day-over-day move
  above ~13% beyond a split, prices rounded to Yahoo's 4 decimals for equities. 8% of stocks and ETFs split once
  (the bars before it are as traded, the record explains the jump), 35% of equities pay a quarterly dividend; the
  witness ``served_adj_close`` is derived from the product's ``cumulative_factors`` as of the last session, and
  ``adjustment_factors`` holds the same segments, so every check passes on it. ``fetched_at`` is the night after
  the bar's date (a warehouse collected day by day). The rows are COPYed symbol by symbol (the layout of a
  backfill: one date's rows are spread over the whole table, the pessimistic case for per-date queries), with the
  table's key and indexes dropped during the load and rebuilt after;
* gaps: 0.1% of the cells of the last 30 days are missing, and about 1,000 funds lack the latest session (late
  NAVs: the latest equity partition is below the coverage threshold, so the coverage check also lists examples).
  ``gap_repairs`` tracks every missing cell as the sensor would (those older than LUMIA_GAP_MAX_DAYS unavailable),
  ``symbol_status`` holds one answer per active instrument (1% "no data", 0.4% unknown or delisted);
* then ``VACUUM (ANALYZE)``, as ``lumia cleanup`` runs it.

Figures (wall time of the product's Python call, the first run and the median of ``--repeats``; a figure slower
than ``SLOW_SECONDS`` runs once):

* ``partition.<feed>.*``: the checks of one daily partition (the latest due one): ``ohlc_sanity``,
  ``duplicate_prices``, ``price_coverage``, ``repairs.unavailable``, ``unexplained_jumps`` and, for equities,
  ``adjustment_consistency``, with a one-day window (as ``defs/prices/checks.py`` calls them); target 5 s each;
* ``sensor.<feed>.missing_cells``: the gap sensor's query over its lookback; ``sensor.tick``: the sensor's
  warehouse work for both feeds (missing cells, ``repairs.track``, ``repairs.due``, the priced set and the history
  it owes); target 5 s;
* ``status.*``: ``lumia status``'s warehouse queries (``partition_gaps`` of the due partition and of the lookback
  per feed, ``database_size``); target 5 s; ``--cli`` also times ``lumia status --json`` end to end;
* ``table.<feed>.*``: the table-wide checks (``ohlc_sanity`` and ``duplicate_prices`` with no window), target
  30 s; and, when ``quality.ohlc_sanity`` takes ``since``, the incremental form over the rows fetched in the last
  day.

The date logic mirrors ``recent_dates`` and the partition deadlines (equities due 20:00 New York, crypto 02:00
UTC the next day) so that the bench does not depend on where the Dagster code lives; "now" is stored with the
database, so a kept database is measured at the same instant. ``--explain DIR`` writes EXPLAIN (ANALYZE, BUFFERS)
of every statement each figure runs, for the largest database, to DIR (plain EXPLAIN for a figure slower than
``SLOW_SECONDS / 2``: timing every row of a statement that takes minutes would take longer still).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from lumia_assets.adjustments import cumulative_factors, factors_on
from lumia_assets.calendars import EQUITY_TIMEZONE, calendar_dates
from lumia_assets.settings import Settings
from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets.warehouse import priced, quality, repairs
from lumia_assets.warehouse.engine import MIGRATIONS_DIR, create_warehouse_engine
from lumia_assets.warehouse.gaps import missing_cells, partition_gaps
from lumia_assets.warehouse.maintenance import vacuum_analyze
from lumia_assets.warehouse.reports import database_size
from lumia_assets.warehouse.schema import assets
from lumia_assets.warehouse.universe import sync_universe

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
SEED = 42
EXCHANGES = ("binance", "kraken", "coinbaseexchange")
FEED_CLASSES = {"equity": ("stock", "etf", "mutual_fund"), "crypto": ("crypto",)}
JUMP_THRESHOLDS = {"equity": 0.25, "crypto": 0.5}
DEADLINES = {"equity": (EQUITY_TIMEZONE, timedelta(hours=20)), "crypto": ("UTC", timedelta(hours=26))}
PARTITION_TARGET = 5.0
TABLE_TARGET = 30.0
CHUNK_SYMBOLS = 400
SLOW_SECONDS = 60.0  # a figure slower than this is run once, and only EXPLAINed without ANALYZE
SCATTERED_GAPS = 0.001  # share of the cells of the lookback that are missing
LATE_FUNDS = 1000  # funds without the latest session (of 5,500 at full size)
SPLIT_SHARE, DIVIDEND_SHARE = 0.08, 0.35
PRICE_DECIMALS = 4
PRICE_COLUMNS = ("symbol", "asset_class", "date", "open", "high", "low", "close", "volume", "served_adj_close",
                 "served_as_of", "source", "fetched_at")  # fmt: skip


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# --- dates ------------------------------------------------------------------------------------------------------


def due_partition(feed: str, now: datetime) -> date:
    """The latest partition of ``feed`` whose deadline has passed at ``now`` (the product's PartitionDeadline)."""
    zone, after = DEADLINES[feed]
    today = now.astimezone(ZoneInfo(zone)).date()
    days = calendar_dates(feed, today - timedelta(days=14), today)
    return max(d for d in days if datetime.combine(d, datetime.min.time(), ZoneInfo(zone)) + after <= now)


def recent_dates(feed: str, settings: Settings, now: datetime) -> list[date]:
    """The gap sensor's and ``lumia status``'s lookback (the product's ``recent_dates``)."""
    last = due_partition(feed, now)
    return calendar_dates(feed, max(settings.prices_start, last - timedelta(days=settings.gap_lookback_days)), last)


def window_days(feed: str, years: float, now: datetime) -> list[date]:
    last = due_partition(feed, now)
    return calendar_dates(feed, last - timedelta(days=round(365 * years) - 1), last)


# --- databases --------------------------------------------------------------------------------------------------


def admin(sql: str) -> list[Any]:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(sql)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def database_meta(name: str) -> dict[str, Any] | None:
    """The metadata a build left on the database (COMMENT ON DATABASE), None when there is no such database."""
    rows = admin(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'")
    if not rows:
        return None
    return json.loads(rows[0][0]) if rows[0][0] else {}


def drop_database(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_to(engine: Engine, revision: str) -> None:
    """Upgrade the database to ``revision`` with Alembic itself (``engine.migrate`` goes to head, and skips Alembic
    when the database is at the revision it knows as the newest)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def copy_frame(engine: Engine, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` (its columns named as the table's) into ``table`` in one transaction."""
    if frame.empty:
        return
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            cursor.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN WITH (FORMAT csv)', buffer)
        raw.commit()
    finally:
        raw.close()


@contextlib.contextmanager
def without_indexes(engine: Engine, table: str) -> Iterator[None]:
    """Drop ``table``'s key, unique constraints and indexes for a bulk load; rebuild them exactly afterwards."""
    with engine.begin() as conn:
        constraints = conn.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE conrelid = '{table}'::regclass AND contype IN ('p', 'u')"
        ).all()
        indexes = conn.exec_driver_sql(
            f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = '{table}'"
        ).all()
        owned = {name for name, _ in constraints}
        for name, _ in constraints:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            if name not in owned:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        for name, definition in constraints:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for name, definition in indexes:
            if name not in owned:
                conn.exec_driver_sql(definition)
    log(f"  {table}: key and {len(indexes)} indexes rebuilt in {time.perf_counter() - started:.1f} s")


# --- the universe -----------------------------------------------------------------------------------------------


def thin(frame: pd.DataFrame, count: int | None) -> pd.DataFrame:
    """Every k-th row of ``frame`` (by symbol), about ``count`` of them: a smaller universe with the same mix."""
    if count is None or len(frame) <= count:
        return frame
    return frame.sort_values("symbol").iloc[:: max(1, len(frame) // max(count, 1))].head(count)


def _day(value: object) -> date | None:
    return None if value is None or pd.isna(value) else value  # type: ignore[return-value]


def load_universe(
    engine: Engine, sim: MarketSimulator, now: datetime, symbols: int | None, years: float
) -> pd.DataFrame:
    """Sync the simulator's universe through the product's readers; returns what to generate bars for: symbol,
    asset_class, feed, source, start (first day with bars or None), end (first day without, or None), active."""
    from lumia_assets.sources.directories import fetch_fund_directory, fetch_stock_directory
    from lumia_assets.sources.http import HttpClient
    from lumia_assets.sources.markets import fetch_crypto_universe

    client = HttpClient(sim.url)
    equity_share = None if symbols is None else symbols
    stocks = fetch_stock_directory(client.requests_session())
    funds = fetch_fund_directory(client.requests_session()).frame
    pairs = fetch_crypto_universe(EXCHANGES, client.requests_session)
    if equity_share is not None:
        total = len(stocks) + len(funds)
        stocks = thin(stocks, max(1, round(equity_share * len(stocks) / total)))
        funds = thin(funds, max(1, round(equity_share * len(funds) / total)))
        pairs = thin(pairs, max(2, equity_share // 8))
    sync_universe(engine, "stock_universe", ("stock", "etf"), stocks, seen_at=now)
    sync_universe(engine, "fund_universe", ("mutual_fund",), funds, seen_at=now)
    sync_universe(engine, "crypto_universe", ("crypto",), pairs, seen_at=now)

    history_start = sim.config.history_start
    truth = sim.equities.universe()
    truth = truth[~truth["test_issue"]].set_index("symbol")
    first_equity = window_days("equity", years, now)[0]
    active_equities = pd.concat([stocks, funds])[["symbol", "asset_class"]]
    listed = truth.reindex(active_equities["symbol"])["listed_on"]
    active_equities = active_equities.assign(start=list(listed), end=None, source="yahoo", active=True)
    gone = truth[truth["delisted_on"].notna() & ~truth.index.isin(active_equities["symbol"])]
    gone = gone[[d > first_equity for d in gone["delisted_on"]]]
    if symbols is not None:
        gone = thin(gone.reset_index(), max(1, len(gone) * symbols // max(len(truth), 1))).set_index("symbol")
    inactive_equities = pd.DataFrame({"symbol": gone.index, "asset_class": gone["asset_class"].to_numpy(),
                                      "start": list(gone["listed_on"]), "end": list(gone["delisted_on"]),
                                      "source": "yahoo", "active": False})  # fmt: skip

    spans: dict[str, list[tuple[str, date | None, date | None]]] = {}
    for exchange in EXCHANGES:
        for pair in sim.crypto.pairs(exchange):
            spans.setdefault(pair.symbol, []).append((exchange, pair.listed_on, pair.delisted_on))
    first_crypto = window_days("crypto", years, now)[0]

    def pair_span(symbol: str) -> tuple[date | None, date | None]:
        listed_on = [s for _, s, _ in spans[symbol]]
        delisted_on = [e for _, _, e in spans[symbol]]
        start = None if None in listed_on else min(listed_on)
        end = None if None in delisted_on else max(delisted_on)
        return start, end

    active_pairs = pd.DataFrame({"symbol": pairs["symbol"], "asset_class": "crypto",
                                 "start": [pair_span(s)[0] for s in pairs["symbol"]], "end": None,
                                 "source": pairs["primary_exchange"], "active": True})  # fmt: skip
    gone_pairs = sorted(s for s in spans if s not in set(pairs["symbol"]) and (pair_span(s)[1] or now.date())
                        > first_crypto)  # fmt: skip
    if symbols is not None:
        gone_pairs = gone_pairs[:: max(1, len(spans) // max(len(pairs), 1))]
    inactive_pairs = pd.DataFrame({"symbol": gone_pairs, "asset_class": "crypto",
                                   "start": [pair_span(s)[0] for s in gone_pairs],
                                   "end": [pair_span(s)[1] for s in gone_pairs],
                                   "source": [spans[s][0][0] for s in gone_pairs], "active": False})  # fmt: skip

    # what Yahoo's identity answer would have recorded; delisted instruments stay, inactive, with their bars
    with engine.begin() as conn:
        conn.execute(
            assets.update()
            .where(assets.c.symbol == sa.bindparam("b_symbol"), assets.c.asset_class == sa.bindparam("b_class"))
            .values(listed_on=sa.bindparam("b_listed")),
            [{"b_symbol": r.symbol, "b_class": r.asset_class,
              "b_listed": _day(r.start) or (history_start if r.asset_class != "crypto" else None)}
             for r in pd.concat([active_equities, active_pairs]).itertuples()],
        )  # fmt: skip
        inactive = pd.concat([inactive_equities.assign(source_row="nasdaqtrader"),
                              inactive_pairs.assign(source_row=inactive_pairs["source"])])  # fmt: skip
        if not inactive.empty:
            conn.execute(
                assets.insert(),
                [{"symbol": r.symbol, "asset_class": r.asset_class, "yahoo_symbol": None, "name": r.symbol,
                  "exchange": "NYSE" if r.asset_class != "crypto" else r.source, "currency": "USD", "active": False,
                  "first_seen": now - timedelta(days=5 * 365), "last_seen": now, "listed_on": _day(r.start),
                  "source": r.source_row, "absent_runs": 3} for r in inactive.itertuples()],
            )  # fmt: skip
    frames = [active_equities.assign(feed="equity"), inactive_equities.assign(feed="equity"),
              active_pairs.assign(feed="crypto"), inactive_pairs.assign(feed="crypto")]  # fmt: skip
    return pd.concat(frames, ignore_index=True).sort_values(["feed", "symbol"], ignore_index=True)


# --- the bars ---------------------------------------------------------------------------------------------------


@dataclass
class Generated:
    rows: int = 0
    actions: list[pd.DataFrame] = field(default_factory=list)
    factors: list[pd.DataFrame] = field(default_factory=list)
    missing: list[pd.DataFrame] = field(default_factory=list)
    generate_seconds: float = 0.0
    copy_seconds: float = 0.0


def _indices(days: np.ndarray, bounds: Sequence[date | None], default: int) -> np.ndarray:
    return np.array([default if b is None or pd.isna(b) else np.searchsorted(days, np.datetime64(b)) for b in bounds])


def generate_chunk(
    rng: np.random.Generator, chunk: pd.DataFrame, days: list[date], feed: str, now: datetime, lookback: date,
    late_fund_share: float, out: Generated,
) -> pd.DataFrame:  # fmt: skip
    """The bars of ``chunk``'s instruments over ``days`` (PRICE_COLUMNS); actions, factors and gaps go to ``out``."""
    day64 = np.array(days, dtype="datetime64[D]")
    day_objects = np.array(days, dtype=object)
    m, n = len(chunk), len(days)
    start = _indices(day64, list(chunk["start"]), 0)
    end = _indices(day64, list(chunk["end"]), n)
    column = np.arange(n)
    mask = (column >= start[:, None]) & (column < end[:, None])
    equity = feed == "equity"
    classes = chunk["asset_class"].to_numpy()
    sigma = rng.uniform(0.004, 0.02, m) if equity else rng.uniform(0.01, 0.04, m)
    returns = rng.normal(0.0, 1.0, (m, n)) * sigma[:, None]
    np.clip(returns, -0.12, 0.12, out=returns)
    base = np.exp(rng.normal(3.5, 0.9, m)) if equity else np.exp(rng.normal(0.0, 2.5, m))
    close = base[:, None] * np.exp(np.cumsum(returns, axis=1))
    previous = np.concatenate([close[:, :1] * np.exp(-returns[:, :1]), close[:, :-1]], axis=1)
    open_ = previous * np.exp(np.clip(rng.normal(0.0, 1.0, (m, n)) * sigma[:, None] / 4, -0.03, 0.03))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0005, 0.015, (m, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0005, 0.015, (m, n)))
    volume = np.round(np.exp(rng.normal(11.0, 1.5, (m, 1)) + rng.normal(0.0, 0.5, (m, n))))
    ratio = np.ones((m, n))
    events: dict[int, list[tuple[int, str]]] = {}
    if equity:
        for i in range(m):
            length = end[i] - start[i]
            if classes[i] != "mutual_fund" and length > 10 and rng.random() < SPLIT_SHARE:
                k = int(rng.integers(start[i] + 1, end[i]))
                ratio[i, :k] = rng.choice([2.0, 3.0, 4.0, 1.5])
                events.setdefault(i, []).append((k, "split"))
            if length > 5 and rng.random() < DIVIDEND_SHARE:
                for k in range(start[i] + int(rng.integers(1, 64)), end[i], 63):
                    events.setdefault(i, []).append((k, "dividend"))
        open_, high, low, close = (np.round(p * ratio, PRICE_DECIMALS) for p in (open_, high, low, close))
        volume = np.round(volume / ratio)
        high = np.maximum.reduce([high, open_, close])
        low = np.maximum(np.minimum.reduce([low, open_, close]), 10.0**-PRICE_DECIMALS)
    active = chunk["active"].to_numpy(dtype=bool)
    recent = (day64 >= np.datetime64(lookback))[None, :] & active[:, None]
    dropped = mask & recent & (rng.random((m, n)) < SCATTERED_GAPS)
    if equity:
        late = active & (classes == "mutual_fund") & (rng.random(m) < late_fund_share)
        dropped[late, n - 1] = mask[late, n - 1]
    mask &= ~dropped
    missing_rows, missing_cols = np.nonzero(dropped)
    symbols = chunk["symbol"].to_numpy(dtype=object)
    out.missing.append(pd.DataFrame({"symbol": symbols[missing_rows], "asset_class": classes[missing_rows],
                                     "date": day_objects[missing_cols]}))  # fmt: skip

    served = np.full((m, n), np.nan)
    as_of = np.full(m, "", dtype=object)
    fetched = now.replace(microsecond=0)
    if equity:
        for i in range(m):
            kept = np.nonzero(mask[i])[0]
            if not len(kept):
                continue
            as_of[i] = days[kept[-1]].isoformat()
            factor = np.ones(len(kept))
            actions = [(k, kind) for k, kind in events.get(i, []) if mask[i, k]]
            if actions:
                closes = pd.Series(close[i, kept], index=list(day_objects[kept]))
                values = []
                for k, kind in actions:
                    if kind == "split":
                        values.append(ratio[i, k - 1] / ratio[i, k])
                    else:
                        values.append(max(round(close[i, k - 1] * rng.uniform(0.002, 0.01), 4), 0.0001))
                frame = pd.DataFrame({"date": [days[k] for k, _ in actions], "action": [kind for _, kind in actions],
                                      "value": values, "in_dividend": False})  # fmt: skip
                segments = cumulative_factors(frame, closes)
                if not segments.empty:
                    on = factors_on(list(day_objects[kept]), segments)
                    factor = on["split_factor"].to_numpy() * on["dividend_factor"].to_numpy()
                    out.factors.append(segments.assign(symbol=symbols[i], asset_class=classes[i], computed_at=fetched))
                out.actions.append(frame.assign(symbol=symbols[i], asset_class=classes[i], source="yahoo",
                                                fetched_at=fetched))  # fmt: skip
            served[i, kept] = close[i, kept] * factor
    rows, cols = np.nonzero(mask)
    day_text = np.datetime_as_string(day64)
    night = day64 + np.timedelta64(1, "D")
    fetched_text = np.array([min(datetime.fromisoformat(f"{d}T01:30:00+00:00"), now).isoformat()
                             for d in np.datetime_as_string(night)], dtype=object)  # fmt: skip
    return pd.DataFrame(
        {"symbol": symbols[rows], "asset_class": classes[rows], "date": day_text[cols], "open": open_[rows, cols],
         "high": high[rows, cols], "low": low[rows, cols], "close": close[rows, cols], "volume": volume[rows, cols],
         "served_adj_close": served[rows, cols], "served_as_of": as_of[rows] if equity else "",
         "source": chunk["source"].to_numpy(dtype=object)[rows], "fetched_at": fetched_text[cols]},
        columns=list(PRICE_COLUMNS),
    )  # fmt: skip


def load_prices(
    engine: Engine, instruments: pd.DataFrame, years: float, now: datetime, settings: Settings
) -> Generated:
    out = Generated()
    full = instruments.groupby("feed")["symbol"].count().to_dict()
    late_fund_share = LATE_FUNDS / 5500
    rng = np.random.default_rng(SEED)
    with without_indexes(engine, "daily_prices"):
        for feed in ("equity", "crypto"):
            days = window_days(feed, years, now)
            lookback = recent_dates(feed, settings, now)[0]
            rows = instruments[instruments["feed"] == feed]
            for first in range(0, len(rows), CHUNK_SYMBOLS):
                started = time.perf_counter()
                chunk = rows.iloc[first : first + CHUNK_SYMBOLS]
                frame = generate_chunk(rng, chunk, days, feed, now, lookback, late_fund_share, out)
                generated = time.perf_counter()
                copy_frame(engine, "daily_prices", frame)
                out.generate_seconds += generated - started
                out.copy_seconds += time.perf_counter() - generated
                out.rows += len(frame)
                if (first // CHUNK_SYMBOLS) % 10 == 0:
                    log(f"  {feed}: {first + len(chunk)}/{full.get(feed, 0)} instruments, {out.rows:,} rows so far")
    return out


def load_side_tables(engine: Engine, instruments: pd.DataFrame, generated: Generated, now: datetime,
                     settings: Settings) -> dict[str, int]:  # fmt: skip
    """corporate_actions, adjustment_factors, symbol_status and gap_repairs, as the product would have them."""
    actions = pd.concat(generated.actions, ignore_index=True) if generated.actions else pd.DataFrame()
    if not actions.empty:
        copy_frame(engine, "corporate_actions", actions[["symbol", "asset_class", "date", "action", "value",
                                                         "in_dividend", "source", "fetched_at"]])  # fmt: skip
    factors = pd.concat(generated.factors, ignore_index=True) if generated.factors else pd.DataFrame()
    if not factors.empty:
        columns = ["symbol", "asset_class", "valid_from", "valid_until", "split_factor", "dividend_factor"]
        copy_frame(engine, "adjustment_factors", factors[[*columns, "computed_at"]])
    rng = np.random.default_rng(SEED + 1)
    active = instruments[instruments["active"]]
    draw = rng.random(len(active))
    status = np.select([draw < 0.002, draw < 0.004, draw < 0.014], ["unknown_symbol", "delisted", "no_data"], "ok")
    statuses = pd.DataFrame({"symbol": active["symbol"], "asset_class": active["asset_class"], "status": status,
                             "detail": None, "consecutive_no_data": np.where(status == "no_data", 2, 0),
                             "no_data_since": [(now - timedelta(days=2)).date() if s == "no_data" else None
                                               for s in status], "checked_at": now})  # fmt: skip
    copy_frame(engine, "symbol_status", statuses)
    missing = pd.concat(generated.missing, ignore_index=True)
    max_age = timedelta(days=settings.gap_max_days)
    found = [min(datetime.combine(d + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=2), now)
             for d in missing["date"]]  # fmt: skip
    given_up = np.array([now - f > max_age for f in found], dtype=bool)
    cells = missing.assign(attempts=np.where(given_up, 8, 1), first_missing_at=found,
                           next_attempt_at=[f + repairs.next_wait(1) for f in found], unavailable=given_up,
                           reason=np.where(given_up, "no bar from the upstream", None))  # fmt: skip
    copy_frame(engine, "gap_repairs", cells)
    return {"corporate_actions": len(actions), "adjustment_factors": len(factors), "symbol_status": len(statuses),
            "gap_repairs": len(cells), "unavailable": int(given_up.sum())}  # fmt: skip


def build(name: str, years: float, symbols: int | None, revision: str, sim: MarketSimulator) -> dict[str, Any]:
    drop_database(name)
    admin(f'CREATE DATABASE "{name}"')
    url = PG_URL.format(db=name)
    engine = create_warehouse_engine(url)
    settings = Settings.from_env()
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    migrate_to(engine, revision)
    instruments = load_universe(engine, sim, now, symbols, years)
    log(f"{name}: {len(instruments)} instruments ({int(instruments['active'].sum())} active), generating bars")
    generated = load_prices(engine, instruments, years, now, settings)
    side = load_side_tables(engine, instruments, generated, now, settings)
    loaded = time.perf_counter()
    vacuum = vacuum_analyze(engine)
    meta = {"years": years, "symbols": symbols, "now": now.isoformat(), "built_at_revision": revision,
            "instruments": len(instruments), "active": int(instruments["active"].sum()), "rows": generated.rows,
            **side, "generate_seconds": round(generated.generate_seconds, 1),
            "copy_seconds": round(generated.copy_seconds, 1), "load_seconds": round(loaded - started, 1),
            "vacuum_seconds": vacuum.seconds, "build_seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    engine.dispose()
    admin(f"COMMENT ON DATABASE \"{name}\" IS '{json.dumps(meta)}'")
    log(f"{name}: {generated.rows:,} bars in {meta['build_seconds']} s ({meta})")
    return meta


# --- figures ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    key: str
    what: str
    target: float | None
    run: Callable[[], Any]


def summarize(value: Any) -> str:
    if isinstance(value, quality.QualityResult):
        return f"{value.failing}/{value.checked}"
    if isinstance(value, pd.DataFrame):
        return f"{int(value['missing'].sum())} missing" if "missing" in value.columns else f"{len(value)} rows"
    if isinstance(value, tuple):
        return " ".join(summarize(v) for v in value)
    return str(value)


def figures(engine: Engine, now: datetime, settings: Settings) -> list[Figure]:
    found: list[Figure] = []
    threshold = settings.coverage_threshold / 100
    takes_since = "since" in inspect.signature(quality.ohlc_sanity).parameters
    tracks_per_feed = "asset_classes" in inspect.signature(repairs.track).parameters
    for feed, classes in FEED_CLASSES.items():
        day = due_partition(feed, now)
        window = (day, day)
        jump = JUMP_THRESHOLDS[feed]
        found += [
            Figure(f"partition.{feed}.ohlc_sanity", "ohlc_sanity, one day", PARTITION_TARGET,
                   lambda c=classes, w=window: quality.ohlc_sanity(engine, c, w)),
            Figure(f"partition.{feed}.duplicate_prices", "duplicate_prices, one day", PARTITION_TARGET,
                   lambda c=classes, w=window: quality.duplicate_prices(engine, c, w)),
            Figure(f"partition.{feed}.price_coverage", "price_coverage, one day", PARTITION_TARGET,
                   lambda c=classes, d=day: quality.price_coverage(engine, c, [d], threshold)),
            Figure(f"partition.{feed}.unavailable", "repairs.unavailable, one day", PARTITION_TARGET,
                   lambda c=classes, d=day: repairs.unavailable(engine, c, [d])),
            Figure(f"partition.{feed}.unexplained_jumps", "unexplained_jumps, one day", PARTITION_TARGET,
                   lambda c=classes, w=window, j=jump: quality.unexplained_jumps(engine, c, w, j)),
        ]  # fmt: skip
        if feed == "equity":
            found.append(Figure("partition.equity.adjustment_consistency", "adjustment_consistency, one day",
                                PARTITION_TARGET, lambda c=classes, w=window: quality.adjustment_consistency(
                                    engine, c, w)))  # fmt: skip
    for feed, classes in FEED_CLASSES.items():
        recent = recent_dates(feed, settings, now)
        found.append(Figure(f"sensor.{feed}.missing_cells", f"gaps.missing_cells, {len(recent)} dates",
                            PARTITION_TARGET, lambda c=classes, r=recent: missing_cells(engine, c, r)))  # fmt: skip

    def tick() -> str:
        counts = []
        for feed, classes in FEED_CLASSES.items():
            recent = recent_dates(feed, settings, now)
            if tracks_per_feed:  # as the sensor does since a fallback's bars are repaired too
                from lumia_assets.engine.feeds import FEEDS  # its feeds name their fallback sources since then

                provisional = FEEDS[feed].fallback_sources
                missing = missing_cells(engine, classes, recent, provisional=provisional)
                repairs.track(engine, missing, now, timedelta(days=settings.gap_max_days), classes, provisional)
            else:
                missing = missing_cells(engine, classes, recent)
                repairs.track(engine, missing, now, timedelta(days=settings.gap_max_days))
            priced.record_selection(engine, classes, settings.selection, settings.prices_start, recent[0], now)
            owed = priced.history_due(engine, classes, recent[0], now)
            counts.append(f"{len(missing)}/{len(repairs.due(engine, classes, now))}/{len(owed)}")
        return " ".join(counts)

    found.append(Figure("sensor.tick", "missing_cells + track + due + the priced set, both feeds", PARTITION_TARGET,
                        tick))  # fmt: skip
    for feed, classes in FEED_CLASSES.items():
        due = due_partition(feed, now)
        recent = recent_dates(feed, settings, now)
        found.append(Figure(f"status.{feed}.partition_gaps", f"partition_gaps, due day + {len(recent)} dates",
                            PARTITION_TARGET, lambda c=classes, d=due, r=recent: (
                                partition_gaps(engine, c, [d]), partition_gaps(engine, c, r))))  # fmt: skip
    found.append(Figure("status.database_size", "reports.database_size", PARTITION_TARGET,
                        lambda: database_size(engine)))  # fmt: skip
    for feed, classes in FEED_CLASSES.items():
        found += [
            Figure(f"table.{feed}.ohlc_sanity", "ohlc_sanity, whole table", TABLE_TARGET,
                   lambda c=classes: quality.ohlc_sanity(engine, c)),
            Figure(f"table.{feed}.duplicate_prices", "duplicate_prices, whole table", TABLE_TARGET,
                   lambda c=classes: quality.duplicate_prices(engine, c)),
        ]  # fmt: skip
        if takes_since:
            found.append(Figure(f"table.{feed}.ohlc_sanity_since", "ohlc_sanity, rows fetched in the last day",
                                TABLE_TARGET, lambda c=classes: quality.ohlc_sanity(
                                    engine, c, since=now - timedelta(days=1))))  # fmt: skip
    return found


SUMS = {
    "partition.equity.all": ("every check of the equity partition, summed", PARTITION_TARGET, "partition.equity."),
    "partition.crypto.all": ("every check of the crypto partition, summed", PARTITION_TARGET, "partition.crypto."),
    "status.all": ("lumia status's warehouse queries, summed", PARTITION_TARGET, "status."),
}


def measure(figure: Figure, repeats: int) -> dict[str, Any]:
    """``repeats`` timed runs; a figure slower than ``SLOW_SECONDS`` runs once."""
    runs, outcome = [], ""
    while len(runs) < repeats and not (runs and runs[0] > SLOW_SECONDS):
        started = time.perf_counter()
        outcome = summarize(figure.run())
        runs.append(time.perf_counter() - started)
    return {"first": runs[0], "median": statistics.median(runs), "runs": runs, "result": outcome}


@contextlib.contextmanager
def explaining(engine: Engine, sink: list[str], analyze: bool = True) -> Iterator[None]:
    """EXPLAIN (ANALYZE, BUFFERS) every SELECT the engine runs, on its own cursor just before it runs (only
    EXPLAIN without ``analyze``: for a statement that takes minutes, timing every row would take longer)."""
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        text = statement.lstrip().upper()
        if executemany or not text.startswith(("SELECT", "WITH")) or "PG_CATALOG" in text:
            return
        sink.append(cursor.mogrify(statement, parameters).decode())
        cursor.execute(explain + statement, parameters)
        sink.append("\n".join(row[0] for row in cursor.fetchall()) + "\n")

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def time_cli(url: str, repeats: int) -> dict[str, Any]:
    """``lumia status --json`` end to end, on an empty Dagster instance."""
    lumia = Path(sys.executable).parent / "lumia"
    runs, code = [], None
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LUMIA_WAREHOUSE_URL": url, "DAGSTER_HOME": home}
        for _ in range(repeats):
            started = time.perf_counter()
            code = subprocess.run([str(lumia), "status", "--json"], env=env, capture_output=True).returncode
            runs.append(time.perf_counter() - started)
    return {"first": runs[0], "median": statistics.median(runs), "runs": runs, "result": f"exit {code}"}


def measure_database(name: str, repeats: int, explain: Path | None, cli: bool) -> dict[str, Any]:
    meta = database_meta(name) or {}
    url = PG_URL.format(db=name)
    engine = create_warehouse_engine(url)
    started = time.perf_counter()
    migrate_to(engine, "head")  # on a kept or older database, this builds the new indexes
    migrated = time.perf_counter() - started
    with engine.connect() as conn:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        indexes = [row[0] for row in conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'daily_prices' ORDER BY indexname")]  # fmt: skip
    now = datetime.fromisoformat(meta["now"]) if meta.get("now") else datetime.now(UTC)
    settings = Settings.from_env()
    results: dict[str, Any] = {}
    for figure in figures(engine, now, settings):
        results[figure.key] = {"what": figure.what, "target": figure.target, **measure(figure, repeats)}
        log(f"  {figure.key}: {results[figure.key]['median']:.3f} s (first {results[figure.key]['first']:.3f} s) "
            f"-> {results[figure.key]['result']}")  # fmt: skip
        if explain is not None:
            plans: list[str] = []
            with explaining(engine, plans, analyze=results[figure.key]["median"] < SLOW_SECONDS / 2):
                figure.run()
            explain.mkdir(parents=True, exist_ok=True)
            (explain / f"{name}.{figure.key}.txt").write_text("\n".join(plans))
    for key, (what, target, prefix) in SUMS.items():
        parts = [v for k, v in results.items() if k.startswith(prefix)]
        results[key] = {
            "what": what,
            "target": target,
            "first": sum(p["first"] for p in parts),
            "median": sum(p["median"] for p in parts),
            "runs": [],
            "result": f"{len(parts)} figures",
        }
    if cli:
        what = "lumia status --json end to end, empty Dagster instance"
        results["status.cli"] = {"what": what, "target": PARTITION_TARGET, **time_cli(url, repeats)}
        log(f"  status.cli: {results['status.cli']['median']:.3f} s")
    size = database_size(engine)
    engine.dispose()
    return {"database": name, "meta": meta, "revision": revision, "migrate_seconds": round(migrated, 2),
            "price_indexes": indexes, "size_bytes": size, "figures": results}  # fmt: skip


# --- report -----------------------------------------------------------------------------------------------------


def table(results: dict[float, dict[str, Any]]) -> str:
    """The figures as a Markdown table: the median (and first) run per database, the growth and the verdict."""
    sizes = sorted(results)
    smallest, largest = sizes[0], sizes[-1]
    head = ["figure", "what", "target", *(f"{y:g}y median (first)" for y in sizes)]
    head += [f"{largest:g}y/{smallest:g}y"] if len(sizes) > 1 else []
    head += ["verdict", f"result at {largest:g}y"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = list(dict.fromkeys(k for y in sizes for k in results[y]["figures"]))
    for key in keys:
        measured = [results[y]["figures"].get(key) for y in sizes]
        known = next(m for m in measured if m)
        target = known.get("target")
        cells = [key, known.get("what", ""), f"{target:g} s" if target else ""]
        cells += [f"{m['median']:.3f} ({m['first']:.3f})" if m else "n/a" for m in measured]
        first, last = measured[0], measured[-1]
        if len(sizes) > 1:
            cells.append(f"{last['median'] / first['median']:.1f}x" if last and first and first["median"] else "n/a")
        cells.append("n/a" if not last or not target else ("ok" if last["median"] <= target else "OVER"))
        cells.append(last["result"] if last else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", default="1,5", help="comma-separated window lengths in years (default 1,5)")
    parser.add_argument("--symbols", type=int, default=None, help="about this many equities (crypto: 1/8 of it)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the databases (default: drop them at the end)")
    parser.add_argument("--reuse", action="store_true", help="measure kept databases instead of building them")
    parser.add_argument("--revision", default="head", help="Alembic revision to build the schema at (default head)")
    parser.add_argument("--explain", type=Path, default=None, help="write EXPLAIN ANALYZE plans (largest database)")
    parser.add_argument("--cli", action="store_true", help="also time `lumia status --json` end to end")
    parser.add_argument("--label", default="", help="a label stored in the JSON (e.g. before/after)")
    args = parser.parse_args(argv)
    sizes = sorted(float(y) for y in args.years.split(","))
    names = {y: f"lumia_scale_{y:g}y" + (f"_{args.symbols}s" if args.symbols else "") for y in sizes}
    results: dict[float, dict[str, Any]] = {}
    sim: MarketSimulator | None = None
    try:
        for years in sizes:
            name = names[years]
            meta = database_meta(name) if args.reuse else None
            if not meta or meta.get("years") != years or meta.get("symbols") != args.symbols:
                if sim is None:
                    sim = MarketSimulator(SimConfig(profile="default", seed=SEED))
                    sim.start()
                log(f"building {name} ({years:g} years, schema at {args.revision})")
                build(name, years, args.symbols, args.revision, sim)
            else:
                log(f"reusing {name} ({meta.get('rows', 0):,} bars, built {meta.get('now')})")
            log(f"measuring {name}")
            explain = args.explain if years == sizes[-1] else None
            results[years] = measure_database(name, args.repeats, explain, args.cli)
            log(f"{name}: migrated to {results[years]['revision']} in {results[years]['migrate_seconds']} s, "
                f"{results[years]['size_bytes'] / 2**30:.2f} GiB")  # fmt: skip
            if args.json:
                args.json.write_text(json.dumps({"label": args.label, "results": results}, indent=2, default=str))
    finally:
        if sim is not None:
            sim.stop()
        if not args.keep:
            for name in names.values():
                drop_database(name)
    print()
    for measured in results.values():
        meta = measured["meta"]
        print(f"- {measured['database']}: {meta.get('rows', 0):,} bars, {meta.get('active')} active of "
              f"{meta.get('instruments')} instruments, {measured['size_bytes'] / 2**30:.2f} GiB, built in "
              f"{meta.get('build_seconds')} s (generate {meta.get('generate_seconds')} s, COPY "
              f"{meta.get('copy_seconds')} s, vacuum {meta.get('vacuum_seconds')} s); schema {measured['revision']} "
              f"(migration on open {measured['migrate_seconds']} s); daily_prices indexes: "
              f"{', '.join(measured['price_indexes'])}")  # fmt: skip
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"label": args.label, "results": results}, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Fetch CoinGecko's daily dollar prices of many coins and write them in batches: the engine behind
``crypto_reference_prices``.

No Dagster here. Each coin's whole range is one ``market_chart/range`` call, so a one-year backfill costs one call
per coin, paced by the session layer's budget for CoinGecko (50 calls a minute). Two fetch threads are enough at
that pace. A coin that fails never fails the others: it is recorded, and its days stay missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from lumia_assets.engine.batches import Instrument, Tally, fetched_batches
from lumia_assets.frames import REFERENCE_PRICE_COLUMNS
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.warehouse.references import upsert_reference_prices

WORKERS = 2
BATCH_SIZE = 50  # coins per write transaction: a minute of CoinGecko's budget

# (coin_id, first, last) -> REFERENCE_PRICE_COLUMNS rows
DayCloses = Callable[[str, date, date], pd.DataFrame]


@dataclass
class ReferenceReport(Tally):
    """What a reference price collection did, for the materialization metadata."""

    days: list[date] = field(default_factory=list)
    rows_written: int = 0


def _as_history(day_closes: DayCloses) -> Callable[[Instrument, date, date], SymbolHistory]:
    """``day_closes`` as the batches' fetch: the instrument's symbol is the coin id."""

    def fetch(instrument: Instrument, first: date, last: date) -> SymbolHistory:
        return SymbolHistory(day_closes(instrument.symbol, first, last), pd.DataFrame())

    return fetch


def collect_reference_prices(
    engine: Engine,
    coin_ids: Sequence[str],
    days: Sequence[date],
    day_closes: DayCloses,
    *,
    workers: int = WORKERS,
    batch_size: int = BATCH_SIZE,
    log: logging.Logger | None = None,
) -> ReferenceReport:
    """Fetch and write each coin's reference price on ``days`` (the run's closed UTC days)."""
    report = ReferenceReport(days=sorted(days), expected=len(coin_ids))
    if not report.days or not coin_ids:
        return report
    instruments = [Instrument(coin_id, "crypto", coin_id) for coin_id in coin_ids]
    fetch = _as_history(day_closes)
    with closing(fetched_batches(fetch, instruments, report.days[0], report.days[-1], workers, batch_size)) as batches:
        for outcomes in batches:
            rows = report.answered_bars(outcomes, REFERENCE_PRICE_COLUMNS)
            report.count_sources(rows, key="coin_id")
            report.rows_written += upsert_reference_prices(engine, rows)
            report.batches += 1
            if log:
                log.info(f"batch {report.batches}: {len(outcomes)} coins, {report.rows_written} reference prices "
                         f"written so far")  # fmt: skip
    return report

"""Fetch a range of hours of candles for many crypto pairs and write them in batches: the engine behind
``crypto_hourly_prices``.

No Dagster here. Each pair's whole range is one fetch (a page per 1,000 Binance candles), the candle rules run
over each batch, and each batch is written in one transaction, so a killed run keeps whole batches. A pair that
fails, or that no venue has candles for, never fails the others: it is recorded, and its hours stay missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Engine

from lumia_assets.engine.batches import (
    DEFAULT_WORKERS,
    Fetch,
    Instrument,
    Outcome,
    Tally,
    concat_frames,
    fetched_batches,
)
from lumia_assets.frames import CANDLE_COLUMNS
from lumia_assets.sources.bars import REJECTED_CANDLE_COLUMNS, clean_candles
from lumia_assets.warehouse.store import upsert_candles

DEFAULT_BATCH_SIZE = 200
MAX_BATCH_CANDLES = 50_000  # a long range shrinks the batch so that a batch (and its memory) stays about this size


@dataclass
class CandleReport(Tally):
    """What a candle collection did, for the materialization metadata."""

    hours: list[datetime] = field(default_factory=list)
    rows_written: int = 0
    rejected: list[pd.DataFrame] = field(default_factory=list)

    @property
    def rejected_rows(self) -> pd.DataFrame:
        return concat_frames(self.rejected, REJECTED_CANDLE_COLUMNS)


def _storable(outcomes: Sequence[Outcome], report: CandleReport, last_closed: datetime) -> pd.DataFrame:
    """The batch's candles fit to store; the outcomes without any and the rejected candles are recorded in
    ``report``."""
    candles = report.answered_bars(outcomes, CANDLE_COLUMNS)
    if candles.empty:
        return candles
    clean = clean_candles(candles, report.hours, last_closed)
    if not clean.rejected.empty:
        report.rejected.append(clean.rejected)
    report.count_sources(clean.bars)
    return clean.bars


def collect_candles(
    engine: Engine,
    instruments: Sequence[Instrument],
    hours: Sequence[datetime],
    fetch: Fetch,
    *,
    last_closed: datetime,
    workers: int = DEFAULT_WORKERS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batch_candles: int = MAX_BATCH_CANDLES,
    log: logging.Logger | None = None,
) -> CandleReport:
    """Fetch the candles opening at ``hours`` (tz-aware UTC, on the hour) for every instrument and write them.

    Only candles that have closed, opening at ``last_closed`` or before, are stored. A batch holds at most
    ``batch_size`` pairs, fewer over a long range (about ``max_batch_candles`` candles), and is written in one
    transaction while the next batch is fetched.
    """
    report = CandleReport(hours=sorted(hours), expected=len(instruments))
    if not report.hours or not instruments:
        return report
    first, last = report.hours[0], report.hours[-1]
    batch_size = max(1, min(batch_size, max_batch_candles // len(report.hours)))
    with closing(fetched_batches(fetch, instruments, first, last, workers, batch_size)) as batches:
        for outcomes in batches:
            report.rows_written += upsert_candles(engine, _storable(outcomes, report, last_closed))
            report.batches += 1
            if log:
                log.info(f"batch {report.batches}: {len(outcomes)} pairs, {report.rows_written} candles written so "
                         f"far ({len(report.covered)}/{report.expected} pairs with candles)")  # fmt: skip
    return report

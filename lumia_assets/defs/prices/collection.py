"""Fetch a range of sessions for many symbols and write them in batches: the engine behind both price assets.

No Dagster here: the assets decide what to collect and report it; this module fetches concurrently, applies the
bar rules, and writes each batch of symbols in one transaction. A symbol that fails, or that the upstream has no
data for, never fails the others: it is recorded and left as a gap for gap recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice

import pandas as pd
from sqlalchemy.engine import Engine

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import REJECTED_COLUMNS, SymbolHistory, clean_daily_bars
from lumia_assets.sources.errors import NoDataError, RangeNotServedError, SourceError
from lumia_assets.warehouse.store import (
    IDENTITY_COLUMNS,
    STATUS_COLUMNS,
    BatchCounts,
    PriceBatch,
    write_price_batch,
)

DEFAULT_BATCH_SIZE = 200
MAX_BATCH_BARS = 50_000  # a long range shrinks the batch so that a batch (and its memory) stays about this size
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class Instrument:
    """One symbol to collect, with how its source spells it and where to fetch it."""

    symbol: str
    asset_class: str
    source_symbol: str
    venues: tuple[str, ...] = ()  # crypto: the exchanges listing the pair, in LUMIA_CRYPTO_EXCHANGES order


Fetch = Callable[[Instrument, date, date], SymbolHistory]


@dataclass
class CollectionReport:
    """What a collection did, for the materialization metadata."""

    sessions: list[date]
    expected: int = 0
    rows_written: int = 0
    actions_written: int = 0
    covered: set[str] = field(default_factory=set)
    no_data: dict[str, str] = field(default_factory=dict)  # symbol -> kind
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> error
    not_served: dict[str, str] = field(default_factory=dict)  # symbol -> why no source can serve the range
    sources: dict[str, int] = field(default_factory=dict)  # source -> symbols it served
    rejected: list[pd.DataFrame] = field(default_factory=list)
    batches: int = 0

    @property
    def rejected_rows(self) -> pd.DataFrame:
        return _frame(self.rejected, REJECTED_COLUMNS)

    @property
    def coverage(self) -> float:
        """Share of expected symbols with at least one bar written."""
        return len(self.covered) / self.expected if self.expected else 1.0

    @property
    def success_rate(self) -> float:
        """Share of symbols whose fetch got an answer (bars or a genuine "no data"), not an error.

        Symbols no configured source can serve for the range are reported apart, not counted as failures.
        """
        return 1 - len(self.failed) / self.expected if self.expected else 1.0


@dataclass(frozen=True)
class _Outcome:
    instrument: Instrument
    history: SymbolHistory | None = None
    no_data: NoDataError | None = None
    error: Exception | None = None


def _fetch_one(fetch: Fetch, instrument: Instrument, start: date, end: date) -> _Outcome:
    try:
        return _Outcome(instrument, history=fetch(instrument, start, end))
    except NoDataError as exc:
        return _Outcome(instrument, no_data=exc)
    except SourceError as exc:
        return _Outcome(instrument, error=exc)


def _status_row(outcome: _Outcome, checked_at: datetime) -> dict[str, object]:
    instrument = outcome.instrument
    if outcome.history is not None:
        status, detail = "ok", None
    elif outcome.no_data is not None:
        status = "no_data" if outcome.no_data.kind == "no_bars" else outcome.no_data.kind
        detail = outcome.no_data.detail
    else:
        status, detail = "error", f"{type(outcome.error).__name__}: {outcome.error}"
    return {"symbol": instrument.symbol, "asset_class": instrument.asset_class, "status": status,
            "detail": detail, "checked_at": checked_at}  # fmt: skip


def _frame(parts: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True)[list(columns)] if parts else pd.DataFrame(columns=list(columns))


def _batch(outcomes: Sequence[_Outcome], report: CollectionReport, last_closed: date) -> PriceBatch:
    """Apply the bar rules to a batch of outcomes and record them in ``report``.

    The rules run once over the whole batch's bars: per-symbol pandas calls would cost more than the fetch.
    """
    checked_at = datetime.now(UTC)
    histories: list[SymbolHistory] = []
    identities = []
    for outcome in outcomes:
        symbol, told = outcome.instrument.symbol, None
        if outcome.history is not None:
            histories.append(outcome.history)
            told = outcome.history
        elif outcome.no_data is not None:
            report.no_data[symbol] = outcome.no_data.kind
            told = outcome.no_data
        elif isinstance(outcome.error, RangeNotServedError):
            report.not_served[symbol] = str(outcome.error)
        else:
            report.failed[symbol] = f"{type(outcome.error).__name__}: {outcome.error}"
        if told is not None and (told.listed_on or told.name):
            identities.append((symbol, outcome.instrument.asset_class, told.listed_on, told.name))
    clean = clean_daily_bars(_frame([h.bars for h in histories], PRICE_COLUMNS), report.sessions, last_closed)
    if not clean.rejected.empty:
        report.rejected.append(clean.rejected)
    sources = clean.bars.groupby("symbol", sort=False)["source"].first()
    report.covered.update(sources.index)
    for source, symbols in sources.value_counts().items():
        report.sources[str(source)] = report.sources.get(str(source), 0) + int(symbols)
    actions = _frame([h.actions for h in histories], CORPORATE_ACTION_COLUMNS)
    return PriceBatch(
        bars=clean.bars,
        actions=actions[actions["date"].isin(report.sessions)].reset_index(drop=True),
        statuses=pd.DataFrame([_status_row(o, checked_at) for o in outcomes], columns=list(STATUS_COLUMNS)),
        identities=pd.DataFrame(identities, columns=list(IDENTITY_COLUMNS)),
    )


def _chunks(items: Sequence[Instrument], size: int) -> Iterator[list[Instrument]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _fetched_batches(
    fetch: Fetch, instruments: Sequence[Instrument], start: date, end: date, workers: int, batch_size: int
) -> Generator[list[_Outcome], None, None]:
    """Each batch's outcomes, in order; the next batch is already being fetched, so the pool never idles between."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lumia-fetch") as pool:

        def submit(chunk: list[Instrument]) -> list[Future[_Outcome]]:
            return [pool.submit(_fetch_one, fetch, instrument, start, end) for instrument in chunk]

        chunks = _chunks(instruments, batch_size)
        fetching = submit(next(chunks, []))
        try:
            while fetching:
                upcoming = submit(next(chunks, []))
                yield [future.result() for future in fetching]
                fetching = upcoming
        finally:
            pool.shutdown(cancel_futures=True)  # a run that stops early stops fetching what it will not write


def _count_written(report: CollectionReport, counts: BatchCounts, log: logging.Logger | None) -> None:
    report.rows_written += counts.bars
    report.actions_written += counts.actions
    report.batches += 1
    if log:
        log.info(
            f"batch {report.batches}: {counts.statuses} symbols, {counts.bars} bars written "
            f"({len(report.covered)}/{report.expected} symbols fetched with bars so far)"
        )


def collect_prices(
    engine: Engine,
    instruments: Sequence[Instrument],
    sessions: Sequence[date],
    fetch: Fetch,
    *,
    last_closed: date,
    workers: int = DEFAULT_WORKERS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batch_bars: int = MAX_BATCH_BARS,
    log: logging.Logger | None = None,
) -> CollectionReport:
    """Fetch ``sessions`` (sorted, closed) for every instrument, each symbol's whole range at once; write per batch.

    Each batch of at most ``batch_size`` symbols is written in one transaction, so a killed run leaves whole
    batches; over a long range a batch holds fewer symbols, about ``max_batch_bars`` bars, which bounds the run's
    memory. The fetch pool runs a batch ahead, so it keeps fetching while a batch is checked and written.
    """
    report = CollectionReport(sessions=sorted(sessions), expected=len(instruments))
    if not report.sessions or not instruments:
        return report
    start, end = report.sessions[0], report.sessions[-1]
    batch_size = max(1, min(batch_size, max_batch_bars // len(report.sessions)))
    # Batches are fetched while the previous one is written: at most one write in flight, in order.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="lumia-write") as writer,
        closing(_fetched_batches(fetch, instruments, start, end, workers, batch_size)) as batches,
    ):
        writing: Future[BatchCounts] | None = None
        for outcomes in batches:
            batch = _batch(outcomes, report, last_closed)
            if writing is not None:
                _count_written(report, writing.result(), log)
            writing = writer.submit(write_price_batch, engine, batch)
        if writing is not None:
            _count_written(report, writing.result(), log)
    return report

"""Fetch a range of sessions for many symbols and write them in batches: the engine behind both price assets.

No Dagster here: the assets decide what to collect and report it; this module fetches concurrently, applies the
bar rules, and writes each batch of symbols in one transaction. A symbol that fails, or that the upstream has no
data for, never fails the others: it is recorded and left as a gap for gap recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from lumia_assets import clock
from lumia_assets.engine.batches import (
    DEFAULT_WORKERS,
    Fetch,
    Instrument,
    Outcome,
    Tally,
    concat_frames,
    fetch_one,
    fetched_batches,
)
from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import REJECTED_COLUMNS, SymbolHistory, clean_actions, clean_daily_bars
from lumia_assets.sources.errors import NoDataError
from lumia_assets.warehouse.restatements import RESTATEMENT_COLUMNS, find_restatements
from lumia_assets.warehouse.store import (
    IDENTITY_COLUMNS,
    STATUS_COLUMNS,
    BatchCounts,
    PriceBatch,
    keys_of,
    record_symbol_status,
    write_price_batch,
)

DEFAULT_BATCH_SIZE = 200
MAX_BATCH_BARS = 50_000  # a long range shrinks the batch so that a batch (and its memory) stays about this size
MIN_OUTAGE_SYMBOLS = 10  # fewer "no data" answers are facts whatever their share (a repair of a few symbols)


Key = tuple[str, str]


@dataclass
class CollectionReport(Tally):
    """What a collection did, for the materialization metadata."""

    sessions: list[date] = field(default_factory=list)
    rows_written: int = 0
    actions_written: int = 0
    rejected: list[pd.DataFrame] = field(default_factory=list)
    restated: list[pd.DataFrame] = field(default_factory=list)  # what the upstream changed (RESTATEMENT_COLUMNS)
    refetches: int = 0  # whole-history requests made to rewrite restated symbols
    watched: int = 0  # expected symbols with bars recently: their "no data" answers are suspect
    suspect: dict[str, dict[str, object]] = field(default_factory=dict)  # symbol -> its held-back status row
    outage: bool = False  # the suspect answers were too many to be facts

    @property
    def rejected_rows(self) -> pd.DataFrame:
        return concat_frames(self.rejected, REJECTED_COLUMNS)

    @property
    def restatements(self) -> pd.DataFrame:
        return concat_frames(self.restated, RESTATEMENT_COLUMNS)

    @property
    def suspect_share(self) -> float:
        """Share of the recently priced symbols that answered "no data" or "unknown"."""
        return len(self.suspect) / self.watched if self.watched else 0.0


def _status_row(outcome: Outcome, checked_at: datetime) -> dict[str, object]:
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


@dataclass(frozen=True)
class _Answers:
    """The closed bars and actions the answers of a batch held, asked for or not: compared with the record."""

    bars: pd.DataFrame
    actions: pd.DataFrame


def _storable(histories: Sequence[SymbolHistory], report: CollectionReport, sessions: Sequence[date],
              last_closed: date) -> tuple[pd.DataFrame, pd.DataFrame, _Answers]:  # fmt: skip
    """The bars of ``sessions`` and the actions fit to store, and everything the answers said up to
    ``last_closed``; rejected rows are recorded in ``report``.

    The rules run once over the whole batch's bars: per-symbol pandas calls would cost more than the fetch.
    Actions are stored with the bars of their date.
    """
    answered = concat_frames([h.bars for h in histories], PRICE_COLUMNS)
    asked = answered["date"].isin(set(sessions))
    clean = clean_daily_bars(answered[asked], sessions, last_closed)
    actions = clean_actions(concat_frames([h.actions for h in histories], CORPORATE_ACTION_COLUMNS),
                            answered[["symbol", "asset_class", "date"]])  # fmt: skip
    for rejected in (clean.rejected, actions.rejected):
        if not rejected.empty:
            report.rejected.append(rejected)
    kept, days = actions.actions, actions.actions["date"]
    answers = _Answers(answered[answered["date"] <= last_closed], kept[days <= last_closed])
    return clean.bars, kept[days.isin(set(clean.bars["date"]))].reset_index(drop=True), answers


def _in_range(outcome: Outcome, sessions: Sequence[date]) -> Outcome:
    """An answer without a bar in ``sessions`` (it had only the days around them) is a "no data" answer."""
    history = outcome.history
    if history is None or history.bars["date"].isin(set(sessions)).any():
        return outcome
    detail = f"no bars from {sessions[0]} to {sessions[-1]}"
    no_data = NoDataError(outcome.instrument.symbol, "no_bars", detail, history.listed_on, history.name)
    return Outcome(outcome.instrument, no_data=no_data)


def _statuses(
    outcomes: Sequence[Outcome], report: CollectionReport, watched: Collection[Key], checked_at: datetime
) -> pd.DataFrame:
    """The status rows to write now; a recently priced symbol's "no data" is held back in ``report.suspect``."""
    rows = []
    for outcome in outcomes:
        row = _status_row(outcome, checked_at)
        if outcome.no_data is not None and (row["symbol"], row["asset_class"]) in watched:
            report.suspect[str(row["symbol"])] = row
        else:
            rows.append(row)
    return pd.DataFrame(rows, columns=list(STATUS_COLUMNS))


def _settle_suspects(engine: Engine, report: CollectionReport, max_share: float, log: logging.Logger | None) -> None:
    """An outage is not the truth: when more than ``max_share`` of the recently priced symbols (and at least
    ``MIN_OUTAGE_SYMBOLS``) answered "no data", those answers are failures (gaps, no status changes); otherwise
    they are facts, recorded now."""
    if not report.suspect:
        return
    if report.suspect_share > max_share and len(report.suspect) >= MIN_OUTAGE_SYMBOLS:
        report.outage = True
        for symbol, row in report.suspect.items():
            report.no_data.pop(symbol, None)
            report.failed[symbol] = f"outage: answered {row['status']} although it had bars recently"
        if log:
            log.error(f"{report.suspect_share:.1%} of the {report.watched} recently priced symbols answered no data "
                      f"(more than {max_share:.0%}): an upstream outage, not facts; no status changed")  # fmt: skip
        return
    record_symbol_status(engine, pd.DataFrame(list(report.suspect.values()), columns=list(STATUS_COLUMNS)))


def _batch(
    outcomes: Sequence[Outcome], report: CollectionReport, last_closed: date, watched: Collection[Key] = ()
) -> tuple[PriceBatch, _Answers]:
    """Apply the bar and action rules to a batch of outcomes and record them in ``report``."""
    outcomes = [_in_range(outcome, report.sessions) for outcome in outcomes]
    checked_at = clock.utc_now()
    histories: list[SymbolHistory] = []
    identities = []
    for outcome in outcomes:
        symbol, told = outcome.instrument.symbol, outcome.history or outcome.no_data
        if outcome.history is not None:
            histories.append(outcome.history)
        else:
            report.record_unanswered(outcome)
        if told is not None and (told.listed_on or told.name):
            identities.append((symbol, outcome.instrument.asset_class, told.listed_on, told.name))
    bars, actions, answers = _storable(histories, report, report.sessions, last_closed)
    report.count_sources(bars)
    batch = PriceBatch(
        bars=bars,
        actions=actions,
        statuses=_statuses(outcomes, report, watched, checked_at),
        identities=pd.DataFrame(identities, columns=list(IDENTITY_COLUMNS)),
    )
    return batch, answers


@dataclass(frozen=True)
class _Rewrite:
    """How restated symbols are re-fetched whole: the fetch, the instruments, and every session of the history."""

    fetch: Fetch
    instruments: dict[str, Instrument]
    sessions: Sequence[date]
    last_closed: date


def _without(frame: pd.DataFrame, symbols: set[str]) -> pd.DataFrame:
    return frame[~frame["symbol"].isin(symbols)]


def _restated(engine: Engine, batch: PriceBatch, answers: _Answers, report: CollectionReport,
              rewrite: _Rewrite | None, log: logging.Logger | None) -> PriceBatch:  # fmt: skip
    """``batch`` with every symbol the upstream restated re-fetched whole (one request each) and rewritten.

    Without ``rewrite`` (or when the re-fetch fails) the answer's own rows are written and the restatement is
    still recorded: never silently.
    """
    found = find_restatements(engine, answers.bars, answers.actions)
    if found.empty:
        return batch
    sources = answers.bars.groupby("symbol")["source"].first()
    report.restated.append(found)
    symbols = set(found["symbol"])
    if log:
        log.warning(f"the upstream restated {len(found)} values of {sorted(symbols)}; re-fetching their history")
    histories, rewritten = [], set()
    for symbol in sorted(symbols) if rewrite else []:
        instrument = rewrite.instruments[symbol]
        report.refetches += 1
        outcome = fetch_one(rewrite.fetch, instrument, rewrite.sessions[0], rewrite.last_closed)
        if outcome.history is not None:
            histories.append(outcome.history)
            rewritten.add((symbol, instrument.asset_class))
    recorded = replace(batch, restated=found.assign(source=found["symbol"].map(sources)))
    if not histories:
        return recorded
    bars, actions, _ = _storable(histories, report, rewrite.sessions, rewrite.last_closed)
    replaced = {symbol for symbol, _ in rewritten}
    return replace(
        recorded,
        bars=concat_frames([_without(batch.bars, replaced), bars], PRICE_COLUMNS),
        actions=concat_frames([_without(batch.actions, replaced), actions], CORPORATE_ACTION_COLUMNS),
        rewritten=frozenset(rewritten),
    )


def _count_written(report: CollectionReport, counts: BatchCounts, log: logging.Logger | None) -> None:
    report.rows_written += counts.bars
    report.actions_written += counts.actions
    report.batches += 1
    if log:
        log.info(
            f"batch {report.batches}: {counts.statuses} symbols, {counts.bars} bars written "
            f"({len(report.covered)}/{report.expected} symbols fetched with bars so far)"
        )


def _fetch_start(sessions: Sequence[date], last_closed: date, context_days: int) -> date:
    """The first day to ask for: the first session, or ``context_days`` before the last closed one if earlier."""
    return min(sessions[0], last_closed - timedelta(days=context_days)) if context_days else sessions[0]


def collect_prices(
    engine: Engine,
    instruments: Sequence[Instrument],
    sessions: Sequence[date],
    fetch: Fetch,
    *,
    last_closed: date,
    context_days: int = 0,
    history: Sequence[date] = (),
    replace_actions: bool = False,
    watched: Collection[Key] = (),
    max_suspect_share: float = 1.0,
    workers: int = DEFAULT_WORKERS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batch_bars: int = MAX_BATCH_BARS,
    log: logging.Logger | None = None,
) -> CollectionReport:
    """Fetch ``sessions`` (sorted, closed) for every instrument, each symbol's whole range at once; write per batch.

    Each request also covers the ``context_days`` before ``last_closed``; what the answers say about dates already
    stored is compared with the record, and a symbol the upstream restated is re-fetched over ``history`` (every
    session of the full history) and rewritten, in the same batch. With ``replace_actions`` each answered symbol's
    stored actions are replaced by the answer's (a rebuild over its whole history). Each batch of at most
    ``batch_size`` symbols is written in one transaction, so a killed run leaves whole batches; over a long range a
    batch holds fewer symbols, about ``max_batch_bars`` bars, which bounds the run's memory. The fetch pool runs a
    batch ahead, so it keeps fetching while a batch is checked and written. "No data" answers of ``watched``
    symbols (priced recently) count as facts only while they are at most ``max_suspect_share`` of them.
    """
    report = CollectionReport(sessions=sorted(sessions), expected=len(instruments))
    if not report.sessions or not instruments:
        return report
    watched = set(watched) & {(instrument.symbol, instrument.asset_class) for instrument in instruments}
    report.watched = len(watched)
    start, end = _fetch_start(report.sessions, last_closed, context_days), report.sessions[-1]
    answer_days = (last_closed - start).days + 1 if context_days else len(report.sessions)
    batch_size = max(1, min(batch_size, max_batch_bars // max(answer_days, len(report.sessions))))
    by_symbol = {instrument.symbol: instrument for instrument in instruments}
    rewrite = _Rewrite(fetch, by_symbol, sorted(history), last_closed) if history else None
    # Batches are fetched while the previous one is written: at most one write in flight, in order.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="lumia-write") as writer,
        closing(fetched_batches(fetch, instruments, start, end, workers, batch_size)) as batches,
    ):
        writing: Future[BatchCounts] | None = None
        for outcomes in batches:
            batch, answers = _batch(outcomes, report, last_closed, watched)
            batch = _restated(engine, batch, answers, report, rewrite, log)
            if replace_actions:
                batch = replace(batch, rewritten=batch.rewritten | keys_of(batch.bars))
            if writing is not None:
                _count_written(report, writing.result(), log)
            writing = writer.submit(write_price_batch, engine, batch)
        if writing is not None:
            _count_written(report, writing.result(), log)
    _settle_suspects(engine, report, max_suspect_share, log)
    return report

"""Fetching many instruments concurrently, a batch at a time: what both collection engines (daily prices and
candles) share.

A fetch that fails, or that the upstream has no data for, becomes an :class:`Outcome` instead of an exception, so
one symbol never fails the others.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from itertools import islice

import pandas as pd

from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.errors import NoDataError, RangeNotServedError, SourceError

DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class Instrument:
    """One symbol to collect, with how its source spells it and where to fetch it."""

    symbol: str
    asset_class: str
    source_symbol: str
    venues: tuple[str, ...] = ()  # crypto: the exchanges listing the pair, in LUMIA_CRYPTO_EXCHANGES order


# The range's first and last period: sessions (dates) for daily bars, open times (datetimes) for candles.
Fetch = Callable[[Instrument, date, date], SymbolHistory]


@dataclass(frozen=True)
class Outcome:
    """What fetching one instrument gave: its history, a genuine "no data" answer, or an error."""

    instrument: Instrument
    history: SymbolHistory | None = None
    no_data: NoDataError | None = None
    error: Exception | None = None


@dataclass
class Tally:
    """Per symbol, what a collection's fetches gave: bars, a genuine "no data", a failure, or a range no configured
    venue serves; and which venue served how many symbols."""

    expected: int = 0
    covered: set[str] = field(default_factory=set)
    no_data: dict[str, str] = field(default_factory=dict)  # symbol -> kind
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> error
    not_served: dict[str, str] = field(default_factory=dict)  # symbol -> why no source can serve the range
    sources: dict[str, int] = field(default_factory=dict)  # source -> symbols it served
    batches: int = 0

    @property
    def coverage(self) -> float:
        """Share of expected symbols with at least one bar written; nothing expected is no coverage."""
        return len(self.covered) / self.expected if self.expected else 0.0

    @property
    def success_rate(self) -> float:
        """Share of symbols whose fetch got an answer (bars or a genuine "no data"), not an error.

        Symbols no configured source can serve for the range are reported apart, not counted as failures.
        """
        return 1 - len(self.failed) / self.expected if self.expected else 1.0

    def record_unanswered(self, outcome: Outcome) -> None:
        """Record an outcome without bars: a genuine "no data", a range no venue serves, or a failure."""
        symbol = outcome.instrument.symbol
        if outcome.no_data is not None:
            self.no_data[symbol] = outcome.no_data.kind
        elif isinstance(outcome.error, RangeNotServedError):
            self.not_served[symbol] = str(outcome.error)
        else:
            self.failed[symbol] = f"{type(outcome.error).__name__}: {outcome.error}"

    def answered_bars(self, outcomes: Sequence[Outcome], columns: Sequence[str]) -> pd.DataFrame:
        """The bars (exactly ``columns``) of the outcomes that have them; the others are recorded as unanswered."""
        for outcome in outcomes:
            if outcome.history is None:
                self.record_unanswered(outcome)
        return concat_frames([o.history.bars for o in outcomes if o.history is not None], columns)

    def count_sources(self, rows: pd.DataFrame, key: str = "symbol") -> None:
        """Count the instruments of ``rows`` (about to be written; ``key`` names them) as covered, by the source
        that served them."""
        sources = rows.groupby(key, sort=False)["source"].first()
        self.covered.update(sources.index)
        for source, symbols in sources.value_counts().items():
            self.sources[str(source)] = self.sources.get(str(source), 0) + int(symbols)


def concat_frames(parts: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """The non-empty ``parts`` as one frame of exactly ``columns`` (an empty one when there are none)."""
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True)[list(columns)] if parts else pd.DataFrame(columns=list(columns))


def fetch_one(fetch: Fetch, instrument: Instrument, start: date, end: date) -> Outcome:
    """``fetch(instrument, start, end)`` as an :class:`Outcome`."""
    try:
        return Outcome(instrument, history=fetch(instrument, start, end))
    except NoDataError as exc:
        return Outcome(instrument, no_data=exc)
    except SourceError as exc:
        return Outcome(instrument, error=exc)


def _chunks(items: Sequence[Instrument], size: int) -> Iterator[list[Instrument]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def fetched_batches(
    fetch: Fetch, instruments: Sequence[Instrument], start: date, end: date, workers: int, batch_size: int
) -> Generator[list[Outcome], None, None]:
    """Each batch's outcomes, in order; the next batch is already being fetched, so the pool never idles between."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lumia-fetch") as pool:

        def submit(chunk: list[Instrument]) -> list[Future[Outcome]]:
            return [pool.submit(fetch_one, fetch, instrument, start, end) for instrument in chunk]

        chunks = _chunks(instruments, batch_size)
        fetching = submit(next(chunks, []))
        try:
            while fetching:
                upcoming = submit(next(chunks, []))
                yield [future.result() for future in fetching]
                fetching = upcoming
        finally:
            pool.shutdown(cancel_futures=True)  # a run that stops early stops fetching what it will not write

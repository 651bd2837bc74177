"""Fetching many instruments concurrently, a batch at a time: what both collection engines (daily prices and
candles) share.

A fetch that fails, or that the upstream has no data for, becomes an :class:`Outcome` instead of an exception, so
one symbol never fails the others.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import islice

from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.errors import NoDataError, SourceError


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

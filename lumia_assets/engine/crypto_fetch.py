"""Crypto through ccxt: the fetch the price asset hands to ``collect_prices`` (failing over between venues), and
the secondary exchange's closes the cross-exchange check compares with.

Imported by the crypto steps themselves, so ccxt loads in crypto runs only.
"""

import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import ccxt
import pandas as pd
import requests

from lumia_assets import clock
from lumia_assets.engine.batches import Instrument
from lumia_assets.engine.feeds import venues
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.candles import (
    HISTORY_LIMITS,
    fetch_daily_candles,
    fetch_hourly_candles,
    serves_hours,
    serves_range,
)
from lumia_assets.sources.errors import PermanentUpstreamError, RangeNotServedError, SourceError, TransientUpstreamError
from lumia_assets.sources.exchanges import load_markets, make_exchange
from lumia_assets.sources.http import HttpClient


class CryptoFetch:
    """Fetch crypto candles, failing over between venues: one ccxt client per venue and thread, markets loaded once."""

    def __init__(self, client: HttpClient) -> None:
        self._client = client
        self._markets: dict[str, ccxt.Exchange] = {}
        self._refused: dict[str, PermanentUpstreamError] = {}  # venues that refused this run: not asked again
        self._lock = threading.Lock()
        self._local = threading.local()

    def _loaded(self, venue: str) -> ccxt.Exchange:
        with self._lock:
            if venue in self._refused:
                raise self._refused[venue]
            if venue not in self._markets:
                exchange = make_exchange(venue, self._client.requests_session())
                try:
                    load_markets(exchange)
                except PermanentUpstreamError as exc:
                    self._refused[venue] = exc
                    raise
                self._markets[venue] = exchange
            return self._markets[venue]

    def exchange(self, venue: str) -> ccxt.Exchange:
        """This thread's client for ``venue``, sharing the markets loaded once for the run (read-only: one copy of
        about 2,000 markets per venue, not one per thread)."""
        exchanges: dict[str, ccxt.Exchange] = self._local.__dict__.setdefault("exchanges", {})
        if venue not in exchanges:
            loaded = self._loaded(venue)
            exchange = make_exchange(venue, self._client.requests_session())
            exchange.set_markets_from_exchange(loaded)  # shares the run's markets (set_markets copies each)
            exchanges[venue] = exchange
        return exchanges[venue]

    def __call__(self, instrument: Instrument, start: date, end: date) -> SymbolHistory:
        """Daily candles from the first venue listing the pair that can serve the range and answers.

        A genuine "no data" answer is final; a failing or refusing venue hands over to the next one. The rows
        record the venue they came from in ``source``.
        """
        today = clock.utc_now().date()
        return self._first_answer(
            instrument, f"{start}..{end}", "daily",
            lambda venue: serves_range(venue, start, today),
            lambda exchange: fetch_daily_candles(exchange, instrument.source_symbol, start, end),
        )  # fmt: skip

    def hourly(self, instrument: Instrument, start: datetime, end: datetime) -> SymbolHistory:
        """Hourly candles (``CANDLE_COLUMNS`` rows) opening from ``start`` to ``end``, failing over like daily ones."""
        now = clock.utc_now()
        return self._first_answer(
            instrument, f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC", "hourly",
            lambda venue: serves_hours(venue, start, now),
            lambda exchange: fetch_hourly_candles(exchange, instrument.source_symbol, start, end),
        )  # fmt: skip

    def _first_answer(self, instrument: Instrument, span: str, kind: str, serves: Callable[[str], bool],
                      fetch: Callable[[ccxt.Exchange], SymbolHistory]) -> SymbolHistory:  # fmt: skip
        problems: list[str] = []
        for venue in instrument.venues:
            if not serves(venue):
                problems.append(f"{venue} serves only its newest {HISTORY_LIMITS[venue]} {kind} candles")
                continue
            try:
                return fetch(self.exchange(venue))
            except (TransientUpstreamError, PermanentUpstreamError) as exc:
                problems.append(f"{venue}: {exc}")
        summary = f"{instrument.symbol} {span}: " + "; ".join(problems)
        if all("serves only" in problem for problem in problems):
            raise RangeNotServedError(summary)
        raise TransientUpstreamError(summary)


def secondary_closes(
    primary: pd.DataFrame, pairs: pd.DataFrame, session: requests.Session, preference: Sequence[str]
) -> pd.DataFrame:
    """Closes of each sampled pair from the first configured exchange listing it other than its stored source."""
    first, last = primary["date"].min(), primary["date"].max()
    today = clock.utc_now().date()
    exchanges: dict[str, Any] = {}
    frames = []
    for symbol, source in primary.groupby("symbol")["source"].first().items():
        listed_on = pairs.loc[pairs["symbol"] == symbol, "exchanges"].iloc[0]
        others = [v for v in venues(listed_on, preference) if v != source and serves_range(v, first, today)]
        if not others:
            continue
        exchange = exchanges.setdefault(others[0], make_exchange(others[0], session))
        try:
            frames.append(fetch_daily_candles(exchange, str(symbol), first, last).bars)
        except SourceError:
            continue  # the secondary is unreachable or has no data: nothing to compare, not a disagreement
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["symbol", "date", "close"])

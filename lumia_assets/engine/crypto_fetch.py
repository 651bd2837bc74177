"""Crypto through ccxt: the fetch the price asset hands to ``collect_prices`` (failing over between venues, and to
Yahoo's dollar price as the opt-in last resort), and the secondary exchange's closes the cross-exchange check
compares with.

Imported by the crypto steps themselves, so ccxt loads in crypto runs only (yfinance only if Yahoo is needed).
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import ccxt
import pandas as pd
import requests

from lumia_assets import clock
from lumia_assets.calendars import last_closed_crypto_day
from lumia_assets.engine.batches import Fetch, Instrument
from lumia_assets.engine.feeds import venues
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.candles import (
    HISTORY_LIMITS,
    fetch_daily_candles,
    fetch_hourly_candles,
    serves_hours,
    serves_range,
)
from lumia_assets.sources.errors import (
    NoDataError,
    PermanentUpstreamError,
    RangeNotServedError,
    SourceError,
    TransientUpstreamError,
)
from lumia_assets.sources.exchanges import load_markets, make_exchange
from lumia_assets.sources.http import HttpClient

YAHOO_QUOTE = "USD"  # Yahoo's crypto charts (BTC-USD) are dollar prices: no stand-in for USDT, USDC or EUR pairs


def yahoo_chart(pair: str) -> str | None:
    """Yahoo's chart of a pair quoted in US dollars (``BTC/USD`` -> ``BTC-USD``); None for any other quote."""
    base, _, quote = pair.partition("/")
    return f"{base}-{quote}" if base and quote == YAHOO_QUOTE else None


class CryptoFetch:
    """Fetch crypto candles, failing over between venues: one ccxt client per venue and thread, markets loaded once.

    With ``fallbacks`` holding ``yahoo``, a dollar pair's daily candles come from Yahoo when every venue failed.
    """

    def __init__(self, client: HttpClient, fallbacks: Sequence[str] = ()) -> None:
        self._client = client
        self._fallbacks = tuple(fallbacks)
        self._yahoo: Fetch | None = None  # built on first use: yfinance loads only when the fallback is needed
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

        A genuine "no data" answer is final; a failing or refusing venue hands over to the next one. When every
        venue that can serve the range failed, a dollar pair comes from Yahoo if the fallback is on; a range no
        venue serves never does. The rows record where they came from in ``source``.
        """
        now = clock.utc_now()
        try:
            return self._first_answer(
                instrument, f"{start}..{end}", "daily",
                lambda venue: serves_range(venue, start, now.date()),
                lambda exchange: fetch_daily_candles(exchange, instrument.source_symbol, start, end),
            )  # fmt: skip
        except TransientUpstreamError as failed:
            chart = yahoo_chart(instrument.symbol) if "yahoo" in self._fallbacks else None
            if chart is None:
                raise
            on_yahoo = replace(instrument, source_symbol=chart)
            return self._from_yahoo(on_yahoo, start, min(end, last_closed_crypto_day(now)), failed)

    def _yahoo_fetch(self) -> Fetch:
        """The run's Yahoo fetch, built the first time a pair needs it."""
        with self._lock:
            if self._yahoo is None:
                from lumia_assets.engine.crypto_fallback import yahoo_crypto_fetch  # yfinance loads only here

                self._yahoo = yahoo_crypto_fetch(self._client)
            return self._yahoo

    def _from_yahoo(self, instrument: Instrument, start: date, end: date, failed: TransientUpstreamError
                    ) -> SymbolHistory:  # fmt: skip
        """The pair's candles from its Yahoo chart (``instrument.source_symbol``). Yahoo failing, or having no data,
        says nothing about the pair: it adds to the venues' failure. A malformed answer is an error of its own."""
        try:
            return self._yahoo_fetch()(instrument, start, end)
        except (NoDataError, TransientUpstreamError, PermanentUpstreamError) as exc:
            raise TransientUpstreamError(f"{failed}; yahoo: {exc}") from exc

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

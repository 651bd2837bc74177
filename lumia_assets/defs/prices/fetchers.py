"""The per-symbol fetch functions the price assets hand to ``collect_prices``: Yahoo for equities, ccxt for crypto."""

import threading
from datetime import date

import ccxt

from lumia_assets import clock
from lumia_assets.defs.prices.collection import Fetch, Instrument
from lumia_assets.settings import dagster_home
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.candles import HISTORY_LIMITS_DAYS, fetch_daily_candles, serves_range
from lumia_assets.sources.errors import PermanentUpstreamError, RangeNotServedError, TransientUpstreamError
from lumia_assets.sources.exchanges import load_markets, make_exchange
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.yahoo import configure_yfinance, fetch_yahoo_history


def yahoo_fetch(client: HttpClient) -> Fetch:
    """Fetch equities through yfinance on one browser-impersonating session shared by all threads."""
    configure_yfinance(dagster_home() / "cache" / "yfinance")
    session = client.yfinance_session()

    def fetch(instrument: Instrument, start: date, end: date) -> SymbolHistory:
        return fetch_yahoo_history(
            session, instrument.symbol, instrument.source_symbol, instrument.asset_class, start, end, client.timeout
        )

    return fetch


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
        """This thread's client for ``venue``, sharing the markets loaded once for the run."""
        exchanges: dict[str, ccxt.Exchange] = self._local.__dict__.setdefault("exchanges", {})
        if venue not in exchanges:
            loaded = self._loaded(venue)
            exchange = make_exchange(venue, self._client.requests_session())
            exchange.set_markets(loaded.markets, loaded.currencies)
            exchanges[venue] = exchange
        return exchanges[venue]

    def __call__(self, instrument: Instrument, start: date, end: date) -> SymbolHistory:
        """Candles from the first venue listing the pair that can serve the range and answers.

        A genuine "no data" answer is final; a failing or refusing venue hands over to the next one. The rows
        record the venue they came from in ``source``.
        """
        today = clock.utc_now().date()
        problems: list[str] = []
        for venue in instrument.venues:
            if not serves_range(venue, start, today):
                problems.append(f"{venue} serves only its newest {HISTORY_LIMITS_DAYS[venue]} daily candles")
                continue
            try:
                return fetch_daily_candles(self.exchange(venue), instrument.source_symbol, start, end)
            except (TransientUpstreamError, PermanentUpstreamError) as exc:
                problems.append(f"{venue}: {exc}")
        summary = f"{instrument.symbol} {start}..{end}: " + "; ".join(problems)
        if all("serves only" in problem for problem in problems):
            raise RangeNotServedError(summary)
        raise TransientUpstreamError(summary)

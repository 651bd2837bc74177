"""The opt-in last fallback of the daily crypto candles (``LUMIA_CRYPTO_FALLBACKS=yahoo``): Yahoo's aggregated dollar
price of a USD pair, through yfinance.

Imported by ``CryptoFetch`` only when a pair's every exchange has failed with the fallback on, so yfinance and
curl_cffi load only then.
"""

from datetime import date

from lumia_assets.engine.batches import Fetch, Instrument
from lumia_assets.engine.equity_fetch import yahoo_session
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.yahoo import fetch_yahoo_crypto


def yahoo_crypto_fetch(client: HttpClient) -> Fetch:
    """Fetch a pair's candles from its Yahoo chart (the instrument's ``source_symbol``, ``BTC-USD``)."""
    session = yahoo_session(client)

    def fetch(instrument: Instrument, start: date, end: date) -> SymbolHistory:
        return fetch_yahoo_crypto(session, instrument.symbol, instrument.source_symbol, start, end, client.timeout)

    return fetch

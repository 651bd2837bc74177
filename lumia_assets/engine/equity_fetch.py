"""The equity fetch function the price asset hands to ``collect_prices``: Yahoo through yfinance.

Imported by the equity step itself, so yfinance and curl_cffi load in equity runs only.
"""

from datetime import date

from lumia_assets.engine.batches import Fetch, Instrument
from lumia_assets.settings import dagster_home
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.curl_session import RoutedCurlSession
from lumia_assets.sources.http import HttpClient
from lumia_assets.sources.yahoo import configure_yfinance, fetch_yahoo_history


def yahoo_session(client: HttpClient) -> RoutedCurlSession:
    """yfinance configured for this process (caches under the Dagster home) and one browser-impersonating session
    for all threads."""
    configure_yfinance(dagster_home() / "cache" / "yfinance")
    return client.yfinance_session()


def yahoo_fetch(client: HttpClient) -> Fetch:
    """Fetch equities through yfinance on one session shared by all threads."""
    session = yahoo_session(client)

    def fetch(instrument: Instrument, start: date, end: date) -> SymbolHistory:
        return fetch_yahoo_history(
            session, instrument.symbol, instrument.source_symbol, instrument.asset_class, start, end, client.timeout
        )

    return fetch

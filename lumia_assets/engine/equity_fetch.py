"""The equity fetch function the price asset hands to ``collect_prices``: Yahoo through yfinance.

Imported by the equity step itself, so yfinance and curl_cffi load in equity runs only.
"""

from datetime import date

from lumia_assets.engine.batches import Fetch, Instrument
from lumia_assets.settings import dagster_home
from lumia_assets.sources.bars import SymbolHistory
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

"""Daily bars, splits, dividends and capital gains from Yahoo, through the real yfinance client.

One chart request per symbol per range: ``Ticker.history(start, end)`` with the exchange time zone preset (no
time-zone lookup), ``auto_adjust=False`` (raw OHLC next to ``Adj Close``) and no repair (never invent prices).
Errors are told apart: Yahoo's "not found" is :class:`NoDataError`, an empty range too, while rate limits and
network failures surface from the session layer as :class:`TransientUpstreamError`.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from pandas.errors import PandasDeprecationWarning
from yfinance.data import YfData
from yfinance.exceptions import YFException, YFPricesMissingError, YFRateLimitError, YFTzMissingError

from lumia_assets.calendars import EQUITY_TIMEZONE
from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.errors import MalformedResponseError, NoDataError, TransientUpstreamError

SOURCE = "yahoo"
HISTORY_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close",
                   "Volume": "volume"}  # fmt: skip
DELISTED_AFTER_DAYS = 30  # no trade for this long before the range's end: the symbol stopped trading
ACTION_COLUMNS = {"Stock Splits": "split", "Dividends": "dividend", "Capital Gains": "capital_gain"}


def configure_yfinance(cache_dir: Path) -> None:
    """Make yfinance raise instead of logging, keep its caches under ``cache_dir``, and drop memoized answers.

    yfinance memoizes past-range chart answers for the life of the process; a re-run must ask again. It also
    turns pandas' deprecation warnings about its own code back on, which would print one per symbol into the
    run's log (16,000 for a daily partition): those are for yfinance's authors, not for our users.
    """
    yf.config.debug.hide_exceptions = False
    warnings.filterwarnings("ignore", category=PandasDeprecationWarning, module=r"^yfinance\.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    yf.set_tz_cache_location(str(cache_dir))
    YfData.cache_get.cache_clear()


def history_to_rows(
    history: pd.DataFrame, symbol: str, asset_class: str, fetched_at: datetime, source: str = SOURCE
) -> SymbolHistory:
    """Turn a yfinance ``history(auto_adjust=False, actions=True)`` frame into warehouse rows.

    The index is the session's local timestamp (midnight in the exchange's zone), so ``.date`` is the session
    date itself: no shift through UTC.
    """
    missing = [column for column in HISTORY_COLUMNS if column not in history.columns]
    if missing:
        raise MalformedResponseError(f"{symbol}: Yahoo history lacks columns {missing}")
    days = pd.DatetimeIndex(history.index).date
    prices = {name: history[column].to_numpy(dtype="float64") for column, name in HISTORY_COLUMNS.items()}
    bars = pd.DataFrame(
        {"symbol": symbol, "asset_class": asset_class, "date": days, **prices, "source": source,
         "fetched_at": fetched_at},
        columns=list(PRICE_COLUMNS),
    )  # fmt: skip
    dates: list[date] = []
    kinds: list[str] = []
    values: list[float] = []
    for column, action in ACTION_COLUMNS.items():
        if column in history.columns:
            amounts = history[column].to_numpy(dtype="float64")
            happened = np.flatnonzero(np.nan_to_num(amounts))  # zero or NaN: no such action that day
            dates += list(days[happened])
            kinds += [action] * len(happened)
            values += list(amounts[happened])
    actions = pd.DataFrame(
        {"symbol": symbol, "asset_class": asset_class, "date": dates, "action": kinds,
         "value": np.array(values, dtype="float64"), "source": source, "fetched_at": fetched_at},
        columns=list(CORPORATE_ACTION_COLUMNS),
    )  # fmt: skip
    return SymbolHistory(bars=bars, actions=actions)


def _epoch_day(value: object) -> date | None:
    """A metadata time (epoch seconds, or the timestamp yfinance formats it into) as its New York date."""
    if isinstance(value, int | float):
        value = pd.Timestamp(int(value), unit="s", tz="UTC")
    if not isinstance(value, datetime):
        return None
    stamp = pd.Timestamp(value)
    return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).tz_convert(EQUITY_TIMEZONE).date()


def _name(metadata: dict) -> str | None:
    """The instrument's name from the chart metadata: ``longName``, else ``shortName``."""
    for key in ("longName", "shortName"):
        if isinstance(metadata.get(key), str) and metadata[key].strip():
            return metadata[key].strip()
    return None


def _no_data(symbol: str, yahoo_symbol: str, error: YFException, metadata: dict, end: date) -> NoDataError:
    """Yahoo's 404 means it does not know the symbol; an empty range is "delisted" when trading stopped before it."""
    if not metadata or isinstance(error, YFTzMissingError):
        return NoDataError(symbol, "unknown_symbol", f"Yahoo does not know {yahoo_symbol} ({error})")
    detail = f"Yahoo has no bars for {yahoo_symbol} in the range ({error})"
    listed_on, name = _epoch_day(metadata.get("firstTradeDate")), _name(metadata)
    last_trade = _epoch_day(metadata.get("regularMarketTime"))
    if last_trade is not None and last_trade < end - timedelta(days=DELISTED_AFTER_DAYS):
        return NoDataError(symbol, "delisted", f"{detail}; it last traded on {last_trade}", listed_on, name)
    if listed_on is not None and listed_on > end:
        return NoDataError(symbol, "no_bars", f"{detail}; it first traded on {listed_on}", listed_on, name)
    return NoDataError(symbol, "no_bars", detail, listed_on, name)


def fetch_yahoo_history(
    session: curl_requests.Session,
    symbol: str,
    yahoo_symbol: str,
    asset_class: str,
    start: date,
    end: date,
    timeout: float = 30.0,
) -> SymbolHistory:
    """Bars and actions of ``symbol`` for the sessions ``start``..``end`` inclusive, in ONE chart request."""
    ticker = yf.Ticker(yahoo_symbol, session=session)
    ticker._tz = EQUITY_TIMEZONE  # US listings: skip yfinance's time-zone lookup request
    try:
        history = ticker.history(
            start=start, end=end + timedelta(days=1), interval="1d", auto_adjust=False, actions=True,
            repair=False, timeout=timeout,
        )  # fmt: skip
    except YFRateLimitError as exc:
        raise TransientUpstreamError(f"Yahoo rate-limited the request for {yahoo_symbol}") from exc
    except curl_requests.exceptions.RequestException as exc:
        raise TransientUpstreamError(f"fetching {yahoo_symbol} from Yahoo failed: {exc}") from exc
    except (YFPricesMissingError, YFTzMissingError) as exc:
        error_metadata = ticker.get_history_metadata(repair=False) or {}
        raise _no_data(symbol, yahoo_symbol, exc, error_metadata, end) from exc
    except (ValueError, KeyError, TypeError, YFException) as exc:
        raise MalformedResponseError(f"Yahoo's chart answer for {yahoo_symbol} is malformed: {exc}") from exc
    metadata = ticker.get_history_metadata(repair=False)
    rows = history_to_rows(history, symbol, asset_class, datetime.now(UTC))
    return SymbolHistory(rows.bars, rows.actions, _epoch_day(metadata.get("firstTradeDate")), _name(metadata))

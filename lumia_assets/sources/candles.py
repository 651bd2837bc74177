"""Crypto candles through ccxt's ``fetch_ohlcv``, daily and hourly, paginated at each exchange's page size.

A range of N candles costs ``ceil(N / page)`` requests: 1,000 candles per Binance klines call, 720 for Kraken (which
serves only its newest 720, of any interval), 300 for Coinbase. A daily candle opens at 00:00 UTC of its day, the
row's date; an hourly one at the top of a UTC hour, the row's ``open_time``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import ccxt
import pandas as pd

from lumia_assets.frames import CANDLE_COLUMNS, CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.errors import MalformedResponseError, NoDataError, TransientUpstreamError

DAY_MS, HOUR_MS = 86_400_000, 3_600_000
HOUR = timedelta(hours=1)
# Candles per fetch_ohlcv call: the most each exchange's candle endpoint returns, daily or hourly.
PAGE_SIZES = {"binance": 1000, "kraken": 720, "coinbaseexchange": 300}
DEFAULT_PAGE_SIZE = 300
# How many of the newest candles of any interval an exchange serves, when it does not serve the whole history.
HISTORY_LIMITS = {"kraken": 720}
EMPTY_ACTIONS = pd.DataFrame(columns=list(CORPORATE_ACTION_COLUMNS))


def day_start_ms(day: date) -> int:
    """Milliseconds since the epoch at 00:00 UTC of ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def serves_range(exchange_id: str, start: date, today: date) -> bool:
    """Whether ``exchange_id`` can serve daily candles back to ``start`` (Kraken: only its newest 720)."""
    limit = HISTORY_LIMITS.get(exchange_id)
    return limit is None or (today - start).days < limit


def serves_hours(exchange_id: str, start: datetime, now: datetime) -> bool:
    """Whether ``exchange_id`` can serve hourly candles back to the hour opening at ``start`` (Kraken: only its
    newest 720, 30 days)."""
    limit = HISTORY_LIMITS.get(exchange_id)
    return limit is None or now - start < limit * HOUR


def _opened(candles: Sequence[Sequence[float]], step_ms: int, what: str, symbol: str, source: str
            ) -> tuple[pd.DataFrame, pd.Series]:  # fmt: skip
    """The OHLCV of ``[[open_ms, open, high, low, close, volume], ...]`` as float64, and their tz-aware open times.

    A candle not opening on a multiple of ``step_ms`` (``what``: "00:00 UTC", "on the hour") is not one of this
    interval: the whole answer is malformed.
    """
    frame = pd.DataFrame([list(c)[:6] for c in candles], columns=["ts", "open", "high", "low", "close", "volume"])
    opens = frame["ts"].astype("int64")
    misaligned = opens % step_ms != 0
    if misaligned.any():
        raise MalformedResponseError(f"{source} {symbol}: candle opening at {int(opens[misaligned].iloc[0])} ms is "
                                     f"not {what}")  # fmt: skip
    prices = frame[["open", "high", "low", "close", "volume"]].astype("float64")
    return prices, pd.to_datetime(opens, unit="ms", utc=True)


def candles_to_rows(candles: Sequence[Sequence[float]], symbol: str, source: str, fetched_at: datetime) -> pd.DataFrame:
    """``[[open_ms, open, high, low, close, volume], ...]`` as warehouse rows (``PRICE_COLUMNS``).

    A candle that does not open at 00:00 UTC is not a daily candle: the whole answer is malformed.
    """
    if not candles:
        return pd.DataFrame(columns=list(PRICE_COLUMNS))
    prices, opens = _opened(candles, DAY_MS, "00:00 UTC", symbol, source)
    return prices.assign(
        symbol=symbol,
        asset_class="crypto",
        date=opens.dt.date,
        served_adj_close=None,
        served_as_of=None,
        source=source,
        fetched_at=fetched_at,
    )[list(PRICE_COLUMNS)]


def _page(exchange: ccxt.Exchange, symbol: str, timeframe: str, since: int, limit: int) -> list[list[float]]:
    try:
        return exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
    except ccxt.BadSymbol as exc:
        raise NoDataError(symbol, "unknown_symbol", f"{exchange.id} does not list {symbol}: {exc}") from exc
    except ccxt.NetworkError as exc:
        raise TransientUpstreamError(f"{exchange.id}: fetching {symbol} candles failed: {exc}") from exc
    except (ccxt.ExchangeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise MalformedResponseError(f"{exchange.id}: the candles answer for {symbol} is malformed: {exc}") from exc


def _candles(exchange: ccxt.Exchange, symbol: str, timeframe: str, since: int, stop: int) -> list[list[float]]:
    """The candles of ``timeframe`` opening from ``since`` to ``stop`` (ms, inclusive), page by page."""
    step = DAY_MS if timeframe == "1d" else HOUR_MS
    page_size = PAGE_SIZES.get(exchange.id, DEFAULT_PAGE_SIZE)
    candles: list[list[float]] = []
    while since <= stop:
        wanted = min(page_size, (stop - since) // step + 1)
        page = [c for c in _page(exchange, symbol, timeframe, since, wanted) if c and c[0] >= since]
        candles.extend(c for c in page if c[0] <= stop)
        if len(page) < wanted:
            break  # the exchange has nothing more from `since` on
        since = int(page[-1][0]) + step
    return candles


def fetch_daily_candles(exchange: ccxt.Exchange, symbol: str, start: date, end: date) -> SymbolHistory:
    """Daily candles of ``symbol`` from ``start`` to ``end`` inclusive, in as few pages as the exchange allows."""
    candles = _candles(exchange, symbol, "1d", day_start_ms(start), day_start_ms(end))
    rows = candles_to_rows(candles, symbol, exchange.id, datetime.now(UTC))
    if rows.empty:
        raise NoDataError(symbol, "no_bars", f"{exchange.id} has no daily candles for {symbol} from {start} to {end}")
    # An exchange serving its whole history starts at the listing when that is later than `start`.
    first = rows["date"].min()
    listed_on = first if first > start and exchange.id not in HISTORY_LIMITS else None
    return SymbolHistory(rows, EMPTY_ACTIONS.copy(), listed_on)


def hourly_rows(candles: Sequence[Sequence[float]], symbol: str, source: str, fetched_at: datetime) -> pd.DataFrame:
    """``[[open_ms, open, high, low, close, volume], ...]`` as hourly candle rows (``CANDLE_COLUMNS``).

    A candle that does not open at the top of a UTC hour is not an hourly candle: the whole answer is malformed.
    """
    if not candles:
        return pd.DataFrame(columns=list(CANDLE_COLUMNS))
    prices, opens = _opened(candles, HOUR_MS, "on the hour", symbol, source)
    return prices.assign(symbol=symbol, interval="1h", open_time=opens, source=source,
                         fetched_at=fetched_at)[list(CANDLE_COLUMNS)]  # fmt: skip


def fetch_hourly_candles(exchange: ccxt.Exchange, symbol: str, start: datetime, end: datetime) -> SymbolHistory:
    """Hourly candles of ``symbol`` opening from ``start`` to ``end`` inclusive (tz-aware, on the hour), in as few
    pages as the exchange allows. The history's ``bars`` are ``CANDLE_COLUMNS`` rows."""
    since, stop = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    rows = hourly_rows(_candles(exchange, symbol, "1h", since, stop), symbol, exchange.id, datetime.now(UTC))
    if rows.empty:
        raise NoDataError(symbol, "no_bars", f"{exchange.id} has no hourly candles for {symbol} from {start} to {end}")
    return SymbolHistory(rows, EMPTY_ACTIONS.copy())

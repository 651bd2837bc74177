"""Daily bars, splits, dividends and capital gains from Yahoo, through the real yfinance client; and Yahoo's daily
crypto charts (``BTC-USD``), the opt-in last fallback of the dollar pairs.

One chart request per symbol per range: ``Ticker.history(start, end)`` with the exchange time zone preset (no
time-zone lookup), ``auto_adjust=False`` (raw OHLC next to ``Adj Close``) and no repair (never invent prices).
Errors are told apart: Yahoo's "not found" is :class:`NoDataError`, an empty range too, while rate limits and
network failures surface from the session layer as :class:`TransientUpstreamError`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from pandas.errors import PandasDeprecationWarning
from yfinance.data import YfData
from yfinance.exceptions import YFException, YFPricesMissingError, YFRateLimitError, YFTzMissingError

from lumia_assets.adjustments import capital_gains_in_dividends, gains_with_dividends, later_split_ratios
from lumia_assets.calendars import EQUITY_TIMEZONE
from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.sources.bars import SymbolHistory
from lumia_assets.sources.errors import MalformedResponseError, NoDataError, TransientUpstreamError

SOURCE = "yahoo"
PRICE_COLUMNS_SERVED = {"Open": "open", "High": "high", "Low": "low", "Close": "close"}
HISTORY_COLUMNS = (*PRICE_COLUMNS_SERVED, "Adj Close", "Volume")
ACTION_DECIMALS = 6  # cash per share, multiplied back by later split ratios
PRICE_DECIMALS = 4  # US listings trade in $0.0001 ticks at most: a re-fetch on another day stores identical values
DELISTED_AFTER_DAYS = 30  # no trade for this long before the range's end: the symbol stopped trading
ACTION_COLUMNS = {"Stock Splits": "split", "Dividends": "dividend", "Capital Gains": "capital_gain"}
CRYPTO_QUOTE, CRYPTO_TIMEZONE = "USD", "UTC"  # Yahoo's crypto charts: COIN-USD, candles opening at 00:00 UTC
CRYPTO_VOLUME_DECIMALS = 8  # base units, as fine as the exchanges' volumes


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


def _as_traded_actions(served: pd.DataFrame) -> pd.DataFrame:
    """The served actions with their cash multiplied back by the splits after them (ratios stay)."""
    as_traded = np.round(served["value"] * later_split_ratios(served["date"], served), ACTION_DECIMALS)
    return served.assign(value=np.where(served["action"] == "split", served["value"], as_traded))


def _served_actions(history: pd.DataFrame, days: np.ndarray) -> pd.DataFrame:
    """date, action, value of every split, dividend and capital gain in the answer, as served (zero: none)."""
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
    return pd.DataFrame({"date": dates, "action": kinds, "value": np.array(values, dtype="float64")})


@dataclass(frozen=True)
class ServedStep:
    """What Yahoo's ``Adj Close`` took off at an ex-date paying a dividend and a capital gain no larger than it:
    the served factor's ``step`` (``Adj Close / Close`` before over on the day), and the steps of the dividend
    alone (``once``) and of the dividend plus the gain (``twice``)."""

    position: int
    step: float
    once: float
    twice: float

    @property
    def counted_once(self) -> bool:
        """Yahoo adjusted for the dividend alone: the gain is inside it (a gain paid apart is always adjusted)."""
        return abs(self.step - self.once) < abs(self.step - self.twice)


def _served_steps(history: pd.DataFrame, days: np.ndarray, served: pd.DataFrame) -> dict[date, ServedStep]:
    """Per ex-date with a capital gain and a dividend at least as large, and a bar before it: Yahoo's step."""
    adjusted, close = history["Adj Close"].to_numpy(dtype="float64"), history["Close"].to_numpy(dtype="float64")
    steps = {}
    for day, row in gains_with_dividends(served).iterrows():
        i = int(np.searchsorted(days, day))
        if 0 < i < len(days) and days[i] == day:
            step = (adjusted[i - 1] / close[i - 1]) / (adjusted[i] / close[i])
            once, twice = 1 - row["dividend"] / close[i - 1], 1 - (row["dividend"] + row["capital_gain"]) / close[i - 1]
            steps[day] = ServedStep(i, step, once, twice)
    return steps


def _gains_in_dividends(actions: pd.DataFrame, closes: pd.Series, steps: dict[date, ServedStep]) -> set[date]:
    """Ex-dates whose capital gain the dividend includes: where Yahoo adjusted for the dividend alone, and
    otherwise where the NAV fell by about the dividend alone (``capital_gains_in_dividends``). The served step
    is exact where the NAV drop carries the day's market move: a fund whose NAV fell 3.97% on a dividend of 2.78%
    with a 2.31% gain inside would read as two payments, and its derived adjusted close would miss Yahoo's."""
    return {day for day, step in steps.items() if step.counted_once} | capital_gains_in_dividends(actions, closes)


def _without_double_counted_gains(
    history: pd.DataFrame, steps: dict[date, ServedStep], inside: set[date]
) -> np.ndarray:
    """Yahoo's ``Adj Close`` with the capital gains it counted twice counted once.

    Where a fund's dividend already includes the day's capital gain, Yahoo sometimes adjusts for dividend plus
    gain (yfinance repairs the same). When the served factor's step at such an ex-date matches that double count
    better than the dividend alone, every earlier adjusted close is corrected by the ratio of the two.
    """
    adjusted = history["Adj Close"].to_numpy(dtype="float64").copy()
    for day in sorted(inside & steps.keys()):
        step = steps[day]
        if not step.counted_once:
            adjusted[: step.position] *= step.once / step.step
    return adjusted


def _witness(
    adjusted: np.ndarray, history: pd.DataFrame, days: np.ndarray, ratios: np.ndarray, as_of: date | None
) -> tuple:
    """Yahoo's adjusted closes re-based to ``as_of`` (default: the answer's last session), and that day.

    Yahoo adjusts to the moment of the request. Dividing by the served factor (``adjclose / close``) of the last
    bar on or before ``as_of``, and by the splits after it, gives the adjusted closes Yahoo would have served on
    that day: they fold in exactly the actions up to it, which the same answer reports and the caller stores.
    """
    served = adjusted
    last = len(days) - 1 if as_of is None else int(np.searchsorted(days, as_of, side="right")) - 1
    if last < 0:
        return np.full(len(days), np.nan), None
    factor = served[last] / float(history["Close"].iloc[last])
    return served * ratios[last] / factor, days[last]


def _require_columns(history: pd.DataFrame, symbol: str) -> None:
    """A yfinance history without every column of ``HISTORY_COLUMNS`` is a malformed answer."""
    missing = [column for column in HISTORY_COLUMNS if column not in history.columns]
    if missing:
        raise MalformedResponseError(f"{symbol}: Yahoo history lacks columns {missing}")


def history_to_rows(
    history: pd.DataFrame,
    symbol: str,
    asset_class: str,
    fetched_at: datetime,
    source: str = SOURCE,
    as_of: date | None = None,
) -> SymbolHistory:
    """Turn a yfinance ``history(auto_adjust=False, actions=True)`` frame into as-traded warehouse rows.

    Yahoo split-adjusts OHLC, volume and distribution amounts for every split up to the moment of the request,
    and reports the splits inside the requested range. An answer that runs through now therefore reports every
    split that adjusted it: each bar is multiplied back by the ratios of the answer's splits dated after it
    (volume divided), which gives the bar as it traded, whatever day it is fetched. Prices are rounded to
    ``PRICE_DECIMALS`` so that the same bar fetched on another day is stored byte for byte the same. The served
    ``Adj Close``, re-based to ``as_of`` (see :func:`_witness`), is kept as the witness. The index is the
    session's local timestamp (midnight in the exchange's zone), so ``.date`` is the session date itself.
    """
    _require_columns(history, symbol)
    days = pd.DatetimeIndex(history.index).date
    served = _served_actions(history, days)
    ratios = later_split_ratios(days, served)
    prices = {name: np.round(history[column].to_numpy(dtype="float64") * ratios, PRICE_DECIMALS)
              for column, name in PRICE_COLUMNS_SERVED.items()}  # fmt: skip
    actions = _as_traded_actions(served)
    steps = _served_steps(history, days, served)
    inside = _gains_in_dividends(actions, pd.Series(prices["close"], index=days), steps)
    adjusted = _without_double_counted_gains(history, steps, inside)
    witness, witnessed_on = _witness(adjusted, history, days, ratios, as_of)
    bars = pd.DataFrame(
        {"symbol": symbol, "asset_class": asset_class, "date": days, **prices,
         "volume": np.round(history["Volume"].to_numpy(dtype="float64") / ratios),
         "served_adj_close": witness, "served_as_of": witnessed_on, "source": source, "fetched_at": fetched_at},
        columns=list(PRICE_COLUMNS),
    )  # fmt: skip
    actions = actions.assign(
        symbol=symbol, asset_class=asset_class, source=source, fetched_at=fetched_at,
        in_dividend=(actions["action"] == "capital_gain") & actions["date"].isin(inside),
    )  # fmt: skip
    return SymbolHistory(bars=bars, actions=actions[list(CORPORATE_ACTION_COLUMNS)])


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


def _daily_history(session: curl_requests.Session, symbol: str, yahoo_symbol: str, timezone: str, start: date,
                   end: date, timeout: float) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """The daily chart of ``yahoo_symbol`` from ``start`` through now in ONE request, and its metadata.

    The exchange time zone is preset (no time-zone lookup request), and Yahoo's failures are told apart; ``end``
    only decides whether an empty answer means "delisted".
    """
    ticker = yf.Ticker(yahoo_symbol, session=session)
    ticker._tz = timezone
    try:
        history = ticker.history(
            start=start, end=None, interval="1d", auto_adjust=False, actions=True, repair=False, timeout=timeout
        )
    except YFRateLimitError as exc:
        raise TransientUpstreamError(f"Yahoo rate-limited the request for {yahoo_symbol}") from exc
    except curl_requests.exceptions.RequestException as exc:
        raise TransientUpstreamError(f"fetching {yahoo_symbol} from Yahoo failed: {exc}") from exc
    except (YFPricesMissingError, YFTzMissingError) as exc:
        error_metadata = ticker.get_history_metadata(repair=False) or {}
        raise _no_data(symbol, yahoo_symbol, exc, error_metadata, end) from exc
    except (ValueError, KeyError, TypeError, YFException) as exc:
        raise MalformedResponseError(f"Yahoo's chart answer for {yahoo_symbol} is malformed: {exc}") from exc
    return history, ticker.get_history_metadata(repair=False)


def fetch_yahoo_history(
    session: curl_requests.Session,
    symbol: str,
    yahoo_symbol: str,
    asset_class: str,
    start: date,
    end: date,
    timeout: float = 30.0,
) -> SymbolHistory:
    """Bars and actions of ``symbol`` from ``start`` through now, as traded, in ONE chart request.

    The answer runs through the moment of the request, so that it reports every split its prices are adjusted
    for (see :func:`history_to_rows`). The caller keeps the sessions it asked for and compares the rest with what
    it has stored.
    """
    history, metadata = _daily_history(session, symbol, yahoo_symbol, EQUITY_TIMEZONE, start, end, timeout)
    rows = history_to_rows(history, symbol, asset_class, datetime.now(UTC), as_of=end)
    return SymbolHistory(rows.bars, rows.actions, _epoch_day(metadata.get("firstTradeDate")), _name(metadata))


def _check_crypto_metadata(metadata: dict, pair: str, yahoo_symbol: str) -> None:
    """A crypto chart is in US dollars by UTC day; any other answer would store the wrong prices or days."""
    currency, timezone = metadata.get("currency"), metadata.get("exchangeTimezoneName")
    if (currency, timezone) != (CRYPTO_QUOTE, CRYPTO_TIMEZONE):
        raise MalformedResponseError(f"{pair}: Yahoo's chart for {yahoo_symbol} is in {currency} by {timezone} "
                                     f"days, not {CRYPTO_QUOTE} by {CRYPTO_TIMEZONE} days")  # fmt: skip


def crypto_history_to_rows(history: pd.DataFrame, pair: str, start: date, end: date,
                           fetched_at: datetime) -> pd.DataFrame:  # fmt: skip
    """The days ``start``..``end`` of a yfinance crypto ``history`` as warehouse rows (``PRICE_COLUMNS``).

    Yahoo's crypto volume is in dollars: it is divided by the day's close, to base units like an exchange's.
    Anything outside the range (today's candle, still open, above all) is left out.
    """
    _require_columns(history, pair)
    days = pd.Series(pd.DatetimeIndex(history.index).date, index=history.index)
    inside = history[(days >= start) & (days <= end)]
    prices = {name: inside[column].to_numpy(dtype="float64") for column, name in PRICE_COLUMNS_SERVED.items()}
    volume = np.round(inside["Volume"].to_numpy(dtype="float64") / prices["close"], CRYPTO_VOLUME_DECIMALS)
    return pd.DataFrame(
        {"symbol": pair, "asset_class": "crypto", "date": days[inside.index].to_numpy(), **prices, "volume": volume,
         "served_adj_close": None, "served_as_of": None, "source": SOURCE, "fetched_at": fetched_at},
        columns=list(PRICE_COLUMNS),
    )  # fmt: skip


def fetch_yahoo_crypto(
    session: curl_requests.Session, pair: str, yahoo_symbol: str, start: date, end: date, timeout: float = 30.0
) -> SymbolHistory:
    """Daily candles of the dollar ``pair`` (``BTC/USD``) from ``start`` to ``end`` inclusive, from Yahoo's chart
    ``yahoo_symbol`` (``BTC-USD``) in ONE request: an aggregated dollar price across venues, not one exchange's
    trades.

    Rows say ``source="yahoo"``. A crypto chart has no dividends or splits, so nothing is un-adjusted; the first
    trade date and name Yahoo reports are the coin's, not the pair's, and are not passed on.
    """
    history, metadata = _daily_history(session, pair, yahoo_symbol, CRYPTO_TIMEZONE, start, end, timeout)
    _check_crypto_metadata(metadata, pair, yahoo_symbol)
    rows = crypto_history_to_rows(history, pair, start, end, datetime.now(UTC))
    if rows.empty:
        raise NoDataError(pair, "no_bars", f"Yahoo has no {yahoo_symbol} candles from {start} to {end}")
    return SymbolHistory(rows, pd.DataFrame(columns=list(CORPORATE_ACTION_COLUMNS)))

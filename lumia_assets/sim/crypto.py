"""The simulated crypto market: spot pairs on several exchanges, 24/7 UTC-day and hourly candles, one path per pair.

The same pair on two exchanges follows one underlying path with tiny per-exchange noise, so closes agree
within about 0.1%. Every pair of a coin quoted in dollars (USD, USDT, USDC) follows the coin's dollar walk
(``coin_path``), the aggregated price CoinGecko and Yahoo quote. ``set_price_skew`` makes one exchange disagree
for tests. An exchange's hourly candles split its daily ones (``sim.hours``), so they aggregate back to them
exactly.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from lumia_assets.sim.clock import SimClock
from lumia_assets.sim.config import SimConfig
from lumia_assets.sim.hours import split_day
from lumia_assets.sim.protocol import HostApp
from lumia_assets.sim.randomwalk import OhlcvPath, random_walk_ohlcv, symbol_rng

EXCHANGES = ("binance", "kraken", "coinbaseexchange")
MAJORS = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "DOT", "LINK", "AVAX", "ATOM", "TRX", "UNI", "BCH")
QUOTES = {
    "binance": ("USDT", "USDC", "BTC", "ETH"),
    "kraken": ("USD", "EUR", "USDT"),
    "coinbaseexchange": ("USD", "USDC", "EUR"),
}
DOLLARS = ("USD", "USDT", "USDC")  # quotes whose pairs follow one dollar walk per coin
START_PRICES = {"BTC": 15_000.0, "ETH": 800.0, "USDT": 1.0, "USDC": 1.0, "USD": 1.0, "EUR": 1.1}
HORIZON_DAYS = 5_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
CANDLE_COLUMNS = ["open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class Pair:
    """A spot market on one exchange."""

    exchange: str
    base: str
    quote: str
    listed_on: date | None = None
    delisted_on: date | None = None

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"


def day_start_ms(day: date) -> int:
    """Milliseconds since the epoch at 00:00 UTC of ``day``."""
    return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - EPOCH).total_seconds() * 1000)


def open_ms(key: date | datetime) -> int:
    """Milliseconds since the epoch at a candle's open: an hour's open time, or 00:00 UTC of a day."""
    return int(key.timestamp() * 1000) if isinstance(key, datetime) else day_start_ms(key)


def requested_days(start_ms: int, end_ms: int, count: int, interval: timedelta) -> tuple[date, date]:
    """The UTC days that ``count`` candles of ``interval`` can cover from ``start_ms`` on, or (``start_ms`` 0) the
    newest ones up to ``end_ms``."""
    end = datetime.fromtimestamp(end_ms / 1000, UTC)
    if not start_ms:
        return (end - interval * count).date(), end.date()
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    return start.date(), min(end, start + interval * count).date()


def _bases(rng: random.Random, count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    bases = list(MAJORS)
    taken = set(bases)
    while len(bases) < count:
        base = "".join(rng.choices(letters, k=rng.choice((3, 4, 4, 5))))
        if base not in taken:
            taken.add(base)
            bases.append(base)
    return bases


class CryptoMarket:
    """Deterministic crypto pairs and candles for each simulated exchange, on a clock (its own unless given one)."""

    def __init__(self, config: SimConfig, clock: SimClock | None = None) -> None:
        self.config = config
        self.clock = clock or SimClock.from_config(config)
        self._lock = threading.Lock()
        self._skews: dict[tuple[str, str], float] = {}
        self._pairs = self._generate()

    def _generate(self) -> dict[str, dict[str, Pair]]:
        rng = random.Random(self.config.seed + 1)
        sizes = self.config.sizes.crypto_pairs
        bases = _bases(rng, max(sizes.values()))
        today = self.clock.now().date()
        pairs: dict[str, dict[str, Pair]] = {}
        for exchange in EXCHANGES:
            count = sizes.get(exchange.removesuffix("exchange"), 0)
            chosen: dict[str, Pair] = {}
            for index in range(10 * count):
                if len(chosen) >= count:
                    break
                base = bases[index % len(bases)] if index < len(bases) else rng.choice(bases)
                quote = QUOTES[exchange][0] if index < len(MAJORS) else rng.choice(QUOTES[exchange])
                if base == quote or f"{base}/{quote}" in chosen:
                    continue
                draw = rng.random()
                listed = today - timedelta(days=rng.randrange(30, 900)) if draw < self.config.listing_fraction else None
                delisted = (
                    today - timedelta(days=rng.randrange(10, 300))
                    if index >= len(MAJORS) and self.config.listing_fraction <= draw < 0.08
                    else None
                )
                chosen[f"{base}/{quote}"] = Pair(exchange, base, quote, listed, delisted)
            pairs[exchange] = chosen
        return pairs

    def pairs(self, exchange: str) -> list[Pair]:
        """Every pair the exchange ever listed (delisted ones included), sorted by symbol."""
        return sorted(self._pairs[exchange].values(), key=lambda p: p.symbol)

    def pair(self, exchange: str, symbol: str) -> Pair | None:
        return self._pairs.get(exchange, {}).get(symbol)

    def coins(self) -> list[str]:
        """Every base currency some exchange lists a pair of, sorted."""
        return sorted({pair.base for exchange in EXCHANGES for pair in self._pairs[exchange].values()})

    def coin_days(self, coin: str, first: date, last: date) -> pd.DataFrame:
        """Truth: the coin's aggregated dollar candles (``coin_path``) of the UTC days ``first``..``last`` that have
        closed by now, indexed by date."""
        frame = coin_path(self.config.seed, self.config.history_start, coin)
        last = min(last, (self.clock.now() - DAY).date())
        return frame[(frame.index >= max(first, self.config.history_start)) & (frame.index <= last)]

    def markets(self, exchange: str) -> pd.DataFrame:
        """Truth: symbol, base, quote, native_id, active, listed_on, delisted_on."""
        today = self.clock.now().date()
        rows = [
            {
                "symbol": p.symbol,
                "base": p.base,
                "quote": p.quote,
                "native_id": native_id(exchange, p),
                "active": p.delisted_on is None or p.delisted_on > today,
                "listed_on": p.listed_on,
                "delisted_on": p.delisted_on,
            }
            for p in self.pairs(exchange)
        ]
        return pd.DataFrame(rows)

    def set_price_skew(self, exchange: str, symbol: str, factor: float) -> None:
        """Multiply every price ``exchange`` serves for ``symbol`` by ``factor`` (1.0 removes the skew)."""
        with self._lock:
            self._skews[(exchange, symbol)] = factor

    def reset(self) -> None:
        with self._lock:
            self._skews.clear()

    def candles(self, exchange: str, symbol: str, through: datetime) -> pd.DataFrame:
        """Candles of every UTC day the pair traded that has begun by ``through`` (the last may be open)."""
        pair = self._pairs[exchange][symbol]
        frame = _path(self.config.seed, self.config.history_start, exchange, symbol)
        last = through.date()
        if pair.delisted_on is not None:
            last = min(last, pair.delisted_on - timedelta(days=1))
        first = pair.listed_on or self.config.history_start
        window = frame[(frame.index >= first) & (frame.index <= last)]
        skew = self._skews.get((exchange, symbol), 1.0)
        if skew != 1.0:
            window = window.assign(**{c: window[c] * skew for c in ("open", "high", "low", "close")})
        return window

    def daily_candles(self, exchange: str, symbol: str, start: date, end: date) -> pd.DataFrame:
        """Truth: closed UTC-day candles from ``start`` to ``end`` inclusive (date, open, high, low, close, volume)."""
        closed_through = self.clock.now() - timedelta(days=1)
        frame = self.candles(exchange, symbol, closed_through)
        return frame[(frame.index >= start) & (frame.index <= end)].rename_axis("date").reset_index()

    def hours(self, exchange: str, symbol: str, first: date, last: date, through: datetime) -> pd.DataFrame:
        """Hourly candles of the UTC days ``first``..``last`` that have begun by ``through`` (the last may be
        open), indexed by their tz-aware open time."""
        days = self.candles(exchange, symbol, through)
        days = days[(days.index >= first) & (days.index <= last)]
        if days.empty:
            return pd.DataFrame(columns=CANDLE_COLUMNS, index=pd.DatetimeIndex([], tz=UTC, name="open_time"))
        seed = self.config.seed
        frame = pd.concat([split_day(seed, exchange, symbol, day, candle) for day, candle in days.iterrows()])
        return frame[frame.index <= through]

    def hourly_candles(self, exchange: str, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Truth: closed hourly candles opening from ``start`` to ``end`` inclusive (open_time, open, high, low,
        close, volume)."""
        frame = self.hours(exchange, symbol, start.date(), end.date(), self.clock.now() - HOUR)
        return frame[(frame.index >= start) & (frame.index <= end)].reset_index()

    def served(self, exchange: str, symbol: str, interval: timedelta, first: date, last: date) -> pd.DataFrame:
        """What ``exchange`` serves now at ``interval`` (``DAY`` or ``HOUR``) for the days ``first``..``last``:
        every candle begun by now, the last possibly open, with ``open_ms`` and the ``key`` fault injection
        names a candle by (its day, or its hour's open time)."""
        now = self.clock.now()
        if interval == HOUR:
            frame = self.hours(exchange, symbol, first, last, now)
            keys = [moment.to_pydatetime() for moment in frame.index]
        else:
            frame = self.candles(exchange, symbol, now)
            frame = frame[(frame.index >= first) & (frame.index <= last)]
            keys = list(frame.index)
        return frame.reset_index(drop=True).assign(open_ms=[open_ms(key) for key in keys], key=keys)


@lru_cache(maxsize=4096)
def _walk(seed: int, start: date, coin: str, walk: str) -> OhlcvPath:
    """The random walk named ``walk`` (a pair, or ``COIN/USD`` for every dollar-quoted pair of ``coin``)."""
    rng = symbol_rng(seed, walk, "crypto")
    start_price = START_PRICES.get(coin) or float(np.round(rng.uniform(0.05, 300), 4))
    return random_walk_ohlcv(rng, HORIZON_DAYS, start_price, daily_volatility=0.035, mean_volume=5_000,
                             volume_decimals=4)  # fmt: skip


def _days(start: date) -> pd.Index:
    return pd.Index([start + timedelta(days=i) for i in range(HORIZON_DAYS)], name="date")


@lru_cache(maxsize=8192)
def _path(seed: int, start: date, exchange: str, symbol: str) -> pd.DataFrame:
    base, quote = symbol.split("/")
    path = _walk(seed, start, base, f"{base}/USD" if quote in DOLLARS else symbol)
    quote_factor = 1.0 / START_PRICES.get(quote, 1.0) if quote in ("BTC", "ETH") else 1.0
    noise = 1.0 + symbol_rng(seed, f"{exchange}:{symbol}", "noise").normal(0, 0.0002, HORIZON_DAYS)
    prices = {c: np.round(getattr(path, c) * quote_factor * noise, 8) for c in ("open", "high", "low", "close")}
    prices["high"] = np.maximum.reduce([prices["open"], prices["high"], prices["close"]])
    prices["low"] = np.minimum.reduce([prices["open"], prices["low"], prices["close"]])
    return pd.DataFrame({**prices, "volume": path.volume}, index=_days(start))


@lru_cache(maxsize=4096)
def coin_path(seed: int, start: date, coin: str) -> pd.DataFrame:
    """The coin's aggregated dollar price by UTC day (open, high, low, close, volume in coins): the walk every
    dollar-quoted pair of the coin follows, without any exchange's noise. What CoinGecko and Yahoo quote."""
    path = _walk(seed, start, coin, f"{coin}/USD")
    columns = {c: np.round(getattr(path, c), 8) for c in ("open", "high", "low", "close")}
    return pd.DataFrame({**columns, "volume": path.volume}, index=_days(start))


def native_id(exchange: str, pair: Pair) -> str:
    """How the exchange spells the pair: BTCUSDT, XBTUSD, BTC-USD."""
    if exchange == "binance":
        return f"{pair.base}{pair.quote}"
    if exchange == "kraken":
        return f"{'XBT' if pair.base == 'BTC' else pair.base}{pair.quote}"
    return f"{pair.base}-{pair.quote}"


def crypto_apps(market: CryptoMarket) -> list[HostApp]:
    """The simulated crypto upstreams' REST APIs: the exchanges, and CoinGecko's reference prices."""
    from lumia_assets.sim.binance import BinanceApp
    from lumia_assets.sim.coinbase import CoinbaseExchangeApp
    from lumia_assets.sim.coingecko import CoinGeckoApp
    from lumia_assets.sim.kraken import KrakenApp

    return [BinanceApp(market), KrakenApp(market), CoinbaseExchangeApp(market), CoinGeckoApp(market)]

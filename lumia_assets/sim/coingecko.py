"""CoinGecko's public API v3: /coins/list, /coins/markets and /coins/{id}/market_chart/range, with its ambiguity.

Every coin some exchange lists a pair of has a CoinGecko id (a few well-known ones by their real ids), and its
dollar price is the coin's aggregated walk (``sim.crypto.coin_path``), the one every dollar-quoted pair follows.
As on the real list, several ids share a ticker: some coins have a bridged twin of tiny market cap, listed under
the same symbol and sorting before the real one, so a client taking the first match gets the wrong coin. A few
small coins are not on CoinGecko at all. ``market_chart/range`` answers daily points at 00:00 UTC for ranges over
90 days and hourly points otherwise, and, as for the public and demo plans, nothing starting over 365 days back
(401, error code 10012); the point at an instant is the price then (a day's 00:00 point is the
previous day's close). A demo key (``x-cg-demo-api-key``) is optional, but one that is not a ``CG-`` key is
refused with 401. The 50-calls-a-minute limit is the server's rate limit (``sim.rate_limits.set``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import numpy as np
import pandas as pd

from lumia_assets.sim.crypto import DAY, HOUR, MAJORS, CryptoMarket, coin_path
from lumia_assets.sim.hours import split_day
from lumia_assets.sim.protocol import SimRequest, SimResponse
from lumia_assets.sim.randomwalk import symbol_rng

HOST = "api.coingecko.com"
PREFIX = "/api/v3"
KEY_HEADER = "x-cg-demo-api-key"
KNOWN_IDS = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana", "XRP": "ripple", "ADA": "cardano",
             "DOGE": "dogecoin", "LTC": "litecoin", "DOT": "polkadot", "LINK": "chainlink", "AVAX": "avalanche-2",
             "ATOM": "cosmos", "TRX": "tron", "UNI": "uniswap", "BCH": "bitcoin-cash"}  # fmt: skip
KNOWN_SUPPLY = {"BTC": 19.8e6, "ETH": 120.5e6}
TWIN_EVERY = 4  # every 4th coin beyond the majors has a bridged twin sharing its ticker (ETH always has one)
UNLISTED_EVERY = 9  # every 9th coin beyond the majors is not on CoinGecko
TWIN_CAP_SHARE = 1e-3  # a twin's market cap, as a share of the real coin's
DAILY_ABOVE = timedelta(days=90)  # longer ranges get daily points
PUBLIC_HISTORY = timedelta(days=365)  # how far back the public and demo plans may ask
TOO_OLD = ("Your request exceeds the allowed time range. Public API users are limited to querying historical data "
           "within the past 365 days. Upgrade to a paid plan to enjoy full historical data access: "
           "https://www.coingecko.com/en/api/pricing.")  # fmt: skip
PAGE_LIMIT = 250


@dataclass(frozen=True)
class Coin:
    """One CoinGecko id: the ticker it is listed under, and the walk its dollar price follows."""

    id: str
    symbol: str  # lower case, as CoinGecko spells tickers
    name: str
    walk: str  # the coin_path name: the exchange base for a real coin, the id for a twin
    supply: float
    twin_of: str | None = None


def _coins(bases: list[str], seed: int) -> list[Coin]:
    coins = []
    others = [base for base in bases if base not in MAJORS]
    for base in bases:
        position = others.index(base) + 1 if base in others else 0
        if position and position % UNLISTED_EVERY == 0:
            continue
        coin_id = KNOWN_IDS.get(base, f"{base.lower()}-coin")
        supply = KNOWN_SUPPLY.get(base) or float(symbol_rng(seed, coin_id, "supply").uniform(1e7, 1e10))
        coins.append(Coin(coin_id, base.lower(), base.title(), base, supply))
        if base == "ETH" or (position and position % TWIN_EVERY == 0):
            twin = f"bridged-{base.lower()}"
            coins.append(Coin(twin, base.lower(), f"Bridged {base.title()}", twin, supply * TWIN_CAP_SHARE, coin_id))
    return sorted(coins, key=lambda coin: coin.id)


def _moments(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """A chart's points from ``start`` to ``end``: every top of the hour (hourly), or every 00:00 UTC (daily)."""
    first = pd.Timestamp(start).ceil("D" if step == DAY else "h")
    return list(pd.date_range(first, end, freq=step).to_pydatetime()) if first <= end else []


def _error(message: str, status: int) -> SimResponse:
    return SimResponse.json({"error": message}, status)


def _status(code: int, message: str, status: int) -> SimResponse:
    return SimResponse.json({"status": {"error_code": code, "error_message": message}}, status)


class CoinGeckoApp:
    """``api.coingecko.com``: the coin list, current markets and price history in CoinGecko's shapes."""

    hosts = (HOST,)

    def __init__(self, market: CryptoMarket) -> None:
        self.market = market
        self._snapshot: tuple[datetime, dict[str, tuple[float, float]]] | None = None

    @cached_property
    def coins(self) -> list[Coin]:
        """Every coin id, sorted by id as the real list is."""
        return _coins(self.market.coins(), self.market.config.seed)

    @cached_property
    def _by_id(self) -> dict[str, Coin]:
        return {coin.id: coin for coin in self.coins}

    def coin(self, coin_id: str) -> Coin | None:
        return self._by_id.get(coin_id)

    def days(self, coin: Coin) -> pd.DataFrame:
        """The coin's dollar candles by UTC day, over the whole horizon."""
        return coin_path(self.market.config.seed, self.market.config.history_start, coin.walk)

    def price_at(self, coin: Coin, moments: list[datetime]) -> list[float]:
        """The coin's dollar price at each top-of-the-hour ``moment``: the close of the hour before it."""
        days = self.days(coin)
        closes: dict[date, np.ndarray] = {}
        prices = []
        for moment in moments:
            hour = moment - HOUR
            if hour.date() not in closes:
                hours = split_day(self.market.config.seed, "coingecko", coin.id, hour.date(), days.loc[hour.date()])
                closes[hour.date()] = hours["close"].to_numpy()
            prices.append(float(closes[hour.date()][hour.hour]))
        return prices

    def daily_closes(self, coin: Coin, first: date, last: date) -> pd.Series:
        """Truth: the coin's price at the end of each UTC day ``first``..``last`` (its 00:00 UTC point of the next
        day), by date."""
        days = self.days(coin)
        return days.loc[(days.index >= first) & (days.index <= last), "close"]

    def market_cap(self, coin: Coin, price: float) -> float:
        return round(price * coin.supply, 2)

    def _prices(self, now: datetime) -> dict[str, tuple[float, float]]:
        """Every coin's (price, market cap) at ``now``, computed once per hour of the clock."""
        if self._snapshot is None or self._snapshot[0] != now:
            prices = {coin.id: self.price_at(coin, [now])[0] for coin in self.coins}
            self._snapshot = (now, {i: (p, self.market_cap(self._by_id[i], p)) for i, p in prices.items()})
        return self._snapshot[1]

    def handle(self, request: SimRequest) -> SimResponse:
        key = {name.lower(): value for name, value in request.headers.items()}.get(KEY_HEADER)
        if key is not None and not key.startswith("CG-"):
            return _status(10002, "Invalid API key: a demo key starts with CG-", 401)
        path = request.path.removeprefix(PREFIX)
        if path == "/ping":
            return SimResponse.json({"gecko_says": "(V3) To the Moon!"})
        if path == "/coins/list":
            return SimResponse.json([{"id": c.id, "symbol": c.symbol, "name": c.name} for c in self.coins])
        if path == "/coins/markets":
            return self._markets(request)
        if path.startswith("/coins/") and path.endswith("/market_chart/range"):
            return self._chart(request, path.removeprefix("/coins/").removesuffix("/market_chart/range"))
        return _error(f"unknown endpoint {request.path}", 404)

    def _now(self) -> datetime:
        """The newest top of the hour: prices are served up to it."""
        return self.market.clock.now().replace(minute=0, second=0, microsecond=0)

    def _markets(self, request: SimRequest) -> SimResponse:
        if (request.param("vs_currency") or "").lower() != "usd":
            return _error("invalid vs_currency (the simulator quotes usd)", 400)
        now = self._now()
        prices = self._prices(now)
        ranks = {coin_id: rank for rank, coin_id in enumerate(sorted(prices, key=lambda i: -prices[i][1]), start=1)}
        coins = self.coins
        if ids := request.param("ids"):
            wanted = set(ids.split(","))
            coins = [coin for coin in coins if coin.id in wanted]
        coins = sorted(coins, key=lambda coin: -prices[coin.id][1])
        per_page = min(int(request.param("per_page", "100") or 100), PAGE_LIMIT)
        page = max(int(request.param("page", "1") or 1), 1)
        rows = [
            {"id": coin.id, "symbol": coin.symbol, "name": coin.name, "current_price": prices[coin.id][0],
             "market_cap": prices[coin.id][1], "market_cap_rank": ranks[coin.id],
             "total_volume": round(prices[coin.id][0] * float(self.days(coin).loc[(now - DAY).date(), "volume"]), 2),
             "last_updated": now.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
            for coin in coins[(page - 1) * per_page : page * per_page]
        ]  # fmt: skip
        return SimResponse.json(rows)

    def _chart(self, request: SimRequest, coin_id: str) -> SimResponse:
        coin = self.coin(coin_id)
        if coin is None:
            return _error("coin not found", 404)
        if (request.param("vs_currency") or "").lower() != "usd":
            return _error("invalid vs_currency (the simulator quotes usd)", 400)
        try:
            start = datetime.fromtimestamp(float(request.param("from") or ""), UTC)
            end = datetime.fromtimestamp(float(request.param("to") or ""), UTC)
        except ValueError:
            return _error("invalid from/to: UNIX seconds expected", 400)
        if start < self.market.clock.now() - PUBLIC_HISTORY:
            return SimResponse.json({"error": {"status": {"error_code": 10012, "error_message": TOO_OLD}}}, 401)
        history_start = datetime.combine(self.market.config.history_start + DAY, datetime.min.time(), UTC)
        step = DAY if end - start > DAILY_ABOVE else HOUR
        moments = _moments(max(start, history_start), min(end, self._now()), step)
        if step == DAY:
            closes = self.days(coin)["close"]
            prices = [float(closes.loc[(moment - DAY).date()]) for moment in moments]
        else:
            prices = self.price_at(coin, moments)
        volumes = self.days(coin)["volume"]
        stamps = [int(moment.timestamp() * 1000) for moment in moments]
        day_volumes = [float(volumes.loc[(moment - DAY).date()]) for moment in moments]
        return SimResponse.json({
            "prices": [[ms, price] for ms, price in zip(stamps, prices, strict=True)],
            "market_caps": [[ms, self.market_cap(coin, price)] for ms, price in zip(stamps, prices, strict=True)],
            "total_volumes": [[ms, round(float(np.float64(price) * volume), 2)]
                              for ms, price, volume in zip(stamps, prices, day_volumes, strict=True)],
        })  # fmt: skip

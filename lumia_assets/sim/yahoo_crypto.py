"""Yahoo's crypto charts (``BTC-USD``): every coin of the simulated crypto market, at its aggregated dollar price.

A coin's candles are ``CryptoMarket.coin_days``: UTC days opening at 00:00 UTC, the last one (today) in progress,
as real Yahoo serves it. Volume is in dollars, like Yahoo's: the day's coins times its close, to the dollar.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from lumia_assets.sim.crypto import DAY, CryptoMarket, coin_path, day_start_ms
from lumia_assets.sim.equities import Bars, partial_bar

QUOTE = "USD"  # Yahoo quotes coins in dollars: BTC-USD
COIN_META = {
    "currency": QUOTE,
    "exchangeName": "CCC",
    "fullExchangeName": "CCC",
    "instrumentType": "CRYPTOCURRENCY",
    "hasPrePostMarketData": False,
    "gmtoffset": 0,
    "timezone": "UTC",
    "exchangeTimezoneName": "UTC",
}


def _midnight(now: datetime) -> datetime:
    """00:00 UTC of the UTC day of ``now``."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def _utc_day(now: datetime) -> dict[str, object]:
    """One of Yahoo's trading periods of a coin: the whole UTC day of ``now``."""
    start = int(_midnight(now).timestamp())
    return {"timezone": "UTC", "start": start, "end": start + int(DAY.total_seconds()), "gmtoffset": 0}


def _bars(candles: pd.DataFrame) -> Bars:
    """Candles indexed by UTC day as Yahoo's bars: opening at 00:00 UTC, dollar volume, no corporate actions."""
    days = np.array(list(candles.index), dtype=object)
    close = candles["close"].to_numpy(dtype="float64")
    prices = {column: candles[column].to_numpy(dtype="float64") for column in ("open", "high", "low")}
    return Bars(
        days=days,
        ts=np.array([day_start_ms(day) // 1000 for day in days], dtype="int64"),
        **prices,
        close=close,
        adj_close=close,
        volume=np.round(candles["volume"].to_numpy(dtype="float64") * close),
        actions=(),
    )


class CoinCharts:
    """The coins some simulated exchange lists, as Yahoo's ``COIN-USD`` charts."""

    def __init__(self, market: CryptoMarket) -> None:
        self.market = market

    def coin(self, yahoo_symbol: str) -> str | None:
        """The coin ``yahoo_symbol`` (``BTC-USD``) stands for, or None when it is no listed coin's dollar chart."""
        coin, _, quote = yahoo_symbol.rpartition("-")
        return coin if quote == QUOTE and coin in self.market.coins() else None

    def served(self, coin: str, now: datetime) -> Bars:
        """Every UTC day of ``coin`` begun by ``now``: the closed ones, then today's candle as it stands at ``now``."""
        config, today = self.market.config, now.date()
        closed = self.market.coin_days(coin, config.history_start, today)
        whole_today = coin_path(config.seed, config.history_start, coin).loc[[today]]
        return partial_bar(_bars(pd.concat([closed, whole_today])), (now - _midnight(now)) / DAY)

    def meta(self, yahoo_symbol: str, now: datetime) -> dict[str, object]:
        """``chart.result[0].meta`` of ``yahoo_symbol`` at ``now``: a coin trades around the clock, in UTC days."""
        coin, today = yahoo_symbol.rpartition("-")[0], _utc_day(now)
        return {
            **COIN_META,
            "symbol": yahoo_symbol,
            "regularMarketTime": int(now.timestamp()),
            "longName": f"{coin} {QUOTE}",
            "shortName": f"{coin} {QUOTE}",
            "currentTradingPeriod": {"pre": today, "regular": today, "post": today},
        }

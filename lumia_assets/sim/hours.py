"""Hourly candles that agree with their day's candle: the same underlying path, split into 24 UTC hours.

Each day's hours are drawn from a generator seeded by the pair, the exchange and the day, so any hour can be
served without generating the others' days. They aggregate back to the daily candle exactly: the first open is
the day's open, the last close its close, the highest high its high, the lowest low its low, and the volumes sum
to its volume.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from lumia_assets.sim.randomwalk import symbol_rng

HOURS = 24
PRICE_DECIMALS = 8


def split_day(seed: int, exchange: str, symbol: str, day: date, candle: pd.Series) -> pd.DataFrame:
    """The 24 hourly candles of ``day`` (indexed by their tz-aware UTC open time) that make up ``candle``."""
    o, h, l, c, v = (float(candle[name]) for name in ("open", "high", "low", "close", "volume"))  # noqa: E741
    rng = symbol_rng(seed, f"{exchange}:{symbol}:{day.isoformat()}", "hours")
    walk = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 1.0, HOURS))])
    bridge = walk - np.linspace(0.0, 1.0, HOURS + 1) * walk[-1]  # starts and ends at 0
    spread = np.ptp(bridge)
    points = o + (c - o) * np.linspace(0.0, 1.0, HOURS + 1) + (bridge * (h - l) / spread * 0.8 if spread else 0.0)
    points = np.round(np.clip(points, l, h), PRICE_DECIMALS)
    points[0], points[-1] = o, c
    opens, closes = points[:-1], points[1:]
    top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
    wicks = rng.uniform(0.0, 0.5, (2, HOURS))
    highs = np.minimum(np.round(top + wicks[0] * (h - top), PRICE_DECIMALS), h)
    lows = np.maximum(np.round(bottom - wicks[1] * (bottom - l), PRICE_DECIMALS), l)
    highs[np.argmax(top)], lows[np.argmin(bottom)] = h, l  # the day's extremes fall in some hour
    weights = rng.dirichlet(np.full(HOURS, 2.0))
    volumes = np.round(weights * v, PRICE_DECIMALS)
    largest = int(np.argmax(weights))
    volumes[largest] = v - (volumes.sum() - volumes[largest])  # the hours sum to the day's volume
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    index = pd.DatetimeIndex([start + timedelta(hours=hour) for hour in range(HOURS)], name="open_time")
    return pd.DataFrame({"open": opens, "high": highs, "low": lows, "close": closes, "volume": volumes}, index=index)

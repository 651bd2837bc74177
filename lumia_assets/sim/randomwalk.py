"""Deterministic price paths for the simulated market.

Every instrument's path is a pure function of ``(seed, symbol)``: the same seed gives the same
bars on every endpoint, in every run, on every machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


def symbol_rng(seed: int, symbol: str, stream: str = "prices") -> np.random.Generator:
    """A generator seeded from ``seed``, ``symbol`` and ``stream`` (stable across processes)."""
    digest = hashlib.blake2b(f"{seed}:{stream}:{symbol}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@dataclass(frozen=True)
class OhlcvPath:
    """Raw daily bars as parallel arrays, one element per trading period."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def random_walk_ohlcv(
    rng: np.random.Generator,
    periods: int,
    start_price: float,
    daily_volatility: float = 0.02,
    mean_volume: float = 1_000_000.0,
    volume_decimals: int = 0,
) -> OhlcvPath:
    """A geometric random walk with consistent OHLC (low <= open, close <= high) and positive volume."""
    log_returns = rng.normal(0.0002, daily_volatility, periods)
    close = start_price * np.exp(np.cumsum(log_returns))
    prev_close = np.concatenate(([start_price], close[:-1]))
    open_ = prev_close * np.exp(rng.normal(0.0, daily_volatility / 4, periods))
    wick_up = np.abs(rng.normal(0.0, daily_volatility / 2, periods))
    wick_down = np.abs(rng.normal(0.0, daily_volatility / 2, periods))
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_down)
    volume = np.round(mean_volume * rng.lognormal(0.0, 0.5, periods), volume_decimals)
    return OhlcvPath(
        open=np.round(open_, 4),
        high=np.round(high, 4),
        low=np.round(low, 4),
        close=np.round(close, 4),
        volume=volume,
    )

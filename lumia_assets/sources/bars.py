"""Every bar-level rule in one place: which fetched bars may be stored, and why the others are rejected.

A rejected bar is never written and never replaced by an invented one: its cell stays missing, and gap
recovery reports it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import pandas as pd

from lumia_assets.frames import PRICE_COLUMNS

REJECTED_COLUMNS = ("symbol", "asset_class", "date", "reason")


@dataclass(frozen=True)
class SymbolHistory:
    """What one symbol's fetch produced: bars (``PRICE_COLUMNS``), actions, and its first trading day and name
    where the upstream told them."""

    bars: pd.DataFrame
    actions: pd.DataFrame
    listed_on: date | None = None
    name: str | None = None


@dataclass(frozen=True)
class CleanBars:
    """Bars fit to store (``PRICE_COLUMNS``) and the rejected ones with their reason (``REJECTED_COLUMNS``)."""

    bars: pd.DataFrame
    rejected: pd.DataFrame


def _reasons(bars: pd.DataFrame, expected_dates: Collection[date], last_closed: date) -> pd.Series:
    """The first rule each bar breaks, or None. Rules are checked in this order."""
    prices = bars[["open", "high", "low", "close"]]
    rules = [
        (bars["date"].map(lambda day: day > last_closed), "session not closed yet (partial bar)"),
        (~bars["date"].isin(expected_dates), "not a trading day of the calendar in the asked range"),
        (bars["close"].isna(), "close is NaN"),
        (prices.lt(0).any(axis=1) | prices.eq(0).any(axis=1), "non-positive price"),
        (bars["volume"].lt(0), "negative volume"),
        (bars["high"].lt(bars["low"]), "high below low"),
        (
            bars["high"].lt(bars[["open", "close"]].max(axis=1)) | bars["low"].gt(bars[["open", "close"]].min(axis=1)),
            "open or close outside the high-low range",
        ),
        (bars.duplicated(["symbol", "asset_class", "date"], keep=False), "more than one bar for the date"),
    ]
    reasons = pd.Series(None, index=bars.index, dtype="object")
    for broken, reason in reversed(rules):
        reasons = reasons.mask(broken.fillna(False).astype(bool), reason)
    return reasons


def clean_daily_bars(bars: pd.DataFrame, expected_dates: Collection[date], last_closed: date) -> CleanBars:
    """Keep the bars of ``expected_dates`` that are closed and sane; reject the rest, naming the rule broken.

    Open, high, low and volume may be missing (mutual funds publish only a NAV); a close may not.
    """
    expected = set(expected_dates)
    reasons = _reasons(bars, expected, last_closed)
    rejected = bars.loc[reasons.notna(), ["symbol", "asset_class", "date"]].assign(reason=reasons[reasons.notna()])
    return CleanBars(
        bars=bars.loc[reasons.isna(), list(PRICE_COLUMNS)].reset_index(drop=True),
        rejected=rejected.reset_index(drop=True)[list(REJECTED_COLUMNS)],
    )

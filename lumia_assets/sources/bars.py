"""Every bar- and action-level rule in one place: which fetched bars and corporate actions may be stored, and why
the others are rejected.

A rejected bar is never written and never replaced by an invented one: its cell stays missing, and gap
recovery reports it. A rejected action is never written either: it would corrupt every adjusted value before it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from lumia_assets.frames import CANDLE_COLUMNS, CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS

REJECTED_COLUMNS = ("symbol", "asset_class", "date", "reason")
REJECTED_CANDLE_COLUMNS = ("symbol", "interval", "open_time", "reason")


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


Rule = tuple[pd.Series, str]


def _shape_rules(bars: pd.DataFrame, key: list[str], duplicate: str) -> list[Rule]:
    """The rules every bar or candle obeys whatever its period: a close, positive prices, the OHLC order, one per
    ``key``."""
    prices = bars[["open", "high", "low", "close"]]
    return [
        (bars["close"].isna(), "close is NaN"),
        (prices.lt(0).any(axis=1) | prices.eq(0).any(axis=1), "non-positive price"),
        (bars["volume"].lt(0), "negative volume"),
        (bars["high"].lt(bars["low"]), "high below low"),
        (
            bars["high"].lt(bars[["open", "close"]].max(axis=1)) | bars["low"].gt(bars[["open", "close"]].min(axis=1)),
            "open or close outside the high-low range",
        ),
        (bars.duplicated(key, keep=False), duplicate),
    ]


def _first_broken(rules: list[Rule], index: pd.Index) -> pd.Series:
    """The first rule of ``rules`` each row breaks, or None."""
    reasons = pd.Series(None, index=index, dtype="object")
    for broken, reason in reversed(rules):
        reasons = reasons.mask(broken.fillna(False).astype(bool), reason)
    return reasons


def _reasons(bars: pd.DataFrame, expected_dates: Collection[date], last_closed: date) -> pd.Series:
    """The first rule each bar breaks, or None. Rules are checked in this order."""
    rules = [
        (bars["date"].map(lambda day: day > last_closed), "session not closed yet (partial bar)"),
        (~bars["date"].isin(expected_dates), "not a trading day of the calendar in the asked range"),
        *_shape_rules(bars, ["symbol", "asset_class", "date"], "more than one bar for the date"),
    ]
    return _first_broken(rules, bars.index)


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


def clean_candles(candles: pd.DataFrame, expected: Collection[datetime], last_closed: datetime) -> CleanBars:
    """Keep the candles (``CANDLE_COLUMNS``) opening at one of ``expected`` that have closed (opened at
    ``last_closed`` or before) and are sane; reject the rest, naming the rule broken (``REJECTED_CANDLE_COLUMNS``).

    A candle still open is never stored: its values would change before it closes.
    """
    opens = candles["open_time"]
    rules = [
        (opens.gt(pd.Timestamp(last_closed)), "candle not closed yet (still open)"),
        (~opens.isin(pd.DatetimeIndex(list(expected))), "not an hour of the asked range"),
        *_shape_rules(candles, ["symbol", "interval", "open_time"], "more than one candle for the hour"),
    ]
    reasons = _first_broken(rules, candles.index)
    rejected = candles.loc[reasons.notna(), ["symbol", "interval", "open_time"]].assign(reason=reasons[reasons.notna()])
    return CleanBars(
        bars=candles.loc[reasons.isna(), list(CANDLE_COLUMNS)].reset_index(drop=True),
        rejected=rejected.reset_index(drop=True)[list(REJECTED_CANDLE_COLUMNS)],
    )


@dataclass(frozen=True)
class CleanActions:
    """Actions fit to store (``CORPORATE_ACTION_COLUMNS``) and the rejected ones with their reason."""

    actions: pd.DataFrame
    rejected: pd.DataFrame


def _action_reasons(actions: pd.DataFrame, bar_days: pd.DataFrame) -> pd.Series:
    """The first rule each action breaks, or None; ``bar_days`` holds the (symbol, asset_class, date) of the
    answer's bars."""
    value, is_split = actions["value"].astype("float64"), actions["action"] == "split"
    on_a_bar = actions.merge(bar_days.drop_duplicates(), on=["symbol", "asset_class", "date"], how="left",
                             indicator=True)["_merge"].eq("both").to_numpy()  # fmt: skip
    rules = [
        (value.isna(), "amount is NaN"),
        (is_split & ~(value > 0), "split ratio is not positive"),
        (~is_split & (value < 0), "negative amount"),
        (pd.Series(~on_a_bar, index=actions.index), "no bar on the action's date"),
    ]
    reasons = pd.Series(None, index=actions.index, dtype="object")
    for broken, reason in reversed(rules):
        reasons = reasons.mask(broken.fillna(False).astype(bool), actions["action"] + ": " + reason)
    return reasons


def clean_actions(actions: pd.DataFrame, bar_days: pd.DataFrame) -> CleanActions:
    """Keep the possible actions; reject a NaN or negative amount, a non-positive split ratio, and an action dated
    on no bar of its answer (``bar_days``: symbol, asset_class, date), naming the rule broken."""
    reasons = _action_reasons(actions, bar_days)
    rejected = actions.loc[reasons.notna(), ["symbol", "asset_class", "date"]].assign(reason=reasons[reasons.notna()])
    return CleanActions(
        actions=actions.loc[reasons.isna(), list(CORPORATE_ACTION_COLUMNS)].reset_index(drop=True),
        rejected=rejected.reset_index(drop=True)[list(REJECTED_COLUMNS)],
    )

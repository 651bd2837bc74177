"""The price-adjustment maths, shared by the sources (un-adjusting what Yahoo serves) and the warehouse (deriving
adjusted series from the as-traded record). Pure functions over pandas and numpy; no I/O.

Conventions (Yahoo's, and the CRSP-style multiplicative back-adjustment):

* A split of ``ratio`` (2.0 for 2:1, 0.1 for 1:10) with ex-date E divides every earlier price by ``ratio`` and
  multiplies every earlier volume by it.
* A distribution of ``cash`` per share with ex-date E multiplies every earlier price by
  ``1 - cash / previous close``, the previous close being the last close before E, in E's share basis.
  ``cash`` is the dividend plus the capital gain, except where the capital gain is already inside the dividend
  (``in_dividend``): then the dividend alone.
* A bar dated D is adjusted by every action with an ex-date after D; a bar on the ex-date itself is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

ACTION_FRAME_COLUMNS = ("date", "action", "value", "in_dividend")
FACTOR_COLUMNS = ("valid_from", "valid_until", "split_factor", "dividend_factor")
FIRST_DAY = date(1900, 1, 1)  # valid_from of a symbol's first segment: every bar before its first action
DISTRIBUTIONS = ("dividend", "capital_gain")
NO_GAINS = pd.DataFrame(columns=["dividend", "capital_gain"])  # read-only: most symbols have no such day


def _days(values: Sequence[date] | pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_datetime(pd.Series(values, dtype="object")).to_numpy(dtype="datetime64[ns]")


def later_split_ratios(dates: Sequence[date], actions: pd.DataFrame) -> np.ndarray:
    """For each of ``dates``, the product of the ratios of the splits in ``actions`` dated after it."""
    splits = actions[actions["action"] == "split"].sort_values("date")
    split_days, ratios = _days(splits["date"]), splits["value"].to_numpy(dtype="float64")
    after = np.append(np.cumprod(ratios[::-1])[::-1], 1.0)  # after[k]: product of ratios[k:]
    return after[np.searchsorted(split_days, _days(dates), side="right")]


def gains_with_dividends(actions: pd.DataFrame) -> pd.DataFrame:
    """The ex-dates of ``actions`` (``date``, ``action``, ``value``) paying a capital gain and a dividend at least as
    large, the days whose dividend may include the gain (index: date; columns: dividend, capital_gain). Most
    symbols pay no capital gain: they cost one comparison, not a pivot."""
    kinds = actions["action"]
    if not (kinds.eq("capital_gain").any() and kinds.eq("dividend").any()):
        return NO_GAINS
    paid = actions[kinds.isin(DISTRIBUTIONS)].pivot_table(index="date", columns="action", values="value", aggfunc="sum")
    return paid[(paid["capital_gain"] > 0) & (paid["dividend"] >= paid["capital_gain"])]


def capital_gains_in_dividends(actions: pd.DataFrame, closes: pd.Series) -> set[date]:
    """Ex-dates whose capital gain the same day's dividend already includes, as the price drop shows it.

    A fund's NAV falls by what it distributes. Where a day has both a dividend and a capital gain, and the
    dividend is at least the capital gain, the as-traded close fell by about the dividend alone (the capital
    gain is inside it) or by the dividend plus the capital gain (two payments): whichever the drop is closer to.
    ``closes`` are as-traded closes indexed by date; a day without a previous close is left undecided (False).
    """
    inside = set()
    for day, row in gains_with_dividends(actions).iterrows():
        before = closes[closes.index < day]
        if before.empty or day not in closes.index:
            continue
        previous = float(before.iloc[-1])
        drop = (previous - float(closes[day])) / previous
        dividend_only = abs(drop - row["dividend"] / previous)
        both_paid = abs(drop - (row["dividend"] + row["capital_gain"]) / previous)
        if dividend_only < both_paid:
            inside.add(day)
    return inside


def distribution_multipliers(actions: pd.DataFrame, closes: pd.Series) -> pd.Series:
    """``1 - cash / previous close`` per distribution ex-date (index: date), in as-traded terms.

    ``actions`` has ``ACTION_FRAME_COLUMNS`` in as-traded amounts; ``closes`` are as-traded closes indexed by
    date, sorted. An ex-date without an earlier close adjusts nothing (there is nothing before it).
    """
    counted = actions[
        (actions["action"] == "dividend") | ((actions["action"] == "capital_gain") & ~actions["in_dividend"])
    ]
    cash = counted.groupby("date")["value"].sum().sort_index()
    if cash.empty or closes.empty:
        return pd.Series(dtype="float64")
    close_days = _days(closes.index)
    previous = np.searchsorted(close_days, _days(cash.index), side="left") - 1
    known = previous >= 0
    cash = cash[known]
    previous_days = [closes.index[i] for i in previous[known]]
    previous_close = closes.to_numpy(dtype="float64")[previous[known]]
    # the previous close in the ex-date's share basis: a split between the two divides it
    splits_between = later_split_ratios(previous_days, actions) / later_split_ratios(list(cash.index), actions)
    return pd.Series(1.0 - cash.to_numpy() * splits_between / previous_close, index=cash.index)


def cumulative_factors(actions: pd.DataFrame, closes: pd.Series) -> pd.DataFrame:
    """Piecewise-constant adjustment factors (``FACTOR_COLUMNS``) for one symbol.

    A bar dated D with ``valid_from <= D < valid_until`` has split-adjusted price ``price * split_factor``,
    split-adjusted volume ``volume / split_factor``, and adjusted close ``close * split_factor *
    dividend_factor``. Bars on or after the last action date have no segment: their factors are 1.
    """
    multipliers = distribution_multipliers(actions, closes)
    splits = actions[actions["action"] == "split"].groupby("date")["value"].prod()
    events = sorted(set(multipliers.index) | set(splits.index))
    if not events:
        return pd.DataFrame(columns=list(FACTOR_COLUMNS))
    price = np.array([1.0 / splits.get(day, 1.0) for day in events])
    cash = np.array([multipliers.get(day, 1.0) for day in events])
    return pd.DataFrame(
        {
            "valid_from": [FIRST_DAY, *events[:-1]],
            "valid_until": events,
            "split_factor": np.cumprod(price[::-1])[::-1],
            "dividend_factor": np.cumprod(cash[::-1])[::-1],
        },
        columns=list(FACTOR_COLUMNS),
    )


def factors_on(dates: Sequence[date], factors: pd.DataFrame) -> pd.DataFrame:
    """``split_factor`` and ``dividend_factor`` of each of ``dates`` from one symbol's ``cumulative_factors``."""
    segment = np.searchsorted(_days(factors["valid_until"]), _days(dates), side="right")
    split = np.append(factors["split_factor"].to_numpy(dtype="float64"), 1.0)
    dividend = np.append(factors["dividend_factor"].to_numpy(dtype="float64"), 1.0)
    return pd.DataFrame({"split_factor": split[segment], "dividend_factor": dividend[segment]})

"""Corporate actions of the simulated equities: how they are drawn, and how Yahoo adjusts prices for them.

Amounts are as traded: a split's value is its ratio (2.0 for 2:1, 0.1 for 1:10), and a dividend or capital gain
is the cash per share paid on its ex-date. Yahoo serves them as of the request: every price, volume and cash
amount of a bar is adjusted for the splits that went ex after it (and have gone ex by now), and ``adjclose``
folds in the distributions that have gone ex by now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from lumia_assets.sim.config import SimConfig
from lumia_assets.sim.randomwalk import OhlcvPath

ACTIONS = ("split", "dividend", "capital_gain")
ACTION_COLUMNS = ["date", "action", "value", "in_dividend"]
SPLIT_RATIOS = (2.0, 3.0, 0.1)  # 2:1, 3:1 and a 1:10 reverse split
PRICE_FIELDS = ("open", "high", "low", "close")
MIN_PRICE = 0.0001  # as-traded prices are rounded to 4 decimals, never to zero


@dataclass(frozen=True)
class CorporateAction:
    """A split (value = ratio, 2.0 for 2:1), dividend or capital gain (value = cash per share)."""

    position: int  # index of the ex-date in the instrument's bars
    day: date
    action: str
    value: float
    in_dividend: bool = False  # a capital gain already included in the same day's dividend amount

    @property
    def cash(self) -> float:
        """What it distributes for the adjusted close: nothing for a split or a gain inside the day's dividend."""
        return 0.0 if self.action == "split" or self.in_dividend else self.value


def check_value(action: str, value: float) -> None:
    """Refuse an action kind or amount the market cannot carry."""
    if action not in ACTIONS:
        raise ValueError(f"unknown corporate action {action!r}; choose one of {ACTIONS}")
    if not value > 0 or (action == "split" and value == 1):
        raise ValueError(f"a {action} needs a positive value{' other than 1' if action == 'split' else ''}: {value}")


def actions_frame(actions: Iterable[CorporateAction]) -> pd.DataFrame:
    """date, action, value, in_dividend."""
    rows = [(a.day, a.action, a.value, a.in_dividend) for a in actions]
    return pd.DataFrame(rows, columns=ACTION_COLUMNS).astype({"value": "float64", "in_dividend": "bool"})


# -- drawing ------------------------------------------------------------------------------------------------
def draw_actions(
    config: SimConfig, rng: np.random.Generator, days: np.ndarray, walk: OhlcvPath, is_fund: bool
) -> tuple[CorporateAction, ...]:
    """Splits for a ``split_fraction`` of stocks, quarterly dividends, and yearly capital gains for some funds.

    Cash amounts are yields of the as-traded close before the ex-date, so a split leaves yields alike.
    """
    count = len(walk.close)
    splits = []
    if not is_fund and count > 300 and rng.random() < config.split_fraction:
        position = int(rng.integers(100, count - 100))
        splits.append(CorporateAction(position, days[position], "split", float(rng.choice(SPLIT_RATIOS))))
    close = as_traded(walk, count, split_steps(count, splits)).close
    dividends = _dividends(rng, days, close) if rng.random() < config.dividend_fraction else []
    gains = []
    if is_fund and rng.random() < 0.5:
        gains, dividends = _capital_gains(rng, days, close, dividends)
    return tuple(sorted([*splits, *dividends, *gains], key=lambda a: (a.position, a.action)))


def _dividends(rng: np.random.Generator, days: np.ndarray, close: np.ndarray) -> list[CorporateAction]:
    """Quarterly dividends at a yield drawn per instrument."""
    quarterly_yield = float(rng.uniform(0.002, 0.01))
    return [
        CorporateAction(p, days[p], "dividend", round(float(close[p - 1]) * quarterly_yield, 4))
        for p in range(int(rng.integers(20, 63)), len(close), 63)
    ]


def _capital_gains(
    rng: np.random.Generator, days: np.ndarray, close: np.ndarray, dividends: list[CorporateAction]
) -> tuple[list[CorporateAction], list[CorporateAction]]:
    """Yearly capital gains, and the dividends beside them.

    Half of these funds pay the gain inside that day's dividend (dividend = income + gain, as Yahoo reports
    them), and then always pay a dividend on a gain's ex-date.
    """
    positions = range(int(rng.integers(150, 250)), len(close), 252)
    inside = rng.random() < 0.5
    by_position = {d.position: d for d in dividends}
    gains = []
    for p in positions:
        gain = round(float(close[p - 1]) * 0.02, 4)
        gains.append(CorporateAction(p, days[p], "capital_gain", gain, in_dividend=inside))
        if inside:
            income = by_position[p].value if p in by_position else round(float(close[p - 1]) * 0.004, 4)
            by_position[p] = CorporateAction(p, days[p], "dividend", round(income + gain, 4))
    return gains, list(by_position.values())


# -- adjusting ----------------------------------------------------------------------------------------------
def split_steps(count: int, actions: Iterable[CorporateAction]) -> np.ndarray | None:
    """Per bar of ``count``, the ratio of the splits going ex on it (1 elsewhere); None without a split."""
    splits = [a for a in actions if a.action == "split" and a.position < count]
    if not splits:
        return None
    steps = np.ones(count)
    for split in splits:
        steps[split.position] *= split.value
    return steps


def _distribution_drops(close: np.ndarray, actions: Iterable[CorporateAction]) -> np.ndarray | None:
    """Per bar, the share of the price that the distributions going ex on it leave; None without one.

    On its ex-date a share is worth what it was less the cash paid out: the price opens lower by
    ``cash / previous close``, as a fund's NAV does on a distribution. This is what shows whether a capital gain
    was paid inside the day's dividend or beside it.
    """
    paid = [a for a in actions if a.cash > 0 and 0 < a.position < len(close)]
    if not paid:
        return None
    drops = np.ones(len(close))
    for action in paid:
        drops[action.position] *= max(0.0, 1.0 - action.cash / float(close[action.position - 1]))
    return drops


def as_traded(
    walk: OhlcvPath, count: int, steps: np.ndarray | None, actions: Iterable[CorporateAction] = ()
) -> OhlcvPath:
    """The first ``count`` bars of ``walk`` as they traded: from a split's ex-date on, prices ÷ ratio, volume × it;
    from a distribution's ex-date on, prices lower by the cash it paid out."""
    since = np.cumprod(steps) if steps is not None else np.ones(count)
    drops = _distribution_drops(walk.close[:count] / since, actions)
    if steps is None and drops is None:
        return OhlcvPath(*(getattr(walk, name)[:count] for name in (*PRICE_FIELDS, "volume")))
    left = np.cumprod(drops) if drops is not None else np.ones(count)
    prices = (np.maximum(np.round(getattr(walk, name)[:count] * left / since, 4), MIN_PRICE) for name in PRICE_FIELDS)
    return OhlcvPath(*prices, volume=np.round(walk.volume[:count] * since))


def later_splits(steps: np.ndarray | None) -> np.ndarray | None:
    """Per bar, the product of the ratios of the splits that went ex after it; None without a split."""
    if steps is None:
        return None
    return np.append(np.cumprod(steps[::-1])[::-1][1:], 1.0)


def split_adjusted(traded: OhlcvPath, later: np.ndarray | None) -> OhlcvPath:
    """Bars as Yahoo serves them: prices ÷ and volume × the ratios of the later splits (volume to whole shares).

    Prices keep full float precision, so that a client can recover the as-traded prices exactly."""
    if later is None:
        return traded
    prices = (getattr(traded, name) / later for name in PRICE_FIELDS)
    return OhlcvPath(*prices, volume=np.round(traded.volume * later))


def split_adjusted_actions(
    actions: tuple[CorporateAction, ...], later: np.ndarray | None
) -> tuple[CorporateAction, ...]:
    """Cash amounts ÷ the ratios of the splits that went ex after them; split ratios stay."""
    if later is None:
        return actions
    return tuple(a if a.action == "split" else replace(a, value=a.value / later[a.position]) for a in actions)


def adjustment_factors(close: np.ndarray, actions: Iterable[CorporateAction]) -> np.ndarray:
    """Yahoo's multiplicative back-adjustment: the cash distributed on ex-date ``p`` (all in ``close``'s basis)
    scales every bar before ``p`` by ``1 - cash / close[p - 1]``."""
    paid = [a for a in actions if a.cash and a.position > 0]
    if not paid:
        return np.ones(len(close))
    multipliers = np.ones(len(close))
    for action in paid:
        multipliers[action.position - 1] -= action.cash / close[action.position - 1]
    return np.cumprod(multipliers[::-1])[::-1]

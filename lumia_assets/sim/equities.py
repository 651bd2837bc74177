"""The simulated US equity market: listings in three directories, NYSE-session prices and corporate actions.

The model is as traded: each instrument's path is what traded each session, and a split's ex-date divides its
prices by the ratio (and multiplies its volume). Yahoo serves the path as of the clock (see ``sim/actions.py``):
split-adjusted for the splits gone ex by now, with an adjusted close folding in the distributions gone ex by now.
Everything derives from ``SimConfig``, the clock and the mutations tests make (all undone by ``reset``).
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from lumia_assets.sim.actions import (
    CorporateAction,
    actions_frame,
    adjustment_factors,
    as_traded,
    check_value,
    draw_actions,
    later_splits,
    split_adjusted,
    split_adjusted_actions,
    split_steps,
)
from lumia_assets.sim.clock import EVENING, NEW_YORK, SimClock
from lumia_assets.sim.config import SimConfig
from lumia_assets.sim.randomwalk import OhlcvPath, random_walk_ohlcv, symbol_rng

HORIZON_END = date(2030, 12, 31)  # paths span a fixed horizon, so history never changes with the clock
SERIES_CACHE_SIZE = 4096  # price paths kept in memory (about 130 kB each)
WORDS = ("Apex", "Atlas", "Beacon", "Birch", "Cedar", "Crest", "Delta", "Ember", "Falcon", "Granite", "Harbor",
         "Horizon", "Iron", "Juniper", "Keystone", "Lumen", "Maple", "Meridian", "Nova", "Oak", "Orion", "Pioneer",
         "Quartz", "Redwood", "Sierra", "Summit", "Terra", "Titan", "Union", "Vertex", "Willow", "Zenith")  # fmt: skip
FUND_FAMILIES = ("Vanguard", "Fidelity", "American Funds", "T. Rowe Price", "BlackRock", "PIMCO", "Franklin")
FUND_TYPES = ("MF", "MS", "MS", "$$")
OTHER_EXCHANGES = {  # otherlisted.txt Exchange code -> (exchange, Yahoo's exchangeName)
    "N": ("NYSE", "NYQ"),
    "A": ("NYSE AMERICAN", "ASE"),
    "P": ("NYSE ARCA", "PCX"),
    "Z": ("CBOE BZX", "BTS"),
}
UNIVERSE_COLUMNS = [
    "symbol",
    "yahoo_symbol",
    "name",
    "asset_class",
    "exchange",
    "directory",
    "test_issue",
    "listed_on",
    "delisted_on",
    "fund_family",
]


@dataclass(frozen=True)
class Instrument:
    """One listing, with everything the directories and Yahoo need to serve it."""

    symbol: str  # NASDAQ's spelling (the ACT Symbol on otherlisted.txt)
    yahoo_symbol: str
    name: str
    asset_class: str  # stock, etf or mutual_fund
    directory: str  # nasdaqlisted, otherlisted or mfundslist
    exchange: str  # NASDAQ, NYSE, NYSE AMERICAN, NYSE ARCA, CBOE BZX or NMFQS (funds)
    exchange_code: str  # Market Category (nasdaqlisted), Exchange (otherlisted) or Type (mfundslist)
    yahoo_exchange: str  # Yahoo's exchangeName: NMS, NYQ, ASE, PCX, BTS or NAS
    cqs_symbol: str
    nasdaq_symbol: str
    test_issue: bool = False
    listed_on: date | None = None  # None: listed since before history_start
    delisted_on: date | None = None  # first day it no longer trades
    fund_family: str | None = None
    share_class_of: str | None = None  # a renamed fund: the first ticker of its SEC share class (it keeps the id)

    def listed_at(self, day: date) -> bool:
        """True when a directory published on ``day`` lists this instrument."""
        return (self.listed_on is None or self.listed_on <= day) and (
            self.delisted_on is None or self.delisted_on > day
        )


@dataclass(frozen=True)
class Bars:
    """Bars as Yahoo serves them, as parallel arrays; ``ts`` is each session's open in epoch seconds."""

    days: np.ndarray
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    actions: tuple[CorporateAction, ...]  # amounts as served: split-adjusted like the bars

    def __len__(self) -> int:
        return len(self.ts)

    def _select(self, keep: slice | np.ndarray) -> Bars:
        days = set(self.days[keep])
        actions = tuple(a for a in self.actions if a.day in days)
        arrays = (self.days, self.ts, self.open, self.high, self.low, self.close, self.adj_close, self.volume)
        return Bars(*(array[keep] for array in arrays), actions=actions)

    def opened_in(self, start_ts: int, end_ts: int) -> Bars:
        """The bars whose session opened in ``[start_ts, end_ts)``."""
        return self._select(slice(*np.searchsorted(self.ts, [start_ts, end_ts])))

    def between(self, start: date, end: date) -> Bars:
        """The bars of sessions from ``start`` to ``end``, inclusive."""
        return self._select((self.days >= start) & (self.days <= end))

    def tail(self, count: int) -> Bars:
        return self._select(slice(max(0, len(self) - count), None))

    def without(self, days: Iterable[date]) -> Bars:
        """These bars minus the sessions in ``days``."""
        return self._select(~np.isin(self.days, list(days)))

    def frame(self) -> pd.DataFrame:
        """date, open, high, low, close, adj_close, volume."""
        columns = ("open", "high", "low", "close", "adj_close", "volume")
        return pd.DataFrame({"date": list(self.days), **{c: getattr(self, c) for c in columns}})


@dataclass(frozen=True)
class _PricePath:
    """An instrument's random walk over every session from its listing to the horizon, and its drawn actions.

    The walk is unsplit; the as-traded bars divide it by the splits gone ex (drawn or added by a test).
    """

    first: int  # calendar index of its first session
    walk: OhlcvPath
    actions: tuple[CorporateAction, ...]


@dataclass(frozen=True)
class _Traded:
    """An instrument's first bars as they traded, with the corporate actions whose ex-dates they include."""

    window: slice  # their calendar sessions
    bars: OhlcvPath
    actions: tuple[CorporateAction, ...]  # as-traded amounts
    steps: np.ndarray | None  # per bar, the ratio of the split going ex on it; None without a split


class _Sessions:
    """NYSE sessions from ``history_start`` to the horizon, with their open, close and 18:00 New York times."""

    def __init__(self, start: date) -> None:
        calendar = xcals.get_calendar("XNYS", start=start, end=HORIZON_END)
        sessions = calendar.sessions_in_range(start, HORIZON_END)
        self.days = np.array([s.date() for s in sessions], dtype=object)
        self.opens = (calendar.opens.loc[sessions].astype("int64") // 10**9).to_numpy()
        self.closes = (calendar.closes.loc[sessions].astype("int64") // 10**9).to_numpy()
        evening = timedelta(hours=EVENING.hour, minutes=EVENING.minute)
        evenings = (sessions.tz_localize(None) + evening).tz_localize(NEW_YORK)
        self.evenings = (evenings.astype("int64") // 10**9).to_numpy()

    def index_of(self, day: date) -> int:
        """Index of the first session on or after ``day``."""
        return int(np.searchsorted(self.days, day))

    def is_session(self, day: date) -> bool:
        index = self.index_of(day)
        return index < len(self.days) and self.days[index] == day

    def opened_by(self, now: datetime) -> int:
        """How many sessions have opened by ``now`` (the last may still be in progress)."""
        return int(np.searchsorted(self.opens, now.timestamp(), side="right"))

    def closed_by(self, now: datetime) -> int:
        """How many sessions have closed by ``now``."""
        return int(np.searchsorted(self.closes, now.timestamp(), side="right"))

    def evening_after(self, now: datetime, sessions: int) -> datetime:
        """18:00 New York of the ``sessions``-th session whose 18:00 is after ``now``."""
        index = int(np.searchsorted(self.evenings, now.timestamp(), side="right")) + sessions - 1
        if index >= len(self.days):
            raise ValueError(f"the simulated market has no sessions after {HORIZON_END}: cannot advance that far")
        return datetime.fromtimestamp(int(self.evenings[index]), NEW_YORK)


class EquityMarket:
    """Deterministic equity universe and prices on a clock (its own unless given the simulator's).

    Mutations (``delist``, ``list_new``, ``add_split``, ``add_dividend``, ``add_capital_gain``, ``restate_action``)
    are undone by ``reset``.
    """

    def __init__(self, config: SimConfig, clock: SimClock | None = None) -> None:
        self.config = config
        self.clock = clock or SimClock.from_config(config)
        self.sessions = _Sessions(config.history_start)
        self._lock = threading.RLock()
        self._generated = _UniverseBuilder(config, self.sessions, self.clock.now().date()).build()
        self._instruments: dict[str, Instrument] = {}
        self._by_yahoo: dict[str, Instrument] = {}
        self._added: dict[str, dict[tuple[date, str], CorporateAction]] = {}  # per symbol, over the drawn actions
        self._cached_path = lru_cache(maxsize=SERIES_CACHE_SIZE)(self._generate_path)
        self.reset()

    # -- universe ------------------------------------------------------------------------------------------
    def universe(self) -> pd.DataFrame:
        """Every instrument ever listed: spellings, class, exchange, directory, test flag, lifecycle, family."""
        with self._lock:
            rows = [{column: getattr(i, column) for column in UNIVERSE_COLUMNS} for i in self._instruments.values()]
        frame = pd.DataFrame(rows, columns=UNIVERSE_COLUMNS)
        for column in ("listed_on", "delisted_on"):  # datetime.date or None
            frame[column] = pd.Series([row[column] for row in rows], dtype=object)
        return frame.sort_values(["directory", "symbol"], ignore_index=True)

    def listed(self, directory: str) -> list[Instrument]:
        """What ``directory`` (nasdaqlisted, otherlisted or mfundslist) lists today, test issues included."""
        today = self.clock.now().date()
        with self._lock:
            listed = [i for i in self._instruments.values() if i.directory == directory and i.listed_at(today)]
        return sorted(listed, key=lambda i: i.symbol)

    def by_yahoo_symbol(self, yahoo_symbol: str) -> Instrument | None:
        with self._lock:
            return self._by_yahoo.get(yahoo_symbol)

    def delist(self, symbol: str, day: date) -> None:
        """From ``day`` on, ``symbol`` is gone from its directory and has no new bars."""
        self._put(replace(self._instrument(symbol), delisted_on=day))

    def list_new(self, symbol: str, name: str, exchange: str, asset_class: str, day: date) -> None:
        """List ``symbol`` from ``day`` on ``exchange`` (NASDAQ, or NYSE and the other CQS exchanges).

        A symbol that exists already is relisted under ``name``.
        """
        with self._lock:
            existing = self._instruments.get(symbol)
        if existing is not None:
            self._put(replace(existing, name=name, delisted_on=None))
        elif exchange.upper() == "NASDAQ":
            self._put(_nasdaq_listing(symbol, name, asset_class, "Q", listed_on=day))
        else:
            code = next((c for c, (full, _) in OTHER_EXCHANGES.items() if full == exchange.upper()), "N")
            self._put(_other_listing(symbol, name, asset_class, code, listed_on=day))

    def rename(self, symbol: str, new_symbol: str, day: date) -> None:
        """From ``day`` on, the fund ``symbol`` trades as ``new_symbol``: the old ticker leaves the directory, the
        new one is listed with its own bars, and SEC keeps the share class and series ids of the old one."""
        old = self._instrument(symbol)
        if old.asset_class != "mutual_fund":
            raise ValueError(f"{symbol} is a {old.asset_class}: only funds rename here (SEC's class id links them)")
        with self._lock:
            if new_symbol in self._instruments:
                raise ValueError(f"cannot rename {symbol} to {new_symbol}: the simulated market lists it already")
            self.delist(symbol, day)
            spellings = {"yahoo_symbol": new_symbol, "cqs_symbol": new_symbol, "nasdaq_symbol": new_symbol}
            self._put(replace(old, symbol=new_symbol, **spellings, listed_on=day, delisted_on=None,
                              share_class_of=old.share_class_of or symbol))  # fmt: skip

    def reset(self) -> None:
        """Undo every mutation (the clock is the simulator's to reset)."""
        with self._lock:
            self._instruments = {i.symbol: i for i in self._generated}
            self._by_yahoo = {i.yahoo_symbol: i for i in self._generated}
            self._added = {}

    def _instrument(self, symbol: str) -> Instrument:
        with self._lock:
            if symbol not in self._instruments:
                raise KeyError(f"the simulated equity market has no symbol {symbol!r}")
            return self._instruments[symbol]

    def _put(self, instrument: Instrument) -> None:
        with self._lock:
            self._instruments[instrument.symbol] = instrument
            self._by_yahoo[instrument.yahoo_symbol] = instrument

    # -- corporate-action mutations ------------------------------------------------------------------------
    def add_split(self, symbol: str, day: date, ratio: float) -> None:
        """``symbol`` splits on ex-date ``day`` by ``ratio`` (2.0 for 2:1, 0.1 for 1:10): prices ÷ it, volume × it."""
        self._add(symbol, day, "split", ratio)

    def add_dividend(self, symbol: str, day: date, amount: float) -> None:
        """``symbol`` pays ``amount`` per share (as traded) with ex-date ``day``."""
        self._add(symbol, day, "dividend", amount)

    def add_capital_gain(self, symbol: str, day: date, amount: float, in_dividend: bool = False) -> None:
        """``symbol`` distributes a capital gain of ``amount`` with ex-date ``day``.

        With ``in_dividend`` the gain is paid inside that day's dividend: its amount grows by ``amount`` (a
        dividend of ``amount`` if there was none), and the adjusted close counts the dividend only.
        """
        with self._lock:
            self._add(symbol, day, "capital_gain", amount, in_dividend)
            if in_dividend:
                self._change_dividend(symbol, day, amount)

    def restate_action(self, symbol: str, day: date, action: str, amount: float) -> None:
        """Change the as-traded amount (a split's ratio) of ``symbol``'s ``action`` on ``day``.

        Restating a capital gain paid inside the dividend changes that dividend by the same difference.
        """
        check_value(action, amount)
        with self._lock:
            old = self._actions_by_key(symbol).get((day, action))
            if old is None:
                raise ValueError(f"{symbol} has no {action} on {day} to restate; add_{action} creates one")
            self._store(symbol, replace(old, value=amount))
            if old.in_dividend:
                self._change_dividend(symbol, day, amount - old.value)

    def _add(self, symbol: str, day: date, action: str, value: float, in_dividend: bool = False) -> None:
        check_value(action, value)
        with self._lock:
            if (day, action) in self._actions_by_key(symbol):
                raise ValueError(f"{symbol} has a {action} on {day} already; restate_action changes its amount")
            position = self._position(self._instrument(symbol), day)
            self._store(symbol, CorporateAction(position, day, action, float(value), in_dividend))

    def _change_dividend(self, symbol: str, day: date, difference: float) -> None:
        """Grow (or shrink) the dividend of ``day`` by ``difference``; create it if there is none."""
        dividend = self._actions_by_key(symbol).get((day, "dividend"))
        if dividend is None:
            dividend = CorporateAction(self._position(self._instrument(symbol), day), day, "dividend", 0.0)
        value = round(dividend.value + difference, 10)
        check_value("dividend", value)
        self._store(symbol, replace(dividend, value=value))

    def _position(self, instrument: Instrument, day: date) -> int:
        """``day``'s index in ``instrument``'s bars; a ValueError unless it is one of its sessions."""
        first = self._path(instrument).first
        index = self.sessions.index_of(day)
        if not self.sessions.is_session(day) or index < first:
            listed = self.sessions.days[first]
            raise ValueError(f"{day} is not an NYSE session of {instrument.symbol} (listed {listed}); pick one")
        if instrument.delisted_on is not None and day >= instrument.delisted_on:
            raise ValueError(f"{instrument.symbol} is delisted from {instrument.delisted_on}; {day} has no bar")
        return index - first

    def _store(self, symbol: str, action: CorporateAction) -> None:
        with self._lock:
            self._added.setdefault(symbol, {})[(action.day, action.action)] = action

    def _actions_by_key(self, symbol: str) -> dict[tuple[date, str], CorporateAction]:
        """Every corporate action of ``symbol``, drawn or added, by (ex-date, action)."""
        actions = self._actions(symbol, self._path(self._instrument(symbol)))
        return {(a.day, a.action): a for a in actions}

    def _actions(self, symbol: str, path: _PricePath) -> tuple[CorporateAction, ...]:
        """``path``'s drawn actions, with those a test added or restated over them, in ex-date order."""
        with self._lock:
            added = self._added.get(symbol)
        if not added:
            return path.actions
        merged = {**{(a.day, a.action): a for a in path.actions}, **added}
        return tuple(sorted(merged.values(), key=lambda a: (a.position, a.action)))

    # -- prices --------------------------------------------------------------------------------------------
    def served_bars(self, instrument: Instrument, now: datetime) -> Bars:
        """What Yahoo serves at ``now``: every session opened so far, the last one in progress while open."""
        opened = self.sessions.opened_by(now)
        bars = self._bars(instrument, opened)
        in_progress = opened > self.sessions.closed_by(now)
        if in_progress and len(bars) and bars.ts[-1] == self.sessions.opens[opened - 1]:
            return partial_bar(bars, self._progress(opened - 1, now))
        return bars

    def daily_bars(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        """Truth: ``symbol``'s closed sessions from ``start`` to ``end`` inclusive, exactly as Yahoo serves them now.

        OHLC and volume are split-adjusted for the splits gone ex by now, and ``adj_close`` folds in the
        distributions gone ex by now, like Yahoo's: once a session with an ex-date opens, every earlier bar is
        adjusted for it, although the session itself is not closed yet.
        """
        now = self.clock.now()
        last_closed = self.sessions.days[self.sessions.closed_by(now) - 1]
        served = self._bars(self._instrument(symbol), self.sessions.opened_by(now))
        return served.between(start, min(end, last_closed)).frame()

    def as_traded_bars(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        """Truth: ``symbol``'s closed sessions from ``start`` to ``end`` inclusive, as they traded.

        date, open, high, low, close, volume: unadjusted, so the clock only decides the last session.
        """
        traded = self._traded(self._instrument(symbol), self.sessions.closed_by(self.clock.now()))
        columns = {name: getattr(traded.bars, name) for name in ("open", "high", "low", "close", "volume")}
        frame = pd.DataFrame({"date": list(self.sessions.days[traded.window]), **columns})
        return frame[(frame["date"] >= start) & (frame["date"] <= end)].reset_index(drop=True)

    def corporate_actions(self, symbol: str) -> pd.DataFrame:
        """Truth: ``symbol``'s splits, dividends and capital gains with ex-dates up to the last closed session.

        date, action, value, in_dividend: values as traded (a split's ratio, cash per share as paid), and
        ``in_dividend`` True for a capital gain already included in that day's dividend.
        """
        closed = self.sessions.closed_by(self.clock.now())
        return actions_frame(self._traded(self._instrument(symbol), closed).actions)

    def served_actions(self, symbol: str) -> pd.DataFrame:
        """What Yahoo's chart ``events`` say now: ex-dates of the sessions opened so far, cash split-adjusted."""
        return actions_frame(self._bars(self._instrument(symbol), self.sessions.opened_by(self.clock.now())).actions)

    def _traded(self, instrument: Instrument, sessions_seen: int) -> _Traded:
        """The instrument's bars of the first ``sessions_seen`` calendar sessions, as they traded."""
        path = self._path(instrument)
        last = sessions_seen
        if instrument.delisted_on is not None:
            last = min(last, self.sessions.index_of(instrument.delisted_on))
        count = max(0, last - path.first)
        actions = tuple(a for a in self._actions(instrument.symbol, path) if a.position < count)
        steps = split_steps(count, actions)
        window = slice(path.first, path.first + count)
        # a fund's NAV falls by exactly what it distributes; a stock's move on its ex-date is left to the walk
        paid_out = actions if instrument.asset_class == "mutual_fund" else ()
        return _Traded(window, as_traded(path.walk, count, steps, paid_out), actions, steps)

    def _bars(self, instrument: Instrument, sessions_seen: int) -> Bars:
        """The instrument's bars of the first ``sessions_seen`` calendar sessions, served as of then."""
        traded = self._traded(instrument, sessions_seen)
        later = later_splits(traded.steps)
        served = split_adjusted(traded.bars, later)
        actions = split_adjusted_actions(traded.actions, later)
        return Bars(
            days=self.sessions.days[traded.window],
            ts=self.sessions.opens[traded.window],
            open=served.open,
            high=served.high,
            low=served.low,
            close=served.close,
            adj_close=served.close * adjustment_factors(served.close, actions),
            volume=served.volume,
            actions=actions,
        )

    def _path(self, instrument: Instrument) -> _PricePath:
        first = 0 if instrument.listed_on is None else self.sessions.index_of(instrument.listed_on)
        return self._cached_path(instrument.symbol, instrument.asset_class, first)

    def _generate_path(self, symbol: str, asset_class: str, first: int) -> _PricePath:
        return _price_path(self.config, self.sessions.days, symbol, asset_class, first)

    def _progress(self, session: int, now: datetime) -> float:
        opens, closes = self.sessions.opens[session], self.sessions.closes[session]
        return float(np.clip((now.timestamp() - opens) / (closes - opens), 0.0, 1.0))


def _price_path(config: SimConfig, days: np.ndarray, symbol: str, asset_class: str, first: int) -> _PricePath:
    """The deterministic path of ``symbol``: a random walk over the whole horizon, cut at its listing."""
    rng = symbol_rng(config.seed, symbol)
    is_fund = asset_class == "mutual_fund"
    path = random_walk_ohlcv(
        rng,
        len(days),
        start_price=float(np.round(rng.uniform(8, 400), 2)),
        daily_volatility=0.006 if is_fund else float(rng.uniform(0.01, 0.035)),
    )
    close = path.close[first:]
    if is_fund:  # Yahoo serves fund NAVs with O=H=L=C and no volume
        walk = OhlcvPath(close, close, close, close, np.zeros(len(close)))
    else:
        walk = OhlcvPath(path.open[first:], path.high[first:], path.low[first:], close, path.volume[first:])
    events = symbol_rng(config.seed, symbol, "events")
    return _PricePath(first, walk, actions=draw_actions(config, events, days[first:], walk, is_fund))


def partial_bar(bars: Bars, progress: float) -> Bars:
    """``bars`` with the last one replaced by its state ``progress`` (0..1) into the session."""
    o, h, low, c, v = (float(a[-1]) for a in (bars.open, bars.high, bars.low, bars.close, bars.volume))
    close = round(o + (c - o) * progress, 4)
    high = round(max(o, close) + (h - max(o, c)) * progress, 4)
    low = round(min(o, close) - (min(o, c) - low) * progress, 4)

    def last(array: np.ndarray, value: float) -> np.ndarray:
        return np.append(array[:-1], value)

    return replace(
        bars,
        high=last(bars.high, high),
        low=last(bars.low, low),
        close=last(bars.close, close),
        adj_close=last(bars.adj_close, close),
        volume=last(bars.volume, round(v * progress)),
    )


# -- the universe ------------------------------------------------------------------------------------------
def _spellings(act_symbol: str) -> tuple[str, str, str]:
    """(CQS, NASDAQ, Yahoo) spellings of an ACT symbol: ABR$D -> ABRpD, ABR-D, ABR-PD; BRK.B -> BRK.B, BRK.B, BRK-B."""
    root, dollar, series = act_symbol.partition("$")
    if dollar:
        return f"{root}p{series}", f"{root}-{series}", f"{root}-P{series}"
    root, dot, suffix = act_symbol.partition(".")
    if not dot:
        return act_symbol, act_symbol, act_symbol
    if suffix == "U":
        return act_symbol, f"{root}=", f"{root}-U"
    if suffix == "W":
        return f"{root}.WS", f"{root}+", f"{root}-WT"
    return act_symbol, act_symbol, f"{root}-{suffix}"


def _nasdaq_listing(symbol: str, name: str, asset_class: str, category: str, **extra: object) -> Instrument:
    return Instrument(symbol, symbol, name, asset_class, "nasdaqlisted", "NASDAQ", category, "NMS",
                      symbol, symbol, **extra)  # type: ignore[arg-type]  # fmt: skip


def _other_listing(act_symbol: str, name: str, asset_class: str, code: str, **extra: object) -> Instrument:
    cqs, nasdaq, yahoo = _spellings(act_symbol)
    exchange, yahoo_exchange = OTHER_EXCHANGES[code]
    return Instrument(act_symbol, yahoo, name, asset_class, "otherlisted", exchange, code, yahoo_exchange,
                      cqs, nasdaq, **extra)  # type: ignore[arg-type]  # fmt: skip


def _fund_listing(symbol: str, name: str, fund_type: str, family: str, **extra: object) -> Instrument:
    return Instrument(symbol, symbol, name, "mutual_fund", "mfundslist", "NMFQS", fund_type, "NAS",
                      symbol, symbol, fund_family=family, **extra)  # type: ignore[arg-type]  # fmt: skip


TEST_ISSUES = (
    _nasdaq_listing("ZAZZT", "Tick Pilot Test Stock Class A Common Stock", "stock", "G", test_issue=True),
    _nasdaq_listing("ZXZZT", "NASDAQ TEST STOCK", "stock", "G", test_issue=True),
    _other_listing("ATEST", "Tick Pilot Test Control Common Stock", "stock", "A", test_issue=True),
    _other_listing("ATEST.A", "Tick Pilot Test Group 1 Common Stock", "stock", "A", test_issue=True),
    _fund_listing("ZZZZX", "Nasdaq Test - Mutual Fund Open End", "MF", "NASDAQ Test Funds", test_issue=True),
)
SPECIAL_LISTINGS = (  # spellings every consumer must get right
    ("BRK.B", "Berkshire Hathaway Inc. New Common Stock"),
    ("BF.B", "Brown Forman Inc Class B Common Stock"),
    ("ABR$D", "Arbor Realty Trust 6.375% Series D Cumulative Redeemable Preferred Stock"),
)


class _UniverseBuilder:
    """Draws the listings of one ``SimConfig``: realistic tickers, names, classes, preferreds and lifecycles."""

    def __init__(self, config: SimConfig, sessions: _Sessions, today: date) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.taken = {i.symbol for i in TEST_ISSUES} | {symbol for symbol, _ in SPECIAL_LISTINGS}
        self.past_sessions = [d for d in sessions.days if d <= today]

    def build(self) -> list[Instrument]:
        sizes = self.config.sizes
        listings = [*self._nasdaq(sizes.nasdaq_listed), *self._other(sizes.other_listed)]
        listings += self._funds(sizes.mutual_funds)
        return [*(self._with_lifecycle(i) for i in listings), *TEST_ISSUES]

    def _ticker(self, length: int, suffix: str = "") -> str:
        """A fresh ticker; longer ones once the short ones run out. Z-tickers are left to test issues."""
        for attempt in range(1000):
            letters = self.rng.choices(string.ascii_uppercase[:-1], k=length + attempt // 20)
            symbol = "".join(letters) + suffix
            if symbol not in self.taken:
                self.taken.add(symbol)
                return symbol
        raise RuntimeError(f"no free {length}-letter ticker left")

    def _company(self) -> str:
        return f"{self.rng.choice(WORDS)} {self.rng.choice(WORDS)}"

    def _nasdaq(self, count: int) -> list[Instrument]:
        listings = []
        for _ in range(count):
            etf = self.rng.random() < 0.2
            name = self._company() + (" ETF" if etf else " Inc. - Common Stock")
            symbol = self._ticker(self.rng.choice((3, 4, 4, 4)))
            listings.append(_nasdaq_listing(symbol, name, "etf" if etf else "stock", self.rng.choice("QGS")))
        return listings

    def _other(self, count: int) -> list[Instrument]:
        listings = [_other_listing(s, name, "stock", "N") for s, name in SPECIAL_LISTINGS[:count]]
        while len(listings) < count:
            code = self.rng.choice("NNNAPPZ")
            etf = code == "P" or self.rng.random() < 0.2
            if etf:
                listings.append(_other_listing(self._ticker(3), self._company() + " ETF", "etf", code))
            else:
                listings += self._company_listings(code)
        return listings[:count]

    def _company_listings(self, code: str) -> list[Instrument]:
        """A common stock, sometimes with a class B share or a preferred series beside it."""
        root, company = self._ticker(self.rng.choice((1, 2, 3, 3, 3))), self._company()
        listings = [_other_listing(root, f"{company} Corporation Common Stock", "stock", code)]
        draw = self.rng.random()
        if draw < 0.05:
            listings.append(_other_listing(f"{root}.B", f"{company} Corporation Class B Common Stock", "stock", code))
        elif draw < 0.12:
            series = self.rng.choice("ABCDE")
            name = f"{company} Corporation {self.rng.uniform(4, 8):.3f}% Series {series} Preferred Stock"
            listings.append(_other_listing(f"{root}${series}", name, "stock", code))
        self.taken.update(i.symbol for i in listings)
        return listings

    def _funds(self, count: int) -> list[Instrument]:
        listings = []
        for _ in range(count):
            family = self.rng.choice(FUND_FAMILIES)
            name = f"{family} {self._company()} Fund"
            fund_type = self.rng.choice(FUND_TYPES)
            listings.append(_fund_listing(self._ticker(4, "X"), name, fund_type, family))
        return listings

    def _with_lifecycle(self, instrument: Instrument) -> Instrument:
        """Lists a ``listing_fraction`` after history_start and delists a ``delisting_fraction`` before today."""
        sessions, draw = self.past_sessions, self.rng.random()
        if len(sessions) < 60:
            return instrument
        if draw < self.config.listing_fraction:
            return replace(instrument, listed_on=sessions[self.rng.randrange(len(sessions) // 2, len(sessions) - 5)])
        if draw < self.config.listing_fraction + self.config.delisting_fraction:
            day = sessions[self.rng.randrange(max(1, len(sessions) - 400), len(sessions) - 20)]
            return replace(instrument, delisted_on=day)
        return instrument

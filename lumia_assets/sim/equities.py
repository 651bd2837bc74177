"""The simulated US equity market: listings in three directories, NYSE-session prices and corporate actions.

Prices are served the way Yahoo serves them: OHLC and volume split-adjusted as of now, and an adjusted close
that also folds in dividends (Yahoo's multiplicative method). Everything derives from ``SimConfig``.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from lumia_assets.sim.config import SimConfig
from lumia_assets.sim.randomwalk import random_walk_ohlcv, symbol_rng

NEW_YORK = ZoneInfo("America/New_York")  # the market's time zone
HORIZON_END = date(2030, 12, 31)  # paths span a fixed horizon, so history never changes with the clock
SERIES_CACHE_SIZE = 4096  # price paths kept in memory (about 130 kB each)
SPLIT_RATIOS = (2.0, 3.0, 0.1)  # 2:1, 3:1 and a 1:10 reverse split
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

    def listed_at(self, day: date) -> bool:
        """True when a directory published on ``day`` lists this instrument."""
        return (self.listed_on is None or self.listed_on <= day) and (
            self.delisted_on is None or self.delisted_on > day
        )


@dataclass(frozen=True)
class CorporateAction:
    """A split (value = ratio, 2.0 for 2:1), dividend or capital gain (value = cash per share)."""

    position: int  # index of the ex-date in the instrument's bars
    day: date
    action: str
    value: float


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
    actions: tuple[CorporateAction, ...]

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

    def actions_frame(self) -> pd.DataFrame:
        """date, action, value."""
        rows = [(a.day, a.action, a.value) for a in self.actions]
        return pd.DataFrame(rows, columns=["date", "action", "value"])


@dataclass(frozen=True)
class _PricePath:
    """An instrument's bars over every session from its listing to the horizon, before any cut-off."""

    first: int  # calendar index of its first session
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    actions: tuple[CorporateAction, ...]


class _Sessions:
    """NYSE sessions from ``history_start`` to the horizon, with their open and close times."""

    def __init__(self, start: date) -> None:
        calendar = xcals.get_calendar("XNYS", start=start, end=HORIZON_END)
        sessions = calendar.sessions_in_range(start, HORIZON_END)
        self.days = np.array([s.date() for s in sessions], dtype=object)
        self.opens = (calendar.opens.loc[sessions].astype("int64") // 10**9).to_numpy()
        self.closes = (calendar.closes.loc[sessions].astype("int64") // 10**9).to_numpy()

    def index_of(self, day: date) -> int:
        """Index of the first session on or after ``day``."""
        return int(np.searchsorted(self.days, day))

    def opened_by(self, now: datetime) -> int:
        """How many sessions have opened by ``now`` (the last may still be in progress)."""
        return int(np.searchsorted(self.opens, now.timestamp(), side="right"))

    def closed_by(self, now: datetime) -> int:
        """How many sessions have closed by ``now``."""
        return int(np.searchsorted(self.closes, now.timestamp(), side="right"))


class EquityMarket:
    """Deterministic equity universe and prices. Mutations (``delist``, ``list_new``) are undone by ``reset``."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.sessions = _Sessions(config.history_start)
        self._lock = threading.Lock()
        self._generated = _UniverseBuilder(config, self.sessions).build()
        self._instruments: dict[str, Instrument] = {}
        self._by_yahoo: dict[str, Instrument] = {}
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
        today = self.config.clock().date()
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

    def reset(self) -> None:
        """Undo every mutation."""
        with self._lock:
            self._instruments = {i.symbol: i for i in self._generated}
            self._by_yahoo = {i.yahoo_symbol: i for i in self._generated}

    def _instrument(self, symbol: str) -> Instrument:
        with self._lock:
            if symbol not in self._instruments:
                raise KeyError(f"the simulated equity market has no symbol {symbol!r}")
            return self._instruments[symbol]

    def _put(self, instrument: Instrument) -> None:
        with self._lock:
            self._instruments[instrument.symbol] = instrument
            self._by_yahoo[instrument.yahoo_symbol] = instrument

    # -- prices --------------------------------------------------------------------------------------------
    def served_bars(self, instrument: Instrument, now: datetime) -> Bars:
        """What Yahoo serves at ``now``: every session opened so far, the last one in progress while open."""
        opened = self.sessions.opened_by(now)
        bars = self._bars(instrument, opened)
        in_progress = opened > self.sessions.closed_by(now)
        if in_progress and len(bars) and bars.ts[-1] == self.sessions.opens[opened - 1]:
            return _in_progress(bars, self._progress(opened - 1, now))
        return bars

    def daily_bars(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        """Truth: ``symbol``'s closed sessions from ``start`` to ``end`` inclusive, exactly as Yahoo serves them now.

        Like Yahoo's ``adjclose``, they are adjusted as of the session in progress: once a session with a dividend
        ex-date opens, every earlier close is adjusted for it, although the session itself is not closed yet.
        """
        now = self.config.clock()
        last_closed = self.sessions.days[self.sessions.closed_by(now) - 1]
        served = self._bars(self._instrument(symbol), self.sessions.opened_by(now))
        return served.between(start, min(end, last_closed)).frame()

    def corporate_actions(self, symbol: str) -> pd.DataFrame:
        """Truth: ``symbol``'s splits, dividends and capital gains with ex-dates up to the last closed session."""
        closed = self.sessions.closed_by(self.config.clock())
        return self._bars(self._instrument(symbol), closed).actions_frame()

    def _bars(self, instrument: Instrument, sessions_seen: int) -> Bars:
        """The instrument's bars as of the first ``sessions_seen`` calendar sessions, adjusted as of then."""
        path = self._path(instrument.symbol, instrument.asset_class, instrument.listed_on)
        last = sessions_seen
        if instrument.delisted_on is not None:
            last = min(last, self.sessions.index_of(instrument.delisted_on))
        count = max(0, last - path.first)
        actions = tuple(a for a in path.actions if a.position < count)
        close = path.close[:count]
        window = slice(path.first, path.first + count)
        return Bars(
            days=self.sessions.days[window],
            ts=self.sessions.opens[window],
            open=path.open[:count],
            high=path.high[:count],
            low=path.low[:count],
            close=close,
            adj_close=_dividend_adjusted(close, actions),
            volume=path.volume[:count],
            actions=actions,
        )

    def _path(self, symbol: str, asset_class: str, listed_on: date | None) -> _PricePath:
        first = 0 if listed_on is None else self.sessions.index_of(listed_on)
        return self._cached_path(symbol, asset_class, first)

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
        ohlcv = (close, close, close, close, np.zeros(len(close)))
    else:
        ohlcv = (path.open[first:], path.high[first:], path.low[first:], close, path.volume[first:])
    events = symbol_rng(config.seed, symbol, "events")
    return _PricePath(first, *ohlcv, actions=_corporate_actions(config, events, days[first:], close, is_fund))


def _corporate_actions(
    config: SimConfig, rng: np.random.Generator, days: np.ndarray, close: np.ndarray, is_fund: bool
) -> tuple[CorporateAction, ...]:
    """Splits for a ``split_fraction`` of stocks, quarterly dividends, and yearly capital gains for some funds."""
    actions = []
    if not is_fund and len(close) > 300 and rng.random() < config.split_fraction:
        position = int(rng.integers(100, len(close) - 100))
        actions.append(CorporateAction(position, days[position], "split", float(rng.choice(SPLIT_RATIOS))))
    if rng.random() < config.dividend_fraction:
        quarterly_yield = float(rng.uniform(0.002, 0.01))
        for position in range(int(rng.integers(20, 63)), len(close), 63):
            cash = round(float(close[position - 1]) * quarterly_yield, 4)
            actions.append(CorporateAction(position, days[position], "dividend", cash))
    if is_fund and rng.random() < 0.5:
        for position in range(int(rng.integers(150, 250)), len(close), 252):
            cash = round(float(close[position - 1]) * 0.02, 4)
            actions.append(CorporateAction(position, days[position], "capital_gain", cash))
    return tuple(sorted(actions, key=lambda a: (a.position, a.action)))


def _dividend_adjusted(close: np.ndarray, actions: tuple[CorporateAction, ...]) -> np.ndarray:
    """Yahoo's adjusted close: each dividend scales every earlier close by ``1 - cash / previous close``."""
    multipliers = np.ones(len(close))
    for action in actions:
        if action.action == "dividend" and action.position > 0:
            multipliers[action.position - 1] = 1.0 - action.value / close[action.position - 1]
    factors = np.cumprod(multipliers[::-1])[::-1]
    return np.round(close * factors, 6)


def _in_progress(bars: Bars, progress: float) -> Bars:
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

    def __init__(self, config: SimConfig, sessions: _Sessions) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.taken = {i.symbol for i in TEST_ISSUES} | {symbol for symbol, _ in SPECIAL_LISTINGS}
        today = config.clock().date()
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

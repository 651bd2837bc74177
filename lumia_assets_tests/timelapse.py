"""The time-lapse: weeks of lumia's daily operation in one run, while the simulated world changes under it.

lumia starts on an empty warehouse and instance. For every simulated day the daemon (``daemon.py``) ticks the
schedules and sensors as ``dagster-daemon`` would, and runs what they request, while ``changes`` happen: a
listing, a delisting and a fund's rename; NASDAQ's ``mfundslist.txt`` vanishing; a two-day storm of Yahoo 429s;
one day of Yahoo answering "No data found" for everything; the primary crypto exchange down for a day; Kraken's and
Coinbase's candles down for a day, when the dollar pairs come from the opt-in Yahoo fallback until the exchanges
serve them again; a split and a dividend. Each change that is a real problem names the assets whose ERROR alerts
it must raise, and only within its days. The test (``defs/test_timelapse.py``) runs it on the small profile;
``bench/timelapse.py`` at full universe size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from lumia_assets.calendars import EQUITY_TIMEZONE, calendar_dates, equity_sessions
from lumia_assets.defs.resources import warehouse_engine
from lumia_assets.sim import MarketSimulator
from lumia_assets.sim.faults import Fault
from lumia_assets.sim.yahoo import NO_DATA_BODY
from lumia_assets.warehouse.gaps import missing_cells
from lumia_assets_tests.daemon import Daemon, RunOutcome
from lumia_assets_tests.defs.prices_helpers import (
    FAST_BUDGETS,
    PRICE_VALUES,
    active_equities,
    assert_derived_equals_served,
    crypto_truth,
    derived_prices,
    equity_truth,
    quiet_symbols,
    served_truth,
    stored_prices,
)

FIRST_SESSION = date(2024, 10, 1)
PRICES_START = date(2024, 9, 16)  # the first evening's gap sensor backfills from here
SESSIONS = 20
SENSOR_INTERVAL = timedelta(hours=3)
# the time-lapse ends at 09:00 New York after its last session: the repairs have had their night, and the next
# session has not opened (once it opens, Yahoo's adjusted close already folds in its ex-dates)
MORNING_AFTER = timedelta(hours=9)
SENSORS = ("price_gap_sensor", "adjusted_prices_automation", "freshness_checks_sensor")
# The scenario is about the daily record; the hourly candles' schedule would add a run every simulated hour.
SKIPPED_SCHEDULES = frozenset({"crypto_hourly_after_the_hour"})
YAHOO, BINANCE, KRAKEN, COINBASE = "query2.finance.yahoo.com", "api.binance.com", "api.kraken.com", \
    "api.exchange.coinbase.com"  # fmt: skip
CHART = "/v8/finance/chart/"
EQUITY = ("stock", "etf", "mutual_fund")
NEW_LISTING, RENAMED_TO = "LMNQ", "LMNRX"
NEW_YORK = ZoneInfo(EQUITY_TIMEZONE)
LOG = logging.getLogger(__name__)


def environment(sim: MarketSimulator, warehouse_url: str, dagster_home: str, profile: str) -> dict[str, str]:
    """The LUMIA_* settings of the time-lapse: the simulator upstream, one quick retry per request (a storm must not
    sleep through long back-offs; the breaker then opens as in production), and the small profile's bounds."""
    env = {
        "DAGSTER_HOME": dagster_home,
        "LUMIA_WAREHOUSE_URL": warehouse_url,
        "LUMIA_UPSTREAM_URL": sim.url,
        "LUMIA_RATE_LIMITS": FAST_BUDGETS,
        "LUMIA_PRICES_START_DATE": PRICES_START.isoformat(),
        "LUMIA_GAP_LOOKBACK_DAYS": "60",
        "LUMIA_MAX_RETRIES": "1",
        "LUMIA_RETRY_MAX_SECONDS": "2",
        "LUMIA_CRYPTO_FALLBACKS": "yahoo",
    }
    if profile == "small":
        env |= {"LUMIA_MIN_STOCKS": "20", "LUMIA_MIN_FUNDS": "5", "LUMIA_MIN_CRYPTO_PAIRS": "5"}
    return env


@dataclass(frozen=True)
class Change:
    """Something that happens to the world at 00:00 New York of session ``first`` (an index into the
    time-lapse's sessions). A fault is lifted at 00:00 of the session after ``last``; without ``last`` the change
    is for good."""

    first: int
    what: str
    start: Callable[[MarketSimulator, date], Fault | tuple[Fault, ...] | None]
    last: int | None = None
    raises: tuple[str, ...] = ()  # assets that must raise an ERROR alert during it (a real problem)


@dataclass
class Timelapse:
    """What happened: the sessions, the changes with the symbols they involve, every run and its alerts."""

    sessions: list[date]
    changes: list[Change]
    symbols: dict[str, str]
    instance: dg.DagsterInstance
    runs: list[RunOutcome] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time per simulated session

    def window(self, change: Change) -> tuple[datetime, datetime]:
        """When ``change`` was in force: from its first session's midnight to the next session's after its last."""
        last = len(self.sessions) - 1 if change.last is None else min(change.last, len(self.sessions) - 1)
        return midnight(self.sessions[change.first]), midnight(self.next_session(last))

    def next_session(self, index: int) -> date:
        return self.sessions[index + 1] if index + 1 < len(self.sessions) else self.sessions[index] + timedelta(1)

    def session_end(self, index: int) -> datetime:
        """Where session ``index``'s stretch of time ends: the next session's midnight (the last: the morning after)."""
        last = index + 1 == len(self.sessions)
        return midnight(self.next_session(index)) + (MORNING_AFTER if last else timedelta())

    def runs_of(self, index: int) -> list[RunOutcome]:
        """The runs launched from session ``index``'s midnight to its end."""
        start, end = midnight(self.sessions[index]), self.session_end(index)
        return [run for run in self.runs if start <= run.at < end]

    def troubled(self, index: int) -> bool:
        """Whether a real problem was in force during session ``index``."""
        day = midnight(self.sessions[index])
        return any(start <= day < end for start, end in (self.window(c) for c in self.changes if c.raises))

    def unexpected_alerts(self) -> list[tuple[datetime, str]]:
        """Alerts raised outside every real problem's window, or naming an asset the problem does not affect."""
        problems = [(self.window(c), c.raises) for c in self.changes if c.raises]
        return [
            (run.at, alert)
            for run in self.runs
            for alert in run.alerts
            if not any(start <= run.at < end and _names_any(alert, assets) for (start, end), assets in problems)
        ]

    def silent_problems(self) -> list[str]:
        """The real problems during which none of their assets raised an ERROR alert."""
        silent = []
        for change in (c for c in self.changes if c.raises):
            start, end = self.window(change)
            alerts = [a for run in self.runs if start <= run.at < end for a in run.alerts]
            if not any(_names_any(alert, change.raises) for alert in alerts):
                silent.append(change.what)
        return silent


def _names_any(alert: str, assets: tuple[str, ...]) -> bool:
    return any(asset in alert for asset in assets)


def midnight(day: date) -> datetime:
    """00:00 New York on ``day``."""
    return datetime.combine(day, datetime.min.time(), NEW_YORK)


def scenario(sim: MarketSimulator, sessions: list[date]) -> tuple[list[Change], dict[str, str]]:
    """The changes of the time-lapse over ``sessions`` (at least 18), on symbols that are quiet otherwise."""
    delisted, split, payer = quiet_symbols(sim, "stock", 3, sessions[0])
    [renamed] = quiet_symbols(sim, "mutual_fund", 1, sessions[0])
    symbols = {"listed": NEW_LISTING, "delisted": delisted, "renamed": renamed, "renamed_to": RENAMED_TO,
               "split": split, "payer": payer}  # fmt: skip
    equities = sim.equities

    def dividend(sim: MarketSimulator, day: date) -> None:
        close = equities.as_traded_bars(payer, day - timedelta(days=7), day)["close"].iloc[-1]
        equities.add_dividend(payer, day, round(0.03 * close, 4))

    no_data = {"kind": "status", "status": 404, "body": NO_DATA_BODY, "path_contains": CHART}
    changes = [
        Change(2, f"{NEW_LISTING} lists on NASDAQ",
               lambda s, d: equities.list_new(NEW_LISTING, "Lumen Quantum Inc. Common Stock", "NASDAQ", "stock", d)),
        Change(3, f"{delisted} delists", lambda s, d: equities.delist(delisted, d)),
        Change(5, "mfundslist.txt vanishes (funds from SEC's fallback from now on)",
               lambda s, d: s.faults.inject("www.nasdaqtrader.com", "status", status=404, path_contains="mfundslist")),
        Change(6, f"{renamed} renames to {RENAMED_TO} (same SEC share class)",
               lambda s, d: equities.rename(renamed, RENAMED_TO, d)),
        Change(7, "Kraken's and Coinbase's candles fail for a day: the dollar pairs come from Yahoo meanwhile",
               lambda s, d: _candles_down(s, (KRAKEN, "/0/public/OHLC"), (COINBASE, "/candles")), last=7),
        Change(9, "a two-day storm of Yahoo 429s",
               lambda s, d: s.faults.inject(YAHOO, "status", status=429, path_contains=CHART),
               last=10, raises=("equity_daily_prices",)),
        Change(12, 'Yahoo answers "No data found" for everything',
               lambda s, d: s.faults.inject(YAHOO, **no_data), last=12, raises=("equity_daily_prices",)),
        Change(15, "Binance, the primary exchange, is down for a day",
               lambda s, d: s.faults.inject(BINANCE, "status", status=503),
               last=15, raises=("crypto_daily_prices", "crypto_universe")),
        Change(16, f"{split} splits 2:1", lambda s, d: equities.add_split(split, d, 2.0)),
        Change(17, f"{payer} pays a dividend of 3%", dividend),
    ]  # fmt: skip
    return changes, symbols


def _candles_down(sim: MarketSimulator, *venues: tuple[str, str]) -> tuple[Fault, ...]:
    """Each venue's candle endpoint (host, path) answering 503."""
    return tuple(sim.faults.inject(host, "status", status=503, path_contains=path) for host, path in venues)


def run_timelapse(
    sim: MarketSimulator,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    sessions: int = SESSIONS,
    on_session: Callable[[Timelapse, str], None] | None = None,
) -> Timelapse:
    """Operate lumia from an empty warehouse through ``sessions`` NYSE sessions from ``FIRST_SESSION``, and the
    morning after the last, with the scenario's changes. After each session ``on_session`` gets the time-lapse
    so far and a summary of the session (logged by default). The LUMIA_* environment must be ``environment``'s."""
    days = equity_sessions(FIRST_SESSION, FIRST_SESSION + timedelta(days=2 * sessions + 10))[:sessions]
    changes, symbols = scenario(sim, days)
    changes = [change for change in changes if change.first < len(days)]  # a shorter run stops the scenario early
    timelapse = Timelapse(days, changes, symbols, instance)
    daemon = Daemon(defs, instance, sim, SENSORS, timelapse.runs, SKIPPED_SCHEDULES)
    sim.set_clock(midnight(days[0]))
    faults: dict[int, tuple[Fault, ...]] = {}  # by change, until lifted
    for index, day in enumerate(days):
        started = time.monotonic()
        for number, change in enumerate(changes):
            if number in faults and change.last == index - 1:
                for fault in faults.pop(number):
                    sim.faults.remove(fault)
            if change.first == index and (injected := change.start(sim, day)) is not None:
                faults[number] = injected if isinstance(injected, tuple) else (injected,)
        daemon.advance(timelapse.session_end(index), SENSOR_INTERVAL)  # up to the next session (weekends, holidays)
        timelapse.seconds.append(time.monotonic() - started)
        today = timelapse.runs_of(index)
        alerts = [alert for run in today for alert in run.alerts]
        happened = "; ".join(c.what for c in changes if c.first == index) or "nothing new"
        summary = (f"session {index} {day}: {happened}; {len(today)} runs, {len(alerts)} alerts in "
                 f"{timelapse.seconds[-1]:.1f} s" + "".join(f"\n    {alert[:300]}" for alert in alerts))  # fmt: skip
        (on_session or _log_session)(timelapse, summary)
    return timelapse


def _log_session(_: Timelapse, summary: str) -> None:
    LOG.info(summary)


def assert_record_is_the_truth(sim: MarketSimulator, warehouse_url: str, last: date) -> None:
    """The warehouse after the time-lapse: no cell of an active symbol missing, every equity bar as traded and
    its derived series as Yahoo serves it now, every candle the candle of the venue it came from."""
    engine = warehouse_engine(warehouse_url)
    sessions = equity_sessions(PRICES_START, last)
    assert missing_cells(engine, EQUITY, sessions).empty, "equity cells are missing"
    assert missing_cells(engine, ("crypto",), calendar_dates("crypto", PRICES_START, last)).empty, "crypto cells"
    _equity_record_is_the_truth(sim, warehouse_url, last)
    _crypto_record_is_the_truth(sim, warehouse_url, last)


def _equity_record_is_the_truth(sim: MarketSimulator, warehouse_url: str, last: date) -> None:
    """Every equity bar ever listed in the window is stored, as traded, and nothing else is."""
    universe = sim.equities.universe()
    listed = list(universe.loc[~universe["test_issue"], "symbol"])
    truth = equity_truth(sim, listed, PRICES_START, last)
    stored = stored_prices(warehouse_url, EQUITY).sort_values(["symbol", "date"], ignore_index=True)
    pd.testing.assert_frame_equal(stored[["symbol", "date", *PRICE_VALUES]], truth, check_dtype=False)
    active = list(active_equities(warehouse_url)["symbol"])
    derived = derived_prices(warehouse_url, active, PRICES_START, last)
    assert_derived_equals_served(derived, served_truth(sim, active, PRICES_START, last))


def _crypto_record_is_the_truth(sim: MarketSimulator, warehouse_url: str, last: date) -> None:
    """Every stored candle equals the candle of the venue it names as its source."""
    stored = stored_prices(warehouse_url, ("crypto",))
    assert set(stored["source"]) >= {"binance", "kraken"}  # the outage day failed over
    assert "yahoo" not in set(stored["source"]), "a day Yahoo stood in for was never served by its exchange again"
    for venue, rows in stored.groupby("source"):
        rows = rows.sort_values(["symbol", "date"], ignore_index=True)
        truth = crypto_truth(sim, str(venue), sorted(set(rows["symbol"])), PRICES_START, last)
        truth = truth.merge(rows[["symbol", "date"]], on=["symbol", "date"])
        pd.testing.assert_frame_equal(rows[["symbol", "date", *PRICE_VALUES]], truth, check_dtype=False)

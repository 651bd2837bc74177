"""Trading calendars: NYSE sessions for equities (exchange_calendars), UTC days for crypto.

Everything that asks "which dates should have a bar?" or "has this bar closed yet?" asks here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache

import exchange_calendars as xcals
import pandas as pd

EQUITY_TIMEZONE = "America/New_York"
EQUITY_CALENDAR = "XNYS"


@cache
def _nyse() -> xcals.ExchangeCalendar:
    return xcals.get_calendar(EQUITY_CALENDAR)


def _check_range(start: date, end: date) -> None:
    if start > end:
        raise ValueError(f"start {start} is after end {end}")


def equity_sessions(start: date, end: date) -> list[date]:
    """NYSE sessions from ``start`` to ``end`` inclusive."""
    _check_range(start, end)
    return [ts.date() for ts in _nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def equity_calendar_end() -> date:
    """The last NYSE session the calendar knows (exchange_calendars looks about a year ahead)."""
    return _nyse().last_session.date()


def equity_holidays(start: date, end: date) -> list[date]:
    """Weekdays in the range on which NYSE is closed (holidays and special closures)."""
    sessions = set(equity_sessions(start, end))
    return [day for day in crypto_days(start, end) if day.weekday() < 5 and day not in sessions]


def is_equity_session(day: date) -> bool:
    """True when NYSE trades on ``day``."""
    return bool(_nyse().is_session(pd.Timestamp(day)))


def equity_session_close(day: date) -> datetime:
    """When the NYSE session of ``day`` closes (early closes included), tz-aware UTC."""
    if not is_equity_session(day):
        raise ValueError(f"{day} is not an NYSE session (weekend or holiday)")
    return _nyse().session_close(pd.Timestamp(day)).to_pydatetime().astimezone(UTC)


def last_closed_equity_session(now: datetime) -> date:
    """The latest NYSE session whose close is at or before ``now``."""
    today = now.astimezone(UTC).date()
    for day in reversed(equity_sessions(today - timedelta(days=10), today)):
        if equity_session_close(day) <= now:
            return day
    raise ValueError(f"no NYSE session closed in the ten days before {now}")


def crypto_days(start: date, end: date) -> list[date]:
    """Every UTC calendar day from ``start`` to ``end`` inclusive (crypto trades 24/7)."""
    _check_range(start, end)
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def last_closed_crypto_day(now: datetime) -> date:
    """The latest UTC day whose daily candle has closed (yesterday, in UTC)."""
    return now.astimezone(UTC).date() - timedelta(days=1)


def last_closed_crypto_hour(now: datetime) -> datetime:
    """The open time of the latest UTC hour whose candle has closed (the hour before the current one)."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def crypto_hours(start: datetime, end: datetime) -> list[datetime]:
    """The open times of every UTC hour from ``start`` to ``end`` inclusive (tz-aware, on the hour)."""
    first = start.astimezone(UTC)
    if first.minute or first.second or first.microsecond:
        raise ValueError(f"{start} is not on the hour")
    return [first + timedelta(hours=offset) for offset in range(int((end - start).total_seconds() // 3600) + 1)]


def calendar_dates(calendar: str, start: date, end: date) -> list[date]:
    """The dates that should hold a bar: NYSE sessions for ``"equity"``, every UTC day for ``"crypto"``."""
    return equity_sessions(start, end) if calendar == "equity" else crypto_days(start, end)

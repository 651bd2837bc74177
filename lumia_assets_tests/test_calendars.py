"""Trading calendars: which dates have bars, and when a bar has closed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise

import pytest

from lumia_assets.calendars import (
    crypto_days,
    crypto_hours,
    equity_holidays,
    equity_session_close,
    equity_sessions,
    last_closed_crypto_day,
    last_closed_crypto_hour,
    last_closed_equity_session,
)


def test_thanksgiving_week_has_no_thursday_session_and_no_weekend() -> None:
    assert equity_sessions(date(2024, 11, 25), date(2024, 12, 2)) == [
        date(2024, 11, 25),
        date(2024, 11, 26),
        date(2024, 11, 27),
        date(2024, 11, 29),
        date(2024, 12, 2),
    ]
    assert equity_holidays(date(2024, 11, 25), date(2024, 12, 2)) == [date(2024, 11, 28)]


def test_the_day_after_thanksgiving_closes_early() -> None:
    assert equity_session_close(date(2024, 11, 29)) == datetime(2024, 11, 29, 18, 0, tzinfo=UTC)


def test_a_weekend_has_no_close() -> None:
    with pytest.raises(ValueError, match="not an NYSE session"):
        equity_session_close(date(2024, 11, 30))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 12, 2, 15, 0, tzinfo=UTC), date(2024, 11, 29)),  # Monday, market open
        (datetime(2024, 12, 2, 21, 0, tzinfo=UTC), date(2024, 12, 2)),  # Monday, after the close
        (datetime(2024, 11, 30, 12, 0, tzinfo=UTC), date(2024, 11, 29)),  # Saturday
        (datetime(2024, 7, 1, 20, 0, tzinfo=UTC), date(2024, 7, 1)),  # summer time: close is 20:00 UTC
        (datetime(2024, 7, 1, 19, 59, tzinfo=UTC), date(2024, 6, 28)),
    ],
)
def test_last_closed_equity_session_never_returns_an_open_session(now: datetime, expected: date) -> None:
    assert last_closed_equity_session(now) == expected


def test_crypto_days_include_weekends_and_the_last_closed_day_is_yesterday_utc() -> None:
    assert len(crypto_days(date(2024, 11, 25), date(2024, 12, 1))) == 7
    assert last_closed_crypto_day(datetime(2024, 12, 2, 0, 5, tzinfo=UTC)) == date(2024, 12, 1)
    assert last_closed_crypto_day(datetime(2024, 12, 1, 23, 59, tzinfo=UTC)) == date(2024, 11, 30)


def test_a_reversed_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="after end"):
        crypto_days(date(2024, 2, 1), date(2024, 1, 1))


def test_utc_hours_run_on_through_a_us_clock_change() -> None:
    hours = crypto_hours(datetime(2024, 3, 10, tzinfo=UTC), datetime(2024, 3, 10, 23, tzinfo=UTC))
    assert len(hours) == 24 and {b - a for a, b in pairwise(hours)} == {hours[1] - hours[0]}
    assert last_closed_crypto_hour(datetime(2024, 3, 10, 7, 59, tzinfo=UTC)) == datetime(2024, 3, 10, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="not on the hour"):
        crypto_hours(datetime(2024, 3, 10, 0, 30, tzinfo=UTC), datetime(2024, 3, 10, 2, tzinfo=UTC))

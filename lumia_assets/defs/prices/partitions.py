"""Price partitions: one per NYSE session for equities, one per UTC day for crypto. Symbols are a column."""

from datetime import date, datetime, time, timedelta

import dagster as dg

from lumia_assets.calendars import EQUITY_TIMEZONE, calendar_dates, equity_calendar_end, equity_holidays
from lumia_assets.settings import Settings

WEEKENDS = ("0 0 * * 6", "0 0 * * 0")


def _holidays_through_next_year(start: date) -> list[datetime]:
    """NYSE weekday closures from ``start`` as far ahead as the calendar knows (up to the end of next year)."""
    horizon = min(date(date.today().year + 1, 12, 31), equity_calendar_end())
    return [datetime.combine(day, time()) for day in equity_holidays(start, horizon)]


def equity_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """NYSE sessions from ``start``: weekends and exchange holidays are not partitions.

    ``end_offset=1`` makes today's session a partition, so the evening schedule can fill it once it has closed.
    """
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(),
        timezone=EQUITY_TIMEZONE,
        end_offset=1,
        exclusions=[*WEEKENDS, *_holidays_through_next_year(start)],
    )


def crypto_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """UTC calendar days from ``start``; a day becomes a partition once it has ended."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


SETTINGS = Settings.from_env()
EQUITY_PARTITIONS = equity_partitions(SETTINGS.prices_start)
CRYPTO_PARTITIONS = crypto_partitions(SETTINGS.prices_start)


def window_dates(window: dg.TimeWindow, calendar: str) -> list[date]:
    """The calendar's dates inside a partition time window (its end is exclusive)."""
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    return calendar_dates(calendar, first, last)

"""When each date partition of a price asset is due, by its trading calendar."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lumia_assets.calendars import EQUITY_TIMEZONE, calendar_dates

LOOKBACK = timedelta(days=14)  # longer than any run of closed days (weekends, holidays)


@dataclass(frozen=True)
class PartitionDeadline:
    """When each partition of a date-partitioned asset is due: ``due_after`` past midnight of its date."""

    asset_name: str
    calendar: str  # "equity" or "crypto", see calendars.calendar_dates
    timezone: str
    due_after: timedelta

    def due_at(self, day: date) -> datetime:
        """The moment partition ``day`` is due."""
        return datetime.combine(day, time(), ZoneInfo(self.timezone)) + self.due_after

    def due_partition(self, now: datetime) -> date:
        """The latest partition whose deadline has passed at ``now``."""
        today = now.astimezone(ZoneInfo(self.timezone)).date()
        return max(day for day in calendar_dates(self.calendar, today - LOOKBACK, today) if self.due_at(day) <= now)

    def next_deadline(self, now: datetime) -> datetime:
        """When the partition after the one due now becomes due."""
        due = self.due_partition(now)
        return self.due_at(calendar_dates(self.calendar, due + timedelta(days=1), due + LOOKBACK)[0])


# Equities: 20:00 New York on each NYSE session (the 18:00 schedule has had its turn); crypto: 02:00 UTC the next day.
EQUITY_DEADLINE = PartitionDeadline("equity_daily_prices", "equity", EQUITY_TIMEZONE, timedelta(hours=20))
CRYPTO_DEADLINE = PartitionDeadline("crypto_daily_prices", "crypto", "UTC", timedelta(hours=26))

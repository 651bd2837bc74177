"""The two price feeds, equities (stocks, ETFs, funds) and crypto: what distinguishes them, and when they are due."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from lumia_assets.calendars import calendar_dates, last_closed_crypto_day, last_closed_equity_session
from lumia_assets.engine.deadlines import CRYPTO_DEADLINE, EQUITY_DEADLINE, PartitionDeadline
from lumia_assets.frames import AGGREGATED_SOURCES
from lumia_assets.settings import Settings


@dataclass(frozen=True)
class PriceFeed:
    """What distinguishes the two price assets."""

    name: str  # "equity" or "crypto": also the feed's calendar (NYSE sessions or UTC days)
    asset_name: str
    asset_classes: tuple[str, ...]
    last_closed: Callable[[datetime], date]
    source_symbol: Callable[[pd.Series], str]
    compares_history: bool  # answers re-read recent history, compared with the record (restatements)
    deadline: PartitionDeadline
    fallback_sources: tuple[str, ...] = ()  # sources a symbol's rows come from when its own sources all failed

    @property
    def calendar(self) -> str:
        """The calendar of the feed's partitions, see ``calendars.calendar_dates``."""
        return self.name


EQUITY_FEED = PriceFeed(
    "equity",
    "equity_daily_prices",
    ("stock", "etf", "mutual_fund"),
    last_closed_equity_session,
    source_symbol=lambda row: row["yahoo_symbol"] or row["symbol"],
    compares_history=True,
    deadline=EQUITY_DEADLINE,
)
CRYPTO_FEED = PriceFeed(
    "crypto",
    "crypto_daily_prices",
    ("crypto",),
    last_closed_crypto_day,
    source_symbol=lambda row: row["symbol"],
    compares_history=False,  # exchanges serve candles as traded and never restate them afterwards
    deadline=CRYPTO_DEADLINE,
    fallback_sources=AGGREGATED_SOURCES,  # opt-in: LUMIA_CRYPTO_FALLBACKS
)
FEEDS = {feed.name: feed for feed in (EQUITY_FEED, CRYPTO_FEED)}


def recent_dates(feed: PriceFeed, settings: Settings, now: datetime) -> list[date]:
    """The feed's dates of the last ``gap_lookback_days`` days that are due by its deadline, not before the
    configured start. A date that has closed but is not due yet is the schedule's to collect, not a gap."""
    last = feed.deadline.due_partition(now)
    first = max(settings.prices_start, last - timedelta(days=settings.gap_lookback_days))
    return calendar_dates(feed.calendar, first, last)


def venues(exchanges: str | None, preference: Sequence[str]) -> tuple[str, ...]:
    """The exchanges listing a pair (comma-separated), in the configured order of preference."""
    listing = set((exchanges or "").split(","))
    return tuple(exchange for exchange in preference if exchange in listing)

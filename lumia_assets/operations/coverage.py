"""Price coverage over the recent past, per asset class the selection prices and date: the heatmap's numbers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from lumia_assets.calendars import calendar_dates, equity_sessions
from lumia_assets.engine.feeds import PriceFeed
from lumia_assets.operations.plots import COVERAGE_SESSIONS
from lumia_assets.settings import Settings
from lumia_assets.warehouse.gaps import COVERAGE_COLUMNS, class_coverage


def recent_coverage(
    engine: Engine,
    feeds: Sequence[PriceFeed],
    settings: Settings,
    now: datetime,
    sessions: int = COVERAGE_SESSIONS,
) -> pd.DataFrame:
    """``COVERAGE_COLUMNS`` for the feeds' selected classes over the last ``sessions`` NYSE sessions (crypto: every
    day of that span), each feed up to its last closed date, none before ``LUMIA_PRICES_START_DATE``."""
    last = max(feed.last_closed(now) for feed in feeds)
    span = equity_sessions(max(settings.prices_start, last - timedelta(days=2 * sessions)), last)[-sessions:]
    frames = []
    for feed in feeds:
        classes = settings.selection.classes_of(feed.asset_classes)
        dates = _dates(feed, span[0] if span else last, feed.last_closed(now), settings.prices_start)
        if classes and dates:
            frames.append(class_coverage(engine, classes, dates, selection=settings.selection))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COVERAGE_COLUMNS))


def _dates(feed: PriceFeed, first: date, last: date, prices_start: date) -> list[date]:
    start = max(first, prices_start)
    return calendar_dates(feed.calendar, start, last) if start <= last else []

"""Gap queries: which (symbol, date) cells should hold a bar and don't. Set-based SQL, no per-symbol loops.

The expected dates come from the caller (the trading calendar lives in ``calendars.py``). A cell is expected
for every active instrument listed by that date, except instruments the upstream says it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.warehouse.schema import assets, daily_prices, symbol_status

NOT_EXPECTED_STATUSES = ("unknown_symbol", "delisted")


def _calendar(conn: Connection, dates: Sequence[date]) -> sa.Table:
    """The expected dates as a temporary table on ``conn`` (portable, and fine for years of sessions)."""
    calendar = sa.Table("_expected_dates", sa.MetaData(), sa.Column("day", sa.Date), prefixes=["TEMPORARY"])
    calendar.drop(conn, checkfirst=True)
    calendar.create(conn)
    conn.execute(calendar.insert(), [{"day": d} for d in sorted(set(dates))])
    return calendar


def _expected_cells(calendar: sa.Table, asset_classes: Sequence[str]) -> sa.Select:
    known_missing = (
        sa.select(symbol_status.c.symbol)
        .where(
            symbol_status.c.symbol == assets.c.symbol,
            symbol_status.c.asset_class == assets.c.asset_class,
            symbol_status.c.status.in_(NOT_EXPECTED_STATUSES),
        )
        .exists()
    )
    return (
        sa.select(assets.c.symbol, assets.c.asset_class, calendar.c.day)
        .select_from(calendar)
        .join(
            assets,
            sa.and_(
                assets.c.active.is_(True),
                assets.c.asset_class.in_(list(asset_classes)),
                sa.or_(assets.c.listed_on.is_(None), assets.c.listed_on <= calendar.c.day),
            ),
        )
        .where(~known_missing)
    )


def _with_prices(expected: sa.Subquery) -> sa.Join:
    return expected.outerjoin(
        daily_prices,
        sa.and_(
            daily_prices.c.symbol == expected.c.symbol,
            daily_prices.c.asset_class == expected.c.asset_class,
            daily_prices.c.date == expected.c.day,
        ),
    )


def partition_gaps(engine: Engine, asset_classes: Sequence[str], dates: Sequence[date]) -> pd.DataFrame:
    """Per date: cells expected, present and missing (date, expected, present, missing), oldest first."""
    columns = ["date", "expected", "present", "missing"]
    if not dates:
        return pd.DataFrame(columns=columns)
    with engine.connect() as conn:
        expected = _expected_cells(_calendar(conn, dates), asset_classes).subquery()
        query = (
            sa.select(
                expected.c.day,
                sa.func.count().label("expected"),
                sa.func.count(daily_prices.c.symbol).label("present"),
            )
            .select_from(_with_prices(expected))
            .group_by(expected.c.day)
            .order_by(expected.c.day)
        )
        rows = conn.execute(query).all()
        conn.rollback()
    frame = pd.DataFrame(rows, columns=["date", "expected", "present"])
    by_date = frame.set_index("date").reindex(list(dates), fill_value=0).rename_axis("date").reset_index()
    by_date["missing"] = by_date["expected"] - by_date["present"]
    return by_date[columns].sort_values("date", ignore_index=True)


def missing_cells(
    engine: Engine, asset_classes: Sequence[str], dates: Sequence[date], limit: int | None = None
) -> pd.DataFrame:
    """The missing cells themselves (symbol, asset_class, date), ordered by date then symbol."""
    columns = ["symbol", "asset_class", "date"]
    if not dates:
        return pd.DataFrame(columns=columns)
    with engine.connect() as conn:
        expected = _expected_cells(_calendar(conn, dates), asset_classes).subquery()
        query = (
            sa.select(expected.c.symbol, expected.c.asset_class, expected.c.day)
            .select_from(_with_prices(expected))
            .where(daily_prices.c.symbol.is_(None))
            .order_by(expected.c.day, expected.c.symbol)
            .limit(limit)
        )
        rows = conn.execute(query).all()
        conn.rollback()
    return pd.DataFrame(rows, columns=columns)

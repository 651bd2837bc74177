"""Gap queries: which (symbol, date) cells should hold a bar and don't. Set-based SQL, no per-symbol loops.

The expected dates come from the caller (the trading calendar lives in ``calendars.py``). A cell is expected
for every active instrument of the asked classes on every date from its ``listed_on`` (or always, when unknown),
except for instruments the upstream has answered it does not know or has delisted: asking again won't help.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.warehouse.schema import assets, daily_prices, symbol_status

NOT_EXPECTED_STATUSES = ("unknown_symbol", "delisted")
GAP_COLUMNS = ("date", "expected", "present", "missing")
CELL_COLUMNS = ("symbol", "asset_class", "date")


def _dates_table(conn: Connection, dates: Sequence[date]) -> sa.Table:
    """The dates as a temporary table on ``conn``; it vanishes when the connection's transaction ends."""
    table = sa.Table(
        "_expected_dates", sa.MetaData(), sa.Column("day", sa.Date, primary_key=True), prefixes=["TEMPORARY"]
    )
    table.create(conn)
    conn.execute(table.insert(), [{"day": day} for day in sorted(set(dates))])
    return table


def _expected_cells(days: sa.Table, asset_classes: Sequence[str]) -> sa.Subquery:
    upstream_does_not_know = (
        sa.select(symbol_status.c.symbol)
        .where(
            symbol_status.c.symbol == assets.c.symbol,
            symbol_status.c.asset_class == assets.c.asset_class,
            symbol_status.c.status.in_(NOT_EXPECTED_STATUSES),
        )
        .exists()
    )
    listed_by_then = sa.or_(assets.c.listed_on.is_(None), assets.c.listed_on <= days.c.day)
    return (
        sa.select(assets.c.symbol, assets.c.asset_class, days.c.day)
        .select_from(days)
        .join(assets, listed_by_then)
        .where(assets.c.active.is_(True), assets.c.asset_class.in_(list(asset_classes)), ~upstream_does_not_know)
        .subquery("expected")
    )


@contextmanager
def _cells_with_prices(
    engine: Engine, asset_classes: Sequence[str], dates: Sequence[date]
) -> Iterator[tuple[Connection, sa.Subquery, sa.Join]]:
    """A connection, the expected cells, and those cells left-joined to their bars (NULL where missing)."""
    with engine.connect() as conn:
        expected = _expected_cells(_dates_table(conn, dates), asset_classes)
        joined = expected.outerjoin(
            daily_prices,
            sa.and_(
                daily_prices.c.symbol == expected.c.symbol,
                daily_prices.c.asset_class == expected.c.asset_class,
                daily_prices.c.date == expected.c.day,
            ),
        )
        yield conn, expected, joined


def partition_gaps(engine: Engine, asset_classes: Sequence[str], dates: Sequence[date]) -> pd.DataFrame:
    """Per date, oldest first: cells expected, present and missing (``GAP_COLUMNS``); zeros where none expected."""
    if not dates:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    with _cells_with_prices(engine, asset_classes, dates) as (conn, expected, joined):
        query = (
            sa.select(expected.c.day, sa.func.count().label("expected"), sa.func.count(daily_prices.c.symbol))
            .select_from(joined)
            .group_by(expected.c.day)
        )
        counts = {day: (n_expected, n_present) for day, n_expected, n_present in conn.execute(query)}
    rows = [(day, *counts.get(day, (0, 0))) for day in sorted(set(dates))]
    return pd.DataFrame(
        [(day, n_expected, n_present, n_expected - n_present) for day, n_expected, n_present in rows],
        columns=list(GAP_COLUMNS),
    )


def missing_cells(
    engine: Engine, asset_classes: Sequence[str], dates: Sequence[date], limit: int | None = None
) -> pd.DataFrame:
    """The missing cells themselves (``CELL_COLUMNS``), by date then asset class then symbol; at most ``limit``."""
    if not dates:
        return pd.DataFrame(columns=list(CELL_COLUMNS))
    with _cells_with_prices(engine, asset_classes, dates) as (conn, expected, joined):
        query = (
            sa.select(expected.c.symbol, expected.c.asset_class, expected.c.day)
            .select_from(joined)
            .where(daily_prices.c.symbol.is_(None))
            .order_by(expected.c.day, expected.c.asset_class, expected.c.symbol)
            .limit(limit)
        )
        return pd.DataFrame(conn.execute(query).all(), columns=list(CELL_COLUMNS))

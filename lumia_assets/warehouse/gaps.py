"""Gap queries: which (symbol, date) cells should hold a bar and don't. Set-based SQL, no per-symbol loops.

The expected dates come from the caller (the trading calendar lives in ``calendars.py``). A cell is expected
for every active instrument of the asked classes that the price selection (``selection.py``) prices, on every
date from its ``listed_on`` (or always, when unknown), except for instruments the upstream has answered it does
not know or has delisted: asking again won't help.

The missing cells are the expected ones EXCEPT the stored ones of the asked classes and dates: two independent
selections, the stored side read from ``ix_daily_prices_asset_class_date_symbol`` alone, without the table. The cost
follows the cells asked about (instruments x dates), not the table. A join of the expected cells to ``daily_prices``
left the plan to estimates, and PostgreSQL merged the cells with the whole primary key: 4 s for one date at one year
of the full universe, 60 s at five years.

A repair also asks for the cells whose bar came from a ``provisional`` source: the opt-in fallback that stood in while
the instrument's own sources failed. Those count as stored for coverage, and as missing for the gap sensor until
the own sources serve them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.selection import EVERYTHING, PriceSelection
from lumia_assets.warehouse.schema import assets, daily_prices, symbol_status
from lumia_assets.warehouse.selection import selected

NOT_EXPECTED_STATUSES = ("unknown_symbol", "delisted")
GAP_COLUMNS = ("date", "expected", "present", "missing")
CELL_COLUMNS = ("symbol", "asset_class", "date")
COVERAGE_COLUMNS = ("asset_class", "date", "expected", "present")


@contextmanager
def reading(engine: Engine, *, whole_table: bool = False) -> Iterator[Connection]:
    """A connection for the warehouse's analytic reads (these gap queries, the quality checks).

    On PostgreSQL a read of some dates runs without JIT compilation: cost estimates grow with the table and cross
    the JIT thresholds at a few years of history, and compiling then took longer than the query ran (at five years
    of the full universe, 1.9 s of a day's 4.4 s ``unexplained_jumps``). A scan of the ``whole_table`` keeps it:
    there compiled expressions pay (9 s instead of 13 s for ``ohlc_sanity`` over 20 million bars). The setting
    ends with the transaction."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql" and not whole_table:
            conn.exec_driver_sql("SET LOCAL jit = off")
        yield conn


def _dates_table(conn: Connection, dates: Sequence[date]) -> sa.Table:
    """The dates as a temporary table on ``conn``; it vanishes when the connection's transaction ends."""
    table = sa.Table(
        "_expected_dates", sa.MetaData(), sa.Column("day", sa.Date, primary_key=True), prefixes=["TEMPORARY"]
    )
    table.create(conn)
    conn.execute(table.insert(), [{"day": day} for day in sorted(set(dates))])
    if conn.dialect.name == "postgresql":
        # a new table has no statistics: PostgreSQL would plan for ~2,500 dates
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')
    return table


def _expected_cells(days: sa.Table, asset_classes: Sequence[str], selection: PriceSelection) -> sa.Subquery:
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
        .where(assets.c.active.is_(True), selected(selection, asset_classes), ~upstream_does_not_know)
        .subquery("expected")
    )


def _stored_cells(asset_classes: Sequence[str], dates: Sequence[date], provisional: Sequence[str]) -> sa.Select:
    """The (symbol, asset_class, date) of every bar of ``asset_classes`` on ``dates`` whose source is not one of the
    ``provisional`` ones (without any, the index alone answers)."""
    stored = sa.select(daily_prices.c.symbol, daily_prices.c.asset_class, daily_prices.c.date).where(
        daily_prices.c.asset_class.in_(list(asset_classes)), daily_prices.c.date.in_(sorted(set(dates)))
    )
    return stored.where(daily_prices.c.source.not_in(list(provisional))) if provisional else stored


@contextmanager
def _missing_cells(
    engine: Engine,
    asset_classes: Sequence[str],
    dates: Sequence[date],
    selection: PriceSelection,
    provisional: Sequence[str] = (),
) -> Iterator[tuple[Connection, sa.Subquery, sa.Subquery]]:
    """A connection, the expected cells, and those of them without a bar (``symbol``, ``asset_class``, ``day``), a
    bar from a ``provisional`` source counting as none."""
    with reading(engine) as conn:
        expected = _expected_cells(_dates_table(conn, dates), asset_classes, selection)
        stored = _stored_cells(asset_classes, dates, provisional)
        missing = sa.except_(sa.select(expected), stored).subquery("missing")
        yield conn, expected, missing


def _count_by(conn: Connection, cells: sa.Subquery, *names: str) -> dict[tuple, int]:
    """How many of ``cells`` per value of the columns ``names``."""
    keys = [cells.c[name] for name in names]
    return {tuple(row[:-1]): row[-1] for row in conn.execute(sa.select(*keys, sa.func.count()).group_by(*keys))}


def class_coverage(
    engine: Engine, asset_classes: Sequence[str], dates: Sequence[date], *, selection: PriceSelection = EVERYTHING
) -> pd.DataFrame:
    """Per asset class and date (``COVERAGE_COLUMNS``): cells expected and present; zeros where none expected."""
    if not dates:
        return pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    with _missing_cells(engine, asset_classes, dates, selection) as (conn, expected, missing):
        expected_per_cell = _count_by(conn, expected, "asset_class", "day")
        missing_per_cell = _count_by(conn, missing, "asset_class", "day")
    rows = []
    for asset_class in asset_classes:
        for day in sorted(set(dates)):
            n_expected = expected_per_cell.get((asset_class, day), 0)
            rows.append((asset_class, day, n_expected, n_expected - missing_per_cell.get((asset_class, day), 0)))
    return pd.DataFrame(rows, columns=list(COVERAGE_COLUMNS))


def partition_gaps(
    engine: Engine, asset_classes: Sequence[str], dates: Sequence[date], *, selection: PriceSelection = EVERYTHING
) -> pd.DataFrame:
    """Per date, oldest first: cells expected, present and missing (``GAP_COLUMNS``); zeros where none expected.
    (Counted per date alone: a per-class count summed here took 20% longer at five years.)"""
    if not dates:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    with _missing_cells(engine, asset_classes, dates, selection) as (conn, expected, missing):
        expected_per_day, missing_per_day = _count_by(conn, expected, "day"), _count_by(conn, missing, "day")
    rows = []
    for day in sorted(set(dates)):
        n_expected, n_missing = expected_per_day.get((day,), 0), missing_per_day.get((day,), 0)
        rows.append((day, n_expected, n_expected - n_missing, n_missing))
    return pd.DataFrame(rows, columns=list(GAP_COLUMNS))


def missing_cells(
    engine: Engine,
    asset_classes: Sequence[str],
    dates: Sequence[date],
    limit: int | None = None,
    *,
    selection: PriceSelection = EVERYTHING,
    provisional: Sequence[str] = (),
) -> pd.DataFrame:
    """The missing cells themselves (``CELL_COLUMNS``), by date then asset class then symbol; at most ``limit``.
    A bar from one of the ``provisional`` sources leaves its cell missing: a repair asks the own sources again."""
    if not dates:
        return pd.DataFrame(columns=list(CELL_COLUMNS))
    with _missing_cells(engine, asset_classes, dates, selection, provisional) as (conn, _, missing):
        query = (
            sa.select(missing.c.symbol, missing.c.asset_class, missing.c.day)
            .order_by(missing.c.day, missing.c.asset_class, missing.c.symbol)
            .limit(limit)
        )
        return pd.DataFrame(conn.execute(query).all(), columns=list(CELL_COLUMNS))


def missing_symbols(
    engine: Engine, asset_classes: Sequence[str], dates: Sequence[date], *, selection: PriceSelection = EVERYTHING
) -> dict[date, list[str]]:
    """Per date with missing cells, the symbols missing, sorted (all of them: a bad day lists every symbol)."""
    cells = missing_cells(engine, asset_classes, dates, selection=selection)
    return {day: sorted(group["symbol"]) for day, group in cells.groupby("date")} if not cells.empty else {}

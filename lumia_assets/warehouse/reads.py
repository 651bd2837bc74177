"""Reading the warehouse back: prices, corporate actions and the universe as typed DataFrames or chunks of them.

Every filter is a bound parameter of the SQL query (symbols come from users), never a pandas filter after the
fact; results are ordered by their key. Columns are typed the same on SQLite and PostgreSQL: dates as
``datetime.date``, prices and volumes as float64 (crypto volumes are fractional), flags as bool, text as strings.
The public functions of ``lumia_assets`` (``read_prices``, ...) are these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.frames import ASSET_CLASSES
from lumia_assets.settings import Settings
from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.schema import adjusted_prices, assets, corporate_actions, daily_prices

CHUNK_ROWS = 10_000  # rows per chunk of a streamed read: about 15 MB of Python objects while it is typed
PRICE_COLUMNS = ("symbol", "asset_class", "date", "open", "high", "low", "close", "volume", "source")
ADJUSTED_COLUMNS = ("symbol", "asset_class", "date", "open", "high", "low", "close", "volume", "adj_close")
ACTION_COLUMNS = ("symbol", "asset_class", "date", "action", "value", "in_dividend", "source")
UNIVERSE_COLUMNS = ("symbol", "asset_class", "name", "exchange", "currency", "active", "listed_on", "source")


@dataclass(frozen=True)
class Selection:
    """What to read: symbols (None: all), an inclusive date range (None: open), asset classes (None: all)."""

    symbols: Sequence[str] | None = None
    start: date | None = None
    end: date | None = None
    asset_classes: Sequence[str] | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.asset_classes or ()) - set(ASSET_CLASSES))
        if unknown:
            raise ValueError(f"asset_classes: unknown {unknown}; choose from {list(ASSET_CLASSES)}")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")

    def filters(self, table: sa.TableClause, dated: bool = True) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses on ``table`` (bound, expanding parameters)."""
        found = []
        if self.symbols is not None:
            found.append(table.c.symbol.in_(list(self.symbols)))
        if self.asset_classes is not None:
            found.append(table.c.asset_class.in_(list(self.asset_classes)))
        if dated and self.start is not None:
            found.append(table.c.date >= self.start)
        if dated and self.end is not None:
            found.append(table.c.date <= self.end)
        return found


@dataclass(frozen=True)
class Query:
    """One read: its statement and how to type its columns."""

    statement: sa.Select
    dates: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [column.name for column in self.statement.selected_columns]


def prices_query(selection: Selection, adjusted: bool = False) -> Query:
    """Bars as traded (``daily_prices``) or split- and distribution-adjusted (the ``adjusted_prices`` view)."""
    table, names = (adjusted_prices, ADJUSTED_COLUMNS) if adjusted else (daily_prices, PRICE_COLUMNS)
    statement = (
        sa.select(*(table.c[name] for name in names))
        .where(*selection.filters(table))
        .order_by(table.c.symbol, table.c.asset_class, table.c.date)
    )
    floats = tuple(name for name in names if name in {"open", "high", "low", "close", "volume", "adj_close"})
    return Query(statement, dates=("date",), floats=floats)


def actions_query(selection: Selection) -> Query:
    """Splits (ratio), dividends and capital gains (cash per share, as paid) by ex-date."""
    table = corporate_actions
    statement = (
        sa.select(*(table.c[name] for name in ACTION_COLUMNS))
        .where(*selection.filters(table))
        .order_by(table.c.symbol, table.c.asset_class, table.c.date, table.c.action)
    )
    return Query(statement, dates=("date",), floats=("value",), flags=("in_dividend",))


def universe_query(selection: Selection) -> Query:
    """Every instrument ever listed (``active`` says which are priced now); the date range does not apply."""
    statement = (
        sa.select(*(assets.c[name] for name in UNIVERSE_COLUMNS))
        .where(*selection.filters(assets, dated=False))
        .order_by(assets.c.symbol, assets.c.asset_class)
    )
    return Query(statement, dates=("listed_on",), flags=("active",))


def _as_dates(series: pd.Series) -> pd.Series:
    """SQLite hands dates back as text, PostgreSQL as ``date``: both become ``datetime.date`` (None where NULL)."""
    days = pd.to_datetime(series, errors="raise")
    return pd.Series(
        np.where(days.isna(), None, days.dt.date.astype(object)), index=series.index, name=series.name, dtype=object
    )


def typed(frame: pd.DataFrame, query: Query) -> pd.DataFrame:
    """``frame`` with the query's columns typed (see the module docstring), in place."""
    out = frame
    for name in query.dates:
        out[name] = _as_dates(out[name])
    for name in query.floats:
        out[name] = pd.to_numeric(out[name], errors="raise").astype("float64")
    for name in query.flags:
        out[name] = out[name].astype(bool)
    return out


def count(engine: Engine, query: Query) -> int:
    """How many rows ``query`` returns."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(query.statement.subquery())).scalar_one())


def read_chunks(engine: Engine, query: Query, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """``query``'s rows as typed frames of at most ``chunk_rows``, streamed from a server-side cursor (PostgreSQL),
    so memory stays bounded whatever the result's size. No chunk at all when nothing matches."""
    with engine.connect().execution_options(stream_results=True, max_row_buffer=chunk_rows) as conn:
        result = conn.execute(query.statement)
        while rows := result.fetchmany(chunk_rows):
            yield typed(pd.DataFrame(rows, columns=query.columns), query)


def read(engine: Engine, query: Query) -> pd.DataFrame:
    """All of ``query``'s rows as one typed frame (empty, with its columns, when nothing matches)."""
    chunks = list(read_chunks(engine, query))
    if not chunks:
        return typed(pd.DataFrame({name: pd.Series(dtype=object) for name in query.columns}), query)
    return pd.concat(chunks, ignore_index=True)


def _engine(warehouse_url: str | None) -> Engine:
    return connect_warehouse(warehouse_url or Settings.from_env().warehouse_url)


def read_prices(
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    asset_classes: Sequence[str] | None = None,
    adjusted: bool = False,
    *,
    warehouse_url: str | None = None,
) -> pd.DataFrame:
    """Daily bars of ``symbols`` (None: every symbol) from ``start`` to ``end`` inclusive, by symbol and date.

    As traded by default (``PRICE_COLUMNS``); ``adjusted=True`` reads the derived series instead
    (``ADJUSTED_COLUMNS``: OHLC and volume split-adjusted, ``adj_close`` also adjusted for distributions). The
    warehouse is ``warehouse_url``, default ``LUMIA_WAREHOUSE_URL``.
    """
    selection = Selection(symbols, start, end, asset_classes)
    return read(_engine(warehouse_url), prices_query(selection, adjusted))


def read_actions(
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    asset_classes: Sequence[str] | None = None,
    *,
    warehouse_url: str | None = None,
) -> pd.DataFrame:
    """Splits, dividends and capital gains with ex-dates from ``start`` to ``end`` (``ACTION_COLUMNS``)."""
    selection = Selection(symbols, start, end, asset_classes)
    return read(_engine(warehouse_url), actions_query(selection))


def read_universe(
    symbols: Sequence[str] | None = None,
    asset_classes: Sequence[str] | None = None,
    *,
    warehouse_url: str | None = None,
) -> pd.DataFrame:
    """Every instrument the directories ever listed (``UNIVERSE_COLUMNS``); ``active`` marks those priced now."""
    return read(_engine(warehouse_url), universe_query(Selection(symbols, asset_classes=asset_classes)))

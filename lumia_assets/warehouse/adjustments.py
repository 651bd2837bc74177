"""Derived adjustments: the ``adjustment_factors`` the writer keeps current, and reads of the ``adjusted_prices`` view.

Adjusted prices are never stored: ``daily_prices`` holds bars as traded and ``corporate_actions`` the adjustment
record. For every symbol with an action, ``adjustment_factors`` holds a few piecewise-constant segments of
cumulative factors (one per action date, see :func:`lumia_assets.adjustments.cumulative_factors`), rebuilt from
the record whenever a batch touches the symbol. The view joins each bar to its segment by date, so a new dividend
changes the derived values of every earlier bar by rewriting a handful of factor rows, and none of the bars.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.adjustments import ACTION_FRAME_COLUMNS, cumulative_factors
from lumia_assets.selection import EVERYTHING, PriceSelection
from lumia_assets.warehouse.contracts import conform
from lumia_assets.warehouse.schema import (
    adjusted_prices,
    adjustment_factors,
    assets,
    corporate_actions,
    daily_prices,
)
from lumia_assets.warehouse.selection import selected

Key = tuple[str, str]
ADJUSTED_COLUMNS = ("symbol", "asset_class", "date", "open", "high", "low", "close", "volume", "adj_close")


def _record(conn: Connection, symbols: Collection[str], asset_classes: Collection[str]) -> pd.DataFrame:
    """The stored actions of ``symbols``, each with the close and date of the symbol's last bar before it."""
    before = sa.and_(
        daily_prices.c.symbol == corporate_actions.c.symbol,
        daily_prices.c.asset_class == corporate_actions.c.asset_class,
        daily_prices.c.date < corporate_actions.c.date,
    )
    previous = sa.select(daily_prices.c.date).where(before).order_by(daily_prices.c.date.desc()).limit(1)
    query = sa.select(
        corporate_actions.c.symbol,
        corporate_actions.c.asset_class,
        *(corporate_actions.c[name] for name in ACTION_FRAME_COLUMNS),
        previous.scalar_subquery().label("previous_date"),
        previous.with_only_columns(daily_prices.c.close).scalar_subquery().label("previous_close"),
    ).where(corporate_actions.c.symbol.in_(list(symbols)), corporate_actions.c.asset_class.in_(list(asset_classes)))
    frame = pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in query.selected_columns])
    for column in ("date", "previous_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def _symbol_factors(record: pd.DataFrame) -> pd.DataFrame:
    """One symbol's factor segments from its actions and the closes before them."""
    closes = record.dropna(subset=["previous_date"]).drop_duplicates("previous_date")
    closes = pd.Series(closes["previous_close"].to_numpy(dtype="float64"), index=closes["previous_date"]).sort_index()
    actions = record.loc[:, list(ACTION_FRAME_COLUMNS)].assign(in_dividend=record["in_dividend"].astype(bool))
    return cumulative_factors(actions, closes)


def refresh_adjustment_factors(conn: Connection, keys: Collection[Key]) -> int:
    """Rebuild the factor segments of ``keys`` (symbol, asset_class) from the stored record; returns segments written.

    Runs inside the writer's transaction, after the batch's bars and actions, so the factors never lag the record.
    """
    keys = set(keys)
    if not keys:
        return 0
    record = _record(conn, {s for s, _ in keys}, {c for _, c in keys})
    wanted = [key in keys for key in zip(record["symbol"], record["asset_class"], strict=True)]
    record = record.loc[np.array(wanted, dtype=bool)]
    computed_at = datetime.now(UTC)
    segments = [
        _symbol_factors(rows).assign(symbol=symbol, asset_class=asset_class, computed_at=computed_at)
        for (symbol, asset_class), rows in record.groupby(["symbol", "asset_class"], sort=False)
    ]
    conn.execute(
        adjustment_factors.delete().where(
            adjustment_factors.c.symbol == sa.bindparam("b_symbol"),
            adjustment_factors.c.asset_class == sa.bindparam("b_class"),
        ),
        [{"b_symbol": symbol, "b_class": asset_class} for symbol, asset_class in keys],
    )
    rows = pd.concat(segments, ignore_index=True) if segments else pd.DataFrame()
    if rows.empty:
        return 0
    conn.execute(adjustment_factors.insert(), conform(rows, adjustment_factors).to_dict("records"))
    return len(rows)


def adjusted_symbols(
    engine: Engine,
    asset_classes: Collection[str],
    since: date | None = None,
    symbols: Collection[str] = (),
    *,
    selection: PriceSelection = EVERYTHING,
) -> list[Key]:
    """Active instruments of ``asset_classes`` that ``selection`` prices with a recorded split or distribution
    (dated ``since`` or later), optionally only ``symbols``: what a restate rebuilds."""
    query = (
        sa.select(corporate_actions.c.symbol, corporate_actions.c.asset_class)
        .join(assets, sa.and_(assets.c.symbol == corporate_actions.c.symbol,
                              assets.c.asset_class == corporate_actions.c.asset_class))
        .where(assets.c.active.is_(True), selected(selection, list(asset_classes)))
        .distinct()
        .order_by(corporate_actions.c.asset_class, corporate_actions.c.symbol)
    )  # fmt: skip
    if since is not None:
        query = query.where(corporate_actions.c.date >= since)
    if symbols:
        query = query.where(corporate_actions.c.symbol.in_(list(symbols)))
    with engine.connect() as conn:
        return [(row.symbol, row.asset_class) for row in conn.execute(query)]


def _per_symbol(table: sa.Table, aggregate: sa.ColumnElement, name: str) -> sa.Subquery:
    """``aggregate`` of ``table`` per (symbol, asset_class), labelled ``name``."""
    return (
        sa.select(table.c.symbol, table.c.asset_class, aggregate.label(name))
        .group_by(table.c.symbol, table.c.asset_class)
        .subquery(f"{name}_per_symbol")
    )


def stale_factor_keys(engine: Engine) -> set[Key]:
    """Symbols whose factors are missing or older than their newest stored action (e.g. a warehouse migrated from
    a version without factors)."""
    newest_action = _per_symbol(corporate_actions, sa.func.max(corporate_actions.c.fetched_at), "fetched_at")
    computed = _per_symbol(adjustment_factors, sa.func.min(adjustment_factors.c.computed_at), "computed_at")
    query = (
        sa.select(newest_action.c.symbol, newest_action.c.asset_class)
        .outerjoin(computed, sa.and_(computed.c.symbol == newest_action.c.symbol,
                                     computed.c.asset_class == newest_action.c.asset_class))
        .where(sa.or_(computed.c.computed_at.is_(None), computed.c.computed_at < newest_action.c.fetched_at))
    )  # fmt: skip
    with engine.connect() as conn:
        return {(row.symbol, row.asset_class) for row in conn.execute(query)}


def adjusted_series(engine: Engine, symbol: str, asset_class: str, start: date, end: date) -> pd.DataFrame:
    """One symbol's derived series (``ADJUSTED_COLUMNS``) from ``start`` to ``end`` inclusive, by date."""
    query = (
        sa.select(*(adjusted_prices.c[name] for name in ADJUSTED_COLUMNS))
        .where(adjusted_prices.c.symbol == symbol, adjusted_prices.c.asset_class == asset_class,
               adjusted_prices.c.date.between(start, end))
        .order_by(adjusted_prices.c.date)
    )  # fmt: skip
    with engine.connect() as conn:
        return _dated(pd.DataFrame(conn.execute(query).all(), columns=list(ADJUSTED_COLUMNS)))


def adjusted_closes_on(engine: Engine, day: date, asset_classes: Collection[str]) -> pd.DataFrame:
    """symbol, asset_class, close and adj_close of every stored bar of ``day`` in ``asset_classes``."""
    columns = ("symbol", "asset_class", "close", "adj_close")
    query = sa.select(*(adjusted_prices.c[name] for name in columns)).where(
        adjusted_prices.c.date == day, adjusted_prices.c.asset_class.in_(list(asset_classes))
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=list(columns))


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date) if not frame.empty else frame

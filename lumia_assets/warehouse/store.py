"""Bulk, idempotent writes: every write is an upsert on the table's primary key, inside the caller's transaction.

PostgreSQL loads through ``COPY`` into a temporary staging table, then ``INSERT ... ON CONFLICT DO UPDATE``;
SQLite uses an ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE``. Re-running a write leaves identical contents.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.warehouse.schema import assets, corporate_actions, daily_prices, symbol_status

STATUS_COLUMNS = ("symbol", "asset_class", "status", "detail", "checked_at")
LISTED_ON_COLUMNS = ("symbol", "asset_class", "listed_on")


class FrameContractError(ValueError):
    """A frame handed to the warehouse does not have the columns or keys its table needs."""


def _check_frame(frame: pd.DataFrame, columns: Sequence[str], keys: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    if missing or extra:
        raise FrameContractError(f"{table}: frame has missing columns {missing} and unexpected columns {extra}")
    duplicated = frame[frame.duplicated(list(keys), keep=False)]
    if not duplicated.empty:
        sample = duplicated[list(keys)].head(5).to_dict("records")
        raise FrameContractError(f"{table}: {len(duplicated)} rows repeat a primary key, e.g. {sample}")


def without_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as Python objects with NaN/NaT as None, ready for a DBAPI driver."""
    return frame.astype(object).where(frame.notna(), None)


def _normalised(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Only ``columns``, with dates as ``date`` objects and NaN as None."""
    out = frame.loc[:, list(columns)].copy()
    for name in ("date", "listed_on"):
        if name in out.columns:
            out[name] = pd.to_datetime(out[name]).dt.date
    return without_nan(out)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in frame.to_dict("records")
    ]


def _copy_into_staging(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> str:
    staging = f"_staging_{table.name}"
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" (LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
    )
    conn.exec_driver_sql(f'TRUNCATE "{staging}"')
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    buffer.seek(0)
    column_list = ", ".join(f'"{c}"' for c in frame.columns)
    cursor = conn.connection.driver_connection.cursor()
    cursor.copy_expert(f'COPY "{staging}" ({column_list}) FROM STDIN WITH (FORMAT csv)', buffer)
    return staging


def _on_conflict(statement: sa.Insert, keys: list[str], updates: list[str]) -> sa.Insert:
    if not updates:
        return statement.on_conflict_do_nothing(index_elements=keys)  # type: ignore[attr-defined]
    excluded = statement.excluded  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=keys, set_={c: excluded[c] for c in updates}
    )


def upsert(conn: Connection, table: sa.Table, frame: pd.DataFrame, preserve: Sequence[str] = ()) -> int:
    """Insert or update ``frame``'s rows into ``table`` by primary key; ``preserve`` columns keep their first value.

    Returns the number of rows written.
    """
    if frame.empty:
        return 0
    keys = [c.name for c in table.primary_key.columns]
    updates = [c for c in frame.columns if c not in keys and c not in preserve]
    if conn.dialect.name == "postgresql":
        staging = sa.table(_copy_into_staging(conn, table, frame), *(sa.column(c) for c in frame.columns))
        statement = postgresql_insert(table).from_select(list(frame.columns), sa.select(staging))
        conn.execute(_on_conflict(statement, keys, updates))
    else:
        conn.execute(_on_conflict(sqlite_insert(table), keys, updates), _records(frame))
    return len(frame)


def upsert_daily_prices(conn: Connection, frame: pd.DataFrame) -> int:
    """Write bars (``PRICE_COLUMNS``) keyed on (symbol, asset_class, date)."""
    _check_frame(frame, PRICE_COLUMNS, ("symbol", "asset_class", "date"), "daily_prices")
    return upsert(conn, daily_prices, _normalised(frame, PRICE_COLUMNS))


def upsert_corporate_actions(conn: Connection, frame: pd.DataFrame) -> int:
    """Write splits, dividends and capital gains (``CORPORATE_ACTION_COLUMNS``)."""
    _check_frame(frame, CORPORATE_ACTION_COLUMNS, ("symbol", "asset_class", "date", "action"), "corporate_actions")
    return upsert(conn, corporate_actions, _normalised(frame, CORPORATE_ACTION_COLUMNS))


def record_symbol_status(conn: Connection, frame: pd.DataFrame) -> int:
    """Upsert each symbol's latest fetch outcome; ``no_data`` answers in a row are counted, ``ok`` resets."""
    _check_frame(frame, STATUS_COLUMNS, ("symbol", "asset_class"), "symbol_status")
    if frame.empty:
        return 0
    rows = _normalised(frame, STATUS_COLUMNS)
    statement = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(symbol_status)
    no_data_streak = sa.case(
        (statement.excluded.status == "no_data", symbol_status.c.consecutive_no_data + 1),
        (statement.excluded.status == "ok", 0),
        else_=symbol_status.c.consecutive_no_data,
    )
    records = [{**r, "consecutive_no_data": 1 if r["status"] == "no_data" else 0} for r in _records(rows)]
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["symbol", "asset_class"],
            set_={
                "status": statement.excluded.status,
                "detail": statement.excluded.detail,
                "checked_at": statement.excluded.checked_at,
                "consecutive_no_data": no_data_streak,
            },
        ),
        records,
    )
    return len(records)


def set_listed_on(conn: Connection, frame: pd.DataFrame) -> int:
    """Record the first date each symbol has data upstream, so gap queries ignore earlier sessions."""
    _check_frame(frame, LISTED_ON_COLUMNS, ("symbol", "asset_class"), "assets")
    rows = _records(_normalised(frame.dropna(subset=["listed_on"]), LISTED_ON_COLUMNS))
    if rows:
        conn.execute(
            assets.update()
            .where(assets.c.symbol == sa.bindparam("b_symbol"), assets.c.asset_class == sa.bindparam("b_class"))
            .values(listed_on=sa.bindparam("b_listed_on")),
            [{"b_symbol": r["symbol"], "b_class": r["asset_class"], "b_listed_on": r["listed_on"]} for r in rows],
        )
    return len(rows)


@dataclass(frozen=True)
class PriceBatch:
    """Everything one batch of symbols produced; written together in one transaction."""

    bars: pd.DataFrame
    actions: pd.DataFrame
    statuses: pd.DataFrame
    listed_on: pd.DataFrame


@dataclass(frozen=True)
class BatchCounts:
    """Rows written by :func:`write_price_batch`."""

    bars: int
    actions: int
    statuses: int


def write_price_batch(engine: Engine, batch: PriceBatch) -> BatchCounts:
    """Write a batch in ONE transaction: a killed run leaves whole batches or nothing of them."""
    with engine.begin() as conn:
        counts = BatchCounts(
            bars=upsert_daily_prices(conn, batch.bars),
            actions=upsert_corporate_actions(conn, batch.actions),
            statuses=record_symbol_status(conn, batch.statuses),
        )
        set_listed_on(conn, batch.listed_on)
    return counts


def active_symbols(engine: Engine, asset_classes: Sequence[str]) -> pd.DataFrame:
    """Active instruments of ``asset_classes``: symbol, asset_class, yahoo_symbol, exchange, listed_on."""
    query = (
        sa.select(assets.c.symbol, assets.c.asset_class, assets.c.yahoo_symbol, assets.c.exchange, assets.c.listed_on)
        .where(assets.c.active.is_(True), assets.c.asset_class.in_(list(asset_classes)))
        .order_by(assets.c.asset_class, assets.c.symbol)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys()))

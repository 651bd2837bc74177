"""Bulk, idempotent writes: every write is an upsert on the table's primary key, in one transaction.

PostgreSQL loads through ``COPY`` into a temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT DO
UPDATE``; SQLite runs an ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE``. Re-running a write leaves
identical contents. Each writer takes an ``Engine`` (it commits its own transaction) or a ``Connection`` (it
joins the caller's transaction, as :func:`write_price_batch` does).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.warehouse.adjustments import refresh_adjustment_factors
from lumia_assets.warehouse.contracts import conform, records
from lumia_assets.warehouse.restatements import RESTATEMENT_COLUMNS, record_restatements
from lumia_assets.warehouse.schema import assets, corporate_actions, crypto, daily_prices, symbol_status

STATUS_COLUMNS = ("symbol", "asset_class", "status", "detail", "checked_at")
IDENTITY_COLUMNS = ("symbol", "asset_class", "listed_on", "name")
ACTIVE_SYMBOL_COLUMNS = ("symbol", "asset_class", "yahoo_symbol", "listed_on", "exchange", "exchanges")

Updates = Callable[[sa.ColumnCollection], Mapping[str, sa.ColumnElement]]


@contextmanager
def transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection inside a transaction: a new, committed-on-exit one for an Engine, or the caller's own."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def _copy_into_staging(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> sa.TableClause:
    """COPY ``frame`` into an unconstrained temporary table shaped like ``table``; dropped at commit."""
    staging = f"_staging_{table.name}"
    column_list = ", ".join(f'"{c}"' for c in frame.columns)
    conn.exec_driver_sql(f'DROP TABLE IF EXISTS pg_temp."{staging}"')
    conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE "{staging}" ON COMMIT DROP AS SELECT {column_list} FROM "{table.name}" WITH NO DATA'
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.copy_expert(f'COPY "{staging}" ({column_list}) FROM STDIN WITH (FORMAT csv)', buffer)
    return sa.table(staging, *(sa.column(c) for c in frame.columns))


def upsert(
    conn: Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    *,
    preserve: Sequence[str] = (),
    updates: Updates | None = None,
) -> int:
    """Insert ``frame`` (driver-ready, see ``contracts.conform``) into ``table``, updating rows whose key exists.

    ``preserve`` columns keep the stored value on update; ``updates`` maps ``excluded`` (the incoming row) to
    update expressions that replace the default "take the incoming value". Returns the number of rows written.
    """
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        staging = _copy_into_staging(conn, table, frame)
        statement = postgresql_insert(table).from_select(list(frame.columns), sa.select(staging))
        parameters = None
    else:
        statement = sqlite_insert(table)
        parameters = records(frame)
    keys = [c.name for c in table.primary_key.columns]
    set_ = {c: statement.excluded[c] for c in frame.columns if c not in keys and c not in preserve}
    set_.update(updates(statement.excluded) if updates else {})
    if set_:
        statement = statement.on_conflict_do_update(index_elements=keys, set_=set_)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    conn.execute(statement, parameters)
    return len(frame)


def upsert_daily_prices(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Write bars (exactly ``PRICE_COLUMNS``) keyed on (symbol, asset_class, date); returns rows written."""
    rows = conform(frame, daily_prices, PRICE_COLUMNS)
    with transaction(bind) as conn:
        return upsert(conn, daily_prices, rows)


def upsert_corporate_actions(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Write splits, dividends and capital gains (exactly ``CORPORATE_ACTION_COLUMNS``); returns rows written."""
    rows = conform(frame, corporate_actions, CORPORATE_ACTION_COLUMNS)
    with transaction(bind) as conn:
        return upsert(conn, corporate_actions, rows)


def _no_data_streak(incoming: sa.ColumnCollection) -> Mapping[str, sa.ColumnElement]:
    """``no_data`` extends the streak (and keeps the day it began), ``ok`` ends it, anything else (an error)
    leaves it as it was."""
    streak, since = symbol_status.c.consecutive_no_data, symbol_status.c.no_data_since
    return {
        "consecutive_no_data": sa.case(
            (incoming.status == "no_data", streak + 1), (incoming.status == "ok", 0), else_=streak
        ),
        "no_data_since": sa.case(
            (incoming.status == "no_data", sa.func.coalesce(since, incoming.no_data_since)),
            (incoming.status == "ok", None),
            else_=since,
        ),
    }


def record_symbol_status(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Upsert each symbol's latest fetch outcome (``STATUS_COLUMNS``), counting ``no_data`` answers in a row and
    keeping the day the streak began."""
    rows = conform(frame, symbol_status, STATUS_COLUMNS)
    no_data = rows["status"] == "no_data"
    rows["consecutive_no_data"] = no_data.astype(int)
    days = [pd.Timestamp(at).date() for at in rows["checked_at"]]
    rows["no_data_since"] = [day if flag else None for day, flag in zip(days, no_data, strict=True)]
    with transaction(bind) as conn:
        return upsert(conn, symbol_status, rows, updates=_no_data_streak)


def record_identity(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Record what the upstream vouched for about each symbol (``IDENTITY_COLUMNS``, None where it said nothing).

    ``listed_on`` only ever moves earlier: it is the earliest first trading day any answer gave, and gap queries
    skip the days before it. ``name`` fills a missing name (a fund known only from SEC's list) and never replaces
    a known one. Symbols not in ``assets`` are ignored; returns the number of rows that told something.
    """
    rows = [r for r in records(conform(frame, assets, IDENTITY_COLUMNS)) if r["listed_on"] or r["name"]]
    if rows:
        listed_on, name = sa.bindparam("b_listed_on", type_=sa.Date), sa.bindparam("b_name", type_=sa.Text)
        earliest = sa.case(
            (listed_on.is_(None), assets.c.listed_on),
            (sa.or_(assets.c.listed_on.is_(None), listed_on < assets.c.listed_on), listed_on),
            else_=assets.c.listed_on,
        )
        known_name = sa.case((sa.func.coalesce(sa.func.trim(assets.c.name), "") == "", name), else_=assets.c.name)
        with transaction(bind) as conn:
            conn.execute(
                assets.update()
                .where(assets.c.symbol == sa.bindparam("b_symbol"), assets.c.asset_class == sa.bindparam("b_class"))
                .values(listed_on=earliest, name=known_name),
                [{"b_symbol": r["symbol"], "b_class": r["asset_class"], "b_listed_on": r["listed_on"],
                  "b_name": r["name"]} for r in rows],
            )  # fmt: skip
    return len(rows)


@dataclass(frozen=True)
class PriceBatch:
    """Everything one batch of symbols produced; written together in one transaction.

    ``restated`` lists what the upstream changed in the record (``RESTATEMENT_COLUMNS`` and ``source``); the
    actions of the symbols in ``rewritten`` (re-fetched whole after a restatement) replace their stored ones.
    """

    bars: pd.DataFrame
    actions: pd.DataFrame
    statuses: pd.DataFrame
    identities: pd.DataFrame
    restated: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[*RESTATEMENT_COLUMNS, "source"]))
    rewritten: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class BatchCounts:
    """Rows written by :func:`write_price_batch`."""

    bars: int
    actions: int
    statuses: int
    identities: int
    restatements: int = 0
    factor_segments: int = 0


def _delete_actions(conn: Connection, keys: frozenset[tuple[str, str]]) -> None:
    if keys:
        conn.execute(
            corporate_actions.delete().where(
                corporate_actions.c.symbol == sa.bindparam("b_symbol"),
                corporate_actions.c.asset_class == sa.bindparam("b_class"),
            ),
            [{"b_symbol": symbol, "b_class": asset_class} for symbol, asset_class in keys],
        )


def keys_of(*frames: pd.DataFrame) -> frozenset[tuple[str, str]]:
    """The (symbol, asset_class) keys the frames hold."""
    return frozenset(key for frame in frames for key in zip(frame["symbol"], frame["asset_class"], strict=True))


def write_price_batch(engine: Engine, batch: PriceBatch, detected_at: datetime | None = None) -> BatchCounts:
    """Write a batch in ONE transaction: a killed or failing run leaves whole batches or nothing of them.

    The adjustment factors of every symbol in the batch are rebuilt in the same transaction, so the derived series
    always reflects the record.
    """
    with engine.begin() as conn:
        _delete_actions(conn, batch.rewritten)
        counts = BatchCounts(
            bars=upsert_daily_prices(conn, batch.bars),
            actions=upsert_corporate_actions(conn, batch.actions),
            statuses=record_symbol_status(conn, batch.statuses),
            identities=record_identity(conn, batch.identities),
            restatements=record_restatements(conn, batch.restated, detected_at or datetime.now(UTC)),
        )
        factors = refresh_adjustment_factors(conn, keys_of(batch.bars, batch.actions) | batch.rewritten)
    return replace(counts, factor_segments=factors)


def active_symbols(engine: Engine, asset_classes: Sequence[str]) -> pd.DataFrame:
    """Active instruments of ``asset_classes`` (``ACTIVE_SYMBOL_COLUMNS``), by asset class then symbol.

    ``exchanges`` is the comma-separated list of exchanges listing a crypto pair, and None for other classes.
    """
    query = (
        sa.select(*(assets.c[name] for name in ACTIVE_SYMBOL_COLUMNS[:-1]), crypto.c.exchanges)
        .outerjoin(crypto, sa.and_(crypto.c.symbol == assets.c.symbol, crypto.c.asset_class == assets.c.asset_class))
        .where(assets.c.active.is_(True), assets.c.asset_class.in_(list(asset_classes)))
        .order_by(assets.c.asset_class, assets.c.symbol)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=list(ACTIVE_SYMBOL_COLUMNS))


def recently_priced(engine: Engine, asset_classes: Sequence[str], first: date, last: date) -> set[tuple[str, str]]:
    """The (symbol, asset_class) keys of ``asset_classes`` with a stored bar from ``first`` to ``last``."""
    query = (
        sa.select(daily_prices.c.symbol, daily_prices.c.asset_class)
        .where(daily_prices.c.asset_class.in_(list(asset_classes)), daily_prices.c.date.between(first, last))
        .distinct()
    )
    with engine.connect() as conn:
        return {(row.symbol, row.asset_class) for row in conn.execute(query)}


def count_prices(engine: Engine, asset_classes: Sequence[str]) -> int:
    """How many daily bars the warehouse holds for ``asset_classes``."""
    query = sa.select(sa.func.count()).select_from(daily_prices).where(daily_prices.c.asset_class.in_(asset_classes))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())

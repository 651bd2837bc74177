"""Bulk, idempotent writes: every write is an upsert on the table's primary key, in one transaction.

PostgreSQL: when the table cannot hold any of the frame's keys yet (new bars), a binary ``COPY`` straight into it;
otherwise a binary ``COPY`` into a temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``.
SQLite: one driver ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE``. Bars and corporate actions whose stored
values equal the incoming ones are not rewritten (their ``fetched_at`` stays: when those values were first
fetched). Re-running a write leaves identical contents. Each writer takes an ``Engine`` (it commits its own
transaction) or a ``Connection`` (it joins the caller's transaction, as :func:`write_price_batch` does).
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

from lumia_assets.frames import CANDLE_COLUMNS, CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS
from lumia_assets.selection import EVERYTHING, PriceSelection
from lumia_assets.warehouse.adjustments import refresh_adjustment_factors
from lumia_assets.warehouse.bulk import copy_binary, driver_column, staging_ddl
from lumia_assets.warehouse.contracts import checked, conform, records
from lumia_assets.warehouse.restatements import RESTATEMENT_COLUMNS, record_restatements
from lumia_assets.warehouse.schema import assets, candles, corporate_actions, crypto, daily_prices, symbol_status
from lumia_assets.warehouse.selection import selected

STATUS_COLUMNS = ("symbol", "asset_class", "status", "detail", "checked_at")
IDENTITY_COLUMNS = ("symbol", "asset_class", "listed_on", "name")
ACTIVE_SYMBOL_COLUMNS = ("symbol", "asset_class", "yahoo_symbol", "listed_on", "exchange", "exchanges")

Updates = Callable[[sa.ColumnCollection], Mapping[str, sa.ColumnElement]]
COPY_CHUNK = 1 << 20  # bytes psycopg2 sends per COPY message
UNIQUE_VIOLATION = "23505"  # SQLSTATE


@contextmanager
def transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection inside a transaction: a new, committed-on-exit one for an Engine, or the caller's own."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def _copy_into_staging(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> sa.TableClause:
    """Binary-COPY ``frame`` into an unconstrained temporary table of its columns, typed as in ``table``'s
    definition; dropped at commit."""
    staging = f"_staging_{table.name}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{conn.dialect.identifier_preparer.quote(staging)}")
    conn.exec_driver_sql(staging_ddl(table, list(frame.columns), staging, conn.dialect))
    _copy(conn, table, staging, frame)
    return sa.table(staging, *(sa.column(c) for c in frame.columns))


def key_probe(dialect: sa.Dialect, table: sa.Table, frame: pd.DataFrame) -> tuple[str, dict[str, object]] | None:
    """The PostgreSQL query (and its parameters) telling whether ``table`` may already hold a key of ``frame``;
    None when the key has nothing to probe before a date. Never wrong when it says no.

    One primary-key probe per distinct value of the key columns before its date, for a stored row dated from the
    frame's first to its last date (key columns after the date are not compared): the range of whole keys
    ``(symbol, asset_class, first) <= key <= (symbol, asset_class, last)``, in key order, which only the primary
    key serves without a scan of the table, so no plan reads the table even before it has statistics (a fresh
    warehouse's first backfill).
    """
    keys = list(table.primary_key.columns)
    dated = next((i for i, c in enumerate(keys) if isinstance(c.type, sa.Date)), len(keys))
    probed, date_column = keys[:dated], keys[dated] if dated < len(keys) else None
    if not probed:
        return None
    quote = dialect.identifier_preparer.quote
    names = [quote(c.name) for c in probed]
    arrays = ", ".join(f"CAST(:key_{i} AS {c.type.compile(dialect=dialect)}[])" for i, c in enumerate(probed))
    stored, wanted = ", ".join(f"t.{n}" for n in names), ", ".join(f"k.{n}" for n in names)
    distinct = frame[[c.name for c in probed]].drop_duplicates()
    parameters: dict[str, object] = {f"key_{i}": distinct[c.name].tolist() for i, c in enumerate(probed)}
    if date_column is None:
        match = f"({stored}) = ({wanted})"
    else:
        day = f"t.{quote(date_column.name)}"
        match = f"({stored}, {day}) >= ({wanted}, :first) AND ({stored}, {day}) <= ({wanted}, :last)"
        parameters |= {"first": frame[date_column.name].min(), "last": frame[date_column.name].max()}
    order = ", ".join(f"t.{quote(c.name)}" for c in keys[: dated + 1])
    query = (
        f"SELECT EXISTS (SELECT FROM unnest({arrays}) AS k({', '.join(names)}) "
        f"CROSS JOIN LATERAL (SELECT FROM {quote(table.name)} AS t WHERE {match} ORDER BY {order} LIMIT 1) AS stored)"
    )
    return query, parameters


def _may_hold_a_key_of(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> bool:
    probe = key_probe(conn.dialect, table, frame)
    return probe is None or bool(conn.execute(sa.text(probe[0]), probe[1]).scalar())


def _copy(conn: Connection, table: sa.Table, target: str, frame: pd.DataFrame) -> None:
    """Binary ``COPY`` of ``frame`` into ``target``, a table with ``table``'s column types. A driver error is raised
    as SQLAlchemy's (``IntegrityError`` for a NULL close, ...), like those of statements run through it."""
    quote = conn.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(c) for c in frame.columns)
    statement = f"COPY {quote(target)} ({column_list}) FROM STDIN WITH (FORMAT binary)"
    stream = io.BytesIO(copy_binary(frame, table))
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.copy_expert(statement, stream, COPY_CHUNK)
    except driver_error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, driver_error) from exc


def _copied_straight_in(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> bool:
    """``COPY`` ``frame`` straight into ``table`` when none of its keys can be stored yet (new bars: a backfill, a
    new session), inside a savepoint; False, with nothing written, when a key may be or turns out to be stored
    (a concurrent writer got there first)."""
    if not all(c.name in frame.columns for c in table.primary_key.columns) or _may_hold_a_key_of(conn, table, frame):
        return False
    try:
        with conn.begin_nested():
            _copy(conn, table, table.name, frame)
    except sa.exc.IntegrityError as exc:
        if getattr(exc.orig, "pgcode", None) == UNIQUE_VIOLATION:
            return False
        raise
    return True


def _executemany(conn: Connection, statement: sa.Insert, frame: pd.DataFrame) -> None:
    """Run ``statement`` once per row of ``frame`` in one driver ``executemany``, the values converted as SQLAlchemy
    would bind them (each distinct date, timestamp or string once)."""
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(frame.columns))
    columns = {name: driver_column(frame[name], statement.table.c[name].type, conn.dialect) for name in frame.columns}
    constants = {}
    for name in (name for name in compiled.positiontup if name not in columns):  # literals of ``updates``
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        constants[name] = process(bind.effective_value) if process else bind.effective_value
    values = [columns[name] if name in columns else [constants[name]] * len(frame) for name in compiled.positiontup]
    conn.exec_driver_sql(compiled.string, list(zip(*values, strict=True)))


def upsert(
    conn: Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    *,
    preserve: Sequence[str] = (),
    updates: Updates | None = None,
    stamp: str | None = None,
) -> int:
    """Insert ``frame`` (``contracts.checked`` or ``contracts.conform``) into ``table``, updating rows whose key exists.

    ``preserve`` columns keep the stored value on update; ``updates`` maps ``excluded`` (the incoming row) to
    update expressions that replace the default "take the incoming value". With ``stamp`` (a column saying when the
    values were fetched), a stored row whose other columns all equal the incoming ones (NULL equal to NULL) is left
    as it is, stamp included: only new and changed rows are written. Returns the number of rows in ``frame``.
    """
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        if _copied_straight_in(conn, table, frame):
            return len(frame)
        staging = _copy_into_staging(conn, table, frame)
        statement = postgresql_insert(table).from_select(list(frame.columns), sa.select(staging))
    else:
        statement = sqlite_insert(table)
    keys = [c.name for c in table.primary_key.columns]
    set_ = {c: statement.excluded[c] for c in frame.columns if c not in keys and c not in preserve}
    set_.update(updates(statement.excluded) if updates else {})
    changed = None
    if stamp:
        compared = [c for c in frame.columns if c not in keys and c != stamp]
        stored, incoming = (sa.tuple_(*(columns[c] for c in compared)) for columns in (table.c, statement.excluded))
        changed = stored.is_distinct_from(incoming) if compared else None
        set_ = set_ if compared else {}  # nothing but the stamp to compare: a stored row never changes
    if set_:
        statement = statement.on_conflict_do_update(index_elements=keys, set_=set_, where=changed)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "postgresql":
        conn.execute(statement)
    else:
        _executemany(conn, statement, frame)
    return len(frame)


def upsert_daily_prices(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Write bars (exactly ``PRICE_COLUMNS``) keyed on (symbol, asset_class, date); returns the bars in ``frame``.

    A bar already stored with the same values (everything but ``fetched_at``) is left as it is, so ``fetched_at`` is
    when the stored values were first fetched: a re-fetch that confirms them changes nothing, one that changes any
    of them (a price, the volume, the witness, the source) replaces the row and its ``fetched_at``.
    """
    rows = checked(frame, daily_prices, PRICE_COLUMNS)
    with transaction(bind) as conn:
        return upsert(conn, daily_prices, rows, stamp="fetched_at")


def upsert_candles(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Write candles (exactly ``CANDLE_COLUMNS``) keyed on (symbol, interval, open_time), in one transaction;
    returns the candles in ``frame``. As for daily bars, a candle stored with the same values is left as it is, so
    ``fetched_at`` is when the stored values were first fetched."""
    rows = checked(frame, candles, CANDLE_COLUMNS)
    with transaction(bind) as conn:
        return upsert(conn, candles, rows, stamp="fetched_at")


def upsert_corporate_actions(bind: Engine | Connection, frame: pd.DataFrame) -> int:
    """Write splits, dividends and capital gains (exactly ``CORPORATE_ACTION_COLUMNS``); returns the actions in
    ``frame``. Like bars, an action stored with the same values keeps its ``fetched_at``."""
    rows = checked(frame, corporate_actions, CORPORATE_ACTION_COLUMNS)
    with transaction(bind) as conn:
        return upsert(conn, corporate_actions, rows, stamp="fetched_at")


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
    pairs = (frame[["symbol", "asset_class"]].drop_duplicates() for frame in frames)
    return frozenset(
        key for keys in pairs for key in zip(keys["symbol"].tolist(), keys["asset_class"].tolist(), strict=True)
    )


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


def active_symbols(
    engine: Engine, asset_classes: Sequence[str], *, selection: PriceSelection = EVERYTHING
) -> pd.DataFrame:
    """Active instruments of ``asset_classes`` that ``selection`` prices (``ACTIVE_SYMBOL_COLUMNS``), by asset class
    then symbol.

    ``exchanges`` is the comma-separated list of exchanges listing a crypto pair, and None for other classes.
    """
    query = (
        sa.select(*(assets.c[name] for name in ACTIVE_SYMBOL_COLUMNS[:-1]), crypto.c.exchanges)
        .outerjoin(crypto, sa.and_(crypto.c.symbol == assets.c.symbol, crypto.c.asset_class == assets.c.asset_class))
        .where(assets.c.active.is_(True), selected(selection, asset_classes))
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

"""The repair schedule of each missing (symbol, date) cell: retried with growing patience, then given up on.

A cell found missing is tracked from then on. It is due at once, and after each repair attempt again after a
longer wait (``BACKOFF``: 15 minutes, 1 hour, 6 hours, then daily), so data that arrives late (fund prices
published after the evening run) is fetched when it appears, while chronic gaps cost a request a day. A cell still
missing ``max_age`` after it was first found is ``unavailable``, with the symbol's last answer as the reason. A
cell that got its bar is forgotten. A bar from a provisional source (the opt-in fallback that stood in while the
instrument's own sources failed) does not end the tracking: the repairs ask the own sources again until they
serve the cell, and one given up on says it was served only by the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.warehouse.contracts import conform
from lumia_assets.warehouse.gaps import CELL_COLUMNS
from lumia_assets.warehouse.schema import daily_prices, gap_repairs, symbol_status

BACKOFF = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=6), timedelta(days=1))


def next_wait(attempts: int) -> timedelta:
    """How long a cell waits after its ``attempts``-th repair."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def _bar(provisional: Sequence[str]) -> sa.Select:
    """The bar of a tracked cell, unless it came from one of the ``provisional`` sources."""
    bar = sa.select(daily_prices.c.source).where(
        daily_prices.c.symbol == gap_repairs.c.symbol,
        daily_prices.c.asset_class == gap_repairs.c.asset_class,
        daily_prices.c.date == gap_repairs.c.date,
    )
    return bar.where(daily_prices.c.source.not_in(list(provisional))) if provisional else bar


def track(
    engine: Engine,
    missing: pd.DataFrame,
    now: datetime,
    max_age: timedelta,
    asset_classes: Sequence[str],
    provisional: Sequence[str] = (),
) -> None:
    """Start tracking the ``missing`` cells (``CELL_COLUMNS``) not tracked yet, forget the tracked cells of
    ``asset_classes`` that got their bar (from a source other than the ``provisional`` ones), and give up on those
    missing for longer than ``max_age``."""
    rows = conform(missing.assign(first_missing_at=now, next_attempt_at=now), gap_repairs,
                   [*CELL_COLUMNS, "first_missing_at", "next_attempt_at"])  # fmt: skip
    status = (
        sa.select(symbol_status.c.status + ": " + sa.func.coalesce(symbol_status.c.detail, ""))
        .where(symbol_status.c.symbol == gap_repairs.c.symbol, symbol_status.c.asset_class == gap_repairs.c.asset_class)
        .scalar_subquery()
    )  # fmt: skip
    stand_in = "served only by the fallback " + _bar(()).scalar_subquery()  # a bar left: a provisional source's
    ours = gap_repairs.c.asset_class.in_(list(asset_classes))
    with engine.begin() as conn:
        conn.execute(gap_repairs.delete().where(ours, _bar(provisional).exists()))
        if not rows.empty:
            insert = sa.dialects.postgresql.insert if conn.dialect.name == "postgresql" else sa.dialects.sqlite.insert
            conn.execute(insert(gap_repairs).on_conflict_do_nothing(), rows.to_dict("records"))
        conn.execute(
            gap_repairs.update()
            .where(ours, gap_repairs.c.unavailable.is_(False), gap_repairs.c.first_missing_at < now - max_age)
            .values(unavailable=True, reason=sa.func.coalesce(stand_in, status, "no bar from the upstream"))
        )


def due(engine: Engine, asset_classes: Sequence[str], now: datetime) -> pd.DataFrame:
    """The tracked cells of ``asset_classes`` due for a repair now (``CELL_COLUMNS`` and ``attempts``)."""
    query = sa.select(*(gap_repairs.c[name] for name in (*CELL_COLUMNS, "attempts"))).where(
        gap_repairs.c.asset_class.in_(list(asset_classes)),
        gap_repairs.c.unavailable.is_(False),
        gap_repairs.c.next_attempt_at <= now,
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=[*CELL_COLUMNS, "attempts"])
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date) if not frame.empty else frame


def count_attempts(
    engine: Engine, table: sa.Table, keys: Sequence[str], attempts: str, next_at: str, rows: pd.DataFrame, now: datetime
) -> None:
    """Add one attempt to each of ``rows`` in ``table`` (found by the ``keys`` columns; ``rows[attempts]`` is the
    count so far) and set its ``next_at`` by ``BACKOFF``."""
    if rows.empty:
        return
    updates = [
        {**{f"b_{key}": getattr(row, key) for key in keys}, "b_attempts": getattr(row, attempts) + 1,
         "b_next": now + next_wait(getattr(row, attempts) + 1)}
        for row in rows.itertuples()
    ]  # fmt: skip
    statement = (
        table.update()
        .where(*(table.c[key] == sa.bindparam(f"b_{key}") for key in keys))
        .values({attempts: sa.bindparam("b_attempts"), next_at: sa.bindparam("b_next")})
    )
    with engine.begin() as conn:
        conn.execute(statement, updates)


def attempted(engine: Engine, cells: pd.DataFrame, now: datetime) -> None:
    """Count a repair of ``cells`` (``CELL_COLUMNS`` and their ``attempts`` so far) and set their next time."""
    count_attempts(engine, gap_repairs, CELL_COLUMNS, "attempts", "next_attempt_at", cells, now)


def unavailable(engine: Engine, asset_classes: Sequence[str], dates: Sequence) -> pd.DataFrame:
    """Per date of ``dates``: how many cells of ``asset_classes`` were given up on (date, unavailable)."""
    query = (
        sa.select(gap_repairs.c.date, sa.func.count().label("unavailable"))
        .where(gap_repairs.c.unavailable.is_(True), gap_repairs.c.asset_class.in_(list(asset_classes)),
               gap_repairs.c.date.in_(list(dates)))
        .group_by(gap_repairs.c.date)
    )  # fmt: skip
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=["date", "unavailable"])
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date) if not frame.empty else frame

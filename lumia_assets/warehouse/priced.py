"""The priced set across days: which instruments the selection priced at the gap sensor's last tick, and the history
owed to those selected since.

An instrument newly selected (a symbol newly included, or newly listed) is owed its history from
``LUMIA_PRICES_START_DATE`` (or its listing date, if later) up to the gap lookback window, where the cell repairs
take over. The first record of a feed is the baseline: what it selects is not new. History counts as delivered once
the instrument has any bar before the window; after ``MAX_HISTORY_ATTEMPTS`` requests without one the upstream has
none, and it is no longer asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.selection import PriceSelection
from lumia_assets.warehouse.repairs import count_attempts
from lumia_assets.warehouse.schema import assets, daily_prices, priced_instruments
from lumia_assets.warehouse.selection import selected

MAX_HISTORY_ATTEMPTS = 3
HISTORY_COLUMNS = ("symbol", "asset_class", "history_from", "history_attempts")


def _same_instrument(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    return [table.c.symbol == priced_instruments.c.symbol, table.c.asset_class == priced_instruments.c.asset_class]


def _priced_now(selection: PriceSelection, asset_classes: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.and_(assets.c.active.is_(True), selected(selection, asset_classes))


def record_selection(
    engine: Engine,
    asset_classes: Sequence[str],
    selection: PriceSelection,
    prices_start: date,
    window_start: date,
    now: datetime,
) -> int:
    """Record the instruments of ``asset_classes`` the selection prices now; the newly selected ones are owed their
    history before ``window_start``. Returns how many were newly selected."""
    classes = list(asset_classes)
    recorded = sa.select(priced_instruments.c.symbol).where(*_same_instrument(assets)).exists()
    new_query = sa.select(assets.c.symbol, assets.c.asset_class, assets.c.listed_on).where(
        _priced_now(selection, classes), ~recorded
    )
    still_priced = sa.select(assets.c.symbol).where(*_same_instrument(assets), _priced_now(selection, classes)).exists()
    with engine.begin() as conn:
        baseline = not conn.execute(
            sa.select(priced_instruments.c.symbol).where(priced_instruments.c.asset_class.in_(classes)).limit(1)
        ).first()
        conn.execute(priced_instruments.delete().where(priced_instruments.c.asset_class.in_(classes), ~still_priced))
        rows = []
        for symbol, asset_class, listed_on in conn.execute(new_query):
            start = max(prices_start, listed_on or prices_start)
            owed = None if baseline or start >= window_start else start
            rows.append({"symbol": symbol, "asset_class": asset_class, "selected_at": now, "history_from": owed})
        if rows:
            conn.execute(priced_instruments.insert(), rows)
    return 0 if baseline else len(rows)


def history_due(engine: Engine, asset_classes: Sequence[str], window_start: date, now: datetime) -> pd.DataFrame:
    """The instruments owed history that are due a request now (``HISTORY_COLUMNS``); those that have a bar before
    ``window_start`` by now are marked delivered first."""
    owed = sa.and_(
        priced_instruments.c.asset_class.in_(list(asset_classes)), priced_instruments.c.history_from.is_not(None)
    )
    delivered = (
        sa.select(daily_prices.c.symbol)
        .where(*_same_instrument(daily_prices), daily_prices.c.date >= priced_instruments.c.history_from,
               daily_prices.c.date < window_start)
        .exists()
    )  # fmt: skip
    query = sa.select(*(priced_instruments.c[name] for name in HISTORY_COLUMNS)).where(
        owed,
        priced_instruments.c.history_attempts < MAX_HISTORY_ATTEMPTS,
        sa.or_(
            priced_instruments.c.history_next_attempt_at.is_(None), priced_instruments.c.history_next_attempt_at <= now
        ),
    )
    with engine.begin() as conn:
        conn.execute(priced_instruments.update().where(owed, delivered).values(history_from=None))
        ordered = query.order_by(priced_instruments.c.asset_class, priced_instruments.c.symbol)
        frame = pd.DataFrame(conn.execute(ordered).all(), columns=list(HISTORY_COLUMNS))
    return frame.assign(history_from=pd.to_datetime(frame["history_from"]).dt.date) if not frame.empty else frame


def history_requested(engine: Engine, owed: pd.DataFrame, now: datetime) -> None:
    """Count a history request for the ``owed`` instruments (``HISTORY_COLUMNS``) and set when to ask again."""
    keys = ("symbol", "asset_class")
    count_attempts(engine, priced_instruments, keys, "history_attempts", "history_next_attempt_at", owed, now)

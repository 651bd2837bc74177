"""Restatements: the upstream changed something already in the record (a bar, a split, a distribution).

Every answer is compared with what is stored over the dates it covers. A difference is never written silently:
it is recorded in ``restatements`` (old and new value), and the caller re-fetches and rewrites the symbol.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.warehouse.contracts import conform
from lumia_assets.warehouse.schema import corporate_actions, daily_prices, restatements

RESTATEMENT_COLUMNS = ("symbol", "asset_class", "date", "what", "old_value", "new_value")
COMPARED_BAR_VALUES = ("open", "high", "low", "close")  # volume: Yahoo rounds split-adjusted volumes
RELATIVE_TOLERANCE = 1e-6
KEY = ["symbol", "asset_class", "date"]


def _stored(conn: Connection, table: sa.Table, columns: Sequence[str], answers: pd.DataFrame) -> pd.DataFrame:
    """Stored rows of ``table`` for the symbols of ``answers`` within each symbol's answered dates."""
    spans = answers.groupby(["symbol", "asset_class"])["date"].agg(["min", "max"])
    query = sa.select(*(table.c[name] for name in columns)).where(
        table.c.symbol.in_(list(spans.index.get_level_values(0).unique())),
        table.c.asset_class.in_(list(spans.index.get_level_values(1).unique())),
        table.c.date.between(min(spans["min"]), max(spans["max"])),
    )
    stored = pd.DataFrame(conn.execute(query).all(), columns=list(columns))
    stored["date"] = pd.to_datetime(stored["date"]).dt.date
    bounds = stored.merge(spans.reset_index(), on=["symbol", "asset_class"])
    return bounds[(bounds["date"] >= bounds["min"]) & (bounds["date"] <= bounds["max"])].loc[:, list(columns)]


def _differs(old: pd.Series, new: pd.Series) -> np.ndarray:
    old, new = old.to_numpy(dtype="float64"), new.to_numpy(dtype="float64")
    both = ~np.isnan(old) & ~np.isnan(new)
    changed = np.abs(old - new) > RELATIVE_TOLERANCE * np.maximum(np.abs(old), np.abs(new))
    return (both & changed) | (np.isnan(old) != np.isnan(new))


def _changed_bars(conn: Connection, bars: pd.DataFrame) -> pd.DataFrame:
    stored = _stored(conn, daily_prices, [*KEY, *COMPARED_BAR_VALUES], bars)
    paired = stored.merge(bars[[*KEY, *COMPARED_BAR_VALUES]], on=KEY, suffixes=("_old", "_new"))
    changes = [
        paired.loc[_differs(paired[f"{name}_old"], paired[f"{name}_new"]), [*KEY, f"{name}_old", f"{name}_new"]]
        .rename(columns={f"{name}_old": "old_value", f"{name}_new": "new_value"})
        .assign(what=f"bar.{name}")
        for name in COMPARED_BAR_VALUES
    ]
    return pd.concat(changes, ignore_index=True)


def _changed_actions(conn: Connection, bars: pd.DataFrame, actions: pd.DataFrame, stored_days: pd.DataFrame):
    """Actions added, removed or changed upstream on dates whose bars are stored (``stored_days``)."""
    stored = _stored(conn, corporate_actions, [*KEY, "action", "value"], bars).merge(stored_days, on=KEY)
    told = actions[[*KEY, "action", "value"]].merge(stored_days, on=KEY)
    paired = stored.merge(told, on=[*KEY, "action"], how="outer", suffixes=("_old", "_new"))
    return paired.loc[_differs(paired["value_old"], paired["value_new"]), [*KEY, "action", "value_old", "value_new"]]


def find_restatements(engine: Engine, bars: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """What the answers (closed ``bars`` and ``actions``, as traded) say differently from the stored record.

    Returns ``RESTATEMENT_COLUMNS``: a stored bar value that changed, and an action added, removed or changed on a
    date whose bar is already stored. Dates stored for the first time bring news, not restatements.
    """
    if bars.empty:
        return pd.DataFrame(columns=list(RESTATEMENT_COLUMNS))
    with engine.connect() as conn:
        changed_bars = _changed_bars(conn, bars)
        stored_days = _stored(conn, daily_prices, KEY, bars).merge(bars[KEY], on=KEY)
        changed_actions = _changed_actions(conn, bars, actions, stored_days).rename(
            columns={"action": "what", "value_old": "old_value", "value_new": "new_value"}
        )
    found = pd.concat([changed_bars, changed_actions], ignore_index=True)
    return found.loc[:, list(RESTATEMENT_COLUMNS)].sort_values(KEY, ignore_index=True)


def record_restatements(conn: Connection, found: pd.DataFrame, detected_at: object) -> int:
    """Append ``found`` (``RESTATEMENT_COLUMNS`` and the ``source`` that restated) to ``restatements``, inside the
    caller's transaction."""
    if found.empty:
        return 0
    rows = conform(found.assign(detected_at=detected_at), restatements,
                   [*RESTATEMENT_COLUMNS, "source", "detected_at"])  # fmt: skip
    conn.execute(restatements.insert(), rows.to_dict("records"))
    return len(rows)


RECORDED_COLUMNS = ("detected_at", "symbol", "asset_class", "date", "what", "old_value", "new_value", "source")


def recorded_restatements(engine: Engine, since: datetime, limit: int = 1000) -> list[dict[str, object]]:
    """The restatements detected since ``since``, newest first (``RECORDED_COLUMNS``), at most ``limit``."""
    query = (
        sa.select(*(restatements.c[name] for name in RECORDED_COLUMNS))
        .where(restatements.c.detected_at >= since)
        .order_by(restatements.c.detected_at.desc(), restatements.c.symbol, restatements.c.date)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            {**row, "detected_at": str(row["detected_at"]), "date": str(row["date"])}
            for row in conn.execute(query).mappings()
        ]

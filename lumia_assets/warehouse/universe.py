"""The universe lifecycle: one snapshot of a directory becomes added, removed and reactivated instruments."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.frames import (
    CRYPTO_DETAIL_COLUMNS,
    ETF_DETAIL_COLUMNS,
    MUTUAL_FUND_DETAIL_COLUMNS,
    UNIVERSE_COLUMNS,
)
from lumia_assets.warehouse.schema import DETAIL_TABLES, assets, universe_snapshots
from lumia_assets.warehouse.store import FrameContractError, upsert, without_nan

DETAIL_COLUMNS = {"etf": ETF_DETAIL_COLUMNS, "mutual_fund": MUTUAL_FUND_DETAIL_COLUMNS, "crypto": CRYPTO_DETAIL_COLUMNS}
Key = tuple[str, str]


class UniverseShrinkError(RuntimeError):
    """A snapshot would empty or gut the universe: almost always a short or failed download, not reality."""


@dataclass(frozen=True)
class UniverseChanges:
    """What one snapshot changed. Symbols are the listing's spelling."""

    added: list[str]
    removed: list[str]
    reactivated: list[str]
    active_count: int


def _check_snapshot(frame: pd.DataFrame, asset_classes: Sequence[str], universe: str) -> None:
    required = set(UNIVERSE_COLUMNS)
    for asset_class in set(frame.get("asset_class", [])) & DETAIL_COLUMNS.keys():
        required |= set(DETAIL_COLUMNS[asset_class])
    missing = sorted(required - set(frame.columns))
    if missing:
        raise FrameContractError(f"{universe}: snapshot lacks columns {missing}")
    unexpected = sorted(set(frame["asset_class"]) - set(asset_classes))
    if unexpected:
        raise FrameContractError(f"{universe}: snapshot has asset classes {unexpected}, expected {list(asset_classes)}")
    duplicated = frame[frame.duplicated(["symbol", "asset_class"], keep=False)]
    if not duplicated.empty:
        raise FrameContractError(f"{universe}: symbols listed twice: {sorted(set(duplicated['symbol']))[:10]}")


def _current(conn: Connection, asset_classes: Sequence[str]) -> tuple[set[Key], set[Key]]:
    rows = conn.execute(
        sa.select(assets.c.symbol, assets.c.asset_class, assets.c.active).where(
            assets.c.asset_class.in_(list(asset_classes))
        )
    ).all()
    active = {(r.symbol, r.asset_class) for r in rows if r.active}
    inactive = {(r.symbol, r.asset_class) for r in rows if not r.active}
    return active, inactive


def _guard_shrink(universe: str, active: set[Key], removed: set[Key], max_removed_fraction: float) -> None:
    if active and len(removed) > max_removed_fraction * len(active):
        raise UniverseShrinkError(
            f"{universe}: the new snapshot would deactivate {len(removed)} of {len(active)} active instruments "
            f"(more than {max_removed_fraction:.0%}); refusing, the previous universe is left untouched. "
            "A short or partial download is the usual cause; re-run when the upstream is healthy."
        )


def sync_universe(
    engine: Engine,
    universe: str,
    asset_classes: Sequence[str],
    frame: pd.DataFrame,
    *,
    seen_at: datetime,
    max_removed_fraction: float = 0.2,
    keep: Collection[str] = (),
) -> UniverseChanges:
    """Make the active instruments of ``asset_classes`` equal to ``frame``, in one transaction.

    Symbols in ``keep`` are never deactivated (their source could not be asked this time).
    """
    if frame.empty:
        raise UniverseShrinkError(f"{universe}: the snapshot is empty; refusing to deactivate the whole universe")
    _check_snapshot(frame, asset_classes, universe)
    snapshot = set(zip(frame["symbol"], frame["asset_class"], strict=True))
    with engine.begin() as conn:
        active, inactive = _current(conn, asset_classes)
        removed = {key for key in active - snapshot if key[0] not in keep}
        _guard_shrink(universe, active, removed, max_removed_fraction)
        added = snapshot - active - inactive
        reactivated = snapshot & inactive

        rows = frame.loc[:, list(UNIVERSE_COLUMNS)].assign(active=True, first_seen=seen_at, last_seen=seen_at)
        upsert(conn, assets, without_nan(rows), preserve=("first_seen",))
        for asset_class, detail in frame.groupby("asset_class"):
            if asset_class in DETAIL_TABLES:
                upsert(conn, DETAIL_TABLES[asset_class], without_nan(detail.loc[:, list(DETAIL_COLUMNS[asset_class])]))
        if removed:
            conn.execute(
                assets.update()
                .where(assets.c.symbol == sa.bindparam("b_symbol"), assets.c.asset_class == sa.bindparam("b_class"))
                .values(active=False),
                [{"b_symbol": symbol, "b_class": asset_class} for symbol, asset_class in removed],
            )
        active_count = len((active - removed) | snapshot)
        conn.execute(
            universe_snapshots.insert().values(
                universe=universe,
                taken_at=seen_at,
                active_count=active_count,
                added=len(added),
                removed=len(removed),
                reactivated=len(reactivated),
            )
        )
    return UniverseChanges(
        added=sorted(s for s, _ in added),
        removed=sorted(s for s, _ in removed),
        reactivated=sorted(s for s, _ in reactivated),
        active_count=active_count,
    )

"""The universe lifecycle: one snapshot of a directory becomes added, removed and reactivated instruments."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lumia_assets.frames import (
    CRYPTO_DETAIL_COLUMNS,
    ETF_DETAIL_COLUMNS,
    MUTUAL_FUND_DETAIL_COLUMNS,
    UNIVERSE_COLUMNS,
)
from lumia_assets.warehouse.contracts import FrameContractError, conform
from lumia_assets.warehouse.schema import DETAIL_TABLES, assets, mutual_fund, symbol_status, universe_snapshots
from lumia_assets.warehouse.store import Updates, upsert

UNIVERSES = ("stock_universe", "fund_universe", "crypto_universe")
DETAIL_COLUMNS = {"etf": ETF_DETAIL_COLUMNS, "mutual_fund": MUTUAL_FUND_DETAIL_COLUMNS, "crypto": CRYPTO_DETAIL_COLUMNS}
ASSET_ROW_COLUMNS = (*UNIVERSE_COLUMNS, "active", "first_seen", "last_seen", "absent_runs")
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
    absent: list[str] = field(default_factory=list)  # missing from this snapshot, still active (not yet N runs)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old, new): same fund share class, new ticker
    retired: list[str] = field(default_factory=list)  # still listed, but "no data" upstream for too long
    reprobed: list[str] = field(default_factory=list)  # retired, not asked for long: active again to be asked once


def _check_snapshot(frame: pd.DataFrame, universe_name: str, asset_classes: Sequence[str]) -> None:
    """Name the universe and the column or class at fault; key and type checks follow in ``conform``."""
    if universe_name not in UNIVERSES:
        raise ValueError(f"unknown universe {universe_name!r}; expected one of {list(UNIVERSES)}")
    allowed = set(UNIVERSE_COLUMNS).union(*(DETAIL_COLUMNS.get(c, ()) for c in asset_classes))
    missing = sorted(set(UNIVERSE_COLUMNS) - set(frame.columns))
    unexpected = sorted(set(frame.columns) - allowed)
    if missing or unexpected:
        raise FrameContractError(f"{universe_name}: snapshot lacks columns {missing}, has unexpected {unexpected}")
    other_classes = sorted(set(frame["asset_class"]) - set(asset_classes))
    if other_classes:
        raise FrameContractError(
            f"{universe_name}: snapshot has asset classes {other_classes}, expected {list(asset_classes)}"
        )
    for asset_class in set(frame["asset_class"]) & DETAIL_COLUMNS.keys():
        lacking = sorted(set(DETAIL_COLUMNS[asset_class]) - set(frame.columns))
        if lacking:
            raise FrameContractError(f"{universe_name}: {asset_class} rows need the detail columns {lacking}")


def _current(conn: Connection, asset_classes: Sequence[str]) -> tuple[set[Key], set[Key]]:
    """The (symbol, asset_class) keys of ``asset_classes`` now stored: (active, inactive)."""
    rows = conn.execute(
        sa.select(assets.c.symbol, assets.c.asset_class, assets.c.active).where(
            assets.c.asset_class.in_(list(asset_classes))
        )
    ).all()
    active = {(r.symbol, r.asset_class) for r in rows if r.active}
    inactive = {(r.symbol, r.asset_class) for r in rows if not r.active}
    return active, inactive


def _guard_shrink(universe_name: str, active: set[Key], removed: set[Key], max_removed_fraction: float) -> None:
    if active and len(removed) > max_removed_fraction * len(active):
        raise UniverseShrinkError(
            f"{universe_name}: the new snapshot lacks {len(removed)} of {len(active)} active instruments "
            f"(more than {max_removed_fraction:.0%}); refusing, the previous universe is left untouched. "
            "A short or partial download is the usual cause; re-run when the upstream is healthy."
        )


def _known_values_kept(table: sa.Table, columns: Collection[str]) -> Updates:
    """Upsert updates for ``columns`` that keep the stored value where the incoming one is unknown (NULL).

    A source that lacks a field (SEC's fund list has no names or families) must not erase what another told us.
    """
    return lambda incoming: {column: sa.func.coalesce(incoming[column], table.c[column]) for column in columns}


def _write_instruments(conn: Connection, frame: pd.DataFrame, seen_at: datetime) -> None:
    """Upsert the snapshot's ``assets`` rows (active, first_seen kept) and their class detail rows; a field the
    snapshot leaves empty keeps its stored value."""
    rows = frame.loc[:, list(UNIVERSE_COLUMNS)].assign(
        active=True, first_seen=seen_at, last_seen=seen_at, absent_runs=0
    )
    described = [c for c in UNIVERSE_COLUMNS if c not in ("symbol", "asset_class", "source")]
    upsert(
        conn,
        assets,
        conform(rows, assets, ASSET_ROW_COLUMNS),
        preserve=("first_seen",),
        updates=_known_values_kept(assets, described),
    )
    for asset_class, detail in frame.groupby("asset_class"):
        if asset_class in DETAIL_TABLES:
            table, columns = DETAIL_TABLES[asset_class], DETAIL_COLUMNS[asset_class]
            upsert(
                conn,
                table,
                conform(detail.loc[:, list(columns)], table, columns),
                updates=_known_values_kept(table, [c for c in columns if c != "symbol"]),
            )


def _count_absences(conn: Connection, keys: set[Key]) -> dict[Key, int]:
    """One more run without ``keys``; returns how many runs in a row each has now been missing."""
    if not keys:
        return {}
    conn.execute(
        assets.update()
        .where(assets.c.symbol == sa.bindparam("b_symbol"), assets.c.asset_class == sa.bindparam("b_class"))
        .values(absent_runs=assets.c.absent_runs + 1),
        [{"b_symbol": symbol, "b_class": asset_class} for symbol, asset_class in sorted(keys)],
    )
    rows = conn.execute(
        sa.select(assets.c.symbol, assets.c.asset_class, assets.c.absent_runs).where(
            assets.c.symbol.in_([s for s, _ in keys]), assets.c.asset_class.in_([c for _, c in keys])
        )
    ).all()
    return {(r.symbol, r.asset_class): r.absent_runs for r in rows if (r.symbol, r.asset_class) in keys}


def _renames(conn: Connection, added: set[Key], gone: set[Key]) -> list[tuple[str, str]]:
    """(old, new) pairs of fund tickers: a new symbol with the SEC share class of one that left."""
    if not added or not gone:
        return []
    rows = conn.execute(
        sa.select(mutual_fund.c.symbol, mutual_fund.c.class_id).where(
            mutual_fund.c.symbol.in_([s for s, _ in added | gone]), mutual_fund.c.class_id.is_not(None)
        )
    ).all()
    class_of = {r.symbol: r.class_id for r in rows}
    old_by_class = {class_of[s]: s for s, _ in gone if s in class_of}
    return sorted((old_by_class[class_of[s]], s) for s, _ in added if class_of.get(s) in old_by_class)


def _no_data_for_long(conn: Connection, keys: set[Key], before: date | None) -> set[Key]:
    """The ``keys`` whose every answer since a day on or before ``before`` was a genuine "no data"."""
    if before is None or not keys:
        return set()
    rows = conn.execute(
        sa.select(symbol_status.c.symbol, symbol_status.c.asset_class).where(
            symbol_status.c.status == "no_data",
            symbol_status.c.no_data_since <= before,
            symbol_status.c.asset_class.in_({c for _, c in keys}),
        )
    ).all()
    return {(r.symbol, r.asset_class) for r in rows} & keys


def _not_asked_since(conn: Connection, keys: set[Key], since: datetime | None) -> list[Key]:
    """The ``keys`` whose last answer came before ``since``, the longest unasked first."""
    if since is None or not keys:
        return []
    rows = conn.execute(
        sa.select(symbol_status.c.symbol, symbol_status.c.asset_class)
        .where(symbol_status.c.checked_at < since, symbol_status.c.asset_class.in_({c for _, c in keys}))
        .order_by(symbol_status.c.checked_at, symbol_status.c.symbol)
    ).all()
    return [key for key in ((r.symbol, r.asset_class) for r in rows) if key in keys]


def _deactivate(conn: Connection, keys: set[Key]) -> None:
    if keys:
        conn.execute(
            assets.update()
            .where(assets.c.symbol == sa.bindparam("b_symbol"), assets.c.asset_class == sa.bindparam("b_class"))
            .values(active=False),
            [{"b_symbol": symbol, "b_class": asset_class} for symbol, asset_class in sorted(keys)],
        )


def sync_universe(
    engine: Engine,
    universe_name: str,
    asset_classes: Sequence[str],
    frame: pd.DataFrame,
    *,
    seen_at: datetime,
    max_removed_fraction: float = 0.2,
    keep: Collection[str] = (),
    absent_runs_to_remove: int = 1,
    no_data_before: date | None = None,
    reprobe_before: datetime | None = None,
    reprobe_limit: int | None = None,
) -> UniverseChanges:
    """Make the active instruments of ``asset_classes`` equal to ``frame``, and snapshot the counts, in one transaction.

    ``frame`` has ``UNIVERSE_COLUMNS`` plus the detail columns of its classes. Symbols in ``keep`` are never
    deactivated (their source could not be asked this time). An active instrument missing from the snapshot is
    deactivated only once it has been missing from ``absent_runs_to_remove`` snapshots in a row: one bad day never
    delists anything. A listed instrument whose answers have all been "no data" since ``no_data_before`` or
    earlier is retired (inactive); one retired and not asked since ``reprobe_before`` is active again, so that the
    next price run asks once more (``reprobed``; at most ``reprobe_limit`` a snapshot, the longest unasked first):
    if it trades again it stays, else the first snapshot after that answer retires it again. A new fund ticker with
    the SEC share class of one leaving is reported as a rename. Raises :class:`UniverseShrinkError`, changing
    nothing, when ``frame`` is empty or lacks more than ``max_removed_fraction`` of the active rows.
    """
    if frame.empty:
        raise UniverseShrinkError(f"{universe_name}: the snapshot is empty; refusing to deactivate the whole universe")
    _check_snapshot(frame, universe_name, asset_classes)
    if seen_at.tzinfo is None:
        raise ValueError(f"{universe_name}: seen_at={seen_at.isoformat()} must be tz-aware (UTC)")
    seen_at = seen_at.astimezone(UTC)
    snapshot = set(zip(frame["symbol"], frame["asset_class"], strict=True))
    with engine.begin() as conn:
        active, inactive = _current(conn, asset_classes)
        missing = {key for key in active - snapshot if key[0] not in keep}
        _guard_shrink(universe_name, active, missing, max_removed_fraction)
        added = snapshot - active - inactive
        retired = _no_data_for_long(conn, snapshot - added, no_data_before)
        unasked = _not_asked_since(conn, retired, reprobe_before)
        reprobed = set([key for key in unasked if key in inactive][:reprobe_limit])
        retired -= reprobed | (set(unasked) & active)  # one active again stays until it has been asked
        reactivated = (snapshot & inactive) - retired - reprobed
        _write_instruments(conn, frame, seen_at)
        absences = _count_absences(conn, missing)
        removed = {key for key, runs in absences.items() if runs >= absent_runs_to_remove}
        renamed = _renames(conn, added, missing)
        _deactivate(conn, removed | retired)
        active_count = len(((active - removed) | snapshot) - retired)
        conn.execute(
            universe_snapshots.insert().values(
                universe=universe_name,
                taken_at=seen_at,
                active_count=active_count,
                added=len(added),
                removed=len(removed | (retired & active)),
                reactivated=len(reactivated),
            )
        )
    return UniverseChanges(
        added=sorted(s for s, _ in added),
        removed=sorted(s for s, _ in removed),
        reactivated=sorted(s for s, _ in reactivated),
        active_count=active_count,
        absent=sorted(s for s, _ in missing - removed),
        renamed=renamed,
        retired=sorted(s for s, _ in retired & active),
        reprobed=sorted(s for s, _ in reprobed),
    )

"""Warehouse housekeeping: orphaned rows, the duplicate-bar guard, and VACUUM/ANALYZE.

Nothing here deletes price data by age. ``assets`` rows are never deleted, only deactivated, so the bars of a
delisted instrument keep their ``assets`` row and stay; an orphan is a row whose (symbol, asset_class) has no
``assets`` row at all (written under a wrong class, or left by a manual edit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.warehouse.schema import (
    DETAIL_TABLES,
    assets,
    corporate_actions,
    daily_prices,
    metadata,
    symbol_status,
)

ORPHAN_TABLES: tuple[sa.Table, ...] = (*DETAIL_TABLES.values(), corporate_actions, symbol_status, daily_prices)


@dataclass(frozen=True)
class VacuumReport:
    """What :func:`vacuum_analyze` ran, and how long it took."""

    backend: str
    statements: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class MaintenanceReport:
    """Everything :func:`run_maintenance` did: orphans per table, duplicate bars removed, the vacuum."""

    orphans: dict[str, int]
    duplicate_prices: int
    vacuum: VacuumReport | None


def _orphaned(table: sa.Table) -> sa.ColumnElement[bool]:
    has_instrument = (
        sa.select(assets.c.symbol)
        .where(assets.c.symbol == table.c.symbol, assets.c.asset_class == table.c.asset_class)
        .exists()
    )
    return ~has_instrument


def remove_orphans(engine: Engine, dry_run: bool = False) -> dict[str, int]:
    """Delete, in one transaction, rows of ``ORPHAN_TABLES`` whose (symbol, asset_class) has no ``assets`` row;
    returns the count per table (with ``dry_run``, the counts only, nothing deleted)."""
    counts = {}
    with engine.begin() as conn:
        for table in ORPHAN_TABLES:
            if dry_run:
                counts[table.name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(_orphaned(table))
                ).scalar_one()
            else:
                counts[table.name] = conn.execute(table.delete().where(_orphaned(table))).rowcount
    return counts


def remove_duplicate_prices(engine: Engine) -> int:
    """Duplicate bars cannot exist while ``daily_prices`` keeps its primary key: check that the live table still
    has it and report 0 removed. Raises ``RuntimeError`` when the key is gone (e.g. a bad restore): then
    ``quality.duplicate_prices`` lists the duplicates to resolve before the key is restored."""
    expected = sorted(column.name for column in daily_prices.primary_key)
    found = sorted(sa.inspect(engine).get_pk_constraint(daily_prices.name)["constrained_columns"])
    if found != expected:
        raise RuntimeError(
            f"{daily_prices.name} has primary key {found}, expected {expected}: duplicate bars are possible. "
            "Find them with lumia_assets.warehouse.quality.duplicate_prices and restore the key."
        )
    return 0


def vacuum_analyze(engine: Engine) -> VacuumReport:
    """Reclaim space and refresh planner statistics, outside any transaction (both backends require that).

    PostgreSQL: ``VACUUM (ANALYZE)`` of the warehouse tables only (the database may hold Dagster's storage too).
    SQLite: ``VACUUM`` (rewrites the file: it needs free disk as large as the database) then ``ANALYZE``.
    """
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        quote = engine.dialect.identifier_preparer.quote
        statements = (f"VACUUM (ANALYZE) {', '.join(quote(table.name) for table in metadata.sorted_tables)}",)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    else:
        # The engine's "begin" hook opens a transaction even in AUTOCOMMIT mode; the raw sqlite3 connection
        # is in autocommit (isolation_level=None), so VACUUM runs there.
        statements = ("VACUUM", "ANALYZE")
        raw = engine.raw_connection()
        try:
            for statement in statements:
                raw.driver_connection.execute(statement)
        finally:
            raw.close()
    return VacuumReport(engine.dialect.name, statements, round(time.monotonic() - started, 3))


def run_maintenance(engine: Engine, vacuum: bool = True) -> MaintenanceReport:
    """Remove orphans, check the duplicate-bar guard, then (unless ``vacuum`` is False) vacuum and analyze."""
    return MaintenanceReport(
        orphans=remove_orphans(engine),
        duplicate_prices=remove_duplicate_prices(engine),
        vacuum=vacuum_analyze(engine) if vacuum else None,
    )

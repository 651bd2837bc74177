"""Read-only warehouse summaries for the operators' commands: inventory and database size."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lumia_assets.warehouse.schema import assets, daily_prices

INVENTORY_COLUMNS = (
    "asset_class",
    "exchange",
    "active",
    "inactive",
    "priced",
    "coverage_pct",
    "first_date",
    "last_date",
)


def inventory(engine: Engine) -> list[dict[str, object]]:
    """Per asset class and exchange: active and inactive instruments, active ones with any bar (and their share),
    and the first and last date stored."""
    spans = (
        sa.select(
            daily_prices.c.symbol,
            daily_prices.c.asset_class,
            sa.func.min(daily_prices.c.date).label("first_date"),
            sa.func.max(daily_prices.c.date).label("last_date"),
        )
        .group_by(daily_prices.c.symbol, daily_prices.c.asset_class)
        .subquery("spans")
    )
    active = sa.case((assets.c.active.is_(True), 1), else_=0)
    query = (
        sa.select(
            assets.c.asset_class,
            sa.func.coalesce(assets.c.exchange, "").label("exchange"),
            sa.func.sum(active).label("active"),
            sa.func.sum(1 - active).label("inactive"),
            sa.func.sum(sa.case((sa.and_(assets.c.active.is_(True), spans.c.symbol.is_not(None)), 1), else_=0)),
            sa.func.min(spans.c.first_date),
            sa.func.max(spans.c.last_date),
        )
        .select_from(
            assets.outerjoin(
                spans, sa.and_(spans.c.symbol == assets.c.symbol, spans.c.asset_class == assets.c.asset_class)
            )
        )
        .group_by(assets.c.asset_class, sa.func.coalesce(assets.c.exchange, ""))
        .order_by(assets.c.asset_class, sa.func.coalesce(assets.c.exchange, ""))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        dict(
            zip(
                INVENTORY_COLUMNS,
                (cls, exchange, int(n_active), int(n_inactive), int(priced),
                 round(100 * priced / n_active, 2) if n_active else None,
                 first and str(first), last and str(last)),
                strict=True,
            )
        )
        for cls, exchange, n_active, n_inactive, priced, first, last in rows
    ]  # fmt: skip


def database_size(engine: Engine) -> int:
    """Bytes the warehouse occupies: the PostgreSQL database, or the SQLite file."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
    database = engine.url.database
    return Path(database).stat().st_size if database and Path(database).exists() else 0

"""Indexes sized to a day's work. The date-range index of ``daily_prices`` also holds the symbol: the gap queries and
the per-partition duplicate count read it without the table. ``(asset_class, fetched_at)``: a feed's bars written
since a check's last evaluation.

Builds two indexes over every stored bar: 2.5 minutes at five years of the full universe on PostgreSQL (on a busy
machine), during which writes to ``daily_prices`` wait (reads don't). To upgrade a big warehouse without that
pause, build them beforehand outside any transaction, and this revision then only drops the old index::

    CREATE INDEX CONCURRENTLY ix_daily_prices_asset_class_date_symbol ON daily_prices (asset_class, date, symbol);
    CREATE INDEX CONCURRENTLY ix_daily_prices_asset_class_fetched_at ON daily_prices (asset_class, fetched_at);

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_daily_prices_asset_class_date_symbol",
        "daily_prices",
        ["asset_class", "date", "symbol"],
        if_not_exists=True,
    )
    op.drop_index("ix_daily_prices_asset_class_date", "daily_prices", if_exists=True)  # a prefix of the new one
    op.create_index(
        "ix_daily_prices_asset_class_fetched_at", "daily_prices", ["asset_class", "fetched_at"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_daily_prices_asset_class_fetched_at", "daily_prices")
    op.create_index("ix_daily_prices_asset_class_date", "daily_prices", ["asset_class", "date"])
    op.drop_index("ix_daily_prices_asset_class_date_symbol", "daily_prices")

"""Intraday crypto candles, keyed on (symbol, interval, open_time): the hourly candles of ``crypto_hourly_prices``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("open_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("volume", sa.Float, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "interval", "open_time", name="pk_candles"),
        sa.CheckConstraint("interval IN ('1h')", name="ck_candles_interval"),
    )
    op.create_index("ix_candles_interval_open_time_symbol", "candles", ["interval", "open_time", "symbol"])


def downgrade() -> None:
    op.drop_index("ix_candles_interval_open_time_symbol", table_name="candles")
    op.drop_table("candles")

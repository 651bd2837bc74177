"""CoinGecko's coins (the coin each crypto base stands for) and their daily dollar reference prices.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coins",
        sa.Column("base", sa.String(32), nullable=False),
        sa.Column("coin_id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("market_cap_usd", sa.Float),
        sa.Column("market_cap_rank", sa.Integer),
        sa.Column("candidates", sa.Integer, nullable=False),
        sa.Column("resolved_by", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("base", name="pk_coins"),
        sa.CheckConstraint("resolved_by IN ('only', 'market_cap', 'override')", name="resolved_by"),
    )
    op.create_index("ix_coins_coin_id", "coins", ["coin_id"])
    op.create_table(
        "reference_prices",
        sa.Column("coin_id", sa.String(128), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("price_usd", sa.Float, nullable=False),
        sa.Column("volume_usd", sa.Float),
        sa.Column("market_cap_usd", sa.Float),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("coin_id", "date", name="pk_reference_prices"),
    )
    op.create_index("ix_reference_prices_date_coin_id", "reference_prices", ["date", "coin_id"])


def downgrade() -> None:
    op.drop_index("ix_reference_prices_date_coin_id", table_name="reference_prices")
    op.drop_table("reference_prices")
    op.drop_index("ix_coins_coin_id", table_name="coins")
    op.drop_table("coins")

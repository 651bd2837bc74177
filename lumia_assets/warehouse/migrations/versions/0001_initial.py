"""Initial schema: assets and their class details, daily prices, corporate actions, status, snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ASSET_CLASS_CHECK = "asset_class IN ('stock', 'etf', 'mutual_fund', 'crypto')"


def _detail(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False, server_default=name),
        *columns,
        sa.PrimaryKeyConstraint("symbol", name=f"pk_{name}"),
        sa.ForeignKeyConstraint(
            ["symbol", "asset_class"],
            ["assets.symbol", "assets.asset_class"],
            name=f"fk_{name}_symbol_assets",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(f"asset_class = '{name}'", name=f"ck_{name}_asset_class"),
    )


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("yahoo_symbol", sa.String(64)),
        sa.Column("name", sa.Text),
        sa.Column("exchange", sa.String(64)),
        sa.Column("currency", sa.String(16)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("listed_on", sa.Date),
        sa.Column("source", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "asset_class", name="pk_assets"),
        sa.CheckConstraint(ASSET_CLASS_CHECK, name="ck_assets_asset_class"),
    )
    _detail("etf")
    _detail(
        "mutual_fund",
        sa.Column("fund_family", sa.Text),
        sa.Column("fund_type", sa.String(64)),
        sa.Column("category", sa.String(64)),
        sa.Column("cik", sa.String(16)),
        sa.Column("series_id", sa.String(16)),
        sa.Column("class_id", sa.String(16)),
    )
    _detail(
        "crypto",
        sa.Column("base", sa.String(32), nullable=False),
        sa.Column("quote", sa.String(32), nullable=False),
        sa.Column("exchanges", sa.Text, nullable=False),
        sa.Column("primary_exchange", sa.String(32), nullable=False),
    )
    op.create_table(
        "daily_prices",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("open", sa.Float),
        sa.Column("high", sa.Float),
        sa.Column("low", sa.Float),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("adj_close", sa.Float),
        sa.Column("volume", sa.Float),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "asset_class", "date", name="pk_daily_prices"),
        sa.CheckConstraint(ASSET_CLASS_CHECK, name="ck_daily_prices_asset_class"),
    )
    op.create_index("ix_daily_prices_asset_class_date", "daily_prices", ["asset_class", "date"])
    op.create_table(
        "corporate_actions",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "asset_class", "date", "action", name="pk_corporate_actions"),
        sa.CheckConstraint("action IN ('split', 'dividend', 'capital_gain')", name="ck_corporate_actions_action"),
    )
    op.create_table(
        "symbol_status",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("consecutive_no_data", sa.Integer, nullable=False, server_default="0"),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "asset_class", name="pk_symbol_status"),
        sa.CheckConstraint(
            "status IN ('ok', 'no_data', 'delisted', 'unknown_symbol', 'error')", name="ck_symbol_status_status"
        ),
    )
    op.create_table(
        "universe_snapshots",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("universe", sa.String(32), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active_count", sa.Integer, nullable=False),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
        sa.Column("reactivated", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_universe_snapshots"),
    )
    op.create_index("ix_universe_snapshots_universe_taken_at", "universe_snapshots", ["universe", "taken_at"])


def downgrade() -> None:
    raise RuntimeError("lumia_assets migrations never drop data: restore from a backup instead of downgrading")

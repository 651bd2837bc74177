"""The as-traded price record: the upstream's adjusted close kept only as a witness, capital gains inside dividends,
piecewise adjustment factors, restatements, and the derived ``adjusted_prices`` view.

Rows written before this revision may be split-adjusted as of their fetch day: ``lumia restate`` re-fetches the
symbols with a recorded split or distribution and rewrites them as traded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ADJUSTED_PRICES_VIEW = """
CREATE VIEW adjusted_prices AS
SELECT p.symbol, p.asset_class, p.date,
       p.open * COALESCE(f.split_factor, 1.0) AS open,
       p.high * COALESCE(f.split_factor, 1.0) AS high,
       p.low * COALESCE(f.split_factor, 1.0) AS low,
       p.close * COALESCE(f.split_factor, 1.0) AS close,
       p.volume / COALESCE(f.split_factor, 1.0) AS volume,
       p.close * COALESCE(f.split_factor, 1.0) * COALESCE(f.dividend_factor, 1.0) AS adj_close,
       COALESCE(f.split_factor, 1.0) AS split_factor,
       COALESCE(f.dividend_factor, 1.0) AS dividend_factor
FROM daily_prices p
LEFT JOIN adjustment_factors f
  ON f.symbol = p.symbol AND f.asset_class = p.asset_class AND f.valid_from <= p.date AND p.date < f.valid_until
"""


def upgrade() -> None:
    with op.batch_alter_table("daily_prices") as table:
        table.alter_column("adj_close", new_column_name="served_adj_close", existing_type=sa.Float)
        table.add_column(sa.Column("served_as_of", sa.Date))
    with op.batch_alter_table("corporate_actions") as table:
        table.add_column(sa.Column("in_dividend", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "adjustment_factors",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("split_factor", sa.Float, nullable=False),
        sa.Column("dividend_factor", sa.Float, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "asset_class", "valid_from", name="pk_adjustment_factors"),
    )
    op.create_table(
        "restatements",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Float),
        sa.Column("new_value", sa.Float),
        sa.Column("source", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_restatements"),
    )
    op.create_index("ix_restatements_detected_at", "restatements", ["detected_at"])
    op.execute(ADJUSTED_PRICES_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW adjusted_prices")
    op.drop_index("ix_restatements_detected_at", "restatements")
    op.drop_table("restatements")
    op.drop_table("adjustment_factors")
    with op.batch_alter_table("corporate_actions") as table:
        table.drop_column("in_dividend")
    with op.batch_alter_table("daily_prices") as table:
        table.drop_column("served_as_of")
        table.alter_column("served_adj_close", new_column_name="adj_close", existing_type=sa.Float)

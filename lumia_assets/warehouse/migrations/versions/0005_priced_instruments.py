"""The instruments the price selection prices, as the gap sensor last saw them: a newly selected one is owed its
history from ``history_from``, which the sensor backfills.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "priced_instruments",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("selected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("history_from", sa.Date),
        sa.Column("history_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("history_next_attempt_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("symbol", "asset_class", name="pk_priced_instruments"),
    )


def downgrade() -> None:
    op.drop_table("priced_instruments")

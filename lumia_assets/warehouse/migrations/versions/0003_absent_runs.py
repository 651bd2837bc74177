"""The universe lifecycle across days: how many runs in a row an active instrument was missing from its directory,
since when a symbol has answered "no data", and the repair schedule of each missing cell.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as table:
        table.add_column(sa.Column("absent_runs", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("symbol_status") as table:
        table.add_column(sa.Column("no_data_since", sa.Date))
    op.create_table(
        "gap_repairs",
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_missing_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unavailable", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("symbol", "asset_class", "date", name="pk_gap_repairs"),
    )
    op.create_index("ix_gap_repairs_next_attempt_at", "gap_repairs", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_gap_repairs_next_attempt_at", "gap_repairs")
    op.drop_table("gap_repairs")
    with op.batch_alter_table("symbol_status") as table:
        table.drop_column("no_data_since")
    with op.batch_alter_table("assets") as table:
        table.drop_column("absent_runs")

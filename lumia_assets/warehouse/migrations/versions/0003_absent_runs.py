"""The universe lifecycle across days: how many runs in a row an active instrument was missing from its directory,
and since when a symbol has answered "no data".

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


def downgrade() -> None:
    with op.batch_alter_table("symbol_status") as table:
        table.drop_column("no_data_since")
    with op.batch_alter_table("assets") as table:
        table.drop_column("absent_runs")

"""The Core schema and the Alembic migrations describe the same database."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.schema import metadata


def test_the_migrated_database_matches_schema_py(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []


def test_the_asset_primary_key_is_symbol_and_asset_class(warehouse_url: str) -> None:
    inspector = sa.inspect(connect_warehouse(warehouse_url))
    assert inspector.get_pk_constraint("assets")["constrained_columns"] == ["symbol", "asset_class"]
    assert inspector.get_pk_constraint("daily_prices")["constrained_columns"] == ["symbol", "asset_class", "date"]
    indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("daily_prices")}
    assert indexes == {
        "ix_daily_prices_asset_class_date_symbol": ["asset_class", "date", "symbol"],
        "ix_daily_prices_asset_class_fetched_at": ["asset_class", "fetched_at"],
    }

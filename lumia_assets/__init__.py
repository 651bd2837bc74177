"""lumia_assets: a market-data platform on Dagster."""

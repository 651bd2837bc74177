"""Materialize an equity price range in a process of its own, so a test can kill it midway.

Usage: python -m lumia_assets_tests.defs.run_equity_range WAREHOUSE_URL UPSTREAM_URL START END BATCH_SIZE
"""

import sys
from dataclasses import replace
from datetime import date

from lumia_assets.defs.prices.assets import equity_daily_prices
from lumia_assets.settings import Settings
from lumia_assets_tests.defs.prices_helpers import materialize

if __name__ == "__main__":
    warehouse_url, upstream_url, start, end, batch_size = sys.argv[1:6]
    settings = replace(Settings.from_env(), warehouse_url=warehouse_url, upstream_url=upstream_url)
    config = {"ops": {"equity_daily_prices": {"config": {"batch_size": int(batch_size)}}}}
    result = materialize(settings, [equity_daily_prices], date.fromisoformat(start), date.fromisoformat(end), config)
    sys.exit(0 if result.success else 1)

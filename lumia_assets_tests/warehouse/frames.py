"""Small frames that follow the column contracts, for warehouse tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from lumia_assets.frames import PRICE_COLUMNS, UNIVERSE_COLUMNS

FETCHED_AT = datetime(2024, 12, 3, 1, 0, tzinfo=UTC)


def bars(symbol: str, days: list[date], close: float = 10.0, asset_class: str = "stock") -> pd.DataFrame:
    """One valid bar per day."""
    rows = [
        {
            "symbol": symbol,
            "asset_class": asset_class,
            "date": day,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "adj_close": close * 0.99,
            "volume": 1000.0,
            "source": "yahoo",
            "fetched_at": FETCHED_AT,
        }
        for day in days
    ]
    return pd.DataFrame(rows, columns=list(PRICE_COLUMNS))


def stocks(*symbols: str, asset_class: str = "stock") -> pd.DataFrame:
    """A universe snapshot of ``symbols``."""
    return pd.DataFrame(
        [
            {
                "symbol": s,
                "asset_class": asset_class,
                "yahoo_symbol": s.replace(".", "-"),
                "name": f"{s} Inc.",
                "exchange": "NASDAQ",
                "currency": "USD",
                "source": "nasdaqtrader",
            }
            for s in symbols
        ],
        columns=list(UNIVERSE_COLUMNS),
    )

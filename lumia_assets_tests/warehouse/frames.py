"""Small frames that follow the column contracts, for warehouse tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS, PRICE_COLUMNS, UNIVERSE_COLUMNS

FETCHED_AT = datetime(2024, 12, 5, 1, 0, tzinfo=UTC)
DAYS = [date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4)]


def bars(symbol: str, days: list[date], close: float = 10.0, asset_class: str = "stock") -> pd.DataFrame:
    """One valid bar per day, its witness unadjusted (no actions) as of the last day."""
    rows = [
        {
            "symbol": symbol,
            "asset_class": asset_class,
            "date": day,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "served_adj_close": close,
            "served_as_of": days[-1] if days else None,
            "volume": 1000.0,
            "source": "yahoo",
            "fetched_at": FETCHED_AT,
        }
        for day in days
    ]
    return pd.DataFrame(rows, columns=list(PRICE_COLUMNS))


def actions(symbol: str, *events: tuple[date, str, float]) -> pd.DataFrame:
    """Corporate actions of ``symbol``: (date, action, value) each."""
    rows = [
        {"symbol": symbol, "asset_class": "stock", "date": day, "action": action, "value": value,
         "in_dividend": False, "source": "yahoo", "fetched_at": FETCHED_AT}
        for day, action, value in events
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(CORPORATE_ACTION_COLUMNS))


def statuses(status: str, *symbols: str, checked_at: datetime = FETCHED_AT) -> pd.DataFrame:
    """The same fetch outcome for each of ``symbols``."""
    return pd.DataFrame(
        [{"symbol": s, "asset_class": "stock", "status": status, "detail": status, "checked_at": checked_at}
         for s in symbols],
        columns=["symbol", "asset_class", "status", "detail", "checked_at"],
    )  # fmt: skip


def listings(*symbols: str, asset_class: str = "stock") -> pd.DataFrame:
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


def identities(*rows: tuple[str, date | None, str | None]) -> pd.DataFrame:
    """What answers told about stocks: (symbol, listed_on, name) each."""
    frame = pd.DataFrame(rows, columns=["symbol", "listed_on", "name"])
    return frame.assign(asset_class="stock")[["symbol", "asset_class", "listed_on", "name"]]

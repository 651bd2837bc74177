"""Column contracts for the pandas frames that flow from ``sources/`` to ``warehouse/``.

Sources return frames with exactly these columns; the warehouse writes them. Keeping the lists in
one place is what lets the two layers stay ignorant of each other.
"""

from __future__ import annotations

from typing import Final

ASSET_CLASSES: Final = ("stock", "etf", "mutual_fund", "crypto")

# One row per instrument, for every universe.
UNIVERSE_COLUMNS: Final = (
    "symbol",  # the listing's own spelling: BRK.B, ABR$D, BTC/USDT
    "asset_class",  # one of ASSET_CLASSES
    "yahoo_symbol",  # Yahoo's spelling (BRK-B, ABR-PD); None for crypto
    "name",
    "exchange",  # listing exchange (NASDAQ, NYSE, NYSE ARCA, ...) or primary crypto exchange id
    "currency",
    "source",  # where the row came from: nasdaqtrader, sec, binance, ...
)

# Extra columns, per asset class, that land in the class-specific detail tables.
ETF_DETAIL_COLUMNS: Final = ("symbol",)
MUTUAL_FUND_DETAIL_COLUMNS: Final = (
    "symbol",
    "fund_family",
    "fund_type",
    "category",
    "cik",
    "series_id",
    "class_id",
)
CRYPTO_DETAIL_COLUMNS: Final = ("symbol", "base", "quote", "exchanges", "primary_exchange")

# One row per (symbol, asset_class, date): OHLCV as traded, never adjusted.
PRICE_COLUMNS: Final = (
    "symbol",
    "asset_class",
    "date",  # datetime.date: the session date in the exchange's time zone (UTC day for crypto)
    "open",
    "high",
    "low",
    "close",
    "volume",
    "served_adj_close",  # the upstream's adjusted close, a witness re-based to served_as_of
    "served_as_of",  # datetime.date: the day the witness is adjusted to (the last session asked for)
    "source",
    "fetched_at",  # tz-aware UTC datetime
)

# One row per (symbol, interval, open_time): an intraday crypto candle as the venue traded it.
CANDLE_COLUMNS: Final = (
    "symbol",
    "interval",  # "1h"
    "open_time",  # tz-aware UTC datetime: the candle covers [open_time, open_time + interval)
    "open",
    "high",
    "low",
    "close",
    "volume",
    "source",  # the venue that served it
    "fetched_at",  # tz-aware UTC datetime
)

# Splits, dividends and capital gains, as traded. value: split ratio (2.0 for 2:1) or cash per share on the
# ex-date; in_dividend: a capital gain the same day's dividend already includes.
CORPORATE_ACTION_COLUMNS: Final = (
    "symbol", "asset_class", "date", "action", "value", "in_dividend", "source", "fetched_at"
)  # fmt: skip
CORPORATE_ACTIONS: Final = ("split", "dividend", "capital_gain")

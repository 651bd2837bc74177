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

# Crypto sources that serve an aggregated dollar price across venues, not one exchange's trades: the opt-in last
# fallbacks of LUMIA_CRYPTO_FALLBACKS. A crypto row is marked as aggregated by its ``source`` alone.
AGGREGATED_SOURCES: Final = ("yahoo",)

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

# One row per crypto base currency (BTC): the CoinGecko coin it stands for, and how that was decided.
COIN_COLUMNS: Final = (
    "base",  # the exchanges' spelling of the base currency
    "coin_id",  # CoinGecko's id: bitcoin, ethereum
    "name",
    "market_cap_usd",  # the coin's market cap when the mapping was made; None when CoinGecko has none
    "market_cap_rank",  # CoinGecko's rank by market cap (1 is the largest); None when it has none
    "candidates",  # how many CoinGecko ids share the ticker
    "resolved_by",  # one of COIN_RESOLUTIONS
    "source",
    "fetched_at",
)
COIN_RESOLUTIONS: Final = ("only", "market_cap", "override")

# One row per (coin_id, date): CoinGecko's aggregated dollar price at the end of that UTC day (its point at the next
# 00:00 UTC), the 24 hours' dollar volume and the market cap then. A witness for the stored candles.
REFERENCE_PRICE_COLUMNS: Final = (
    "coin_id", "date", "price_usd", "volume_usd", "market_cap_usd", "source", "fetched_at"
)  # fmt: skip

# Splits, dividends and capital gains, as traded. value: split ratio (2.0 for 2:1) or cash per share on the
# ex-date; in_dividend: a capital gain the same day's dividend already includes.
CORPORATE_ACTION_COLUMNS: Final = (
    "symbol", "asset_class", "date", "action", "value", "in_dividend", "source", "fetched_at"
)  # fmt: skip
CORPORATE_ACTIONS: Final = ("split", "dividend", "capital_gain")

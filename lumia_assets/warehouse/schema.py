"""The warehouse schema in SQLAlchemy Core. Alembic migrations under ``migrations/`` create it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

_ASSET_CLASS_CHECK = "asset_class IN ('stock', 'etf', 'mutual_fund', 'crypto')"


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


assets = sa.Table(
    "assets",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    sa.Column("yahoo_symbol", sa.String(64)),
    sa.Column("name", sa.Text),
    sa.Column("exchange", sa.String(64)),
    sa.Column("currency", sa.String(16)),
    sa.Column("active", sa.Boolean, nullable=False),
    _timestamp("first_seen"),
    _timestamp("last_seen"),
    sa.Column("listed_on", sa.Date),
    sa.Column("source", sa.String(32), nullable=False),
    # directory runs in a row without this active instrument; it is deactivated after LUMIA_DELIST_AFTER_RUNS
    sa.Column("absent_runs", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(_ASSET_CLASS_CHECK, name="asset_class"),
)


def _detail_table(name: str, asset_class: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("symbol", sa.String(64), primary_key=True),
        sa.Column("asset_class", sa.String(16), nullable=False, server_default=asset_class),
        *columns,
        sa.ForeignKeyConstraint(["symbol", "asset_class"], ["assets.symbol", "assets.asset_class"], ondelete="CASCADE"),
        sa.CheckConstraint(f"asset_class = '{asset_class}'", name="asset_class"),
    )


etf = _detail_table("etf", "etf")
mutual_fund = _detail_table(
    "mutual_fund",
    "mutual_fund",
    sa.Column("fund_family", sa.Text),
    sa.Column("fund_type", sa.String(64)),
    sa.Column("category", sa.String(64)),
    sa.Column("cik", sa.String(16)),
    sa.Column("series_id", sa.String(16)),
    sa.Column("class_id", sa.String(16)),
)
crypto = _detail_table(
    "crypto",
    "crypto",
    sa.Column("base", sa.String(32), nullable=False),
    sa.Column("quote", sa.String(32), nullable=False),
    sa.Column("exchanges", sa.Text, nullable=False),
    sa.Column("primary_exchange", sa.String(32), nullable=False),
)

daily_prices = sa.Table(
    "daily_prices",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("open", sa.Float),
    sa.Column("high", sa.Float),
    sa.Column("low", sa.Float),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("volume", sa.Float),
    # The witness: the upstream's own adjusted close from the answer of fetched_at, re-based to served_as_of (the
    # last session the run asked for). Not an adjusted price to use: adjusted_prices derives those.
    sa.Column("served_adj_close", sa.Float),
    sa.Column("served_as_of", sa.Date),
    sa.Column("source", sa.String(32), nullable=False),
    _timestamp("fetched_at"),
    sa.CheckConstraint(_ASSET_CLASS_CHECK, name="asset_class"),
    # a date range of a feed's classes, and which symbols have a bar there, read from the index alone (gaps, the
    # per-partition checks); the primary key serves one symbol's history
    sa.Index("ix_daily_prices_asset_class_date_symbol", "asset_class", "date", "symbol"),
    # a feed's bars written since a check last ran (quality.ohlc_sanity(since=...))
    sa.Index("ix_daily_prices_asset_class_fetched_at", "asset_class", "fetched_at"),
)

# Intraday crypto candles, as the venue traded them: one table for every interval ("1h" today; "5m" or "1m" would be
# rows too), keyed like the venues' own klines. The daily table's contract is untouched.
candles = sa.Table(
    "candles",
    metadata,
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    _timestamp("open_time"),
    sa.Column("open", sa.Float, nullable=False),
    sa.Column("high", sa.Float, nullable=False),
    sa.Column("low", sa.Float, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("volume", sa.Float, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    _timestamp("fetched_at"),
    sa.PrimaryKeyConstraint("symbol", "interval", "open_time", name="pk_candles"),
    sa.CheckConstraint("interval IN ('1h')", name="interval"),
    # an hour range of an interval, and which symbols have a candle there (gaps, coverage, the agreement check)
    sa.Index("ix_candles_interval_open_time_symbol", "interval", "open_time", "symbol"),
)

# The CoinGecko coin each crypto base currency stands for (CoinGecko's tickers are ambiguous), with its market cap
# when the mapping was made: what the reference prices and the top-N-coins selection go by.
coins = sa.Table(
    "coins",
    metadata,
    sa.Column("base", sa.String(32), primary_key=True),
    sa.Column("coin_id", sa.String(128), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("market_cap_usd", sa.Float),
    sa.Column("market_cap_rank", sa.Integer),
    sa.Column("candidates", sa.Integer, nullable=False),
    sa.Column("resolved_by", sa.String(16), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    _timestamp("fetched_at"),
    sa.CheckConstraint("resolved_by IN ('only', 'market_cap', 'override')", name="resolved_by"),
    sa.Index("ix_coins_coin_id", "coin_id"),
)

# CoinGecko's aggregated dollar price of a coin at the end of each UTC day: the witness the reconciliation check
# compares the stored dollar-quoted closes with. Never a source of candles.
reference_prices = sa.Table(
    "reference_prices",
    metadata,
    sa.Column("coin_id", sa.String(128), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("price_usd", sa.Float, nullable=False),
    sa.Column("volume_usd", sa.Float),
    sa.Column("market_cap_usd", sa.Float),
    sa.Column("source", sa.String(32), nullable=False),
    _timestamp("fetched_at"),
    # a day's prices of every coin (the reconciliation check, coverage)
    sa.Index("ix_reference_prices_date_coin_id", "date", "coin_id"),
)

corporate_actions = sa.Table(
    "corporate_actions",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("action", sa.String(16), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    # a capital gain the same day's dividend already includes (some funds): not counted twice
    sa.Column("in_dividend", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("source", sa.String(32), nullable=False),
    _timestamp("fetched_at"),
    sa.CheckConstraint("action IN ('split', 'dividend', 'capital_gain')", name="action"),
)

adjustment_factors = sa.Table(
    "adjustment_factors",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("valid_until", sa.Date, nullable=False),
    sa.Column("split_factor", sa.Float, nullable=False),
    sa.Column("dividend_factor", sa.Float, nullable=False),
    _timestamp("computed_at"),
)

restatements = sa.Table(
    "restatements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("asset_class", sa.String(16), nullable=False),
    _timestamp("detected_at"),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("what", sa.String(32), nullable=False),  # bar.close, dividend, split, ... that changed upstream
    sa.Column("old_value", sa.Float),
    sa.Column("new_value", sa.Float),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Index("ix_restatements_detected_at", "detected_at"),
)

symbol_status = sa.Table(
    "symbol_status",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("consecutive_no_data", sa.Integer, nullable=False, server_default="0"),
    sa.Column("no_data_since", sa.Date),  # the day of the first "no data" answer of the current streak
    _timestamp("checked_at"),
    sa.CheckConstraint("status IN ('ok', 'no_data', 'delisted', 'unknown_symbol', 'error')", name="status"),
)

gap_repairs = sa.Table(
    "gap_repairs",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    _timestamp("first_missing_at"),
    _timestamp("next_attempt_at"),
    # given up on after LUMIA_GAP_MAX_DAYS: the upstream does not have the bar; reason is its last answer
    sa.Column("unavailable", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reason", sa.Text),
    sa.Index("ix_gap_repairs_next_attempt_at", "next_attempt_at"),
)

# The instruments the price selection priced at the gap sensor's last tick. One newly selected (included, or newly
# listed) is owed its history from history_from, which the sensor backfills; NULL: nothing owed.
priced_instruments = sa.Table(
    "priced_instruments",
    metadata,
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("asset_class", sa.String(16), primary_key=True),
    _timestamp("selected_at"),
    sa.Column("history_from", sa.Date),
    sa.Column("history_attempts", sa.Integer, nullable=False, server_default="0"),
    _timestamp("history_next_attempt_at", nullable=True),
)

universe_snapshots = sa.Table(
    "universe_snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("universe", sa.String(32), nullable=False),
    _timestamp("taken_at"),
    sa.Column("active_count", sa.Integer, nullable=False),
    sa.Column("added", sa.Integer, nullable=False),
    sa.Column("removed", sa.Integer, nullable=False),
    sa.Column("reactivated", sa.Integer, nullable=False),
    sa.Index("ix_universe_snapshots_universe_taken_at", "universe", "taken_at"),
)

DETAIL_TABLES: dict[str, sa.Table] = {"etf": etf, "mutual_fund": mutual_fund, "crypto": crypto}

# The derived series, a view over daily_prices and adjustment_factors (created by migration 0002, so kept out of
# ``metadata``): every bar split-adjusted, and adj_close adjusted for every distribution stored so far.
adjusted_prices = sa.table(
    "adjusted_prices",
    *(sa.column(name, type_) for name, type_ in (
        ("symbol", sa.String), ("asset_class", sa.String), ("date", sa.Date), ("open", sa.Float),
        ("high", sa.Float), ("low", sa.Float), ("close", sa.Float), ("volume", sa.Float), ("adj_close", sa.Float),
        ("split_factor", sa.Float), ("dividend_factor", sa.Float),
    )),
)  # fmt: skip

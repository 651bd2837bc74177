"""Crypto exchanges through the real ccxt client, on a session from ``sources.http``."""

from __future__ import annotations

import ccxt
import pandas as pd
import requests

from lumia_assets.frames import CRYPTO_DETAIL_COLUMNS, UNIVERSE_COLUMNS
from lumia_assets.sources.errors import (
    MalformedResponseError,
    PermanentUpstreamError,
    TransientUpstreamError,
    UnknownExchangeError,
)

# Options that keep ccxt to public spot endpoints (no keys, no futures/margin market lists).
EXCHANGE_OPTIONS = {"binance": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}}


def make_exchange(exchange_id: str, session: requests.Session) -> ccxt.Exchange:
    """A sync ccxt client for ``exchange_id`` that sends every request through ``session``.

    ccxt's own throttle is off: the session layer owns rate budgets.
    """
    if exchange_id not in ccxt.exchanges:
        raise UnknownExchangeError(
            f"unknown exchange id {exchange_id!r} in LUMIA_CRYPTO_EXCHANGES; valid ids are ccxt's "
            "(python -c 'import ccxt; print(ccxt.exchanges)'), e.g. binance, kraken, coinbaseexchange"
        )
    exchange = getattr(ccxt, exchange_id)({"enableRateLimit": False, "options": EXCHANGE_OPTIONS.get(exchange_id, {})})
    exchange.session = session
    return exchange


def load_markets(exchange: ccxt.Exchange) -> dict:
    """Load the exchange's markets, telling transient failures from malformed or refused answers."""
    try:
        return exchange.load_markets()
    except (ccxt.NetworkError, ccxt.RateLimitExceeded) as exc:
        raise TransientUpstreamError(f"{exchange.id}: loading markets failed: {exc}") from exc
    except ccxt.ExchangeNotAvailable as exc:
        raise PermanentUpstreamError(f"{exchange.id}: {exc}") from exc
    except (ccxt.BadResponse, ValueError, KeyError, TypeError) as exc:
        raise MalformedResponseError(f"{exchange.id}: the market list is malformed: {exc}") from exc


def fetch_spot_markets(exchange: ccxt.Exchange) -> pd.DataFrame:
    """Active spot markets as universe rows (asset_class crypto, symbol BASE/QUOTE) with crypto detail columns."""
    markets = [m for m in load_markets(exchange).values() if m.get("spot") and m.get("active") is not False]
    frame = pd.DataFrame(
        {
            "symbol": [m["symbol"] for m in markets],
            "asset_class": "crypto",
            "yahoo_symbol": None,
            "name": [f"{m['base']}/{m['quote']} on {exchange.id}" for m in markets],
            "exchange": exchange.id,
            "currency": [m["quote"] for m in markets],
            "source": exchange.id,
            "base": [m["base"] for m in markets],
            "quote": [m["quote"] for m in markets],
            "exchanges": exchange.id,
            "primary_exchange": exchange.id,
        },
        columns=list(dict.fromkeys([*UNIVERSE_COLUMNS, *CRYPTO_DETAIL_COLUMNS])),
    )
    return frame.drop_duplicates("symbol").sort_values("symbol", ignore_index=True)

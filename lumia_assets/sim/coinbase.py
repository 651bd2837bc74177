"""Coinbase Exchange public REST (ccxt id ``coinbaseexchange``): /products, /currencies, /products/{id}/candles."""

from __future__ import annotations

from datetime import UTC, datetime

from lumia_assets.sim.crypto import DAY, HOUR, CryptoMarket, native_id, requested_days
from lumia_assets.sim.protocol import SimRequest, SimResponse

MAX_CANDLES = 300
GRANULARITIES = {"86400": DAY, "3600": HOUR}  # seconds


def _seconds(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp())


class CoinbaseExchangeApp:
    """``api.exchange.coinbase.com``: candles are [time, low, high, open, close, volume], newest first."""

    hosts = ("api.exchange.coinbase.com",)

    def __init__(self, market: CryptoMarket) -> None:
        self.market = market

    def handle(self, request: SimRequest) -> SimResponse:
        today = self.market.clock.now().date()
        pairs = [p for p in self.market.pairs("coinbaseexchange") if p.listed_on is None or p.listed_on <= today]
        if request.path == "/products":
            return SimResponse.json([
                {"id": native_id("coinbaseexchange", p), "base_currency": p.base, "quote_currency": p.quote,
                 "quote_increment": "0.00000001", "base_increment": "0.00000001", "display_name": f"{p.base}-{p.quote}",
                 "min_market_funds": "1", "margin_enabled": False, "post_only": False, "limit_only": False,
                 "cancel_only": False,
                 "status": "online" if p.delisted_on is None or p.delisted_on > today else "delisted",
                 "status_message": "", "trading_disabled": False, "fx_stablecoin": False,
                 "max_slippage_percentage": "0.03", "auction_mode": False}
                for p in pairs
            ])  # fmt: skip
        if request.path == "/currencies":
            codes = sorted({c for p in pairs for c in (p.base, p.quote)})
            return SimResponse.json([
                {"id": c, "name": c, "min_size": "0.00000001", "status": "online", "message": "",
                 "max_precision": "0.00000001", "convertible_to": [], "details": {"type": "crypto"}}
                for c in codes
            ])  # fmt: skip
        if request.path.startswith("/products/") and request.path.endswith("/candles"):
            return self._candles(request, request.path.split("/")[2], pairs)
        return SimResponse.json({"message": "NotFound"}, 404)

    def _candles(self, request: SimRequest, product: str, pairs) -> SimResponse:
        pair = next((p for p in pairs if native_id("coinbaseexchange", p) == product), None)
        if pair is None:
            return SimResponse.json({"message": "NotFound"}, 404)
        interval = GRANULARITIES.get(request.param("granularity", ""))
        if interval is None:
            return SimResponse.json({"message": "the simulator serves granularity=86400 and 3600"}, 400)
        now = self.market.clock.now()
        start = _seconds(request.param("start")) or 0
        end = _seconds(request.param("end")) or int(now.timestamp())
        first, last = requested_days(0, end * 1000, MAX_CANDLES, interval)  # the newest 300 up to `end`
        rows = [
            [c.open_ms // 1000, c.low, c.high, c.open, c.close, c.volume]
            for c in self.market.served("coinbaseexchange", pair.symbol, interval, first, last).itertuples()
            if start <= c.open_ms // 1000 <= end and not request.candle_missing(pair.symbol, c.key)
        ]
        return SimResponse.json(list(reversed(rows[-MAX_CANDLES:])))

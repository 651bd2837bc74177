"""Binance spot REST: /api/v3/exchangeInfo, /api/v3/klines (1d and 1h), /api/v3/time, with request weights."""

from __future__ import annotations

from datetime import datetime

from lumia_assets.sim.crypto import DAY, HOUR, CryptoMarket, native_id, requested_days
from lumia_assets.sim.protocol import SimRequest, SimResponse

INTERVALS = {"1d": DAY, "1h": HOUR}
WEIGHTS = {"/api/v3/exchangeInfo": 20, "/api/v3/klines": 2}
FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000000.00000000", "tickSize": "0.00000001"},
    {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000000.00000000", "stepSize": "0.00001000"},
    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True, "maxNotional": "9000000.00000000",
     "applyMaxToMarket": False, "avgPriceMins": 5},
]  # fmt: skip


def _error(code: int, msg: str) -> SimResponse:
    return SimResponse.json({"code": code, "msg": msg}, 400)


class BinanceApp:
    """``api.binance.com``: spot market list and daily and hourly klines in Binance's real shapes."""

    hosts = ("api.binance.com",)

    def __init__(self, market: CryptoMarket) -> None:
        self.market = market

    def weight(self, request: SimRequest) -> int:
        return WEIGHTS.get(request.path, 1)

    def handle(self, request: SimRequest) -> SimResponse:
        now = self.market.clock.now()
        if request.path == "/api/v3/time":
            return SimResponse.json({"serverTime": int(now.timestamp() * 1000)})
        if request.path == "/api/v3/exchangeInfo":
            return SimResponse.json(self._exchange_info(now))
        if request.path == "/api/v3/klines":
            return self._klines(request, now)
        return SimResponse.json({"code": -1000, "msg": f"unknown endpoint {request.path}"}, 404)

    def _exchange_info(self, now: datetime) -> dict:
        today = now.date()
        symbols = []
        for pair in self.market.pairs("binance"):
            if pair.listed_on is not None and pair.listed_on > today:
                continue
            active = pair.delisted_on is None or pair.delisted_on > today
            symbols.append(
                {
                    "symbol": native_id("binance", pair),
                    "status": "TRADING" if active else "BREAK",
                    "baseAsset": pair.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": pair.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": True,
                    "cancelReplaceAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": FILTERS,
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
                }
            )
        limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}]
        return {"timezone": "UTC", "serverTime": int(now.timestamp() * 1000), "rateLimits": limits,
                "exchangeFilters": [], "symbols": symbols}  # fmt: skip

    def _klines(self, request: SimRequest, now: datetime) -> SimResponse:
        native = request.param("symbol", "")
        pair = next((p for p in self.market.pairs("binance") if native_id("binance", p) == native), None)
        if pair is None:
            return _error(-1121, "Invalid symbol.")
        interval = INTERVALS.get(request.param("interval", ""))
        if interval is None:
            return _error(-1120, "Invalid interval: the simulator serves 1d and 1h.")
        limit = min(int(request.param("limit", "500") or 500), 1000)
        start_ms = int(request.param("startTime", "0") or 0)
        end_ms = int(request.param("endTime", str(int(now.timestamp() * 1000))) or 0)
        first, last = requested_days(start_ms, end_ms, limit, interval)
        candles = self.market.served("binance", pair.symbol, interval, first, last)
        step_ms = int(interval.total_seconds() * 1000)
        rows = []
        for candle in candles.itertuples():
            if candle.open_ms < start_ms or candle.open_ms > end_ms or request.candle_missing(pair.symbol, candle.key):
                continue
            rows.append(_kline(candle, step_ms))
        rows = rows[:limit] if start_ms else rows[-limit:]
        return SimResponse.json(rows)


def _kline(candle, step_ms: int) -> list:
    volume, close = float(candle.volume), float(candle.close)
    return [candle.open_ms, f"{candle.open:.8f}", f"{candle.high:.8f}", f"{candle.low:.8f}", f"{close:.8f}",
            f"{volume:.8f}", candle.open_ms + step_ms - 1, f"{volume * close:.8f}", 1000,
            f"{volume / 2:.8f}", f"{volume * close / 2:.8f}", "0"]  # fmt: skip

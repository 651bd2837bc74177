"""Binance spot REST: /api/v3/exchangeInfo, /api/v3/klines, /api/v3/time, with request weights."""

from __future__ import annotations

from datetime import datetime

from lumia_assets.sim.crypto import CryptoMarket, day_start_ms, native_id
from lumia_assets.sim.protocol import SimRequest, SimResponse

DAY_MS = 86_400_000
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
    """``api.binance.com``: spot market list and daily klines in Binance's real shapes."""

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
        if request.param("interval") != "1d":
            return _error(-1120, "Invalid interval: the simulator serves 1d.")
        limit = min(int(request.param("limit", "500") or 500), 1000)
        start_ms = int(request.param("startTime", "0") or 0)
        end_ms = int(request.param("endTime", str(int(now.timestamp() * 1000))) or 0)
        candles = self.market.candles("binance", pair.symbol, now)
        rows = []
        for day, candle in candles.iterrows():
            open_ms = day_start_ms(day)
            if open_ms < start_ms or open_ms > end_ms or request.candle_missing(pair.symbol, day):
                continue
            rows.append(_kline(open_ms, candle))
            if len(rows) >= limit:
                break
        if not start_ms and len(rows) < len(candles):
            rows = rows[-limit:]
        return SimResponse.json(rows)


def _kline(open_ms: int, candle) -> list:
    volume = float(candle["volume"])
    return [open_ms, f"{candle['open']:.8f}", f"{candle['high']:.8f}", f"{candle['low']:.8f}", f"{candle['close']:.8f}",
            f"{volume:.8f}", open_ms + DAY_MS - 1, f"{volume * float(candle['close']):.8f}", 1000,
            f"{volume / 2:.8f}", f"{volume * float(candle['close']) / 2:.8f}", "0"]  # fmt: skip

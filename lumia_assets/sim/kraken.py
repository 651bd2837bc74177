"""Kraken public REST: /0/public/AssetPairs, /0/public/Assets and /0/public/OHLC (daily and hourly, the newest 720
candles only)."""

from __future__ import annotations

from lumia_assets.sim.crypto import DAY, HOUR, CryptoMarket, native_id, requested_days
from lumia_assets.sim.protocol import SimRequest, SimResponse

MAX_CANDLES = 720
INTERVALS = {"1440": DAY, "60": HOUR}  # minutes


def _kraken_asset(code: str) -> str:
    return "XBT" if code == "BTC" else code


class KrakenApp:
    """``api.kraken.com``: Kraken wraps every answer in ``{"error": [], "result": ...}``."""

    hosts = ("api.kraken.com",)

    def __init__(self, market: CryptoMarket) -> None:
        self.market = market

    def _live(self):
        today = self.market.clock.now().date()
        return [p for p in self.market.pairs("kraken") if (p.listed_on is None or p.listed_on <= today)
                and (p.delisted_on is None or p.delisted_on > today)]  # fmt: skip

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == "/0/public/AssetPairs":
            result = {
                native_id("kraken", p): {
                    "altname": native_id("kraken", p),
                    "wsname": f"{_kraken_asset(p.base)}/{p.quote}",
                    "aclass_base": "currency",
                    "base": _kraken_asset(p.base),
                    "aclass_quote": "currency",
                    "quote": p.quote,
                    "pair_decimals": 5,
                    "cost_decimals": 5,
                    "lot_decimals": 8,
                    "lot_multiplier": 1,
                    "fees": [[0, 0.26]],
                    "fees_maker": [[0, 0.16]],
                    "fee_volume_currency": "ZUSD",
                    "margin_call": 80,
                    "margin_stop": 40,
                    "ordermin": "0.0001",
                    "costmin": "0.5",
                    "tick_size": "0.00001",
                    "status": "online",
                }
                for p in self._live()
            }
            return SimResponse.json({"error": [], "result": result})
        if request.path == "/0/public/Assets":
            codes = sorted({_kraken_asset(c) for p in self._live() for c in (p.base, p.quote)})
            asset = {"aclass": "currency", "decimals": 10, "display_decimals": 5, "status": "enabled"}
            result = {c: {**asset, "altname": c} for c in codes}
            return SimResponse.json({"error": [], "result": result})
        if request.path == "/0/public/OHLC":
            return self._ohlc(request)
        return SimResponse.json({"error": ["EGeneral:Unknown method"]}, 404)

    def _ohlc(self, request: SimRequest) -> SimResponse:
        native = request.param("pair", "")
        pair = next((p for p in self.market.pairs("kraken") if native_id("kraken", p) == native), None)
        if pair is None:
            return SimResponse.json({"error": ["EQuery:Unknown asset pair"]})
        interval = INTERVALS.get(request.param("interval", "1"))
        if interval is None:
            unserved = "EGeneral:Invalid arguments: the simulator serves interval=1440 and 60"
            return SimResponse.json({"error": [unserved]})
        since = int(request.param("since", "0") or 0)
        now_ms = int(self.market.clock.now().timestamp() * 1000)
        first, last = requested_days(0, now_ms, MAX_CANDLES, interval)
        candles = self.market.served("kraken", pair.symbol, interval, first, last).tail(MAX_CANDLES)
        rows = [
            [c.open_ms // 1000, f"{c.open:.5f}", f"{c.high:.5f}", f"{c.low:.5f}", f"{c.close:.5f}",
             f"{c.close:.5f}", f"{c.volume:.8f}", 100]
            for c in candles.itertuples()
            if c.open_ms // 1000 >= since and not request.candle_missing(pair.symbol, c.key)
        ]  # fmt: skip
        last = rows[-1][0] if rows else since
        return SimResponse.json({"error": [], "result": {native: rows, "last": last}})

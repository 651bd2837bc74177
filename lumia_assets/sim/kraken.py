"""Kraken public REST: /0/public/AssetPairs, /0/public/Assets and /0/public/OHLC (newest 720 candles only)."""

from __future__ import annotations

from lumia_assets.sim.crypto import CryptoMarket, day_start_ms, native_id
from lumia_assets.sim.protocol import SimRequest, SimResponse

MAX_CANDLES = 720


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
        if request.param("interval", "1") != "1440":
            return SimResponse.json({"error": ["EGeneral:Invalid arguments: the simulator serves interval=1440"]})
        since = int(request.param("since", "0") or 0)
        candles = self.market.candles("kraken", pair.symbol, self.market.clock.now()).tail(MAX_CANDLES)
        rows = [
            [day_start_ms(day) // 1000, f"{c['open']:.5f}", f"{c['high']:.5f}", f"{c['low']:.5f}", f"{c['close']:.5f}",
             f"{c['close']:.5f}", f"{c['volume']:.8f}", 100]
            for day, c in candles.iterrows()
            if day_start_ms(day) // 1000 >= since and not request.candle_missing(pair.symbol, day)
        ]  # fmt: skip
        last = rows[-1][0] if rows else since
        return SimResponse.json({"error": [], "result": {native: rows, "last": last}})

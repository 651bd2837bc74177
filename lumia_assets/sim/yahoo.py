"""Yahoo Finance: the v8 chart API (equities, and crypto's ``BTC-USD``), plus the cookie, crumb and consent endpoints
yfinance calls first."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

from lumia_assets.sim.crypto import CryptoMarket
from lumia_assets.sim.equities import NEW_YORK, Bars, EquityMarket, Instrument
from lumia_assets.sim.protocol import SimRequest, SimResponse
from lumia_assets.sim.yahoo_crypto import CoinCharts

CRUMB = "SimCrumb0lumia"
COOKIE = {"Set-Cookie": "A3=d=AQABBsim&S=AQAAAsim; Max-Age=31557600; Path=/; SameSite=None; HttpOnly"}
INSTRUMENT_TYPES = {"stock": "EQUITY", "etf": "ETF", "mutual_fund": "MUTUALFUND"}
FULL_EXCHANGE_NAMES = {"NMS": "NasdaqGS", "NYQ": "NYSE", "ASE": "NYSE American", "PCX": "NYSEArca",
                       "BTS": "Cboe US", "NAS": "Nasdaq"}  # fmt: skip
SESSION_RANGES = {"1d": 1, "5d": 5}
CALENDAR_RANGES = {"1mo": 31, "3mo": 92, "6mo": 183, "1y": 366, "2y": 731, "5y": 1827, "10y": 3653}
VALID_RANGES = [*SESSION_RANGES, *CALENDAR_RANGES, "ytd", "max"]
CONSENT_PAGE = (
    "<html><body><form method='post' action='https://consent.yahoo.com/v2/collectConsent'>"
    "<input type='hidden' name='csrfToken' value='simCsrf'/><input type='hidden' name='sessionId' value='simSession'/>"
    "</form></body></html>"
)


def chart_error_body(code: str, description: str) -> dict[str, object]:
    """The chart API's error answer."""
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


# Yahoo's answer (HTTP 404) for a symbol it has no bars for: a delisted one, or every symbol during an outage
NO_DATA_BODY = chart_error_body("Not Found", "No data found, symbol may be delisted")


def _chart_error(code: str, description: str, status: int) -> SimResponse:
    return SimResponse.json(chart_error_body(code, description), status)


def _trading_period(day: date) -> dict[str, dict[str, object]]:
    """Pre-market, regular and post-market hours of ``day`` in New York, as Yahoo's currentTradingPeriod."""

    def period(start: tuple[int, int], end: tuple[int, int]) -> dict[str, object]:
        opens = datetime(day.year, day.month, day.day, *start, tzinfo=NEW_YORK)
        closes = datetime(day.year, day.month, day.day, *end, tzinfo=NEW_YORK)
        offset = int(opens.utcoffset().total_seconds())  # type: ignore[union-attr]
        return {"timezone": opens.tzname(), "start": int(opens.timestamp()), "end": int(closes.timestamp()),
                "gmtoffset": offset}  # fmt: skip

    return {"pre": period((4, 0), (9, 30)), "regular": period((9, 30), (16, 0)), "post": period((16, 0), (20, 0))}


def _meta(instrument: Instrument, served: Bars, now: datetime) -> dict[str, object]:
    """``chart.result[0].meta`` for ``instrument`` at ``now``; ``served`` is its whole served history."""
    local_now = now.astimezone(NEW_YORK)
    regular_hours = 6 * 3600 + 1800  # the last trade is at the close, or now while open (half days aside)
    last_time = min(int(now.timestamp()), int(served.ts[-1]) + regular_hours) if len(served) else None
    return {
        "currency": "USD",
        "symbol": instrument.yahoo_symbol,
        "exchangeName": instrument.yahoo_exchange,
        "fullExchangeName": FULL_EXCHANGE_NAMES[instrument.yahoo_exchange],
        "instrumentType": INSTRUMENT_TYPES[instrument.asset_class],
        "regularMarketTime": last_time,
        "hasPrePostMarketData": instrument.asset_class != "mutual_fund",
        "gmtoffset": int(local_now.utcoffset().total_seconds()),  # type: ignore[union-attr]
        "timezone": local_now.tzname(),
        "exchangeTimezoneName": "America/New_York",
        "longName": instrument.name,
        "shortName": instrument.name[:32],
        "currentTradingPeriod": _trading_period(local_now.date()),
    }


def _history_meta(served: Bars) -> dict[str, object]:
    """The ``meta`` fields of any chart that follow from its whole served history."""
    last_close = float(served.close[-1]) if len(served) else None
    return {
        "firstTradeDate": int(served.ts[0]) if len(served) else None,
        "regularMarketPrice": last_close,
        "chartPreviousClose": last_close,
        "priceHint": 2,
        "dataGranularity": "1d",
        "range": "",
        "validRanges": VALID_RANGES,
    }


def _quote(instrument: Instrument) -> dict[str, object]:
    """The identity fields of a v7 quote / quoteType entry."""
    return {
        "symbol": instrument.yahoo_symbol,
        "quoteType": INSTRUMENT_TYPES[instrument.asset_class],
        "exchange": instrument.yahoo_exchange,
        "longName": instrument.name,
        "currency": "USD",
        "exchangeTimezoneName": "America/New_York",
        "exchangeTimezoneShortName": "ET",
    }


def _events(bars: Bars) -> dict[str, dict[str, dict[str, object]]]:
    """``chart.result[0].events``: dividends, splits and capitalGains keyed by their ex-date's timestamp."""
    timestamps = dict(zip(bars.days, bars.ts.tolist(), strict=True))
    events: dict[str, dict[str, dict[str, object]]] = {}
    for action in bars.actions:
        ts = timestamps[action.day]
        if action.action == "split":
            numerator, denominator = (action.value, 1.0) if action.value >= 1 else (1.0, round(1 / action.value, 6))
            event: dict[str, object] = {"date": ts, "numerator": numerator, "denominator": denominator,
                                        "splitRatio": f"{numerator:g}:{denominator:g}"}  # fmt: skip
            events.setdefault("splits", {})[str(ts)] = event
        else:
            kind = "dividends" if action.action == "dividend" else "capitalGains"
            events.setdefault(kind, {})[str(ts)] = {"amount": action.value, "date": ts}
    return events


def _in_range(request: SimRequest, served: Bars, now: datetime) -> Bars | None:
    """The served bars the request's ``period1``/``period2`` or ``range`` select; None for an invalid range."""
    if request.param("period1") is not None or request.param("period2") is not None:
        start = int(float(request.param("period1") or 0))
        end = int(float(request.param("period2") or now.timestamp()))
        return served.opened_in(start, end)
    range_ = request.param("range", "1mo") or "1mo"
    if range_ in SESSION_RANGES:
        return served.tail(SESSION_RANGES[range_])
    if range_ in CALENDAR_RANGES:
        return served.between(now.date() - timedelta(days=CALENDAR_RANGES[range_]), now.date())
    if range_ == "ytd":
        return served.between(date(now.year, 1, 1), now.date())
    return served if range_ == "max" else None


def _chart_answer(request: SimRequest, meta: dict[str, object], served: Bars, now: datetime,
                  names: Collection[str]) -> SimResponse:  # fmt: skip
    """The chart answer of the ``served`` bars the request selects, without the candles fault injection removes for
    any of ``names`` (the symbol's spellings); ``meta`` holds the instrument's own fields."""
    if request.param("interval", "1d") != "1d":
        return _chart_error("Unprocessable Entity", "the simulator serves interval=1d only", 422)
    bars = _in_range(request, served, now)
    if bars is None:
        return _chart_error("Bad Request", f"Invalid input - range {request.param('range')!r}", 400)
    bars = bars.without(day for sym, day in request.missing_candles if sym in names)
    result: dict[str, object] = {"meta": {**meta, **_history_meta(served)}}
    if not len(bars):
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return SimResponse.json({"chart": {"result": [result], "error": None}})
    result["timestamp"] = bars.ts.tolist()
    if events := _events(bars):
        result["events"] = events
    quote = {name: getattr(bars, name).tolist() for name in ("open", "high", "low", "close")}
    result["indicators"] = {
        "quote": [{**quote, "volume": bars.volume.astype("int64").tolist()}],
        "adjclose": [{"adjclose": bars.adj_close.tolist()}],
    }
    return SimResponse.json({"chart": {"result": [result], "error": None}})


class YahooApp:
    """``query1``/``query2.finance.yahoo.com`` and the cookie hosts. Symbols are Yahoo's spelling (BRK-B, BTC-USD)."""

    hosts = ("query1.finance.yahoo.com", "query2.finance.yahoo.com", "fc.yahoo.com", "guce.yahoo.com",
             "consent.yahoo.com")  # fmt: skip

    def __init__(self, market: EquityMarket, crypto: CryptoMarket) -> None:
        self.market = market
        self.coins = CoinCharts(crypto)

    def handle(self, request: SimRequest) -> SimResponse:
        if request.host == "fc.yahoo.com":  # the real one answers 404, but with the A3 cookie
            return SimResponse.text("<html><body>Not Found</body></html>", 404, "text/html", COOKIE)
        if request.host in ("guce.yahoo.com", "consent.yahoo.com"):
            return SimResponse.text(CONSENT_PAGE, 200, "text/html", COOKIE)
        if request.path == "/v1/test/getcrumb":
            return SimResponse.text(CRUMB)
        if request.path.startswith("/v8/finance/chart/"):
            return self._chart(request, request.path.removeprefix("/v8/finance/chart/"))
        if request.path.startswith("/v10/finance/quoteSummary/"):
            return self._quote_summary(request.path.removeprefix("/v10/finance/quoteSummary/"))
        if request.path == "/v7/finance/quote":
            symbols = (request.param("symbols") or "").split(",")
            quotes = [_quote(i) for i in map(self._known, symbols) if i is not None]
            return SimResponse.json({"quoteResponse": {"result": quotes, "error": None}})
        if request.path.startswith("/ws/fundamentals-timeseries/v1/finance/timeseries/"):
            meta = {"symbol": [request.param("symbol")], "type": request.query.get("type", [])}
            return SimResponse.json({"timeseries": {"result": [{"meta": meta}], "error": None}})
        return SimResponse.json({"finance": {"result": None, "error": {"code": "Not Found",
                                 "description": f"HTTP 404 Not Found: {request.path}"}}}, 404)  # fmt: skip

    def _known(self, symbol: str) -> Instrument | None:
        """The instrument Yahoo knows as ``symbol`` (never a test issue)."""
        instrument = self.market.by_yahoo_symbol(symbol)
        return None if instrument is None or instrument.test_issue else instrument

    def _quote_summary(self, symbol: str) -> SimResponse:
        """Only the quoteType module: yfinance reads the time zone from it when the chart API fails."""
        instrument = self._known(symbol)
        if instrument is None:
            error = {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"}
            return SimResponse.json({"quoteSummary": {"result": None, "error": error}}, 404)
        return SimResponse.json({"quoteSummary": {"result": [{"quoteType": _quote(instrument)}], "error": None}})

    def _chart(self, request: SimRequest, symbol: str) -> SimResponse:
        instrument = self._known(symbol)
        if instrument is not None:
            now = self.market.clock.now()
            served = self.market.served_bars(instrument, now)
            return _chart_answer(request, _meta(instrument, served, now), served, now, (symbol, instrument.symbol))
        coin = self.coins.coin(symbol)
        if coin is not None:
            now = self.coins.market.clock.now()
            served = self.coins.served(coin, now)
            return _chart_answer(request, self.coins.meta(symbol, now), served, now, (symbol, symbol.replace("-", "/")))
        return SimResponse.json(NO_DATA_BODY, 404)

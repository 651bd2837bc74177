"""SEC's ticker files: company_tickers_mf.json and company_tickers_exchange.json, consistent with the directories."""

from __future__ import annotations

import re
import zlib

from lumia_assets.sim.equities import EquityMarket, Instrument
from lumia_assets.sim.protocol import SimRequest, SimResponse

CONTACT_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
SEC_EXCHANGES = {"NASDAQ": "Nasdaq", "CBOE BZX": "CBOE"}  # every NYSE venue is plain "NYSE"
UNDECLARED_TOOL_PAGE = (
    "<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head><body>"
    "<h1>Your Request Originates from an Undeclared Automated Tool</h1>"
    "<p>Please declare your traffic by updating your user agent to include company specific information.</p>"
    "</body></html>"
)


def _number(text: str) -> int:
    """A stable pseudo identifier (CIK, series or class number) for ``text``."""
    return zlib.crc32(text.encode()) % 2_000_000 + 1_000


def _fund_row(fund: Instrument) -> list[object]:
    share_class = fund.share_class_of or fund.symbol  # a renamed fund keeps its class id
    return [_number(fund.fund_family or ""), f"S{_number(fund.name):09d}", f"C{_number(share_class):09d}", fund.symbol]


def _listing_row(listing: Instrument) -> list[object]:
    return [_number(listing.name), listing.name, listing.yahoo_symbol, SEC_EXCHANGES.get(listing.exchange, "NYSE")]


class SecApp:
    """``www.sec.gov/files/...``. Like the real SEC, it refuses a User-Agent without a contact e-mail address."""

    hosts = ("www.sec.gov",)

    def __init__(self, market: EquityMarket) -> None:
        self.market = market

    def handle(self, request: SimRequest) -> SimResponse:
        agent = next((value for name, value in request.headers.items() if name.lower() == "user-agent"), "")
        if not CONTACT_ADDRESS.search(agent):
            return SimResponse.text(UNDECLARED_TOOL_PAGE, 403, "text/html")
        if request.path == "/files/company_tickers_mf.json":
            funds = [i for i in self.market.listed("mfundslist") if not i.test_issue]
            data = [_fund_row(fund) for fund in funds]
            return SimResponse.json({"fields": ["cik", "seriesId", "classId", "symbol"], "data": data})
        if request.path == "/files/company_tickers_exchange.json":
            listed = self.market.listed("nasdaqlisted") + self.market.listed("otherlisted")
            data = [_listing_row(listing) for listing in listed if not listing.test_issue]
            return SimResponse.json({"fields": ["cik", "name", "ticker", "exchange"], "data": data})
        return SimResponse.text("Not Found", 404)

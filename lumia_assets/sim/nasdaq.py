"""NASDAQ Trader's symbol directory: nasdaqlisted.txt, otherlisted.txt and mfundslist.txt, in the real format."""

from __future__ import annotations

from lumia_assets.sim.equities import NEW_YORK, EquityMarket, Instrument
from lumia_assets.sim.protocol import SimRequest, SimResponse

DIRECTORY_PATH = "/dynamic/SymDir/"
HEADERS = {
    "nasdaqlisted": "Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares",
    "otherlisted": "ACT Symbol|Security Name|Exchange|CQS Symbol|ETF|Round Lot Size|Test Issue|NASDAQ Symbol",
    "mfundslist": "Fund Symbol|Fund Name|Fund Family Name|Type|Category|Pricing Agent",
}
FOOTER_PIPES = {"nasdaqlisted": 7, "otherlisted": 6, "mfundslist": 5}  # as the real files pad them
NOT_FOUND_PAGE = "<html><head><title>404 - File or directory not found.</title></head><body></body></html>"


def _flag(value: bool) -> str:
    return "Y" if value else "N"


def directory_row(directory: str, i: Instrument) -> str:
    """One line of ``directory`` for ``i``, without its line ending."""
    etf = _flag(i.asset_class == "etf")
    if directory == "nasdaqlisted":  # the real file leaves the ETF flag of test issues blank
        return f"{i.symbol}|{i.name}|{i.exchange_code}|{_flag(i.test_issue)}|N|100|{'' if i.test_issue else etf}|N"
    if directory == "otherlisted":
        return f"{i.symbol}|{i.name}|{i.exchange_code}|{i.cqs_symbol}|{etf}|100|{_flag(i.test_issue)}|{i.nasdaq_symbol}"
    agent = "Nasdaq" if i.test_issue else "State Street Bank & Trust Company"
    return f"{i.symbol}|{i.name}|{i.fund_family}|{i.exchange_code}|O|{agent}"


class NasdaqTraderApp:
    """``www.nasdaqtrader.com/dynamic/SymDir/*.txt``: pipe-delimited, CRLF, ending in the File Creation Time footer."""

    hosts = ("www.nasdaqtrader.com", "nasdaqtrader.com")

    def __init__(self, market: EquityMarket) -> None:
        self.market = market

    def handle(self, request: SimRequest) -> SimResponse:
        directory = request.path.removeprefix(DIRECTORY_PATH).removesuffix(".txt")
        if not request.path.startswith(DIRECTORY_PATH) or directory not in HEADERS:
            return SimResponse.text(NOT_FOUND_PAGE, 404, "text/html")
        header = HEADERS[directory]
        rows = [directory_row(directory, i) for i in self.market.listed(directory)]
        stamp = self.market.clock.now().astimezone(NEW_YORK).strftime("%m%d%Y%H:%M")
        footer = f"File Creation Time: {stamp}" + "|" * FOOTER_PIPES[directory]
        return SimResponse.text("\r\n".join([header, *rows, footer]) + "\r\n")

"""The US symbol directories: NASDAQ Trader's pipe-delimited files and SEC's ticker JSON.

Parsers are pure (text in, frames with ``frames.UNIVERSE_COLUMNS`` out); fetchers take a session from
``sources.http`` and real https URLs, which the session layer routes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from lumia_assets.frames import MUTUAL_FUND_DETAIL_COLUMNS, UNIVERSE_COLUMNS
from lumia_assets.sources.errors import MalformedResponseError, SourceError, raise_for_status
from lumia_assets.sources.symbols import SymbolError, to_yahoo_symbol

SYMBOL_DIRECTORY = "https://www.nasdaqtrader.com/dynamic/SymDir"
NASDAQ_LISTED_URL = f"{SYMBOL_DIRECTORY}/nasdaqlisted.txt"
OTHER_LISTED_URL = f"{SYMBOL_DIRECTORY}/otherlisted.txt"
MUTUAL_FUNDS_URL = f"{SYMBOL_DIRECTORY}/mfundslist.txt"
SEC_MUTUAL_FUNDS_URL = "https://www.sec.gov/files/company_tickers_mf.json"
SEC_EXCHANGE_TICKERS_URL = "https://www.sec.gov/files/company_tickers_exchange.json"

NASDAQ_LISTED_HEADERS = (
    (
        "Symbol",
        "Security Name",
        "Market Category",
        "Test Issue",
        "Financial Status",
        "Round Lot Size",
        "ETF",
        "NextShares",
    ),
    ("Symbol", "Security Name", "Market Category", "Test Issue", "Financial Status", "Round Lot Size"),
)
OTHER_LISTED_HEADERS = (
    ("ACT Symbol", "Security Name", "Exchange", "CQS Symbol", "ETF", "Round Lot Size", "Test Issue", "NASDAQ Symbol"),
)
MUTUAL_FUND_HEADERS = (("Fund Symbol", "Fund Name", "Fund Family Name", "Type", "Category", "Pricing Agent"),)
OTHER_LISTED_EXCHANGES = {"N": "NYSE", "A": "NYSE AMERICAN", "P": "NYSE ARCA", "Z": "CBOE BZX", "V": "IEX"}
# Open-end mutual funds and money-market funds; UITs, annuities and collective trusts are not priced by Yahoo.
MUTUAL_FUND_TYPES = frozenset({"MF", "MS", "$$", "$S"})
TEST_FUND_FAMILY = "NASDAQ Test Funds"
FOOTER_PREFIX = "File Creation Time:"
FUND_COLUMNS = list(dict.fromkeys([*UNIVERSE_COLUMNS, *MUTUAL_FUND_DETAIL_COLUMNS]))


class DirectoryFormatError(MalformedResponseError):
    """A directory file that is empty, truncated or not in the format it should be. Names the file."""


class HttpSession(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...


def _split_rows(text: str, file_name: str, headers: Sequence[tuple[str, ...]], name_field: int, require_footer: bool):
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DirectoryFormatError(f"{file_name}: the file is empty")
    header = tuple(lines[0].split("|"))
    if header not in headers:
        raise DirectoryFormatError(f"{file_name}: unknown header {'|'.join(header)!r}")
    body = lines[1:]
    has_footer = bool(body) and body[-1].startswith(FOOTER_PREFIX)
    if has_footer:
        body.pop()
    elif require_footer:
        raise DirectoryFormatError(f"{file_name}: no '{FOOTER_PREFIX}' footer line; the download is truncated")
    if not body:
        raise DirectoryFormatError(f"{file_name}: the file has a header but no rows")
    rows = []
    for number, line in enumerate(body, start=2):
        fields = line.split("|")
        extra = len(fields) - len(header)
        if extra > 0:  # a literal '|' inside a name: the only free-text field absorbs the surplus
            fields[name_field : name_field + extra + 1] = ["|".join(fields[name_field : name_field + extra + 1])]
        elif extra < 0:
            raise DirectoryFormatError(
                f"{file_name}: line {number} has {len(fields)} fields, expected {len(header)} (truncated?): {line!r}"
            )
        rows.append(fields)
    return pd.DataFrame(rows, columns=list(header))


def _yahoo_symbols(symbols: pd.Series, file_name: str) -> pd.Series:
    try:
        return symbols.map(to_yahoo_symbol)
    except SymbolError as exc:
        raise DirectoryFormatError(f"{file_name}: {exc}") from exc


def _listing_frame(symbols, names, exchanges, is_etf, file_name: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": symbols.str.strip(),
            "asset_class": is_etf.map({True: "etf", False: "stock"}),
            "yahoo_symbol": _yahoo_symbols(symbols.str.strip(), file_name),
            "name": names.str.strip(),
            "exchange": exchanges,
            "currency": "USD",
            "source": "nasdaqtrader",
        },
        columns=list(UNIVERSE_COLUMNS),
    ).reset_index(drop=True)


def parse_nasdaq_listed(text: str, require_footer: bool = False) -> pd.DataFrame:
    """``nasdaqlisted.txt`` (8-column, or the older 6-column layout without the ETF flag), test issues dropped."""
    raw = _split_rows(text, "nasdaqlisted.txt", NASDAQ_LISTED_HEADERS, 1, require_footer)
    listed = raw[raw["Test Issue"] != "Y"]
    is_etf = listed["ETF"].eq("Y") if "ETF" in listed else pd.Series(False, index=listed.index)
    return _listing_frame(listed["Symbol"], listed["Security Name"], "NASDAQ", is_etf, "nasdaqlisted.txt")


def parse_other_listed(text: str, require_footer: bool = False) -> pd.DataFrame:
    """``otherlisted.txt`` (NYSE, NYSE American, NYSE Arca, Cboe, IEX), test issues dropped; ACT symbols kept."""
    raw = _split_rows(text, "otherlisted.txt", OTHER_LISTED_HEADERS, 1, require_footer)
    listed = raw[raw["Test Issue"] != "Y"]
    exchanges = listed["Exchange"].map(lambda code: OTHER_LISTED_EXCHANGES.get(code, code))
    return _listing_frame(
        listed["ACT Symbol"], listed["Security Name"], exchanges, listed["ETF"].eq("Y"), "otherlisted.txt"
    )


def parse_mutual_funds(text: str, require_footer: bool = False) -> pd.DataFrame:
    """``mfundslist.txt``: open-end and money-market funds, the NASDAQ test funds dropped."""
    raw = _split_rows(text, "mfundslist.txt", MUTUAL_FUND_HEADERS, 1, require_footer)
    funds = raw[raw["Type"].isin(MUTUAL_FUND_TYPES) & (raw["Fund Family Name"] != TEST_FUND_FAMILY)]
    symbols = funds["Fund Symbol"].str.strip()
    return pd.DataFrame(
        {
            "symbol": symbols,
            "asset_class": "mutual_fund",
            "yahoo_symbol": _yahoo_symbols(symbols, "mfundslist.txt"),
            "name": funds["Fund Name"].str.strip(),
            "exchange": "NMFQS",
            "currency": "USD",
            "source": "nasdaqtrader",
            "fund_family": funds["Fund Family Name"].str.strip(),
            "fund_type": funds["Type"],
            "category": funds["Category"],
            "cik": None,
            "series_id": None,
            "class_id": None,
        },
        columns=FUND_COLUMNS,
    ).reset_index(drop=True)


def _sec_table(payload: bytes | str | dict, file_name: str, fields: tuple[str, ...]) -> pd.DataFrame:
    try:
        document = json.loads(payload) if isinstance(payload, bytes | str) else payload
        table = pd.DataFrame(document["data"], columns=document["fields"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DirectoryFormatError(f"{file_name}: not SEC's {{'fields': [...], 'data': [...]}} JSON ({exc})") from exc
    missing = [f for f in fields if f not in table.columns]
    if missing:
        raise DirectoryFormatError(f"{file_name}: fields {missing} are missing")
    if table.empty:
        raise DirectoryFormatError(f"{file_name}: no rows")
    return table


def parse_sec_mutual_funds(payload: bytes | str | dict) -> pd.DataFrame:
    """``company_tickers_mf.json``: one row per fund share class (no names or families in this file)."""
    table = _sec_table(payload, "company_tickers_mf.json", ("cik", "seriesId", "classId", "symbol"))
    table = table[table["symbol"].astype(str).str.len() > 0].drop_duplicates("symbol")
    symbols = table["symbol"].astype(str).str.strip().str.upper()
    return pd.DataFrame(
        {
            "symbol": symbols,
            "asset_class": "mutual_fund",
            "yahoo_symbol": _yahoo_symbols(symbols, "company_tickers_mf.json"),
            "name": None,
            "exchange": "NMFQS",
            "currency": "USD",
            "source": "sec",
            "fund_family": None,
            "fund_type": None,
            "category": None,
            "cik": table["cik"].astype(str),
            "series_id": table["seriesId"].astype(str),
            "class_id": table["classId"].astype(str),
        },
        columns=FUND_COLUMNS,
    ).reset_index(drop=True)


def parse_sec_exchange_tickers(payload: bytes | str | dict) -> pd.DataFrame:
    """``company_tickers_exchange.json``: cik, name, ticker, exchange per listed company."""
    table = _sec_table(payload, "company_tickers_exchange.json", ("cik", "name", "ticker", "exchange"))
    return table.loc[:, ["cik", "name", "ticker", "exchange"]].reset_index(drop=True)


def download(session: HttpSession, url: str) -> str:
    """GET ``url`` and return its text, raising a source error that names the file on any failure."""
    file_name = url.rsplit("/", 1)[-1]
    try:
        response = session.get(url)
    except OSError as exc:
        raise SourceError(f"{file_name}: download failed: {exc}") from exc
    raise_for_status(response.status_code, url.split("/")[2], file_name)
    return response.text


def fetch_stock_directory(session: HttpSession) -> pd.DataFrame:
    """Stocks and ETFs from nasdaqlisted.txt and otherlisted.txt (footers required: a cut download fails)."""
    nasdaq = parse_nasdaq_listed(download(session, NASDAQ_LISTED_URL), require_footer=True)
    other = parse_other_listed(download(session, OTHER_LISTED_URL), require_footer=True)
    return pd.concat([nasdaq, other], ignore_index=True).drop_duplicates(["symbol", "asset_class"])


@dataclass(frozen=True)
class FundDirectory:
    """The fund list, the source it came from, and why the fallback was used (if it was)."""

    frame: pd.DataFrame
    source: str
    fallback_reason: str | None = None


def fetch_fund_directory(session: HttpSession) -> FundDirectory:
    """Funds from mfundslist.txt; when that file is missing, empty or truncated, from SEC's company_tickers_mf.json."""
    try:
        return FundDirectory(
            parse_mutual_funds(download(session, MUTUAL_FUNDS_URL), require_footer=True), "nasdaqtrader"
        )
    except SourceError as exc:
        reason = str(exc)
    return FundDirectory(parse_sec_mutual_funds(download(session, SEC_MUTUAL_FUNDS_URL)), "sec", reason)

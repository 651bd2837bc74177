"""Directory parsers on the real NASDAQ Trader files, their format drift, and malformed input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from lumia_assets.sources.directories import (
    DirectoryFormatError,
    parse_mutual_funds,
    parse_nasdaq_listed,
    parse_other_listed,
    parse_sec_exchange_tickers,
    parse_sec_mutual_funds,
)


@pytest.fixture(scope="module")
def symbols_dir(shared_data: Path) -> Path:
    return shared_data / "symbols"


def _read(path: Path) -> str:
    """The file's text with its line endings untouched (CRLF stays CRLF)."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.decode()


def test_the_2022_trio_parses_with_footers_and_without_test_issues(symbols_dir: Path) -> None:
    snapshot = symbols_dir / "nasdaqtrader_2022-06-02"
    nasdaq = parse_nasdaq_listed(_read(snapshot / "nasdaqlisted.txt"), require_footer=True)
    other = parse_other_listed(_read(snapshot / "otherlisted.txt"), require_footer=True)
    funds = parse_mutual_funds(_read(snapshot / "mfundslist.txt.gz"), require_footer=True)

    # 5,692 rows less 9 test issues; 6,496 less 25; PROVENANCE.txt gives the ETF counts.
    assert (len(nasdaq), (nasdaq["asset_class"] == "etf").sum()) == (5_683, 457)
    assert (len(other), (other["asset_class"] == "etf").sum()) == (6_471, 2_406)
    assert len(nasdaq) + len(other) > 12_000
    assert not {"ZAZZT", "ZXZZT", "ZZZZX"} & (set(nasdaq["symbol"]) | set(funds["symbol"]))
    assert set(funds["fund_type"]) <= {"MF", "MS", "$$", "$S"}
    assert len(funds) > 16_000
    assert "File Creation Time" not in " ".join(nasdaq["symbol"])


def test_otherlisted_keeps_act_symbols_and_stores_yahoo_spellings(symbols_dir: Path) -> None:
    other = parse_other_listed(_read(symbols_dir / "nasdaqtrader_2022-06-02" / "otherlisted.txt")).set_index("symbol")
    assert other.loc["BRK.B", "yahoo_symbol"] == "BRK-B"
    assert other.loc["ABR$D", "yahoo_symbol"] == "ABR-PD"
    assert other.loc["AAC.W", "yahoo_symbol"] == "AAC-WT"
    assert other.loc["A", ["exchange", "currency"]].tolist() == ["NYSE", "USD"]
    assert set(other["exchange"]) <= {"NYSE", "NYSE AMERICAN", "NYSE ARCA", "CBOE BZX", "IEX"}


def test_lf_line_endings_parse_the_same_as_crlf(symbols_dir: Path) -> None:
    crlf = _read(symbols_dir / "nasdaqtrader_2022-06-02" / "nasdaqlisted.txt")
    assert "\r\n" in crlf
    assert parse_nasdaq_listed(crlf.replace("\r\n", "\n")).equals(parse_nasdaq_listed(crlf))


def test_the_old_six_column_layout_without_footer_parses_as_stocks(symbols_dir: Path) -> None:
    nasdaq = parse_nasdaq_listed(_read(symbols_dir / "nasdaqtrader_2015-10-18" / "nasdaqlisted.txt"))
    assert len(nasdaq) > 3_000
    assert set(nasdaq["asset_class"]) == {"stock"}
    with pytest.raises(DirectoryFormatError, match=r"nasdaqlisted\.txt: no 'File Creation Time:' footer"):
        parse_nasdaq_listed(_read(symbols_dir / "nasdaqtrader_2015-10-18" / "nasdaqlisted.txt"), require_footer=True)


def test_fund_names_containing_a_pipe_stay_whole(symbols_dir: Path) -> None:
    funds = parse_mutual_funds(_read(symbols_dir / "nasdaqtrader_2015-10-18" / "mfundslist.txt.gz")).set_index("symbol")
    assert funds.loc["METAX", "name"] == "ALPS | Metis Global Micro Cap Fund class A"
    assert funds.loc["METAX", "fund_family"] == "Financial Investors Trust"
    assert {"METCX", "METIX"} <= set(funds.index)


def test_day_to_day_diff_finds_the_listings_and_delistings(symbols_dir: Path) -> None:
    def listed(day: str) -> set[str]:
        folder = symbols_dir / "nasdaqtrader_history_2016" / day
        nasdaq = parse_nasdaq_listed(_read(folder / "nasdaqlisted.txt"), require_footer=True)
        other = parse_other_listed(_read(folder / "otherlisted.txt"), require_footer=True)
        return set(nasdaq["symbol"]) | set(other["symbol"])

    before, after = listed("2016-02-18"), listed("2016-02-19")
    added, removed = after - before, before - after
    assert len(before) == 3_081 + 5_258
    assert len(after) == 3_080 + 5_259
    assert (added, removed) == ({"OSB"}, {"CHLN"})
    assert len(after) - len(before) == len(added) - len(removed)


def test_the_august_footer_with_fewer_pipes_is_still_a_footer(symbols_dir: Path) -> None:
    text = _read(symbols_dir / "nasdaqtrader_history_2016" / "2016-08-15" / "nasdaqlisted.txt")
    assert len(parse_nasdaq_listed(text, require_footer=True)) == 3_136


HEADER = "Symbol|Security Name|Market Category|Test Issue|Financial Status|Round Lot Size|ETF|NextShares"
FOOTER = "File Creation Time: 0602202214:01|||||||"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"nasdaqlisted\.txt: the file is empty"),
        ("\r\n\r\n", "nasdaqlisted.txt: the file is empty"),
        (f"{HEADER}\r\n{FOOTER}\r\n", "nasdaqlisted.txt: the file has a header but no rows"),
        (f"{HEADER}\r\nAAPL|Apple Inc. - Common Stock|Q|N|N|100|N|N\r\nMSFT|Micro", "nasdaqlisted.txt: no 'File"),
        ("Ticker|Name\r\nAAPL|Apple\r\n", "nasdaqlisted.txt: unknown header 'Ticker|Name'"),
        (f"{HEADER}\r\nAAPL|Apple Inc.|Q|N\r\n{FOOTER}\r\n", "nasdaqlisted.txt: line 2 has 4 fields, expected 8"),
        (f"{HEADER}\r\nAA PL|Apple Inc.|Q|N|N|100|N|N\r\n{FOOTER}\r\n", "nasdaqlisted.txt: invalid symbol 'AA PL'"),
    ],
)
def test_malformed_directory_files_are_rejected_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(DirectoryFormatError, match=message):
        parse_nasdaq_listed(text, require_footer=True)


def test_a_row_cut_mid_line_is_rejected_even_without_a_footer_rule() -> None:
    with pytest.raises(DirectoryFormatError, match="line 3 has 2 fields"):
        parse_nasdaq_listed(f"{HEADER}\nAAPL|Apple Inc.|Q|N|N|100|N|N\nMSFT|Micro\n")


def test_sec_mutual_fund_classes_parse() -> None:
    payload = {
        "fields": ["cik", "seriesId", "classId", "symbol"],
        "data": [[36405, "S000002277", "C000005930", "VFIAX"], [36405, "S000002277", "C000005931", "VFINX"]],
    }
    funds = parse_sec_mutual_funds(json.dumps(payload))
    assert funds[["symbol", "cik", "series_id", "class_id", "source"]].values.tolist() == [
        ["VFIAX", "36405", "S000002277", "C000005930", "sec"],
        ["VFINX", "36405", "S000002277", "C000005931", "sec"],
    ]


def test_sec_exchange_tickers_parse() -> None:
    payload = {"fields": ["cik", "name", "ticker", "exchange"], "data": [[320193, "Apple Inc.", "AAPL", "Nasdaq"]]}
    assert parse_sec_exchange_tickers(payload).to_dict("records") == [
        {"cik": 320193, "name": "Apple Inc.", "ticker": "AAPL", "exchange": "Nasdaq"}
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("<html>Undeclared Automated Tool</html>", "company_tickers_mf.json: not SEC's"),
        ('{"fields": ["cik", "symbol"], "data": [[1, "X"]]}', r"fields \['seriesId', 'classId'\] are missing"),
        ('{"fields": ["cik", "seriesId", "classId", "symbol"], "data": []}', "no rows"),
    ],
)
def test_malformed_sec_payloads_are_rejected_naming_the_file(payload: str, message: str) -> None:
    with pytest.raises(DirectoryFormatError, match=message):
        parse_sec_mutual_funds(payload)

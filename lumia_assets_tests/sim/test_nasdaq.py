"""NASDAQ Trader's symbol directory files, in the real format, agreeing with the market's universe."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest
import requests

from lumia_assets.sim import MarketSimulator

DIRECTORY = "/www.nasdaqtrader.com/dynamic/SymDir/"
REAL_SNAPSHOT = "symbols/nasdaqtrader_2022-06-02"


def _fetch(sim: MarketSimulator, name: str) -> bytes:
    response = requests.get(f"{sim.url}{DIRECTORY}{name}", timeout=5)
    response.raise_for_status()
    return response.content


def _parse(body: bytes) -> pd.DataFrame:
    """A plain pipe-separated parse without the footer line."""
    frame = pd.read_csv(io.BytesIO(body), sep="|", dtype=str, keep_default_na=False)
    return frame[~frame.iloc[:, 0].str.startswith("File Creation Time")]


def _real_lines(shared_data: Path, name: str) -> list[bytes]:
    """The lines of the real snapshot of ``name`` (the fund list is stored gzipped)."""
    folder = shared_data / REAL_SNAPSHOT
    body = (
        (folder / name).read_bytes()
        if name != "mfundslist.txt"
        else gzip.decompress((folder / f"{name}.gz").read_bytes())
    )
    return body.split(b"\r\n")


@pytest.mark.parametrize("name", ["nasdaqlisted.txt", "otherlisted.txt", "mfundslist.txt"])
def test_directory_files_have_the_real_header_crlf_lines_and_footer(closed_market, shared_data, name) -> None:
    body = _fetch(closed_market, name)
    lines = body.split(b"\r\n")
    real = _real_lines(shared_data, name)

    assert lines[0] == real[0]
    assert lines[-1] == real[-1] == b""
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert lines[-2] == b"File Creation Time: 0614202417:00" + b"|" * real[-2].count(b"|")


def test_directory_files_parse_back_to_the_listed_universe(closed_market: MarketSimulator) -> None:
    universe = closed_market.equities.universe()
    listed = universe[universe["delisted_on"].isna()]
    files = {name: _parse(_fetch(closed_market, f"{name}.txt")) for name in ("nasdaqlisted", "otherlisted")}
    funds = _parse(_fetch(closed_market, "mfundslist.txt"))

    assert set(files["nasdaqlisted"]["Symbol"]) == set(listed.query("directory == 'nasdaqlisted'")["symbol"])
    assert set(files["otherlisted"]["ACT Symbol"]) == set(listed.query("directory == 'otherlisted'")["symbol"])
    assert set(funds["Fund Symbol"]) == set(listed.query("directory == 'mfundslist'")["symbol"])
    etfs = pd.concat(
        [files["nasdaqlisted"].query("ETF == 'Y'")["Symbol"], files["otherlisted"].query("ETF == 'Y'")["ACT Symbol"]]
    )
    assert set(etfs) == set(listed.query("asset_class == 'etf'")["symbol"])


def test_test_issues_are_flagged_like_the_real_files(closed_market: MarketSimulator) -> None:
    nasdaq = _parse(_fetch(closed_market, "nasdaqlisted.txt")).set_index("Symbol")
    other = _parse(_fetch(closed_market, "otherlisted.txt")).set_index("ACT Symbol")

    assert nasdaq.loc["ZAZZT", "Test Issue"] == "Y" and nasdaq.loc["ZAZZT", "ETF"] == ""
    assert other.loc["ATEST", "Test Issue"] == "Y"
    assert "ZZZZX" in set(_parse(_fetch(closed_market, "mfundslist.txt"))["Fund Symbol"])


def test_otherlisted_spells_each_symbol_three_ways(closed_market: MarketSimulator) -> None:
    other = _parse(_fetch(closed_market, "otherlisted.txt")).set_index("ACT Symbol")

    assert other.loc["ABR$D", ["CQS Symbol", "NASDAQ Symbol"]].tolist() == ["ABRpD", "ABR-D"]
    assert other.loc["BRK.B", ["CQS Symbol", "NASDAQ Symbol"]].tolist() == ["BRK.B", "BRK.B"]


def test_a_delisting_takes_the_symbol_out_of_its_file(closed_market: MarketSimulator) -> None:
    victim = closed_market.equities.listed("otherlisted")[5].symbol

    closed_market.equities.delist(victim, closed_market.now.date())

    assert victim not in set(_parse(_fetch(closed_market, "otherlisted.txt"))["ACT Symbol"])


def test_an_unknown_directory_file_is_404(closed_market: MarketSimulator) -> None:
    response = requests.get(f"{closed_market.url}{DIRECTORY}nasdaqtraded.txt", timeout=5)

    assert response.status_code == 404

"""Ticker spellings: the listing's symbol to Yahoo's, from real NASDAQ Trader conventions."""

from __future__ import annotations

import pytest

from lumia_assets.sources.symbols import SymbolError, to_yahoo_symbol, validate_symbol


@pytest.mark.parametrize(
    ("listing", "yahoo"),
    [
        ("AAPL", "AAPL"),
        ("BRK.B", "BRK-B"),
        ("BF.B", "BF-B"),
        ("ABR$D", "ABR-PD"),
        ("AAIC$B", "AAIC-PB"),
        ("AAC.U", "AAC-U"),
        ("AAC.W", "AAC-WT"),
        ("AAQC.W", "AAQC-WT"),
        ("VFIAX", "VFIAX"),
    ],
)
def test_listing_symbols_are_spelled_the_yahoo_way(listing: str, yahoo: str) -> None:
    assert to_yahoo_symbol(listing) == yahoo


@pytest.mark.parametrize("bad", ["", "aapl", "AA PL", "AAPL;DROP TABLE", "A" * 17, "€UR"])
def test_implausible_symbols_are_rejected_by_name(bad: str) -> None:
    with pytest.raises(SymbolError, match="invalid symbol"):
        validate_symbol(bad)

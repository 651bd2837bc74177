"""Ticker spellings: NASDAQ Trader's ACT symbols to Yahoo's, and what a valid listing symbol looks like."""

from __future__ import annotations

import re

_LISTING_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.$^+=-]{0,15}$")
# ACT suffixes after a dot, spelled the Yahoo way: warrants are -WT, everything else keeps its letters.
_YAHOO_SUFFIX = {"W": "WT", "WS": "WT"}


class SymbolError(ValueError):
    """A symbol no listing uses."""


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` if it is a plausible listing symbol, else raise naming it."""
    if not isinstance(symbol, str) or not _LISTING_SYMBOL.match(symbol):
        raise SymbolError(
            f"invalid symbol {symbol!r}: expected 1-16 characters of A-Z, 0-9 and . $ ^ + = - (e.g. BRK.B, ABR$D)"
        )
    return symbol


def _dotted_to_yahoo(symbol: str) -> str:
    root, *suffixes = symbol.split(".")
    return "-".join([root, *(_YAHOO_SUFFIX.get(s, s) for s in suffixes)])


def to_yahoo_symbol(symbol: str) -> str:
    """Yahoo's spelling of a listing symbol: BRK.B -> BRK-B, ABR$D -> ABR-PD, AAC.W -> AAC-WT."""
    validate_symbol(symbol)
    root, preferred, series = symbol.partition("$")
    if preferred:
        return f"{_dotted_to_yahoo(root)}-P{series.replace('.', '')}"
    return _dotted_to_yahoo(symbol)

"""What gets priced: asset classes on or off, include and exclude lists, crypto quote and base currencies.

The universes always record the full directories (reference data the lifecycle needs); a selection narrows the
instruments the price assets fetch and that coverage, gaps and status count. Read from the environment:

- ``LUMIA_ASSET_CLASSES``: the classes priced (default all: ``stock,etf,mutual_fund,crypto``);
- ``LUMIA_INCLUDE`` / ``LUMIA_EXCLUDE``: symbols for every class, and ``LUMIA_INCLUDE_<CLASS>`` /
  ``LUMIA_EXCLUDE_<CLASS>`` (``STOCK``, ``ETF``, ``MUTUAL_FUND``, ``CRYPTO``) for one. A class with an include list
  prices only its members; an exclusion wins over an inclusion;
- ``LUMIA_CRYPTO_QUOTES`` / ``LUMIA_CRYPTO_BASES``: the pairs' quote and base currencies (default: any);
- ``LUMIA_CRYPTO_TOP_COINS``: only pairs whose base is one of the N largest coins by market cap (CoinGecko's rank,
  as ``crypto_coins`` last recorded it).

A list is comma- or space-separated, and an item ``@PATH`` reads a file of one symbol a line (``#`` starts a
comment). A symbol may be spelled any of the ways lumia understands: ``BRK.B``, ``BRK-B`` or ``BRK/B``; a pair
``BTC/USDT`` or ``BTC-USDT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lumia_assets.frames import ASSET_CLASSES

SEPARATORS = ".-/"
_SEPARATOR = re.compile(r"[./-]")


class SelectionError(ValueError):
    """A selection setting holds a value lumia cannot use; the message names the setting and the value."""


def spellings(symbol: str) -> tuple[str, ...]:
    """Every spelling of ``symbol`` lumia matches against the directories, the given one first: one separator
    (``.``, ``-`` or ``/``) stands for any other, so ``BRK-B`` is also ``BRK.B`` and ``BRK/B``."""
    upper = symbol.strip().upper()
    if not _SEPARATOR.search(upper):
        return (upper,)
    return tuple(dict.fromkeys([upper, *(_SEPARATOR.sub(separator, upper) for separator in SEPARATORS)]))


@dataclass(frozen=True)
class SymbolList:
    """Symbols as a setting spelled them: the setting, its raw value, and the class it applies to (None: all)."""

    setting: str
    value: str
    symbols: tuple[str, ...]
    asset_class: str | None = None

    def applies_to(self, asset_class: str) -> bool:
        return self.asset_class in (None, asset_class)


@dataclass(frozen=True)
class PriceSelection:
    """The instruments the price assets fetch and the health measures count. The default selects everything."""

    asset_classes: tuple[str, ...] = ASSET_CLASSES
    includes: tuple[SymbolList, ...] = ()
    excludes: tuple[SymbolList, ...] = ()
    crypto_quotes: tuple[str, ...] = ()
    crypto_bases: tuple[str, ...] = ()
    crypto_top_coins: int | None = None

    @property
    def everything(self) -> bool:
        """Whether nothing is narrowed (the queries then stay as they are)."""
        return self == PriceSelection()

    def classes_of(self, asset_classes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """Those of ``asset_classes`` that are priced."""
        return tuple(asset_class for asset_class in asset_classes if asset_class in self.asset_classes)

    def included(self, asset_class: str) -> tuple[str, ...] | None:
        """Every spelling of the symbols included in ``asset_class``; None when the class has no include list."""
        lists = [symbols for symbols in self.includes if symbols.applies_to(asset_class)]
        return _all_spellings(lists) if lists else None

    def excluded(self, asset_class: str) -> tuple[str, ...]:
        """Every spelling of the symbols excluded from ``asset_class``."""
        return _all_spellings([symbols for symbols in self.excludes if symbols.applies_to(asset_class)])

    def describe(self) -> str:
        """One line saying what is priced, for logs and metadata."""
        if self.everything:
            return "everything the directories list"
        parts = [f"classes {','.join(self.asset_classes)}"]
        parts += [f"{symbols.setting}: {len(symbols.symbols)} symbols" for symbols in self.includes]
        parts += [f"{symbols.setting}: {len(symbols.symbols)} excluded" for symbols in self.excludes]
        if self.crypto_quotes:
            parts.append(f"quotes {','.join(self.crypto_quotes)}")
        if self.crypto_bases:
            parts.append(f"bases {','.join(self.crypto_bases)}")
        if self.crypto_top_coins:
            parts.append(f"the top {self.crypto_top_coins} coins by market cap")
        return "; ".join(parts)


EVERYTHING = PriceSelection()


def _all_spellings(lists: list[SymbolList]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(spelling for symbols in lists for symbol in symbols.symbols for spelling in spellings(symbol))
    )


def _items(setting: str, value: str) -> list[str]:
    """The symbols of a list value: inline items and the lines of ``@PATH`` files."""
    found: list[str] = []
    for item in value.replace(",", " ").split():
        if not item.startswith("@"):
            found.append(item)
            continue
        path = Path(item[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SelectionError(f"{setting}={value!r}: cannot read {path}: {exc}") from exc
        symbols = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        if not any(symbols):
            raise SelectionError(f"{setting}={value!r}: {path} lists no symbols (one a line, # starts a comment)")
        found += [symbol for symbol in symbols if symbol]
    return found


def _symbol_list(setting: str, value: str, asset_class: str | None) -> SymbolList | None:
    if not value.strip():
        return None
    symbols = tuple(dict.fromkeys(symbol.upper() for symbol in _items(setting, value)))
    if not symbols:
        raise SelectionError(f"{setting}={value!r} lists no symbols")
    bad = [symbol for symbol in symbols if not re.fullmatch(r"[A-Z0-9][A-Z0-9.$^+=/-]{0,63}", symbol)]
    if bad:
        raise SelectionError(f"{setting}={value!r}: {', '.join(bad[:5])} is not a symbol (letters, digits, . - / $)")
    return SymbolList(setting, value, symbols, asset_class)


def _codes(setting: str, value: str) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(code.strip().upper() for code in value.replace(",", " ").split()))
    bad = [code for code in codes if not code.isalnum()]
    if bad:
        raise SelectionError(f"{setting}={value!r}: {', '.join(bad)} is not a currency code (e.g. USDT,USD)")
    return codes


def _top_coins(value: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise SelectionError(f"LUMIA_CRYPTO_TOP_COINS={value!r} is not a whole number above zero, e.g. 100")
    return int(value)


def _asset_classes(value: str) -> tuple[str, ...]:
    if not value.strip():
        return ASSET_CLASSES
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in value.replace(",", " ").split()))
    unknown = [asset_class for asset_class in chosen if asset_class not in ASSET_CLASSES]
    if unknown:
        raise SelectionError(
            f"LUMIA_ASSET_CLASSES={value!r}: unknown asset class {', '.join(unknown)}; "
            f"choose from {','.join(ASSET_CLASSES)}"
        )
    if not chosen:
        raise SelectionError(f"LUMIA_ASSET_CLASSES={value!r} selects nothing; choose from {','.join(ASSET_CLASSES)}")
    return chosen


def _not_priced(setting: str, asset_class: str, classes: tuple[str, ...]) -> SelectionError:
    return SelectionError(f"{setting} is set but {asset_class} is not in LUMIA_ASSET_CLASSES={','.join(classes)}")


def selection_from_env(env: Mapping[str, str]) -> PriceSelection:
    """The selection the ``LUMIA_*`` selection settings of ``env`` describe, validated: a ``SelectionError`` names
    the setting and the value (an unknown asset class, an unreadable or empty file, a list for an unpriced class)."""
    classes = _asset_classes(env.get("LUMIA_ASSET_CLASSES", ""))
    lists: dict[str, list[SymbolList]] = {"INCLUDE": [], "EXCLUDE": []}
    for kind, found in lists.items():
        for asset_class in (None, *ASSET_CLASSES):
            setting = f"LUMIA_{kind}" + (f"_{asset_class.upper()}" if asset_class else "")
            symbols = _symbol_list(setting, env.get(setting, ""), asset_class)
            if symbols is not None and asset_class is not None and asset_class not in classes:
                raise _not_priced(setting, asset_class, classes)
            if symbols is not None:
                found.append(symbols)
    quotes = _codes("LUMIA_CRYPTO_QUOTES", env.get("LUMIA_CRYPTO_QUOTES", ""))
    bases = _codes("LUMIA_CRYPTO_BASES", env.get("LUMIA_CRYPTO_BASES", ""))
    top = _top_coins(env.get("LUMIA_CRYPTO_TOP_COINS", ""))
    narrowing = {"LUMIA_CRYPTO_QUOTES": quotes, "LUMIA_CRYPTO_BASES": bases, "LUMIA_CRYPTO_TOP_COINS": top}
    for setting, value in narrowing.items():
        if value and "crypto" not in classes:
            raise _not_priced(setting, "crypto", classes)
    return PriceSelection(classes, tuple(lists["INCLUDE"]), tuple(lists["EXCLUDE"]), quotes, bases, top)

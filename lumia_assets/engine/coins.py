"""Which CoinGecko coin each crypto base stands for. CoinGecko's tickers are ambiguous (several ids share ``eth``;
bridged and wrapped twins, or unrelated tokens), so a base is never mapped by the first match:

1. a mapping the user gives (``LUMIA_COINGECKO_IDS``, ``BASE=coin-id``) wins;
2. a ticker with one coin maps to it;
3. a ticker several coins share maps to the one with the largest market cap, when there is one; without a
   market cap to tell them apart, the base stays unmapped and is reported, until the user maps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from lumia_assets.frames import COIN_COLUMNS
from lumia_assets.sources.coingecko import SOURCE


class UnknownCoinError(ValueError):
    """A mapping the user gave names a coin id CoinGecko does not list."""


@dataclass
class CoinChoices:
    """The chosen coin per base (``COIN_COLUMNS`` rows), and the bases left unmapped, with why."""

    coins: pd.DataFrame
    unmapped: dict[str, str] = field(default_factory=dict)  # base -> why

    @property
    def ambiguous(self) -> int:
        """Bases whose ticker several coins share (mapped or not)."""
        resolved = int((self.coins["candidates"] > 1).sum())
        return resolved + sum(why.startswith("ambiguous") for why in self.unmapped.values())


def candidate_ids(bases: Sequence[str], listed: pd.DataFrame) -> list[str]:
    """The coin ids of ``listed`` (``coin_list`` rows) whose ticker is one of ``bases``: those whose market caps
    decide."""
    return sorted(listed.loc[listed["symbol"].isin(set(bases)), "coin_id"].unique())


def _chosen(base: str, candidates: pd.DataFrame, overrides: Mapping[str, str]) -> tuple[pd.Series | None, str]:
    """The candidate row ``base`` maps to and how it was decided, or None and why not."""
    if base in overrides:
        return candidates.iloc[0], "override"
    if candidates.empty:
        return None, "not on CoinGecko"
    if len(candidates) == 1:
        return candidates.iloc[0], "only"
    ranked = candidates.sort_values("market_cap_usd", ascending=False, na_position="last")
    caps = ranked["market_cap_usd"].tolist()
    if pd.isna(caps[0]) or (len(caps) > 1 and caps[0] == caps[1]):
        ids = ", ".join(candidates["coin_id"])
        return None, f"ambiguous: {ids} share the ticker and no market cap tells them apart; set LUMIA_COINGECKO_IDS"
    return ranked.iloc[0], "market_cap"


def choose_coins(
    bases: Sequence[str],
    listed: pd.DataFrame,
    caps: pd.DataFrame,
    overrides: Mapping[str, str],
    fetched_at: datetime,
) -> CoinChoices:
    """Map each of ``bases`` to a coin of ``listed`` (``coin_list`` rows), by ``overrides``, then by ticker and
    market cap (``caps``: ``market_caps`` rows). An override naming an id CoinGecko does not list is an error."""
    unknown = sorted(set(overrides.values()) - set(listed["coin_id"]))
    if unknown:
        raise UnknownCoinError(f"LUMIA_COINGECKO_IDS names coin ids CoinGecko does not list: {', '.join(unknown)}")
    table = listed.merge(caps, on="coin_id", how="left")
    rows, unmapped = [], {}
    for base in bases:
        matches = table[table["symbol"] == base]
        candidates = table[table["coin_id"] == overrides[base]] if base in overrides else matches
        row, how = _chosen(base, candidates, overrides)
        if row is None:
            unmapped[base] = how
            continue
        rows.append({"base": base, "coin_id": row["coin_id"], "name": row["name"],
                     "market_cap_usd": row["market_cap_usd"], "market_cap_rank": row["market_cap_rank"],
                     "candidates": len(matches), "resolved_by": how, "source": SOURCE,
                     "fetched_at": fetched_at})  # fmt: skip
    return CoinChoices(pd.DataFrame(rows, columns=list(COIN_COLUMNS)), unmapped)

"""Mapping crypto bases to CoinGecko coins: a user's mapping, then the only coin, then the largest market cap."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from lumia_assets.engine.coins import UnknownCoinError, candidate_ids, choose_coins

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LISTED = pd.DataFrame(
    [("bridged-eth", "ETH", "Bridged Ether"), ("ethereum", "ETH", "Ethereum"), ("bitcoin", "BTC", "Bitcoin"),
     ("pepe-a", "PEPE", "Pepe A"), ("pepe-b", "PEPE", "Pepe B")],
    columns=["coin_id", "symbol", "name"],
)  # fmt: skip
CAPS = pd.DataFrame(
    [("bridged-eth", 4e6, 900), ("ethereum", 4e11, 2), ("bitcoin", 2e12, 1)],
    columns=["coin_id", "market_cap_usd", "market_cap_rank"],
)


def _choose(bases: list[str], overrides: dict[str, str] | None = None, caps: pd.DataFrame = CAPS):
    return choose_coins(bases, LISTED, caps, overrides or {}, NOW)


def test_the_largest_market_cap_wins_whatever_the_list_order() -> None:
    choices = _choose(["ETH", "BTC"])

    coins = choices.coins.set_index("base")
    assert coins.loc["ETH", ["coin_id", "resolved_by", "candidates"]].tolist() == ["ethereum", "market_cap", 2]
    assert coins.loc["BTC", ["coin_id", "resolved_by", "candidates"]].tolist() == ["bitcoin", "only", 1]
    assert choices.unmapped == {} and choices.ambiguous == 1


def test_a_users_mapping_wins() -> None:
    coins = _choose(["ETH"], {"ETH": "bridged-eth"}).coins.set_index("base")

    assert coins.loc["ETH", ["coin_id", "resolved_by"]].tolist() == ["bridged-eth", "override"]


def test_a_tie_without_market_caps_stays_unmapped_and_says_why() -> None:
    choices = _choose(["PEPE", "DOGE"])

    assert choices.coins.empty
    assert choices.unmapped["DOGE"] == "not on CoinGecko"
    assert (
        choices.unmapped["PEPE"].startswith("ambiguous: pepe-a, pepe-b")
        and "LUMIA_COINGECKO_IDS" in choices.unmapped["PEPE"]
    )
    assert choices.ambiguous == 1


def test_a_mapping_to_an_unlisted_id_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownCoinError, match="no-such-coin"):
        _choose(["ETH"], {"ETH": "no-such-coin"})


def test_candidates_are_every_id_sharing_a_ticker() -> None:
    assert candidate_ids(["ETH", "PEPE"], LISTED) == ["bridged-eth", "ethereum", "pepe-a", "pepe-b"]

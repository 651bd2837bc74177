"""The crypto universe: the spot markets of several ccxt exchanges combined into one row per pair."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import requests

from lumia_assets.frames import CRYPTO_DETAIL_COLUMNS, UNIVERSE_COLUMNS
from lumia_assets.sources.exchanges import fetch_spot_markets, make_exchange


def combine_spot_markets(markets_by_exchange: Mapping[str, pd.DataFrame], order: Sequence[str]) -> pd.DataFrame:
    """One row per BASE/QUOTE pair; ``exchanges`` lists every exchange listing it, in ``order``.

    The primary exchange of a pair is the first exchange in ``order`` that lists it, and the pair's
    universe row (name, currency, exchange) comes from that exchange.
    """
    columns = list(dict.fromkeys([*UNIVERSE_COLUMNS, *CRYPTO_DETAIL_COLUMNS]))
    frames = [markets_by_exchange[exchange_id].assign(_rank=rank) for rank, exchange_id in enumerate(order)]
    if not frames:
        return pd.DataFrame(columns=columns)
    stacked = pd.concat(frames, ignore_index=True).sort_values(["symbol", "_rank"])
    listing = stacked.groupby("symbol", sort=True)["primary_exchange"].agg(",".join).rename("exchanges")
    primary = stacked.drop_duplicates("symbol", keep="first").set_index("symbol").drop(columns="exchanges")
    combined = primary.join(listing).reset_index()
    combined["exchange"] = combined["primary_exchange"]
    return combined[columns].reset_index(drop=True)


def fetch_crypto_universe(exchange_ids: Sequence[str], new_session: Callable[[], requests.Session]) -> pd.DataFrame:
    """Load the spot markets of every exchange in ``exchange_ids`` (primary first) and combine them."""
    markets = {
        exchange_id: fetch_spot_markets(make_exchange(exchange_id, new_session())) for exchange_id in exchange_ids
    }
    return combine_spot_markets(markets, exchange_ids)

"""CoinGecko's public API v3: the coin list, market caps, and each coin's dollar price by UTC day.

CoinGecko quotes one aggregated dollar price per coin, not one exchange's trades: a witness for the stored candles,
never a source of them. Its tickers are ambiguous (several coin ids share ``eth``), so this module only reports the
candidates; choosing between them is ``coin_choices``' job. Requests go through the session layer, whose budget
for ``api.coingecko.com`` keeps under the 50 calls a minute of the free tier; a demo key, when configured, goes in
the ``x-cg-demo-api-key`` header.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import requests

from lumia_assets.frames import REFERENCE_PRICE_COLUMNS
from lumia_assets.sources.errors import MalformedResponseError, NoDataError, raise_for_status

API = "https://api.coingecko.com/api/v3"
KEY_HEADER = "x-cg-demo-api-key"
SOURCE = "coingecko"
MARKETS_PAGE = 250  # ids per /coins/markets call
DAY = timedelta(days=1)
# a day's price is CoinGecko's point nearest to the following 00:00 UTC, at most this far from it (hourly points of
# the real API fall a few minutes past the hour)
CLOSE_TOLERANCE = timedelta(minutes=30)
# The public and demo plans answer ranges starting at most 365 days back (older: 401, error code 10012); a day's
# price is the next midnight's point, asked from 30 minutes before it, so the oldest day served is 364 days back.
PUBLIC_HISTORY_DAYS = 364
COIN_LIST_COLUMNS = ["coin_id", "symbol", "name"]
MARKET_COLUMNS = ["coin_id", "market_cap_usd", "market_cap_rank"]


def oldest_served_day(today: date) -> date:
    """The oldest UTC day whose price the public and demo plans serve."""
    return today - timedelta(days=PUBLIC_HISTORY_DAYS)


def key_headers(api_key: str | None) -> dict[str, str]:
    """The headers that carry a demo API key (none without one)."""
    return {KEY_HEADER: api_key} if api_key else {}


def _get(session: requests.Session, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
    response = session.get(f"{API}{path}", params=params)
    if response.status_code == 404:
        raise NoDataError(what, "unknown_symbol", f"CoinGecko has no {what}: {response.text[:200]}")
    raise_for_status(response.status_code, "api.coingecko.com", what)
    try:
        return response.json()
    except ValueError as exc:
        raise MalformedResponseError(f"CoinGecko's answer for {what} is not JSON: {response.text[:200]!r}") from exc


def coin_list(session: requests.Session) -> pd.DataFrame:
    """Every coin CoinGecko lists: ``coin_id``, ``symbol`` (upper case, as the exchanges spell bases) and ``name``."""
    body = _get(session, "/coins/list", "coin list")
    if not isinstance(body, list) or not all(isinstance(c, dict) and {"id", "symbol", "name"} <= c.keys()
                                             for c in body):  # fmt: skip
        raise MalformedResponseError("CoinGecko's /coins/list is not a list of {id, symbol, name}")
    frame = pd.DataFrame(body, columns=["id", "symbol", "name"]).rename(columns={"id": "coin_id"})
    return frame.assign(symbol=frame["symbol"].astype(str).str.upper())[COIN_LIST_COLUMNS]


def market_caps(session: requests.Session, coin_ids: Sequence[str]) -> pd.DataFrame:
    """The current dollar market cap and rank of each coin of ``coin_ids`` CoinGecko has, 250 ids per call; a coin
    without a market cap is missing from the answer."""
    frames = []
    for first in range(0, len(coin_ids), MARKETS_PAGE):
        chunk = list(coin_ids[first : first + MARKETS_PAGE])
        params = {"vs_currency": "usd", "ids": ",".join(chunk), "per_page": MARKETS_PAGE, "page": 1}
        body = _get(session, "/coins/markets", f"markets of {len(chunk)} coins", params)
        try:
            frames.append(pd.DataFrame([{"coin_id": str(row["id"]), "market_cap_usd": row.get("market_cap"),
                                         "market_cap_rank": row.get("market_cap_rank")} for row in body],
                                       columns=MARKET_COLUMNS))  # fmt: skip
        except (TypeError, KeyError, AttributeError) as exc:
            raise MalformedResponseError(f"CoinGecko's /coins/markets answer is malformed: {exc}") from exc
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MARKET_COLUMNS)
    return frame.astype({"market_cap_usd": "float64", "market_cap_rank": "Int64"})


def _points(body: Any, name: str, coin_id: str) -> pd.Series:
    """One of a chart's ``[[ms, value], ...]`` lists as values by tz-aware time."""
    points = body.get(name) if isinstance(body, dict) else None
    if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise MalformedResponseError(f"CoinGecko's chart of {coin_id} has no {name} list of [ms, value] pairs")
    if not points:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz=UTC))
    times = pd.to_datetime([p[0] for p in points], unit="ms", utc=True)
    return pd.Series(pd.to_numeric([p[1] for p in points], errors="coerce"), index=times, dtype="float64")


def _at_day_ends(series: pd.Series, days: list[date]) -> pd.Series:
    """The value of ``series`` nearest to the end of each day (the next 00:00 UTC), within ``CLOSE_TOLERANCE``."""
    if series.empty:
        return pd.Series(float("nan"), index=days, dtype="float64")
    ends = pd.DatetimeIndex([datetime(d.year, d.month, d.day, tzinfo=UTC) + DAY for d in days])
    nearest = series.sort_index().reindex(ends, method="nearest", tolerance=CLOSE_TOLERANCE)
    return pd.Series(nearest.to_numpy(), index=days, dtype="float64")


def day_closes(session: requests.Session, coin_id: str, first: date, last: date) -> pd.DataFrame:
    """The coin's dollar price, 24-hour volume and market cap at the end of each UTC day ``first``..``last``
    (``REFERENCE_PRICE_COLUMNS``), from one ``market_chart/range`` call; days CoinGecko has no price for are left
    out, and a coin with none is a genuine "no data"."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) + DAY - CLOSE_TOLERANCE
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + DAY + CLOSE_TOLERANCE
    params = {"vs_currency": "usd", "from": int(start.timestamp()), "to": int(end.timestamp())}
    body = _get(session, f"/coins/{coin_id}/market_chart/range", f"coin {coin_id}", params)
    days = list(pd.date_range(first, last, freq="D").date)
    frame = pd.DataFrame({
        "coin_id": coin_id,
        "date": days,
        "price_usd": _at_day_ends(_points(body, "prices", coin_id), days).to_numpy(),
        "volume_usd": _at_day_ends(_points(body, "total_volumes", coin_id), days).to_numpy(),
        "market_cap_usd": _at_day_ends(_points(body, "market_caps", coin_id), days).to_numpy(),
        "source": SOURCE,
        "fetched_at": datetime.now(UTC),
    })  # fmt: skip
    frame = frame[frame["price_usd"].notna()]
    if frame.empty:
        raise NoDataError(coin_id, "no_bars", f"CoinGecko has no price of {coin_id} from {first} to {last}")
    bad = frame[frame["price_usd"] <= 0]
    if not bad.empty:
        raise MalformedResponseError(f"CoinGecko's price of {coin_id} on {bad['date'].iloc[0]} is not positive")
    return frame[list(REFERENCE_PRICE_COLUMNS)].reset_index(drop=True)

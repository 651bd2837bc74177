"""CoinGecko's answers parsed strictly: a day's price is the point nearest its end, malformed answers are errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests

from lumia_assets.sources.coingecko import coin_list, day_closes, market_caps
from lumia_assets.sources.errors import MalformedResponseError, NoDataError, PermanentUpstreamError


class Answering(requests.Session):
    """A session answering every GET with one canned body (the parsers' unit tests; the end-to-end tests use the
    simulator)."""

    def __init__(self, body: Any, status: int = 200) -> None:
        super().__init__()
        self.body, self.status = body, status

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code = self.status
        response._content = (self.body if isinstance(self.body, str) else json.dumps(self.body)).encode()
        return response


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_a_days_price_is_the_point_nearest_the_next_midnight() -> None:
    prices = [[_ms(2026, 11, 1, 23), 99.0], [_ms(2026, 11, 2, 0, 3), 100.0], [_ms(2026, 11, 3, 0, 40), 120.0]]
    body = {"prices": prices, "market_caps": [[t, v * 10] for t, v in prices],
            "total_volumes": [[t, v * 2] for t, v in prices]}  # fmt: skip
    frame = day_closes(Answering(body), "ethereum", date(2026, 11, 1), date(2026, 11, 2))

    assert frame["date"].tolist() == [date(2026, 11, 1)]  # 2 Nov's nearest point is 40 minutes off: no price
    assert frame[["price_usd", "market_cap_usd", "volume_usd"]].iloc[0].tolist() == [100.0, 1000.0, 200.0]
    assert frame["source"].eq("coingecko").all()


def test_a_chart_without_prices_is_no_data_and_a_broken_one_malformed() -> None:
    days = (date(2026, 11, 1), date(2026, 11, 2))
    with pytest.raises(NoDataError):
        day_closes(Answering({"prices": [], "market_caps": [], "total_volumes": []}), "ethereum", *days)
    with pytest.raises(MalformedResponseError, match="ethereum"):
        day_closes(Answering({"prices": "soon"}), "ethereum", *days)
    with pytest.raises(MalformedResponseError, match="not JSON"):
        day_closes(Answering("<html>maintenance</html>"), "ethereum", *days)


def test_lists_are_checked_and_a_refusal_is_permanent() -> None:
    listed = coin_list(Answering([{"id": "ethereum", "symbol": "eth", "name": "Ethereum"}]))
    assert listed.to_dict("records") == [{"coin_id": "ethereum", "symbol": "ETH", "name": "Ethereum"}]
    with pytest.raises(MalformedResponseError, match="coins/list"):
        coin_list(Answering({"coins": []}))
    with pytest.raises(PermanentUpstreamError, match="401"):
        market_caps(Answering({"status": {"error_code": 10002}}, status=401), ["ethereum"])

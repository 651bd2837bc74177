"""The simulator's CoinGecko: ambiguous tickers, daily and hourly chart points that agree with the dollar pairs,
the demo-key rule, and errors in CoinGecko's shapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta

import pytest

from lumia_assets.sim.crypto import DOLLARS
from lumia_assets_tests.sim.conftest import AFTER_THE_CLOSE


def _get(sim, path: str, headers: dict[str, str] | None = None) -> tuple[int, object]:
    request = urllib.request.Request(f"{sim.url}/api.coingecko.com/api/v3{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _chart(sim, coin_id: str, start: datetime, end: datetime) -> dict:
    status, body = _get(sim, f"/coins/{coin_id}/market_chart/range?vs_currency=usd&from={int(start.timestamp())}"
                              f"&to={int(end.timestamp())}")  # fmt: skip
    assert status == 200, body
    return body


def test_tickers_are_shared_and_the_twin_sorts_first(frozen_sim) -> None:
    status, listed = _get(frozen_sim, "/coins/list")

    assert status == 200
    eth = [coin["id"] for coin in listed if coin["symbol"] == "eth"]
    assert eth == ["bridged-eth", "ethereum"]
    _, markets = _get(frozen_sim, "/coins/markets?vs_currency=usd&ids=bridged-eth,ethereum")
    caps = {row["id"]: row["market_cap"] for row in markets}
    assert caps["ethereum"] > 100 * caps["bridged-eth"]
    assert [row["id"] for row in markets] == ["ethereum", "bridged-eth"]  # by market cap, largest first


def test_daily_points_are_day_closes_of_every_dollar_pair(frozen_sim) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)

    body = _chart(frozen_sim, "ethereum", start, end)

    points = {datetime.fromtimestamp(ms / 1000, UTC).date(): price for ms, price in body["prices"]}
    assert len(points) == (end - start).days + 1 and all(
        datetime.fromtimestamp(ms / 1000, UTC).hour == 0 for ms, _ in body["prices"]
    )
    may_31 = frozen_sim.crypto.coin_days("ETH", date(2024, 5, 31), date(2024, 5, 31))["close"].iloc[0]
    assert points[date(2024, 6, 1)] == pytest.approx(may_31)
    for exchange in ("binance", "kraken", "coinbaseexchange"):
        for pair in frozen_sim.crypto.pairs(exchange):
            if pair.base == "ETH" and pair.quote in DOLLARS and pair.listed_on is None:
                close = frozen_sim.crypto.daily_candles(exchange, pair.symbol, date(2024, 5, 31), date(2024, 5, 31))
                assert close["close"].iloc[0] == pytest.approx(may_31, rel=0.002)


def test_short_ranges_are_hourly_and_midnight_is_the_days_close(frozen_sim) -> None:
    start, end = datetime(2024, 5, 30, 12, tzinfo=UTC), datetime(2024, 6, 1, 12, tzinfo=UTC)

    body = _chart(frozen_sim, "bitcoin", start, end)

    assert len(body["prices"]) == 49 and len(body["market_caps"]) == len(body["total_volumes"]) == 49
    midnight = dict(map(tuple, body["prices"]))[int(datetime(2024, 6, 1, tzinfo=UTC).timestamp() * 1000)]
    assert midnight == pytest.approx(
        frozen_sim.crypto.coin_days("BTC", date(2024, 5, 31), date(2024, 5, 31))["close"].iloc[0]
    )


def test_nothing_is_served_past_the_clock(frozen_sim) -> None:
    body = _chart(frozen_sim, "bitcoin", datetime(2024, 6, 14, tzinfo=UTC), datetime(2024, 6, 20, tzinfo=UTC))

    assert max(ms for ms, _ in body["prices"]) <= AFTER_THE_CLOSE.timestamp() * 1000


def test_errors_come_in_coingeckos_shapes(frozen_sim) -> None:
    assert _get(frozen_sim, "/coins/no-such-coin/market_chart/range?vs_currency=usd&from=0&to=1") == (
        404, {"error": "coin not found"}
    )  # fmt: skip
    status, body = _get(frozen_sim, "/coins/list", {"x-cg-demo-api-key": "nope"})
    assert status == 401 and body["status"]["error_code"] == 10002
    assert _get(frozen_sim, "/coins/list", {"x-cg-demo-api-key": "CG-demo"})[0] == 200


def test_history_older_than_365_days_is_refused_as_on_the_public_plans(frozen_sim) -> None:
    start = AFTER_THE_CLOSE - timedelta(days=366)
    status, body = _get(frozen_sim, f"/coins/bitcoin/market_chart/range?vs_currency=usd&from={int(start.timestamp())}"
                                    f"&to={int(AFTER_THE_CLOSE.timestamp())}")  # fmt: skip

    assert status == 401 and body["error"]["status"]["error_code"] == 10012
    assert "past 365 days" in body["error"]["status"]["error_message"]

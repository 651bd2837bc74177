"""Fault injection through the whole price path: the warehouse ends up equal to the truth, or with reported gaps."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest

from lumia_assets.defs.prices.assets import crypto_daily_prices, equity_daily_prices
from lumia_assets.sources.ratelimit import host_rate
from lumia_assets_tests.defs.prices_helpers import (
    PRICE_VALUES,
    active_equities,
    crypto_truth,
    equity_truth,
    load_universes,
    materialize,
    metadata_of,
    settings_for,
    stored_prices,
)

EQUITY = ("stock", "etf", "mutual_fund")
START, END = date(2024, 5, 1), date(2024, 5, 31)
YAHOO = "query2.finance.yahoo.com"
BINANCE = "api.binance.com"

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(sim, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = replace(
        settings_for(sim, warehouse_url),
        rate_limits="",  # the production budgets
        http_timeout=1.0,
        retry_max_seconds=30.0,
        breaker_cooldown_seconds=60.0,
    )
    load_universes(settings)
    sim.server.log.clear()
    return settings


def _assert_equities_equal_the_truth(sim, warehouse_url: str, symbols: set[str] | None = None) -> None:
    stored = stored_prices(warehouse_url, EQUITY)[["symbol", "date", *PRICE_VALUES]]
    wanted = symbols if symbols is not None else set(active_equities(warehouse_url)["symbol"])
    truth = equity_truth(sim, sorted(wanted), START, END)
    pd.testing.assert_frame_equal(
        stored[stored["symbol"].isin(wanted)].reset_index(drop=True), truth, check_dtype=False
    )


def test_a_429_storm_completes_and_the_limiter_converges_below_the_servers_limit(sim, warehouse_url, settings):
    sim.rate_limits.set(YAHOO, 4.0, burst=2, retry_after=1, ban_after=12)  # below our 5 rps budget

    result = materialize(settings, [equity_daily_prices], START, END)

    assert result.success
    _assert_equities_equal_the_truth(sim, warehouse_url)
    statuses = [r.status for r in sim.requests(host=YAHOO)]
    assert 418 not in statuses, "the limiter must never ignore Retry-After long enough to be banned"
    # At most the opening burst (our Yahoo burst is 10 against the server's 2) and a few learning cycles.
    assert statuses.count(429) <= host_rate(YAHOO).burst + 3, "learning the limit costs a few 429s, not a share"
    # The last third is about 23 requests, so a share under 1% would allow none; on a loaded machine (two workers,
    # one of them running test_topology's services) a stall can bunch the requests queued behind it into one 429.
    adapted = statuses[2 * len(statuses) // 3 :]
    assert adapted.count(429) <= 1, "once adapted, at most one 429 (a stall), not a share"


def test_5xx_and_timeouts_on_a_fifth_of_requests_complete_after_retries(sim, warehouse_url, settings) -> None:
    sim.faults.inject(YAHOO, "status", status=503, probability=0.1, path_contains="/v8/finance/chart/")
    sim.faults.inject(YAHOO, "timeout", delay=1.5, probability=0.1, path_contains="/v8/finance/chart/")

    result = materialize(settings, [equity_daily_prices], START, END)

    assert result.success
    _assert_equities_equal_the_truth(sim, warehouse_url)
    assert metadata_of(result, equity_daily_prices)["symbols_failed"] == 0


@pytest.mark.parametrize("kind", ["malformed", "truncated", "html"])
def test_a_broken_answer_is_rejected_with_a_clear_error_and_never_stored(sim, warehouse_url, settings, kind) -> None:
    victim = active_equities(warehouse_url).query("asset_class == 'stock'")["symbol"].iloc[0]
    yahoo_symbol = sim.equities.universe().set_index("symbol").loc[victim, "yahoo_symbol"]
    sim.faults.inject(YAHOO, kind, path_contains=f"/v8/finance/chart/{yahoo_symbol}")

    result = materialize(settings, [equity_daily_prices], START, END)

    assert result.success  # one symbol of ~60 failing keeps the success rate above 95%
    metadata = metadata_of(result, equity_daily_prices)
    assert metadata["symbols_failed"] == 1
    assert victim in metadata["failed_sample"] and "Malformed" in metadata["failed_sample"]
    assert victim not in set(stored_prices(warehouse_url, EQUITY)["symbol"])
    _assert_equities_equal_the_truth(sim, warehouse_url, set(active_equities(warehouse_url)["symbol"]) - {victim})


def _crypto_run(sim, settings, start: date, end: date):
    config = {"ops": {"crypto_daily_prices": {"config": {"min_success_rate": 0.0}}}}
    return materialize(settings, [crypto_daily_prices], start, end, run_config=config)


@pytest.mark.parametrize(("status", "named"), [(503, "503"), (451, "HTTP 451")])
def test_a_failing_primary_exchange_fails_over_to_the_next_one(sim, warehouse_url, settings, status, named) -> None:
    start, end = date.today() - timedelta(days=20), date.today() - timedelta(days=2)
    sim.faults.inject(BINANCE, "status", status=status)

    result = _crypto_run(sim, settings, start, end)

    metadata = metadata_of(result, crypto_daily_prices)
    stored = stored_prices(warehouse_url, ("crypto",))
    assert BINANCE not in set(stored["source"]) and "binance" not in set(stored["source"])
    binance_only = (
        set(sim.crypto.markets("binance")["symbol"])
        - set(sim.crypto.markets("kraken")["symbol"])
        - set(sim.crypto.markets("coinbaseexchange")["symbol"])
    )
    failed_over = set(stored["symbol"])
    assert failed_over and failed_over.isdisjoint(binance_only)
    for source, rows in stored.groupby("source"):
        truth = crypto_truth(sim, str(source), sorted(set(rows["symbol"])), start, end)
        pd.testing.assert_frame_equal(rows[["symbol", "date", *PRICE_VALUES]].reset_index(drop=True), truth,
                                      check_dtype=False)  # fmt: skip
    assert named in metadata["failed_sample"]
    assert BINANCE in metadata["failed_sample"]
    if status == 451:
        assert [r.status for r in sim.requests(host=BINANCE)] == [451], "a refusal is never retried, nor asked again"
    else:
        transitions = metadata["upstream_policy"][BINANCE]["breaker_transitions"]
        assert {"from": "closed", "to": "open"} in [{k: t[k] for k in ("from", "to")} for t in transitions]

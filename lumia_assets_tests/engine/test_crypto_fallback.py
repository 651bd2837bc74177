"""``CryptoFetch``'s opt-in Yahoo fallback against the simulator, with the real ccxt and yfinance clients: asked
only for a dollar pair every exchange failed for, and its rows say they are Yahoo's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lumia_assets.engine.batches import Instrument
from lumia_assets.engine.crypto_fetch import CryptoFetch
from lumia_assets.sim import MarketSimulator
from lumia_assets.sim.yahoo import NO_DATA_BODY
from lumia_assets.sources.errors import MalformedResponseError, RangeNotServedError, TransientUpstreamError
from lumia_assets.sources.http import HttpClient
from lumia_assets_tests.test_lazy_imports import loaded_after

YAHOO, KRAKEN, COINBASE, BINANCE = "query2.finance.yahoo.com", "api.kraken.com", "api.exchange.coinbase.com", \
    "api.binance.com"  # fmt: skip
NOW = datetime(2024, 6, 14, 18, 0, tzinfo=UTC)
TODAY = NOW.date()
FIRST = TODAY - timedelta(days=10)
BTC_USD = Instrument("BTC/USD", "crypto", "BTC/USD", ("kraken", "coinbaseexchange"))


@pytest.fixture
def clocked(sim: MarketSimulator, tmp_path, monkeypatch) -> MarketSimulator:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))  # yfinance's caches
    sim.set_clock(NOW)
    return sim


@pytest.fixture
def failing(clocked: MarketSimulator) -> MarketSimulator:
    """Kraken's and Coinbase's candle endpoints fail; their markets still load."""
    clocked.faults.inject(KRAKEN, "status", status=503, path_contains="/0/public/OHLC")
    clocked.faults.inject(COINBASE, "status", status=500, path_contains="/candles")
    return clocked


def _fetch(sim: MarketSimulator, fallbacks: tuple[str, ...] = ()) -> CryptoFetch:
    return CryptoFetch(HttpClient(sim.url, timeout=10), fallbacks)


def _asked_yahoo(sim: MarketSimulator) -> list[str]:
    return [record.path for record in sim.requests() if "yahoo" in record.host]


def test_without_the_fallback_a_pair_every_exchange_failed_for_stays_failed(failing: MarketSimulator) -> None:
    with pytest.raises(TransientUpstreamError, match=r"kraken: .*503.*; coinbaseexchange: .*500"):
        _fetch(failing)(BTC_USD, FIRST, TODAY - timedelta(days=1))

    assert _asked_yahoo(failing) == []


def test_with_the_fallback_the_pair_comes_from_yahoo_once_every_exchange_failed(failing: MarketSimulator) -> None:
    history = _fetch(failing, ("yahoo",))(BTC_USD, FIRST, TODAY)  # through today: its open candle is never kept

    bars = history.bars
    truth = failing.crypto.coin_days("BTC", FIRST, TODAY)
    assert list(bars["date"]) == list(truth.index) and TODAY not in set(bars["date"])
    assert bars["close"].tolist() == truth["close"].tolist()
    assert set(bars["source"]) == {"yahoo"}
    charts = [r for r in failing.requests(host=YAHOO) if "/v8/finance/chart/" in r.path]
    assert [r.path for r in charts] == ["/v8/finance/chart/BTC-USD"]
    kraken, coinbase = failing.requests(KRAKEN, "OHLC"), failing.requests(COINBASE, "candles")
    assert kraken and coinbase
    assert charts[0].ts > max(r.ts for r in kraken + coinbase), "Yahoo is asked only after every exchange failed"


def test_a_pair_an_exchange_answers_for_never_asks_yahoo(clocked: MarketSimulator) -> None:
    clocked.faults.inject(KRAKEN, "status", status=503, path_contains="/0/public/OHLC")

    history = _fetch(clocked, ("yahoo",))(BTC_USD, FIRST, TODAY - timedelta(days=1))

    assert set(history.bars["source"]) == {"coinbaseexchange"}
    assert _asked_yahoo(clocked) == []


def test_a_pair_quoted_in_anything_but_dollars_never_falls_back(clocked: MarketSimulator) -> None:
    clocked.faults.inject(BINANCE, "status", status=503, path_contains="/klines")
    tether = Instrument("ETH/USDT", "crypto", "ETH/USDT", ("binance",))

    with pytest.raises(TransientUpstreamError, match="binance"):
        _fetch(clocked, ("yahoo",))(tether, FIRST, TODAY - timedelta(days=1))

    assert _asked_yahoo(clocked) == []


def test_a_range_no_exchange_serves_never_falls_back(clocked: MarketSimulator) -> None:
    kraken_only = Instrument("DOT/USD", "crypto", "DOT/USD", ("kraken",))  # Kraken keeps its newest 720 days only

    with pytest.raises(RangeNotServedError):
        _fetch(clocked, ("yahoo",))(kraken_only, TODAY - timedelta(days=800), TODAY - timedelta(days=790))

    assert _asked_yahoo(clocked) == []


@pytest.mark.parametrize(("status", "body", "said"), [(404, NO_DATA_BODY, "No data found"), (503, None, "503")])
def test_yahoo_failing_or_without_data_adds_to_the_exchanges_failure(failing, status, body, said) -> None:
    failing.faults.inject(YAHOO, "status", status=status, body=body, path_contains="/v8/finance/chart/")

    with pytest.raises(TransientUpstreamError, match=rf"kraken: .*; yahoo: .*{said}"):
        _fetch(failing, ("yahoo",))(BTC_USD, FIRST, TODAY - timedelta(days=1))


def test_a_malformed_yahoo_answer_is_an_error_not_rows(failing: MarketSimulator) -> None:
    failing.faults.inject(YAHOO, "malformed", path_contains="/v8/finance/chart/BTC-USD")

    with pytest.raises(MalformedResponseError, match="BTC-USD is malformed"):
        _fetch(failing, ("yahoo",))(BTC_USD, FIRST, TODAY - timedelta(days=1))


def test_the_fallback_loads_yfinance_only_when_a_pair_needs_it() -> None:
    statement = (
        "from lumia_assets.engine.crypto_fetch import CryptoFetch\n"
        "from lumia_assets.sources.http import HttpClient\n"
        "CryptoFetch(HttpClient(), ['yahoo'])"
    )
    assert loaded_after(statement) == {"ccxt"}

"""The session layer: upstream routing, redirects, User-Agent and per-host counters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from lumia_assets.sources.errors import TransientUpstreamError
from lumia_assets.sources.http import HttpClient, rewrite_url, upstream_host


class _RecordingHandler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        if self.path.startswith("/fc.yahoo.com/"):
            self.send_response(302)
            self.send_header("Location", "https://guce.yahoo.com/consent?x=1")
            self.end_headers()
            return
        status = 429 if "limited" in self.path else 200
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    _RecordingHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://query2.finance.yahoo.com/v8/finance/chart/BRK-B?interval=1d&period1=1",
            "http://127.0.0.1:8765/query2.finance.yahoo.com/v8/finance/chart/BRK-B?interval=1d&period1=1",
        ),
        ("https://fc.yahoo.com", "http://127.0.0.1:8765/fc.yahoo.com/"),
        ("https://api.binance.com:443/api/v3/klines", "http://127.0.0.1:8765/api.binance.com:443/api/v3/klines"),
    ],
)
def test_every_https_request_is_routed_under_the_upstream_url(url: str, expected: str) -> None:
    assert rewrite_url(url, "http://127.0.0.1:8765") == expected


def test_without_an_upstream_requests_go_to_the_real_host() -> None:
    url = "https://www.sec.gov/files/company_tickers_mf.json"
    assert rewrite_url(url, None) == url


def test_an_already_routed_url_is_left_alone() -> None:
    routed = "http://127.0.0.1:8765/www.sec.gov/files/company_tickers_mf.json"
    assert rewrite_url(routed, "http://127.0.0.1:8765") == routed


def test_upstream_host_rejects_a_relative_url() -> None:
    with pytest.raises(ValueError, match="not an absolute URL"):
        upstream_host("/v8/finance/chart/AAPL")


def test_requests_session_routes_sends_user_agent_and_counts_per_host(loopback: str) -> None:
    client = HttpClient(upstream_url=loopback, user_agent="lumia-test admin@example.com", timeout=5)
    session = client.requests_session()
    assert session.get("https://www.sec.gov/files/company_tickers_mf.json").text == "ok"
    with pytest.raises(TransientUpstreamError, match=r"api\.binance\.com answered HTTP 429"):
        session.get("https://api.binance.com/api/v3/limited")

    assert _RecordingHandler.seen == [
        ("/www.sec.gov/files/company_tickers_mf.json", "lumia-test admin@example.com"),
        ("/api.binance.com/api/v3/limited", "lumia-test admin@example.com"),
    ]
    stats = client.stats.snapshot()
    assert stats["www.sec.gov"].requests == 1
    assert stats["api.binance.com"].status_429 == 1
    assert client.stats.totals().requests == 2


@pytest.mark.parametrize("flavour", ["requests_session", "yfinance_session"])
def test_redirects_to_real_hosts_are_routed_too(loopback: str, flavour: str) -> None:
    client = HttpClient(upstream_url=loopback, timeout=5)
    session = getattr(client, flavour)()
    response = session.get("https://fc.yahoo.com")
    assert response.status_code == 200
    assert [path for path, _ in _RecordingHandler.seen] == ["/fc.yahoo.com/", "/guce.yahoo.com/consent?x=1"]


def test_connection_failures_are_counted_as_errors() -> None:
    client = HttpClient(upstream_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(Exception):  # noqa: B017 - any transport error will do
        client.requests_session().get("https://api.kraken.com/0/public/AssetPairs")
    assert client.stats.snapshot()["api.kraken.com"].errors == 1

"""Alert rendering and delivery: log, webhook and Slack sinks against real loopback HTTP servers."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from lumia_assets.engine.notifications import (
    REDACTED_WEBHOOK,
    Alert,
    LogSink,
    SlackSink,
    WebhookSink,
    deliver,
    secret_pattern,
    sinks_from_settings,
)
from lumia_assets.settings import Settings, SettingsError

LOGGER = logging.getLogger("lumia_assets_tests.alerts")
SECRET_PATH, TOKEN = "B0F1/s3cr3t-path", "t0k3n-XyZ-42"
ALERT = Alert(
    title="OHLC sanity failed",
    asset="daily_prices",
    partition="2024-12-03",
    check="ohlc_sanity",
    severity="ERROR",
    message="1 of 9 bars break OHLC sanity",
    sample=[{"symbol": "AAPL", "date": "2024-12-03", "high": 8.0, "low": 9.0, "reason": "low > high"}],
    run_id="4f1c",
    url="http://dagster.local/runs/4f1c",
)


@dataclass
class Receiver:
    """A loopback HTTP server answering every POST with ``status`` and ``body``, recording what it got."""

    status: int = 200
    body: dict[str, object] = field(default_factory=lambda: {"ok": True})
    requests: list[dict[str, object]] = field(default_factory=list)
    url: str = ""


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)})
            answer = json.dumps(receiver.body).encode()
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def test_text_names_asset_partition_check_and_the_failing_sample() -> None:
    text = ALERT.text()
    assert text.splitlines()[:3] == [
        "[ERROR] OHLC sanity failed",
        "asset: daily_prices | partition: 2024-12-03 | check: ohlc_sanity",
        "1 of 9 bars break OHLC sanity",
    ]
    assert "  - symbol=AAPL, date=2024-12-03, high=8.0, low=9.0, reason=low > high" in text
    assert text.endswith("run: 4f1c\nhttp://dagster.local/runs/4f1c")


def test_text_shows_the_first_sample_rows_only() -> None:
    many = Alert(title="t", asset="a", check="c", severity="WARN", message="m", sample=[{"n": i} for i in range(25)])
    lines = many.text().splitlines()
    assert "partition: -" in lines[1]
    assert lines[-2:] == ["  - n=9", "  ... and 15 more"]


def test_log_sink_logs_at_the_alert_severity(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    assert LogSink(LOGGER).send(ALERT)
    assert LogSink(LOGGER).send(Alert(title="w", asset="a", check="c", severity="WARN", message="m"))
    assert [(r.levelno, r.getMessage().splitlines()[0]) for r in caplog.records] == [
        (logging.ERROR, "[ERROR] OHLC sanity failed"),
        (logging.WARNING, "[WARN] w"),
    ]


def test_webhook_sink_posts_the_text_and_the_alert_as_json() -> None:
    with receiving(Receiver()) as receiver:
        assert WebhookSink(receiver.url + "hooks/T0/secret", timeout=5).send(ALERT)
    [request] = receiver.requests
    assert request["path"] == "/hooks/T0/secret"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"]["text"] == ALERT.text()
    assert request["json"]["alert"] == {
        "title": "OHLC sanity failed",
        "asset": "daily_prices",
        "partition": "2024-12-03",
        "check": "ohlc_sanity",
        "severity": "ERROR",
        "message": "1 of 9 bars break OHLC sanity",
        "sample": ALERT.sample,
        "run_id": "4f1c",
        "url": "http://dagster.local/runs/4f1c",
    }


def _url_fragments(url: str) -> list[str]:
    """The pieces of a webhook URL no log line may hold: its host, port, secret path segments and token."""
    parts = urlsplit(url)
    return [parts.hostname or "", str(parts.port), *SECRET_PATH.split("/"), f"token={TOKEN}", TOKEN]


def _refused(url: str) -> requests.RequestException:
    try:
        requests.post(url, timeout=2)
    except requests.RequestException as exc:
        return exc
    raise AssertionError(f"nothing should listen at {url}")


def test_webhook_failures_are_logged_never_raised_and_never_name_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with receiving(Receiver(status=500)) as receiver:
        answering_500 = f"{receiver.url}hooks/T0/{SECRET_PATH}?token={TOKEN}"
        assert not WebhookSink(answering_500, logger=LOGGER).send(ALERT)
    closed_port = f"{_closed_port_url()}/{SECRET_PATH}?token={TOKEN}"
    assert not WebhookSink(closed_port, timeout=2, logger=LOGGER).send(ALERT)

    assert [r.getMessage() for r in caplog.records] == [
        "alert 'OHLC sanity failed' not delivered to the webhook (<webhook URL redacted>): "
        "HTTP 500 Internal Server Error",
        "alert 'OHLC sanity failed' not delivered to the webhook (<webhook URL redacted>): "
        "ConnectionError: [Errno 111] Connection refused",
    ]
    for fragment in _url_fragments(answering_500) + _url_fragments(closed_port):
        assert fragment not in caplog.text


def test_requests_error_texts_lose_the_url_and_every_piece_of_it() -> None:
    url = f"{_closed_port_url()}/{SECRET_PATH}?token={TOKEN}"
    refused = str(_refused(url))
    assert TOKEN in refused  # requests and urllib3 quote host, port, path and query: what the redaction is for

    redacted = secret_pattern(url).sub(REDACTED_WEBHOOK, refused)

    assert "Max retries exceeded with url: <webhook URL redacted> " in redacted
    assert redacted.endswith('[Errno 111] Connection refused"))')
    assert not [fragment for fragment in _url_fragments(url) if fragment in redacted]
    http_error = f"500 Server Error: Internal Server Error for url: {url}"
    assert secret_pattern(url).sub(REDACTED_WEBHOOK, http_error) == (
        "500 Server Error: Internal Server Error for url: <webhook URL redacted>"
    )


def test_a_webhook_url_that_cannot_be_parsed_is_refused_without_quoting_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMIA_ALERT_WEBHOOK_URL", f"https://[hooks.example.com/{SECRET_PATH}")

    with pytest.raises(SettingsError) as refused:
        Settings.from_env()

    assert str(refused.value) == (
        "LUMIA_ALERT_WEBHOOK_URL is not a valid URL (check its [brackets]); its value is not shown"
    )
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_slack_sink_posts_to_the_channel() -> None:
    with receiving(Receiver(body={"ok": True, "channel": "C1", "ts": "1.0"})) as receiver:
        assert SlackSink("xoxb-test", "#alerts", base_url=receiver.url).send(ALERT)
    [request] = receiver.requests
    assert request["path"] == "/chat.postMessage"
    assert request["headers"]["Authorization"] == "Bearer xoxb-test"
    assert request["json"] == {"channel": "#alerts", "text": ALERT.text()}


def test_slack_errors_are_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    with receiving(Receiver(body={"ok": False, "error": "channel_not_found"})) as receiver:
        assert not SlackSink("xoxb-test", "#nowhere", base_url=receiver.url, logger=LOGGER).send(ALERT)
    assert not SlackSink("xoxb-test", "#alerts", base_url=_closed_port_url() + "/", timeout=2, logger=LOGGER).send(
        ALERT
    )
    ours = [r.getMessage() for r in caplog.records if r.name == LOGGER.name]
    assert len(ours) == 2
    assert "channel_not_found" in ours[0]


def test_sinks_from_settings_always_log_and_add_what_is_configured() -> None:
    assert [type(s) for s in sinks_from_settings(None, None, None, LOGGER)] == [LogSink]
    assert [type(s) for s in sinks_from_settings("http://hook", "xoxb", "#alerts", LOGGER)] == [
        LogSink,
        WebhookSink,
        SlackSink,
    ]
    with pytest.raises(ValueError, match="slack_channel is not set"):
        sinks_from_settings(None, "xoxb", None, LOGGER)


def test_deliver_reaches_every_sink_and_counts_deliveries(caplog: pytest.LogCaptureFixture) -> None:
    with receiving(Receiver()) as receiver:
        sinks = [LogSink(LOGGER), WebhookSink(receiver.url), WebhookSink(_closed_port_url(), timeout=2, logger=LOGGER)]
        assert deliver(ALERT, sinks) == 2
    assert len(receiver.requests) == 1

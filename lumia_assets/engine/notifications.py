"""Alerts: a failed check rendered for a person, delivered to every configured sink.

Delivery never raises: a sink that cannot deliver logs why and reports ``False``, so a broken webhook can't
fail the run or sensor that raised the alert. The log sink is always there, so no alert is ever silent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.utils import requote_uri

_LOG = logging.getLogger(__name__)
SAMPLE_ROWS_SHOWN = 10
REDACTED_WEBHOOK = "<webhook URL redacted>"
SHORTEST_SECRET = 4  # shorter pieces of a URL ("/", "T0") hold no secret, and replacing them would garble the text


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One failed check. ``severity`` is Dagster's check severity name (``ERROR``, ``WARN``)."""

    title: str
    asset: str
    partition: str | None = None
    check: str
    severity: str
    message: str
    sample: list[dict[str, object]] = field(default_factory=list)
    run_id: str | None = None
    url: str | None = None

    def text(self) -> str:
        """A plain-text message naming the asset, partition and check, with the first failing sample rows."""
        lines = [
            f"[{self.severity}] {self.title}",
            f"asset: {self.asset} | partition: {self.partition or '-'} | check: {self.check}",
            self.message,
        ]
        if self.sample:
            lines.append(f"failing sample ({len(self.sample)} rows):")
            lines += [f"  - {_row(row)}" for row in self.sample[:SAMPLE_ROWS_SHOWN]]
            if len(self.sample) > SAMPLE_ROWS_SHOWN:
                lines.append(f"  ... and {len(self.sample) - SAMPLE_ROWS_SHOWN} more")
        lines += [f"run: {self.run_id}"] if self.run_id else []
        lines += [self.url] if self.url else []
        return "\n".join(lines)

    def payload(self) -> dict[str, object]:
        """The JSON body a webhook receives: the rendered ``text`` and every field under ``alert``."""
        return {"text": self.text(), "alert": asdict(self)}


def _row(row: object) -> str:
    return ", ".join(f"{key}={value}" for key, value in row.items()) if isinstance(row, dict) else str(row)


class AlertSink(Protocol):
    """Somewhere alerts go. ``send`` returns whether the alert was delivered and never raises."""

    def send(self, alert: Alert) -> bool: ...


class LogSink:
    """Logs the alert's text at its severity's level (unknown severities log as warnings)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def send(self, alert: Alert) -> bool:
        level = logging.getLevelNamesMapping().get(alert.severity.upper(), logging.WARNING)
        self.logger.log(level, alert.text())
        return True


class WebhookSink:
    """POSTs ``Alert.payload()`` as JSON; any non-2xx answer or transport error is logged as undelivered.

    The URL is a secret (Slack-style webhooks carry their token in the path or query): no log line names any
    part of it.
    """

    def __init__(self, url: str, timeout: float = 10.0, logger: logging.Logger = _LOG) -> None:
        self.url, self.timeout, self.logger = url, timeout, logger
        self._secret = secret_pattern(url)  # a URL that can't be parsed is refused here, not at delivery

    def send(self, alert: Alert) -> bool:
        try:
            response = requests.post(
                self.url,
                data=json.dumps(alert.payload(), default=str),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            reason = self._secret.sub(REDACTED_WEBHOOK, failure_reason(exc))
            self.logger.warning("alert %r not delivered to the webhook (%s): %s", alert.title, REDACTED_WEBHOOK, reason)
            return False
        return True


def failure_reason(exc: requests.RequestException) -> str:
    """What went wrong, without the URL requests puts in its messages: the HTTP status, or the transport error's
    root cause (e.g. ``ConnectionError: [Errno 111] Connection refused``)."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    root: BaseException = exc
    while (cause := root.__cause__ or root.__context__) is not None:
        root = cause
    return f"{type(exc).__name__}: {str(root) or type(root).__name__}"


def secret_pattern(url: str) -> re.Pattern[str]:
    """A case-insensitive pattern of ``url`` and its pieces, as given and as requests sends it, longest first:
    one pass replaces each piece whole and never finds one again inside a replacement. ``ValueError`` when
    ``url`` can't be parsed."""
    pieces = {piece for piece in (*_url_pieces(url), *_url_pieces(requote_uri(url))) if len(piece) >= SHORTEST_SECRET}
    return re.compile("|".join(re.escape(piece) for piece in sorted(pieces, key=len, reverse=True)), re.IGNORECASE)


def _url_pieces(url: str) -> Iterator[str]:
    """The parts of ``url`` an error message may quote: whole, without its scheme, netloc, host, port, path, query."""
    parts = urlsplit(url)
    host_port = parts.netloc.rpartition("@")[2]
    location = parts.path + (f"?{parts.query}" if parts.query else "")
    yield from (url, url.partition("://")[2], parts.netloc, host_port, location, parts.query)
    yield from (parts.hostname or "", parts.username or "", parts.password or "", *parts.path.split("/"))
    yield from (value for _, value in parse_qsl(parts.query))
    if port := re.search(r":(\d+)$", host_port):
        yield from (f"port={port[1]}", port[0])


SLACK_API = "https://slack.com/api/"  # slack_sdk.WebClient.BASE_URL


class SlackSink:
    """Posts the alert's text to a Slack channel with a bot token (``chat.postMessage``)."""

    def __init__(
        self,
        token: str,
        channel: str,
        *,
        base_url: str = SLACK_API,
        timeout: int = 10,
        logger: logging.Logger = _LOG,
    ) -> None:
        from slack_sdk import WebClient  # loads only where Slack is configured

        self.client = WebClient(token=token, base_url=base_url, timeout=timeout)
        self.channel, self.logger = channel, logger

    def send(self, alert: Alert) -> bool:
        from slack_sdk.errors import SlackClientError

        try:
            self.client.chat_postMessage(channel=self.channel, text=alert.text())
        except (SlackClientError, OSError) as exc:
            self.logger.warning("alert %r not delivered to Slack channel %s: %s", alert.title, self.channel, exc)
            return False
        return True


def sinks_from_settings(
    webhook_url: str | None, slack_token: str | None, slack_channel: str | None, logger: logging.Logger
) -> list[AlertSink]:
    """The log sink, plus a webhook and Slack where configured. Slack needs both token and channel: one alone
    raises ``ValueError`` rather than dropping alerts silently."""
    if bool(slack_token) != bool(slack_channel):
        missing = "slack_channel" if slack_token else "slack_token"
        raise ValueError(f"Slack alerts need both a token and a channel; {missing} is not set")
    sinks: list[AlertSink] = [LogSink(logger)]
    if webhook_url:
        sinks.append(WebhookSink(webhook_url, logger=logger))
    if slack_token and slack_channel:
        sinks.append(SlackSink(slack_token, slack_channel, logger=logger))
    return sinks


def deliver(alert: Alert, sinks: Sequence[AlertSink]) -> int:
    """Send ``alert`` to every sink; returns how many delivered it."""
    return sum(sink.send(alert) for sink in sinks)

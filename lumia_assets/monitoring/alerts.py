"""Alerts: a failed check rendered for a person, delivered to every configured sink.

Delivery never raises: a sink that cannot deliver logs why and reports ``False``, so a broken webhook can't
fail the run or sensor that raised the alert. The log sink is always there, so no alert is ever silent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

_LOG = logging.getLogger(__name__)
SAMPLE_ROWS_SHOWN = 10


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
    """POSTs ``Alert.payload()`` as JSON; any non-2xx answer or transport error is logged as undelivered."""

    def __init__(self, url: str, timeout: float = 10.0, logger: logging.Logger = _LOG) -> None:
        self.url, self.timeout, self.logger = url, timeout, logger

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
            # The URL's path often holds a secret token: name the host only.
            host = urlsplit(self.url).netloc
            self.logger.warning("alert %r not delivered to the webhook at %s: %s", alert.title, host, exc)
            return False
        return True


class SlackSink:
    """Posts the alert's text to a Slack channel with a bot token (``chat.postMessage``)."""

    def __init__(
        self,
        token: str,
        channel: str,
        *,
        base_url: str = WebClient.BASE_URL,
        timeout: int = 10,
        logger: logging.Logger = _LOG,
    ) -> None:
        self.client = WebClient(token=token, base_url=base_url, timeout=timeout)
        self.channel, self.logger = channel, logger

    def send(self, alert: Alert) -> bool:
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

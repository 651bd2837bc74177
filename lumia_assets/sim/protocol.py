"""The contract between the simulator's HTTP server and the upstream apps it hosts.

Each simulated upstream (NASDAQ Trader, SEC, Yahoo, Binance, Kraken, Coinbase) is a :class:`HostApp`:
it answers :class:`SimRequest` objects for the hosts it names with :class:`SimResponse` objects.
The server owns routing, rate limits, fault injection and the request log; apps own formats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from urllib.parse import parse_qs


@dataclass(frozen=True)
class SimRequest:
    """One upstream request as the simulator received it, already split from its ``/HOST`` prefix."""

    method: str
    host: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    missing_candles: frozenset[tuple[str, date]] = frozenset()

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def candle_missing(self, symbol: str, day: date) -> bool:
        """True when fault injection says this host must not serve ``symbol``'s candle for ``day``."""
        return (symbol, day) in self.missing_candles


@dataclass(frozen=True)
class SimResponse:
    """What an app answers: status, body bytes and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> SimResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
    ) -> SimResponse:
        return cls(status, text.encode(), {"Content-Type": content_type, **(headers or {})})


class HostApp(Protocol):
    """A simulated upstream. ``hosts`` lists the real host names it answers for."""

    hosts: tuple[str, ...]

    def handle(self, request: SimRequest) -> SimResponse: ...

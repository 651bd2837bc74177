"""What can go wrong upstream, told apart so nothing transient is ever mistaken for "no data".

* :class:`NoDataError`: the upstream answered, and it has nothing for this symbol or range.
* :class:`TransientUpstreamError`: 429, 5xx, timeouts, resets. Retry later; never "no data".
* :class:`PermanentUpstreamError`: the upstream refuses us (451 geo-block, 401/403). Don't retry.
* :class:`MalformedResponseError`: the body is not what the protocol promises. Never stored.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

NoDataKind = Literal["unknown_symbol", "delisted", "no_bars"]


class SourceError(RuntimeError):
    """Base of every error a source raises."""


class NoDataError(SourceError):
    """The upstream has no data for ``symbol`` (in the asked range)."""

    def __init__(
        self, symbol: str, kind: NoDataKind, detail: str, listed_on: date | None = None, name: str | None = None
    ) -> None:
        super().__init__(f"{symbol}: {detail}")
        self.symbol = symbol
        self.kind = kind
        self.detail = detail
        self.listed_on = listed_on  # the first trading day, when the upstream told it
        self.name = name  # the instrument's name, when the upstream told it


class TransientUpstreamError(SourceError):
    """A failure that says nothing about the data: rate limits, server errors, network trouble."""


class PermanentUpstreamError(SourceError):
    """The upstream refuses to serve us at all; retrying will not help."""


class RangeNotServedError(SourceError):
    """The source cannot serve the asked range at all (Kraken keeps only its newest 720 daily candles)."""


class MalformedResponseError(SourceError):
    """A response whose body does not follow the upstream's protocol."""


def raise_for_status(status: int, host: str, what: str) -> None:
    """Raise the right error for a non-2xx HTTP ``status`` from ``host`` while fetching ``what``."""
    if 200 <= status < 300:
        return
    message = f"{host} answered HTTP {status} for {what}"
    if status in (418, 429) or status >= 500:
        raise TransientUpstreamError(message)
    if status >= 400:
        raise PermanentUpstreamError(message)
    raise MalformedResponseError(f"{message}: not a final answer")


class UnknownExchangeError(ValueError):
    """An exchange id ccxt does not know."""

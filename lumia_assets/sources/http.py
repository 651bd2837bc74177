"""The one HTTP session layer that every upstream request goes through.

It owns, for every source (yfinance, ccxt, plain directory downloads):

* routing: with ``LUMIA_UPSTREAM_URL`` set, ``https://HOST/PATH?QUERY`` is sent to
  ``$LUMIA_UPSTREAM_URL/HOST/PATH?QUERY`` instead, redirects included;
* timeouts and the User-Agent;
* per-host counters (requests, errors, 429s, latency) that assets attach to their metadata;
* the :class:`UpstreamPolicy` seam, where rate budgets, retries and circuit breakers plug in.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http.cookiejar import Cookie
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests

from lumia_assets.settings import DEFAULT_USER_AGENT, Settings
from lumia_assets.sources.errors import PermanentUpstreamError, TransientUpstreamError

if TYPE_CHECKING:
    from lumia_assets.sources.curl_session import RoutedCurlSession

ResponseT = TypeVar("ResponseT")
MAX_REDIRECTS = 10


def upstream_host(url: str) -> str:
    """The real upstream host a URL is meant for (``query2.finance.yahoo.com``)."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    return host


def rewrite_url(url: str, upstream_url: str | None) -> str:
    """Route ``https://HOST/PATH?QUERY`` to ``UPSTREAM/HOST/PATH?QUERY`` when an upstream is configured."""
    if not upstream_url or url.startswith(upstream_url + "/"):
        return url
    parts = urlsplit(url)
    rewritten = f"{upstream_url}/{parts.netloc}{parts.path or '/'}"
    return f"{rewritten}?{parts.query}" if parts.query else rewritten


@dataclass
class HostStats:
    """What one upstream host did during a run."""

    requests: int = 0
    errors: int = 0  # transport failures and 5xx answers
    status_429: int = 0
    status_4xx: int = 0
    latency_seconds: float = 0.0


class RequestStats:
    """Thread-safe per-host counters, shared by every session one :class:`HttpClient` builds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hosts: dict[str, HostStats] = {}

    def record(self, host: str, status: int | None, elapsed: float) -> None:
        """Count one attempt; ``status`` is None when the request never got an answer."""
        with self._lock:
            stats = self._hosts.setdefault(host, HostStats())
            stats.requests += 1
            stats.latency_seconds += elapsed
            if status is None or status >= 500:
                stats.errors += 1
            elif status == 429:
                stats.status_429 += 1
            elif status >= 400:
                stats.status_4xx += 1

    def snapshot(self) -> dict[str, HostStats]:
        """A copy of the counters, per host."""
        with self._lock:
            return {host: HostStats(**asdict(stats)) for host, stats in self._hosts.items()}

    def totals(self) -> HostStats:
        """All hosts added together."""
        total = HostStats()
        for stats in self.snapshot().values():
            total.requests += stats.requests
            total.errors += stats.errors
            total.status_429 += stats.status_429
            total.status_4xx += stats.status_4xx
            total.latency_seconds += stats.latency_seconds
        return total


def raise_for_failure(host: str, status: int, url: str) -> None:
    """Turn answers that say nothing about the data into errors, so no client can mistake them for "no data".

    429/418 and 5xx (after the policy's retries) are transient; 451 is a permanent refusal. Every other status,
    404 included, is returned to the client, which knows what it means for its protocol.
    """
    if status in (418, 429) or status >= 500:
        raise TransientUpstreamError(f"{host} answered HTTP {status} for {url}")
    if status == 451:
        raise PermanentUpstreamError(
            f"{host} answered HTTP 451 (unavailable for legal reasons: blocked from this location) for {url}; "
            "not retried"
        )


class UpstreamPolicy(Protocol):
    """Decides how one logical request to ``host`` is attempted: rate budget, retries, circuit breaker."""

    def call(self, host: str, attempt: Callable[[], ResponseT]) -> ResponseT: ...

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per host: what the policy did (rates, waits, breaker states), for materialization metadata."""
        ...


class PassThroughPolicy:
    """One attempt, no waiting: the policy when nothing stricter is configured."""

    def call(self, host: str, attempt: Callable[[], ResponseT]) -> ResponseT:
        return attempt()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {}


def replace_cookie_domain(cookie: Cookie, domain: str) -> Cookie:
    """A copy of ``cookie`` filed under ``domain``."""
    rehomed = copy.copy(cookie)
    rehomed.domain = domain
    return rehomed


class UpstreamRouting:
    """Behaviour shared by both session flavours: rewrite, time out, count, and apply the policy."""

    _upstream_url: str | None
    _timeout: float
    _stats: RequestStats
    _policy: UpstreamPolicy

    def _configure(self, upstream_url: str | None, timeout: float, stats: RequestStats, policy: UpstreamPolicy) -> None:
        self._upstream_url = upstream_url
        self._timeout = timeout
        self._stats = stats
        self._policy = policy

    def _routed(self, method: str, url: str, send: Callable[..., Any], **kwargs: Any) -> Any:
        host = upstream_host(url)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        response = self._policy.call(host, lambda: self._attempt(host, method, url, send, **kwargs))
        raise_for_failure(host, response.status_code, url)
        return response

    def _attempt(self, host: str, method: str, url: str, send: Callable[..., Any], **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            response = send(method, rewrite_url(url, self._upstream_url), **kwargs)
        except Exception:
            self._stats.record(host, None, time.monotonic() - started)
            raise
        self._stats.record(host, response.status_code, time.monotonic() - started)
        return response


class RoutedSession(UpstreamRouting, requests.Session):
    """A ``requests`` session for plain downloads and for ccxt (``exchange.session``)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        method_name = method.decode() if isinstance(method, bytes) else method
        target = url.decode() if isinstance(url, bytes) else url
        return self._routed(method_name, target, super().request, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # Redirects re-enter here without passing through request(): rewrite them too.
        if request.url and self._upstream_url and not request.url.startswith(self._upstream_url):
            request.url = rewrite_url(request.url, self._upstream_url)
        return super().send(request, **kwargs)


class HttpClient:
    """Builds the sessions every source uses, all sharing one set of counters and one policy."""

    def __init__(
        self,
        upstream_url: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = 30.0,
        policy: UpstreamPolicy | None = None,
    ) -> None:
        self.upstream_url = upstream_url.rstrip("/") if upstream_url else None
        self.user_agent = user_agent
        self.timeout = timeout
        self.policy: UpstreamPolicy = policy or PassThroughPolicy()
        self.stats = RequestStats()

    @classmethod
    def from_settings(cls, settings: Settings, policy: UpstreamPolicy | None = None) -> HttpClient:
        """A client configured from LUMIA_UPSTREAM_URL, LUMIA_USER_AGENT and LUMIA_HTTP_TIMEOUT."""
        return cls(settings.upstream_url, settings.user_agent, settings.http_timeout, policy)

    def requests_session(self, headers: Mapping[str, str] | None = None) -> RoutedSession:
        """A session for plain downloads and ccxt, sending our User-Agent."""
        session = RoutedSession()
        session._configure(self.upstream_url, self.timeout, self.stats, self.policy)
        session.headers.update({"User-Agent": self.user_agent, **(headers or {})})
        return session

    def yfinance_session(self) -> RoutedCurlSession:
        """A session for yfinance's ``session=``: impersonates a browser like yfinance's own default."""
        from lumia_assets.sources.curl_session import RoutedCurlSession  # curl_cffi loads in equity steps only

        session = RoutedCurlSession(impersonate="chrome")
        session._configure(self.upstream_url, self.timeout, self.stats, self.policy)
        return session

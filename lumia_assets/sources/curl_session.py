"""The curl_cffi session yfinance fetches through, routed like every other upstream request.

A module of its own so that curl_cffi loads only where a Yahoo session is built (the equity steps).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from curl_cffi import requests as curl_requests

from lumia_assets.sources.http import MAX_REDIRECTS, UpstreamRouting, replace_cookie_domain, upstream_host


class RoutedCurlSession(UpstreamRouting, curl_requests.Session):
    """A browser-impersonating curl_cffi session for yfinance (Yahoo rejects plain TLS fingerprints)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> curl_requests.Response:
        follow = kwargs.pop("allow_redirects", True)
        response = self._routed(method, url, super().request, *args, allow_redirects=False, **kwargs)
        for _ in range(MAX_REDIRECTS):
            self._rehome_cookies(url, response)
            location = response.headers.get("Location")
            if not (follow and location and 300 <= response.status_code < 400):
                return response
            url = urljoin(url, location)
            response = self._routed("GET", url, super().request, allow_redirects=False, timeout=kwargs.get("timeout"))
        raise curl_requests.exceptions.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {url}")

    def _rehome_cookies(self, url: str, response: curl_requests.Response) -> None:
        """Under the rewrite, file cookies under the host that set them, as a direct connection would.

        yfinance persists and reuses Yahoo's A3 cookie only when the jar holds it for a ``yahoo`` domain;
        filed under the loopback address instead, it would re-fetch the cookie before every request.
        """
        if self._upstream_url:
            loopback, names = urlsplit(self._upstream_url).hostname, set(response.cookies.keys())
            for cookie in [c for c in self.cookies.jar if c.domain == loopback and c.name in names]:
                self.cookies.jar.set_cookie(replace_cookie_domain(cookie, upstream_host(url)))

"""The simulator's HTTP server: ``/HOST/PATH?QUERY`` is routed to the app for HOST, through limits and faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lumia_assets.sim.faults import HTML_ERROR_PAGE, MALFORMED_BODY, Fault, FaultPlan
from lumia_assets.sim.protocol import HostApp, SimRequest, SimResponse
from lumia_assets.sim.ratelimit import RateLimits
from lumia_assets.sim.requestlog import RequestLog, RequestRecord

DEFAULT_TIMEOUT_DELAY = 30.0


STATUS_MESSAGES = {
    404: "Not Found",
    418: "I'm a teapot: IP banned for ignoring Retry-After",
    429: "Too Many Requests",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _status_answer(status: int, headers: Mapping[str, str], body: dict[str, object] | list[object] | None = None
                   ) -> SimResponse:  # fmt: skip
    """A bare error answer, like an overloaded upstream's edge server gives, or the fault's own JSON body."""
    if body is not None:
        return SimResponse.json(body, status)
    return SimResponse.text(STATUS_MESSAGES.get(status, "Simulated failure"), status, headers=headers)


def _spoiled(response: SimResponse, fault: Fault) -> SimResponse:
    """The real answer spoiled the way a malformed, truncated or html fault says."""
    if fault.kind == "malformed":
        return SimResponse(200, MALFORMED_BODY, response.headers)
    if fault.kind == "truncated":
        return SimResponse(200, response.body[: max(1, len(response.body) // 2)], response.headers)
    if fault.kind == "html":
        return SimResponse(200, HTML_ERROR_PAGE, {"Content-Type": "text/html; charset=utf-8"})
    return response


class SimServer(ThreadingHTTPServer):
    """A threaded loopback server hosting every simulated upstream."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], apps: Iterable[HostApp], seed: int = 0) -> None:
        self.apps = {host: app for app in apps for host in app.hosts}
        self.faults = FaultPlan(seed)
        self.rate_limits = RateLimits()
        self.log = RequestLog()
        super().__init__(address, _Handler)

    def answer(self, method: str, host: str, path: str, query: str, headers: Mapping[str, str]) -> SimResponse:
        """The answer to ``method https://host/path?query``: rate limit first, then faults, then the app."""
        app = self.apps.get(host)
        if app is None:
            return SimResponse.text(f"simulator: no upstream is named {host!r}; known hosts: {sorted(self.apps)}", 502)
        request = SimRequest(method, host, path, query, headers, self.faults.missing_candles(host, path))
        verdict = self.rate_limits.admit(host, app.weight(request) if hasattr(app, "weight") else 1)
        if verdict.status is not None:
            return _status_answer(verdict.status, verdict.headers)
        fault = self.faults.draw(host, path)
        if fault is not None and fault.kind == "status":
            return _status_answer(fault.status or 500, verdict.headers, fault.body)
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay if fault.delay is not None else DEFAULT_TIMEOUT_DELAY)
        try:
            response = app.handle(request)
        except Exception as exc:  # a simulator bug: say so instead of dropping the connection
            return SimResponse.text(f"simulator: {type(app).__name__} failed on {path}: {exc!r}", 500)
        response = SimResponse(response.status, response.body, {**response.headers, **verdict.headers})
        return _spoiled(response, fault) if fault is not None else response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: SimServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        split = urlsplit(self.path)
        authority, _, rest = split.path.lstrip("/").partition("/")
        host, path = authority.partition(":")[0], "/" + rest  # /api.binance.com:443/x is host api.binance.com
        response = self.server.answer(self.command, host, path, split.query, dict(self.headers.items()))
        self.server.log.append(RequestRecord(time.time(), self.command, host, path, split.query, response.status))
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during a "timeout" fault)

    do_GET = do_POST = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is the record."""


def start_in_thread(server: SimServer) -> threading.Thread:
    """Serve ``server`` from a daemon thread."""
    thread = threading.Thread(target=server.serve_forever, name="lumia-sim", daemon=True)
    thread.start()
    return thread

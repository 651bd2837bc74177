"""The market simulator: every simulated upstream behind one loopback server, with its test knobs."""

from __future__ import annotations

import threading

from lumia_assets.sim.config import SimConfig
from lumia_assets.sim.crypto import CryptoMarket, crypto_apps
from lumia_assets.sim.equities import EquityMarket
from lumia_assets.sim.faults import FaultPlan
from lumia_assets.sim.nasdaq import NasdaqTraderApp
from lumia_assets.sim.ratelimit import RateLimits
from lumia_assets.sim.requestlog import RequestRecord
from lumia_assets.sim.sec import SecApp
from lumia_assets.sim.server import SimServer, start_in_thread
from lumia_assets.sim.yahoo import YahooApp


class MarketSimulator:
    """A deterministic market (equities + crypto) served over loopback in the upstreams' real protocols."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.equities = EquityMarket(self.config)
        self.crypto = CryptoMarket(self.config)
        self._apps = [NasdaqTraderApp(self.equities), SecApp(self.equities), YahooApp(self.equities)]
        self._apps += crypto_apps(self.crypto)
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    def _bind(self, host: str, port: int) -> SimServer:
        self._server = SimServer((host, port), self._apps, seed=self.config.seed)
        return self._server

    @property
    def server(self) -> SimServer:
        if self._server is None:
            raise RuntimeError("the simulator is not started: call start() or serve_forever() first")
        return self._server

    @property
    def url(self) -> str:
        """What LUMIA_UPSTREAM_URL should be set to."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    @property
    def rate_limits(self) -> RateLimits:
        return self.server.rate_limits

    def requests(self, host: str | None = None, path_contains: str | None = None) -> list[RequestRecord]:
        """The answered requests, optionally for one host and a path fragment."""
        return self.server.log.records(host, path_contains)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> MarketSimulator:
        """Serve from a daemon thread; ``port=0`` picks a free port."""
        self._thread = start_in_thread(self._bind(host, port))
        return self

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        """Serve in the foreground until interrupted."""
        server = self._bind(host, port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        """Clear faults, rate limits, the request log, and undo market mutations."""
        self.faults.clear()
        self.rate_limits.clear()
        self.server.log.clear()
        self.equities.reset()
        self.crypto.reset()

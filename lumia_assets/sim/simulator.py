"""The market simulator: every simulated upstream behind one loopback server, with its test knobs."""

from __future__ import annotations

import threading
from datetime import datetime

from lumia_assets.sim.clock import SimClock
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
        self.clock = SimClock.from_config(self.config)
        self.equities = EquityMarket(self.config, self.clock)
        self.crypto = CryptoMarket(self.config, self.clock)
        self._apps = [NasdaqTraderApp(self.equities), SecApp(self.equities), YahooApp(self.equities, self.crypto)]
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

    @property
    def now(self) -> datetime:
        """The simulator's current time, tz-aware UTC."""
        return self.clock.now()

    def set_clock(self, when: datetime) -> None:
        """Stand the clock (tz-aware) at ``when``, for every upstream, until set again or reset."""
        self.clock.set(when)

    def advance(self, sessions: int = 1) -> datetime:
        """Move the clock forward ``sessions`` NYSE sessions, to 18:00 New York of the session reached.

        From during a session, one session is that session's evening; from an evening, the next session's.
        """
        if sessions < 1:
            raise ValueError(f"advance() moves forward by one session or more, not {sessions}; set_clock goes back")
        self.clock.set(self.equities.sessions.evening_after(self.clock.now(), sessions))
        return self.now

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
        """Clear faults, rate limits and the request log, undo market mutations, and put the clock back."""
        if self._server is not None:
            self.faults.clear()
            self.rate_limits.clear()
            self.server.log.clear()
        self.equities.reset()
        self.crypto.reset()
        self.clock.reset()

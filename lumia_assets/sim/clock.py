"""The simulator's clock: one settable "now" that the equity and crypto markets share."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from lumia_assets.sim.config import SimConfig

NEW_YORK = ZoneInfo("America/New_York")  # the equity market's time zone
EVENING = time(18, 0)  # an ``as_of`` day's clock stands at 18:00 in New York, after the close


class SimClock:
    """The simulator's current time, tz-aware UTC: a set instant, or real UTC time while none is set."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = _utc(start) if start is not None else None
        self._now = self._start
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SimConfig) -> SimClock:
        """The clock ``config`` starts: at ``now``, at 18:00 New York on ``as_of``, or following real time."""
        if config.as_of is not None:
            return cls(datetime.combine(config.as_of, EVENING, tzinfo=NEW_YORK))
        return cls(config.now)

    def now(self) -> datetime:
        with self._lock:
            current = self._now
        return current if current is not None else datetime.now(UTC)

    def set(self, when: datetime) -> None:
        """Stand still at ``when`` (tz-aware) until set again or reset."""
        with self._lock:
            self._now = _utc(when)

    def reset(self) -> None:
        """Back to the configured start (or to real time)."""
        with self._lock:
            self._now = self._start


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(f"the simulator clock needs a tz-aware time, got {when.isoformat()}; add tzinfo=UTC")
    return when.astimezone(UTC)

"""What time lumia thinks it is: the one place every "which sessions have closed" decision reads the time from.

Production reads the system clock. A simulated market with a clock of its own (tests, time-lapse runs) points
this at the simulator's time, so that lumia and its upstream agree on what "today" is; ``fetched_at`` stamps
always stay the system's time.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)

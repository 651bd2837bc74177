"""Every request the simulator answered, for tests and benchmarks to count."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    """One answered request."""

    ts: float
    method: str
    host: str
    path: str
    query_string: str
    status: int


class RequestLog:
    """A thread-safe, append-only list of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, host: str | None = None, path_contains: str | None = None) -> list[RequestRecord]:
        """The records for ``host`` whose path contains ``path_contains`` (both optional)."""
        with self._lock:
            return [
                r
                for r in self._records
                if (host is None or r.host == host) and (path_contains is None or path_contains in r.path)
            ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

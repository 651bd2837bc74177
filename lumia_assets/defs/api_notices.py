"""Dagster APIs lumia uses on purpose although Dagster flags them beta, preview or superseded.

Dagster warns each time such an API is called, which means on every code-location load and every ``lumia``
command. That notice is for us, not for the people running lumia, so each deliberate call is wrapped in
:func:`accepted`. The reason for each call is written at the call site.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def accepted(*categories: type[Warning]) -> Iterator[None]:
    """Silence the given warning categories for the calls in this block only."""
    with warnings.catch_warnings():
        for category in categories:
            warnings.simplefilter("ignore", category)
        yield

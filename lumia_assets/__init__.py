"""lumia_assets: a market-data platform on Dagster.

Read the warehouse back with ``read_prices``, ``read_actions`` and ``read_universe`` (``warehouse/reads.py``);
they load on first use, so importing the package (as the code location does) costs nothing more.
"""

from typing import Any

PUBLIC_READS = ("read_prices", "read_actions", "read_universe")
__all__ = list(PUBLIC_READS)


def __getattr__(name: str) -> Any:
    if name in PUBLIC_READS:
        from lumia_assets.warehouse import reads

        return getattr(reads, name)
    raise AttributeError(f"module 'lumia_assets' has no attribute {name!r}")

"""``lumia demo``'s own world: a Dagster instance and a warehouse in ``.dagster_home/demo/``, never the real ones.

Simulated prices must never mix with collected ones, so the demo's children get their own ``DAGSTER_HOME`` and
``LUMIA_WAREHOUSE_URL`` whatever the user's environment says, and no alert sinks (a demo pages no one).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lumia_assets.settings import project_root

MARKER = ".lumia-demo"
ALERT_VARIABLES = ("LUMIA_ALERT_WEBHOOK_URL", "LUMIA_SLACK_TOKEN", "LUMIA_SLACK_CHANNEL")
# the small simulator lists about 48 stocks, 12 funds and 20 pairs: the production bounds would fail its checks
SMALL_PROFILE_BOUNDS = {"LUMIA_MIN_STOCKS": "20", "LUMIA_MIN_FUNDS": "5", "LUMIA_MIN_CRYPTO_PAIRS": "5"}
# The simulator has no rate limit of its own: budgets above the production defaults keep the demo brisk.
SIMULATOR_BUDGETS = ",".join(
    f"{host}=200:50"
    for host in ("query1.finance.yahoo.com", "query2.finance.yahoo.com", "api.binance.com", "api.kraken.com",
                 "api.exchange.coinbase.com", "api.coingecko.com")
)  # fmt: skip


class DemoHomeError(RuntimeError):
    """A folder ``lumia demo --reset`` refuses to delete: it is not the demo's."""


@dataclass(frozen=True)
class DemoHome:
    """The demo's Dagster home; its warehouse is a SQLite file inside it."""

    path: Path

    @classmethod
    def in_checkout(cls, root: Path | None = None) -> DemoHome:
        """``.dagster_home/demo/`` in the checkout (``root``): in the default home's folder, apart from its files."""
        return cls((root or project_root()) / ".dagster_home" / "demo")

    @property
    def warehouse(self) -> Path:
        return self.path / "warehouse.db"

    @property
    def warehouse_url(self) -> str:
        return f"sqlite:///{self.warehouse}"


def demo_env(environ: Mapping[str, str], home: DemoHome, upstream_url: str, profile: str = "default") -> dict[str, str]:
    """The children's environment: ``environ`` pointed at the demo's home, warehouse and simulator, without the
    alert sinks. The user's own ``LUMIA_RATE_LIMITS`` are kept; the ``small`` profile's universes get size bounds
    that fit them (unless the user set their own)."""
    kept = {name: value for name, value in environ.items() if name not in ALERT_VARIABLES}
    bounds = SMALL_PROFILE_BOUNDS if profile == "small" else {}
    return {
        **bounds,
        **kept,
        "DAGSTER_HOME": str(home.path),
        "LUMIA_WAREHOUSE_URL": home.warehouse_url,
        "LUMIA_UPSTREAM_URL": upstream_url,
        "LUMIA_RATE_LIMITS": environ.get("LUMIA_RATE_LIMITS") or SIMULATOR_BUDGETS,
    }


def overridden(environ: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """The variables the user set that the demo's children get otherwise, or not at all (names only: values may
    hold secrets)."""
    return sorted(name for name, value in environ.items() if value.strip() and env.get(name) != value)


def prepare(home: DemoHome, *, reset: bool) -> None:
    """Create the demo home, marked as the demo's; with ``reset``, delete it first (see :func:`delete`)."""
    if reset:
        delete(home)
    home.path.mkdir(parents=True, exist_ok=True)
    (home.path / MARKER).write_text("lumia demo's Dagster home and warehouse; `lumia demo --reset` deletes it.\n")


def delete(home: DemoHome) -> None:
    """Delete the demo home, and nothing else: see :func:`is_demo_home`."""
    if not home.path.exists():
        return
    if not is_demo_home(home.path):
        raise DemoHomeError(
            f"{home.path} is not lumia demo's home (a .dagster_home/demo folder with a {MARKER} file): not deleting it"
        )
    shutil.rmtree(home.path)


def is_demo_home(path: Path) -> bool:
    """A real folder named ``.dagster_home/demo`` holding the demo's marker, or nothing at all."""
    named = path.name == "demo" and path.parent.name == ".dagster_home"
    return named and path.is_dir() and not path.is_symlink() and ((path / MARKER).is_file() or not any(path.iterdir()))

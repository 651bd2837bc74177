"""Simulator configuration: universe size profiles, seed, history start and where the clock starts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal

Profile = Literal["small", "default"]


@dataclass(frozen=True)
class UniverseSizes:
    """How many instruments each simulated directory and exchange lists."""

    nasdaq_listed: int
    other_listed: int
    mutual_funds: int
    crypto_pairs: dict[str, int]


PROFILES: dict[str, UniverseSizes] = {
    "small": UniverseSizes(
        nasdaq_listed=24,
        other_listed=24,
        mutual_funds=12,
        crypto_pairs={"binance": 12, "kraken": 8, "coinbase": 6},
    ),
    "default": UniverseSizes(
        nasdaq_listed=5_200,
        other_listed=6_000,
        mutual_funds=5_500,
        crypto_pairs={"binance": 1_200, "kraken": 600, "coinbase": 400},
    ),
}


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines what the simulator serves. Same config, same responses."""

    profile: Profile = "default"
    seed: int = 42
    history_start: date = date(2018, 1, 2)
    now: datetime | None = None  # where the clock starts (tz-aware); with neither this nor as_of: real UTC time
    as_of: date | None = None  # "today": the clock starts at 18:00 New York on this day, after the close
    split_fraction: float = 0.08
    dividend_fraction: float = 0.35
    listing_fraction: float = 0.05  # listed after history_start
    delisting_fraction: float = 0.03  # delisted before now
    # pairs per exchange ("binance", "kraken", "coinbase") instead of the profile's, e.g. {"binance": 2_200} for a
    # bigger Binance; an override may draw other pairs than the profile's (without one, the profile's are drawn)
    crypto_pairs: dict[str, int] | None = None
    sizes: UniverseSizes = field(init=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown simulator profile {self.profile!r}; choose one of {sorted(PROFILES)}")
        if self.now is not None and self.as_of is not None:
            raise ValueError("SimConfig takes now or as_of, not both: as_of starts the clock at 18:00 New York")
        sizes = PROFILES[self.profile]
        if self.crypto_pairs:
            unknown = set(self.crypto_pairs) - set(sizes.crypto_pairs)
            if unknown:
                raise ValueError(f"SimConfig.crypto_pairs: unknown exchanges {sorted(unknown)}")
            sizes = replace(sizes, crypto_pairs={**sizes.crypto_pairs, **self.crypto_pairs})
        object.__setattr__(self, "sizes", sizes)

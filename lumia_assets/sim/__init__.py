"""The market simulator: NASDAQ Trader, SEC, Yahoo, Binance, Kraken and Coinbase over loopback."""

from lumia_assets.sim.config import SimConfig
from lumia_assets.sim.faults import Fault
from lumia_assets.sim.simulator import MarketSimulator

__all__ = ["Fault", "MarketSimulator", "SimConfig"]

"""A fleet of virtual meters: its configuration (:mod:`.config`), its load (:mod:`.load`) and months of history
computed for all meters at once (:mod:`.history`)."""

from __future__ import annotations

from .config import FleetConfig, MeterSpec, load_fleet
from .history import MeterHistory, simulate_fleet, simulate_group

__all__ = ["FleetConfig", "MeterHistory", "MeterSpec", "load_fleet", "simulate_fleet", "simulate_group"]

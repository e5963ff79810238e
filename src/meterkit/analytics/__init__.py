"""Demand analytics over load profiles: fixed and sliding maximum demand, thresholds, plots, fleet scale."""

from ..loadprofile.grid import LoadProfile, read_load_profile
from .configs import ALL_CONFIGS, DemandWindow, parse_window
from .engine import DemandResult, compute_demand

__all__ = [
    "ALL_CONFIGS",
    "DemandResult",
    "DemandWindow",
    "LoadProfile",
    "compute_demand",
    "parse_window",
    "read_load_profile",
]

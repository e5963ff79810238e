"""The demand vocabulary the meter and the analytics share: the offered windows, the sub-period table, the units
and the rounding of window energy to kW.

Two implementations of maximum demand exist on purpose (the meter's streaming engine and the analytics' batch
kernel); both take their windows and their rounding from here, so they cannot drift apart.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Final

__all__ = [
    "FIXED_PERIODS",
    "MWH_PER_KWH",
    "SLIDING_SUB_PERIODS",
    "is_offered",
    "kw_units",
    "to_kw",
    "valid_combinations",
]

#: fixed windows (minutes), aligned to the full hour
FIXED_PERIODS: Final = (5, 15, 30, 60)
#: integration period -> sub-period lengths (minutes); from the FAQ table whose cells give the number of
#: sub-periods per integration period for the sub-period lengths 1, 2, 5, 6 and 12 min
SLIDING_SUB_PERIODS: Final = MappingProxyType({5: (1, 5), 15: (1, 5), 30: (1, 2, 5, 6), 60: (1, 2, 5, 6, 12)})
#: energies are integer milli-watt-hours
MWH_PER_KWH: Final = 1_000_000


def is_offered(period_min: int, sub_min: int | None) -> bool:
    """Whether the window is offered: fixed (``sub_min`` None) or sliding ``period_min/sub_min``."""
    if sub_min is None:
        return period_min in FIXED_PERIODS
    return sub_min in SLIDING_SUB_PERIODS.get(period_min, ())


def valid_combinations(conjunction: str = " or") -> str:
    """The offered windows in words (for error messages): ``valid: fixed 5, 15, 30 or 60 min; sliding ...``;
    ``conjunction=","`` lists the fixed periods with commas only."""
    *head, last = FIXED_PERIODS
    sliding = " · ".join(f"{p}: {', '.join(map(str, s))}" for p, s in SLIDING_SUB_PERIODS.items())
    fixed = f"{', '.join(map(str, head))}{conjunction} {last}"
    return f"valid: fixed {fixed} min; sliding period: sub-periods {sliding} (minutes)"


def kw_units(window_mwh: int, period_min: int, places: int = 2) -> int:
    """Average power of ``window_mwh`` over ``period_min`` minutes in units of 10^-places kW, rounded half away
    from zero, in exact integer arithmetic: kW·100 = mWh · 60 · 100 / (10⁶ · period) = mWh · 6 / (1000 · period)."""
    num = window_mwh * 6
    den = 1000 * period_min
    if places >= 2:
        num *= 10 ** (places - 2)
    else:
        den *= 10 ** (2 - places)
    return (2 * num + den) // (2 * den) if num >= 0 else -((-2 * num + den) // (2 * den))


def to_kw(window_mwh: int, period_min: int, places: int = 2) -> Decimal:
    """Average power in kW (rounded half-up to ``places`` decimals, 2 = 0.01 kW) of ``window_mwh`` milli-Wh over
    ``period_min`` minutes."""
    return Decimal(kw_units(int(window_mwh), period_min, places)).scaleb(-places)

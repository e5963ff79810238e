"""Demand window configurations: fixed 5/15/30/60 aligned to the hour, sliding per the sub-period table.

Sliding windows (integration period -> allowed sub-period lengths, minutes), as in the reference FAQ's table:
5: 1, 5 · 15: 1, 5 · 30: 1, 2, 5, 6 · 60: 1, 2, 5, 6, 12.  Sliding 5/5 has a single sub-period and equals fixed 5,
so the 16 distinct configurations are the 4 fixed and the 12 sliding ones with more than one sub-period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from ..demand_rules import FIXED_PERIODS, SLIDING_SUB_PERIODS, is_offered
from ..demand_rules import valid_combinations as _valid
from ..errors import ConfigError

__all__ = ["ALL_CONFIGS", "FIXED_PERIODS", "SLIDING_TABLE", "DemandWindow", "parse_window", "valid_combinations"]

SLIDING_TABLE: Final = SLIDING_SUB_PERIODS  # the shared table (meterkit.demand_rules)


@dataclass(frozen=True, order=True, slots=True)
class DemandWindow:
    """A demand configuration; for fixed windows ``sub_min == period_min``."""

    method: Literal["fixed", "sliding"]
    period_min: int
    sub_min: int

    def __post_init__(self) -> None:
        if self.method == "fixed":
            if self.sub_min != self.period_min or not is_offered(self.period_min, None):
                raise ConfigError(f"fixed window {self.period_min} min is not offered; {valid_combinations()}")
        elif not is_offered(self.period_min, self.sub_min):
            raise ConfigError(f"sliding window {self.period_min}/{self.sub_min} is not offered; {valid_combinations()}")

    @property
    def label(self) -> str:
        return f"fixed {self.period_min}" if self.method == "fixed" else f"sliding {self.period_min}/{self.sub_min}"


def valid_combinations() -> str:
    return _valid(conjunction=",")


def parse_window(text: str) -> DemandWindow:
    """``"fixed 15"``, ``"15"`` (fixed), ``"sliding 15/1"`` or ``"15/1"`` (sliding)."""
    m = re.fullmatch(r"\s*(?:(fixed|sliding)\s+)?(\d+)(?:\s*/\s*(\d+))?\s*", text)
    if m is None:
        raise ConfigError(f"cannot read demand window {text!r}; write e.g. 'fixed 15' or 'sliding 15/1'")
    kind, period, sub = m.group(1), int(m.group(2)), m.group(3)
    if sub is None:
        if kind == "sliding":
            raise ConfigError(f"sliding window {text!r} needs a sub-period: PERIOD/SUB, e.g. 15/1")
        return DemandWindow("fixed", period, period)
    if kind == "fixed":
        raise ConfigError(f"fixed window {text!r} takes no sub-period")
    return DemandWindow("sliding", period, int(sub))


ALL_CONFIGS: Final = tuple(
    [DemandWindow("fixed", p, p) for p in FIXED_PERIODS]
    + [DemandWindow("sliding", p, s) for p, subs in SLIDING_TABLE.items() for s in subs if s != p]
)

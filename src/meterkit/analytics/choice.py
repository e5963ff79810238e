"""Which demand configurations a profile's interval allows, and the nearest one to a configuration it does not.

A window can be computed when the data's interval divides both its integration period and its sub-period:
15-minute data give fixed 15, 30 and 60 but no sliding window (their sub-periods are 1 to 12 minutes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DataError
from .configs import ALL_CONFIGS, DemandWindow

__all__ = ["WindowChoice", "choose_windows", "computable", "interval_text", "nothing_computable"]


def computable(window: DemandWindow, step_s: int) -> bool:
    """True when data of ``step_s`` seconds intervals give this window exactly."""
    return (window.sub_min * 60) % step_s == 0 and (window.period_min * 60) % step_s == 0


def interval_text(step_s: int) -> str:
    """``15-minute`` or ``30-second``."""
    return f"{step_s // 60}-minute" if step_s % 60 == 0 else f"{step_s}-second"


def _nearest(window: DemandWindow, step_s: int) -> DemandWindow | None:
    options = [w for w in ALL_CONFIGS if computable(w, step_s)]
    if not options:
        return None
    return min(
        options,
        key=lambda w: (
            abs(w.period_min - window.period_min),
            w.method != window.method,
            abs(w.sub_min - window.sub_min),
        ),
    )


@dataclass(frozen=True)
class WindowChoice:
    """The configurations to compute, the ones the data cannot give, and what was put in their place."""

    windows: tuple[DemandWindow, ...]
    not_computable: tuple[DemandWindow, ...]
    notes: tuple[str, ...]


def choose_windows(requested: Sequence[DemandWindow], step_s: int, *, substitute: bool) -> WindowChoice:
    """Keep the requested configurations the data allow; with ``substitute`` (the default windows, not chosen by
    the user) put the nearest computable one in place of each that is not, saying so."""
    kept: list[DemandWindow] = []
    missing: list[DemandWindow] = []
    notes: list[str] = []
    data = interval_text(step_s)
    for w in requested:
        if computable(w, step_s):
            kept.append(w)
            continue
        missing.append(w)
        if substitute:
            near = _nearest(w, step_s)
            if near is not None:
                notes.append(f"{w.label} is not computable from {data} data; showing the nearest, {near.label}")
                kept.append(near)
    if missing:
        notes.append(f"not computable from {data} data: {', '.join(w.label for w in missing)}")
    return WindowChoice(tuple(dict.fromkeys(kept)), tuple(missing), tuple(notes))


def nothing_computable(name: str, choice: WindowChoice, step_s: int) -> DataError:
    """The error when none of the requested configurations can be computed from the data."""
    return DataError(
        f"{name}: none of the chosen configurations is computable from {interval_text(step_s)} data "
        f"({choice.notes[-1]}); --all lists those that are"
    )

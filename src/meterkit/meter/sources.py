"""Load sources: a synthetic C&I day, replay of a load-profile file, live control."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from .config import Source
from .metrology import PhaseInput

__all__ = ["LiveSource", "ReplayInterval", "SyntheticSource", "read_replay"]


class SyntheticSource:
    """A commercial/industrial day: base load at night, a ramp from 06:00, a midday peak, shutdown after 18:00,
    weekends at base load; noise from a seeded generator; three phases with different power factors (so arithmetic and
    vectorial VA differ)."""

    ANGLES = (18.0, 32.0, 8.0)  # degrees of current lag per phase: PF 0.951, 0.848, 0.990

    def __init__(self, cfg: Source, voltage: float, zone: ZoneInfo) -> None:
        self.cfg = cfg
        self.voltage = voltage
        self.zone = zone
        self.rng = random.Random(cfg.seed)

    def power_kw(self, at: datetime) -> float:
        local = at.astimezone(self.zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        if local.weekday() >= 5:
            shape = 0.0
        elif 6 <= hour < 18:
            shape = math.sin(math.pi * (hour - 6) / 12) ** 0.6
        else:
            shape = 0.0
        kw = self.cfg.base_kw + (self.cfg.peak_kw - self.cfg.base_kw) * shape
        return max(0.0, kw * (1 + self.rng.gauss(0, 0.03)))

    def phases(self, at: datetime) -> tuple[PhaseInput, ...]:
        kw = self.power_kw(at)
        share = (0.36, 0.33, 0.31)
        out = []
        for s, angle in zip(share, self.ANGLES, strict=True):
            p_w = kw * 1000 * s
            current = p_w / (self.voltage * math.cos(math.radians(angle)))
            out.append(
                PhaseInput(voltage_v=self.voltage * (1 + self.rng.gauss(0, 0.002)), current_a=current, angle_deg=angle)
            )
        return tuple(out)


class LiveSource:
    """Phases set from outside (tests, a control channel); defaults to no load at nominal voltage."""

    def __init__(self, voltage: float) -> None:
        self._phases = tuple(PhaseInput(voltage_v=voltage, current_a=0.0) for _ in range(3))

    def set(self, phases: tuple[PhaseInput, ...]) -> None:
        self._phases = phases

    def phases(self, at: datetime) -> tuple[PhaseInput, ...]:
        return self._phases


@dataclass(frozen=True, slots=True)
class ReplayInterval:
    end: datetime
    a_plus_mwh: int


def read_replay(path: Path) -> tuple[int, list[ReplayInterval]]:
    """The intervals of a single-meter load-profile file (format: docs/analytics.md), checked like ``meterkit demand``
    checks it; returns the interval length in seconds and the intervals in time order."""
    from ..loadprofile.grid import read_load_profile

    profile = read_load_profile(path)
    if len(profile.meters) != 1:
        raise_multi(path, profile.meters)
    ends = profile.end_times()
    energy = profile.energy[:, 0]
    present = np.ones(len(energy), dtype=bool) if profile.valid is None else profile.valid[:, 0]
    out = [
        ReplayInterval(end=datetime.fromisoformat(str(ends[i]) + "+00:00"), a_plus_mwh=int(energy[i]))
        for i in np.flatnonzero(present)
    ]
    return profile.step_s, out


def raise_multi(path: Path, meters: list[str]) -> None:
    from ..errors import DataError

    raise DataError(f"{path}: a replay drives one meter, the file holds {len(meters)} ({', '.join(meters[:5])})")

"""Three-phase metrology: active, reactive and apparent power by three methods, and energy registers.

Sign convention: ``angle_deg`` is the angle by which the phase current lags its voltage.  0° is resistive import,
+30° inductive import (quadrant Q1), -30° capacitive import (Q4), 180°±… export (Q2 capacitive export at 150°…,
Q3 inductive export).  P = V·I·cos φ, Q = V·I·sin φ.

Apparent power (IEEE 1459-2010):
* arithmetic S_A = Σ |S_i| = Σ V_i·I_i — per phase, then added (what most electronic meters bill);
* vectorial  S_V = √((ΣP_i)² + (ΣQ_i)²) — the hypotenuse of the summed powers (older meters);
* effective  S_e = 3·V_e·I_e with V_e² = (3·ΣV_i² + ΣV_ij²) / 18 and I_e² = (ΣI_i² + I_n²) / 3 for a four-wire
  system, the voltages taken as a symmetric set (0°, -120°, +120°) and I_n the phasor sum of the phase currents.
With a balanced sinusoidal load the three agree; with unequal phase angles S_A > S_V; unbalance and neutral current
raise S_e above both.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..errors import ConfigError

__all__ = ["EnergyRegisters", "Measurement", "PhaseInput", "PhasePower", "VaMethod", "measure"]

_VOLTAGE_ANGLES = (0.0, -120.0, 120.0)


class VaMethod(StrEnum):
    ARITHMETIC = "arithmetic"
    VECTORIAL = "vectorial"
    EFFECTIVE = "effective"


@dataclass(frozen=True, slots=True)
class PhaseInput:
    voltage_v: float
    current_a: float
    angle_deg: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("voltage", self.voltage_v), ("current", self.current_a), ("angle", self.angle_deg)):
            if not math.isfinite(value):
                raise ConfigError(f"phase {name} must be a finite number, got {value}")
        if self.voltage_v < 0 or self.current_a < 0:
            raise ConfigError("phase voltage and current are magnitudes and cannot be negative")


@dataclass(frozen=True, slots=True)
class PhasePower:
    p_w: float
    q_var: float
    s_va: float

    @property
    def pf(self) -> float:
        return self.p_w / self.s_va if self.s_va else 1.0


@dataclass(frozen=True, slots=True)
class Measurement:
    phases: tuple[PhasePower, ...]
    p_w: float
    q_var: float
    s_arithmetic_va: float
    s_vectorial_va: float
    s_effective_va: float
    frequency_hz: float = 50.0

    def apparent(self, method: VaMethod) -> float:
        return {
            VaMethod.ARITHMETIC: self.s_arithmetic_va,
            VaMethod.VECTORIAL: self.s_vectorial_va,
            VaMethod.EFFECTIVE: self.s_effective_va,
        }[method]

    def power_factor(self, method: VaMethod) -> float:
        s = self.apparent(method)
        return abs(self.p_w) / s if s else 1.0


def measure(phases: Sequence[PhaseInput], frequency_hz: float = 50.0) -> Measurement:
    """Powers of a three-phase (or single-phase) system."""
    if not 1 <= len(phases) <= 3:
        raise ConfigError(f"a meter measures 1 to 3 phases, got {len(phases)}")
    per: list[PhasePower] = []
    v_phasors: list[complex] = []
    i_phasors: list[complex] = []
    for ph, v_angle in zip(phases, _VOLTAGE_ANGLES, strict=False):
        phi = math.radians(ph.angle_deg)
        p = ph.voltage_v * ph.current_a * math.cos(phi)
        q = ph.voltage_v * ph.current_a * math.sin(phi)
        per.append(PhasePower(p_w=p, q_var=q, s_va=ph.voltage_v * ph.current_a))
        v = cmath.rect(ph.voltage_v, math.radians(v_angle))
        v_phasors.append(v)
        i_phasors.append(cmath.rect(ph.current_a, math.radians(v_angle) - phi))
    p_total = sum(x.p_w for x in per)
    q_total = sum(x.q_var for x in per)
    s_arith = sum(x.s_va for x in per)
    s_vect = math.hypot(p_total, q_total)
    n = len(phases)
    if n == 3:
        v_ll = [abs(v_phasors[a] - v_phasors[b]) for a, b in ((0, 1), (1, 2), (2, 0))]
        ve = math.sqrt((3 * sum(abs(v) ** 2 for v in v_phasors) + sum(x * x for x in v_ll)) / 18)
        i_n = abs(sum(i_phasors))
        ie = math.sqrt((sum(abs(i) ** 2 for i in i_phasors) + i_n**2) / 3)
        s_eff = 3 * ve * ie
    else:
        s_eff = s_arith
    return Measurement(
        phases=tuple(per),
        p_w=p_total,
        q_var=q_total,
        s_arithmetic_va=s_arith,
        s_vectorial_va=s_vect,
        s_effective_va=s_eff,
        frequency_hz=frequency_hz,
    )


REGISTER_NAMES = ("A+", "A-", "Q1", "Q2", "Q3", "Q4", "S+", "S-", "SA", "SV", "SE")


@dataclass
class EnergyRegisters:
    """Cumulative energies in milli-Wh / milli-varh / milli-VAh, totals and per tariff (1-8); exact integers.

    ``S+``/``S-`` follow the billing VA method; ``SA``, ``SV``, ``SE`` keep all three methods (import+export).
    """

    method: VaMethod = VaMethod.ARITHMETIC
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REGISTER_NAMES, 0))
    tariffs: dict[int, dict[str, int]] = field(default_factory=dict)
    _frac: dict[str, float] = field(default_factory=lambda: dict.fromkeys(REGISTER_NAMES, 0.0))

    def _add(self, name: str, milli: float, tariff: int) -> None:
        acc = self._frac[name] + milli
        whole = math.floor(acc)
        self._frac[name] = acc - whole
        if whole:
            self.add_exact(name, whole, tariff)

    def add_exact(self, name: str, milli: int, tariff: int) -> None:
        self.total[name] += milli
        regs = self.tariffs.setdefault(tariff, dict.fromkeys(REGISTER_NAMES, 0))
        regs[name] += milli

    def add(self, m: Measurement, seconds: float, tariff: int) -> None:
        """Integrate ``m`` over ``seconds`` into the registers of ``tariff``."""
        if not 1 <= tariff <= 8:
            raise ConfigError(f"tariff must be 1-8, got {tariff}")
        k = seconds / 3.6  # W·s -> mWh
        p, q = m.p_w, m.q_var
        if p >= 0:
            self._add("A+", p * k, tariff)
        else:
            self._add("A-", -p * k, tariff)
        quadrant = ("Q1" if q >= 0 else "Q4") if p >= 0 else ("Q2" if q >= 0 else "Q3")
        self._add(quadrant, abs(q) * k, tariff)
        s = m.apparent(self.method)
        self._add("S+" if p >= 0 else "S-", s * k, tariff)
        self._add("SA", m.s_arithmetic_va * k, tariff)
        self._add("SV", m.s_vectorial_va * k, tariff)
        self._add("SE", m.s_effective_va * k, tariff)

    def snapshot(self) -> dict[str, object]:
        return {
            "method": str(self.method),
            "total": dict(self.total),
            "tariffs": {str(t): dict(r) for t, r in self.tariffs.items()},
            "frac": dict(self._frac),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, object]) -> EnergyRegisters:
        regs = cls(method=VaMethod(str(data["method"])))
        regs.total.update({k: int(v) for k, v in dict(data["total"]).items()})  # type: ignore[call-overload]
        for t, r in dict(data["tariffs"]).items():  # type: ignore[call-overload]
            regs.tariffs[int(t)] = {k: int(v) for k, v in dict(r).items()}
        regs._frac.update({k: float(v) for k, v in dict(data["frac"]).items()})  # type: ignore[call-overload]
        return regs

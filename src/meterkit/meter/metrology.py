"""Three-phase metrology: active, reactive and apparent power by three methods, and exact energy registers.

Sign convention (consumer / load reference, IEC 62053-23 and the OBIS quadrants): ``angle_deg`` is the angle by which
the phase current lags its voltage.  P = V·I·cos φ, Q = V·I·sin φ, so

==========  ===========  ==========  =================  ==========================
quadrant    P            Q           angle φ            load seen by the meter
==========  ===========  ==========  =================  ==========================
Q1          import (+)   import (+)  0° < φ < 90°       inductive (current lags)
Q2          export (-)   import (+)  90° < φ < 180°     capacitive
Q3          export (-)   export (-)  -180° < φ < -90°   inductive
Q4          import (+)   export (-)  -90° < φ < 0°      capacitive (current leads)
==========  ===========  ==========  =================  ==========================

R+ (OBIS 3.8.0) = Q1 + Q2, R- (4.8.0) = Q3 + Q4.

Apparent power (IEEE 1459-2010):

* arithmetic S_A = Σ |S_i| = Σ V_i·I_i - per phase, then added (what most electronic meters bill);
* vectorial  S_V = √((ΣP_i)² + (ΣQ_i)²) - the hypotenuse of the summed powers;
* effective  S_e = 3·V_e·I_e for a four-wire system with V_e² = (3·ΣV_i² + ΣV_ij²) / 18 and
  I_e² = (ΣI_i² + I_n²) / 3, where the phase voltages are taken as a symmetric set (0°, -120°, +120°) with the
  measured magnitudes, V_ij are the line-to-line voltages and I_n is the magnitude of the phasor sum of the phase
  currents (the neutral current).  For a single-phase (two-wire) input S_e = V·I.

With a balanced sinusoidal load the three agree; with unequal phase angles S_A > S_V; unbalance and neutral current
raise S_e above both.

Energy integration is exact: each step's power is resolved to 1 µW and its duration to 1 µs, and from there all
arithmetic is on integers (units of 10⁻¹² J, 3.6·10¹² per mWh) with the sub-mWh remainder carried per register, so a
million 1-s steps lose nothing.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import ConfigError, DataError

__all__ = [
    "REGISTER_NAMES",
    "ChannelCorrection",
    "ChannelError",
    "EnergyIntegrator",
    "EnergyRegisters",
    "Measurement",
    "PhaseInput",
    "PhasePower",
    "VaMethod",
    "correct",
    "measure",
    "quadrant",
    "sense",
]

_VOLTAGE_ANGLES = (0.0, -120.0, 120.0)
_UNITS_PER_MWH = 3_600_000_000_000  # (µW·µs = 10⁻¹² J) per mWh (3.6 J)


class VaMethod(StrEnum):
    """How apparent power of a polyphase system is formed (IEEE 1459-2010)."""

    ARITHMETIC = "arithmetic"
    VECTORIAL = "vectorial"
    EFFECTIVE = "effective"


@dataclass(frozen=True, slots=True)
class PhaseInput:
    """One phase: RMS voltage (V), RMS current (A) and the angle by which the current lags the voltage (°)."""

    voltage_v: float
    current_a: float
    angle_deg: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("voltage", self.voltage_v), ("current", self.current_a), ("angle", self.angle_deg)):
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"phase {name} must be a finite number, got {value!r}")
        if self.voltage_v < 0 or self.current_a < 0:
            raise ConfigError("phase voltage and current are magnitudes and cannot be negative")


@dataclass(frozen=True, slots=True)
class ChannelError:
    """The raw error of one phase's measuring channel before adjustment (the hardware: shunt or CT, divider, ADC):
    the channel sees ``V·(1 + voltage_gain)``, ``I·(1 + current_gain) + current_offset_a`` (on a loaded phase) and
    the angle ``φ + phase_deg``."""

    voltage_gain: float = 0.0
    current_gain: float = 0.0
    phase_deg: float = 0.0
    current_offset_a: float = 0.0

    def sense(self, ph: PhaseInput) -> PhaseInput:
        """What the channel measures of the true input ``ph``."""
        current = ph.current_a * (1 + self.current_gain) + (self.current_offset_a if ph.current_a > 0 else 0.0)
        return PhaseInput(
            voltage_v=ph.voltage_v * (1 + self.voltage_gain),
            current_a=max(0.0, current),
            angle_deg=ph.angle_deg + self.phase_deg,
        )


@dataclass(frozen=True, slots=True)
class ChannelCorrection:
    """The adjustment of one phase's channel: ``V = voltage_gain·V'``, ``I = current_gain·max(0, I' - current_offset_a)``
    and ``φ = φ' + phase_deg`` for the raw ``V'``, ``I'``, ``φ'``.  The identity is an unadjusted channel."""

    voltage_gain: float = 1.0
    current_gain: float = 1.0
    phase_deg: float = 0.0
    current_offset_a: float = 0.0

    def apply(self, raw: PhaseInput) -> PhaseInput:
        return PhaseInput(
            voltage_v=self.voltage_gain * raw.voltage_v,
            current_a=self.current_gain * max(0.0, raw.current_a - self.current_offset_a),
            angle_deg=raw.angle_deg + self.phase_deg,
        )


def sense(phases: Sequence[PhaseInput], errors: Sequence[ChannelError]) -> tuple[PhaseInput, ...]:
    """The raw channel values of the true inputs (a phase without a channel error is measured as it is)."""
    return tuple(errors[i].sense(ph) if i < len(errors) else ph for i, ph in enumerate(phases))


def correct(raw: Sequence[PhaseInput], corrections: Sequence[ChannelCorrection]) -> tuple[PhaseInput, ...]:
    """The measuring path's corrections applied to raw channel values (phase by phase)."""
    return tuple(corrections[i].apply(ph) if i < len(corrections) else ph for i, ph in enumerate(raw))


@dataclass(frozen=True, slots=True)
class PhasePower:
    """Powers of one phase; ``pf`` = P/S (signed: negative when exporting; 1.0 when S = 0)."""

    p_w: float
    q_var: float
    s_va: float
    pf: float


@dataclass(frozen=True, slots=True)
class Measurement:
    """Per-phase and total powers of one instant."""

    phases: tuple[PhasePower, ...]
    p_w: float
    q_var: float
    s_arithmetic_va: float
    s_vectorial_va: float
    s_effective_va: float
    frequency_hz: float = 50.0

    def apparent(self, method: VaMethod) -> float:
        """Total apparent power by ``method`` (VA)."""
        if method is VaMethod.ARITHMETIC:
            return self.s_arithmetic_va
        if method is VaMethod.VECTORIAL:
            return self.s_vectorial_va
        return self.s_effective_va

    def power_factor(self, method: VaMethod) -> float:
        """|P| / S by ``method``; 1.0 when there is no apparent power."""
        s = self.apparent(method)
        return abs(self.p_w) / s if s else 1.0

    @property
    def quadrant(self) -> int:
        """The quadrant (1-4) of the total powers."""
        return quadrant(self.p_w, self.q_var)


def quadrant(p: float, q: float) -> int:
    """Quadrant 1-4 of (P, Q); P = 0 counts as import and Q = 0 as import reactive."""
    if p >= 0:
        return 1 if q >= 0 else 4
    return 2 if q >= 0 else 3


def measure(phases: Sequence[PhaseInput], frequency_hz: float = 50.0) -> Measurement:
    """Powers of a three-phase four-wire (3 inputs) or single-phase (1 input) system; 2 inputs are two phases of a
    four-wire system with the third unloaded at the mean voltage of the other two."""
    if not 1 <= len(phases) <= 3:
        raise ConfigError(f"a meter measures 1 to 3 phases, got {len(phases)}")
    if not math.isfinite(frequency_hz) or frequency_hz <= 0:
        raise ConfigError(f"frequency must be a positive number, got {frequency_hz!r}")
    per: list[PhasePower] = []
    for ph in phases:
        phi = math.radians(ph.angle_deg)
        s = ph.voltage_v * ph.current_a
        p = s * math.cos(phi)
        per.append(PhasePower(p_w=p, q_var=s * math.sin(phi), s_va=s, pf=p / s if s else 1.0))
    p_total = math.fsum(x.p_w for x in per)
    q_total = math.fsum(x.q_var for x in per)
    s_arith = math.fsum(x.s_va for x in per)
    s_vect = math.hypot(p_total, q_total)
    if len(phases) == 1:
        s_eff = s_arith
    else:
        full = list(phases)
        if len(full) == 2:
            full.append(PhaseInput(voltage_v=(full[0].voltage_v + full[1].voltage_v) / 2, current_a=0.0))
        v_ph = [cmath.rect(ph.voltage_v, math.radians(a)) for ph, a in zip(full, _VOLTAGE_ANGLES, strict=True)]
        i_ph = [
            cmath.rect(ph.current_a, math.radians(a - ph.angle_deg))
            for ph, a in zip(full, _VOLTAGE_ANGLES, strict=True)
        ]
        v_ll2 = sum(abs(v_ph[a] - v_ph[b]) ** 2 for a, b in ((0, 1), (1, 2), (2, 0)))
        ve = math.sqrt((3 * sum(abs(v) ** 2 for v in v_ph) + v_ll2) / 18)
        i_n = abs(sum(i_ph))
        ie = math.sqrt((sum(abs(i) ** 2 for i in i_ph) + i_n**2) / 3)
        s_eff = 3 * ve * ie
    return Measurement(
        phases=tuple(per),
        p_w=p_total,
        q_var=q_total,
        s_arithmetic_va=s_arith,
        s_vectorial_va=s_vect,
        s_effective_va=s_eff,
        frequency_hz=frequency_hz,
    )


#: Register names: active import/export, reactive per quadrant, apparent import/export by the billing method,
#: and the apparent energy (import + export) by each of the three methods.
REGISTER_NAMES = ("A+", "A-", "Q1", "Q2", "Q3", "Q4", "S+", "S-", "SA", "SV", "SE")
_PHASE_NAMES = ("A+", "A-")


def _micro(value: float) -> int:
    """A non-negative float quantity resolved to integer micro-units (half-up)."""
    return math.floor(value * 1_000_000 + 0.5)


class EnergyIntegrator:
    """Cumulative energies in milli-Wh / milli-varh / milli-VAh as exact integers, totals and per tariff (1-8).

    ``S+``/``S-`` follow the billing VA ``method``; ``SA``, ``SV``, ``SE`` keep all three methods (import+export).
    ``R+``/``R-`` are derived (:meth:`value`).  Per phase, active import/export is kept in ``phases``.
    Whole mWh go to the total and to the active tariff together, so the tariff registers always add up to the total;
    the sub-mWh remainder is carried per register across steps (and tariffs).
    """

    def __init__(self, method: VaMethod = VaMethod.ARITHMETIC) -> None:
        self.method = VaMethod(method)
        self.total: dict[str, int] = dict.fromkeys(REGISTER_NAMES, 0)
        self.tariffs: dict[int, dict[str, int]] = {}
        self.phases: dict[int, dict[str, int]] = {}
        self._rem: dict[str, int] = {}

    def _carry(self, key: str, units: int) -> int:
        acc = self._rem.get(key, 0) + units
        whole, self._rem[key] = divmod(acc, _UNITS_PER_MWH)
        return whole

    def add_exact(self, name: str, milli: int, tariff: int) -> None:
        """Add whole mWh to register ``name`` (total and ``tariff``)."""
        if name not in REGISTER_NAMES:
            raise ConfigError(f"unknown energy register {name!r}")
        if not 1 <= tariff <= 8:
            raise ConfigError(f"tariff must be 1-8, got {tariff}")
        if milli < 0:
            raise ConfigError(f"energy registers only count up, got {milli} for {name}")
        self.total[name] += milli
        regs = self.tariffs.get(tariff)
        if regs is None:
            regs = self.tariffs[tariff] = dict.fromkeys(REGISTER_NAMES, 0)
        regs[name] += milli

    def _add(self, name: str, power: float, us: int, tariff: int) -> None:
        whole = self._carry(name, _micro(abs(power)) * us)
        if whole:
            self.add_exact(name, whole, tariff)

    def add(self, m: Measurement, seconds: float, tariff: int) -> None:
        """Integrate ``m`` over ``seconds`` into the total and the registers of ``tariff``."""
        if not 1 <= tariff <= 8:
            raise ConfigError(f"tariff must be 1-8, got {tariff}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"integration time must be a non-negative number of seconds, got {seconds!r}")
        us = _micro(seconds)
        p, q = m.p_w, m.q_var
        exporting = p < 0
        self._add("A-" if exporting else "A+", p, us, tariff)
        self._add(f"Q{quadrant(p, q)}", q, us, tariff)
        self._add("S-" if exporting else "S+", m.apparent(self.method), us, tariff)
        self._add("SA", m.s_arithmetic_va, us, tariff)
        self._add("SV", m.s_vectorial_va, us, tariff)
        self._add("SE", m.s_effective_va, us, tariff)
        for i, ph in enumerate(m.phases, start=1):
            name = "A-" if ph.p_w < 0 else "A+"
            whole = self._carry(f"L{i}/{name}", _micro(abs(ph.p_w)) * us)
            if whole:
                regs = self.phases.setdefault(i, dict.fromkeys(_PHASE_NAMES, 0))
                regs[name] += whole

    def value(self, name: str, tariff: int = 0) -> int:
        """A register in mWh, including the derived ``R+`` (Q1+Q2) and ``R-`` (Q3+Q4); tariff 0 is the total."""
        regs = self.total if tariff == 0 else self.tariffs.get(tariff, {})
        if name == "R+":
            return regs.get("Q1", 0) + regs.get("Q2", 0)
        if name == "R-":
            return regs.get("Q3", 0) + regs.get("Q4", 0)
        if name not in REGISTER_NAMES:
            raise ConfigError(f"unknown energy register {name!r}")
        return regs.get(name, 0)

    def exact(self, name: str) -> int:
        """A total register in units of 10⁻¹² J (µW·µs), the sub-mWh remainder included: the meter's test output."""
        return self.total[name] * _UNITS_PER_MWH + self._rem.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable integer form for non-volatile storage.

        ``{"method": "arithmetic", "total": {"A+": mWh, ...}, "tariffs": {"1": {...}}, "phases": {"1": {...}},
        "rem": {register: remainder in 10⁻¹² J}}`` - every number an integer, so nothing drifts across restarts.
        """
        return {
            "method": str(self.method),
            "total": dict(self.total),
            "tariffs": {str(t): dict(r) for t, r in self.tariffs.items()},
            "phases": {str(i): dict(r) for i, r in self.phases.items()},
            "rem": dict(self._rem),
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> EnergyIntegrator:
        """Restore from :meth:`snapshot`; DataError names the bad entry."""
        try:
            regs = cls(VaMethod(str(data["method"])))
            regs.total.update(_counts(data["total"], "total", REGISTER_NAMES))
            for t, r in dict(data.get("tariffs", {})).items():
                if not str(t).isdigit() or not 1 <= int(t) <= 8:
                    raise DataError(f"energy snapshot: tariff {t!r} is not 1-8")
                regs.tariffs[int(t)] = {
                    **dict.fromkeys(REGISTER_NAMES, 0),
                    **_counts(r, f"tariffs.{t}", REGISTER_NAMES),
                }
            for i, r in dict(data.get("phases", {})).items():
                if str(i) not in ("1", "2", "3"):
                    raise DataError(f"energy snapshot: phase {i!r} is not 1-3")
                regs.phases[int(i)] = {**dict.fromkeys(_PHASE_NAMES, 0), **_counts(r, f"phases.{i}", _PHASE_NAMES)}
            regs._rem = _counts(data.get("rem", {}), "rem", None)
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"energy snapshot is malformed: {exc!r}") from exc
        return regs


def _counts(raw: object, where: str, names: tuple[str, ...] | None) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise DataError(f"energy snapshot: {where} must be a mapping")
    out: dict[str, int] = {}
    for key, value in raw.items():
        if names is not None and key not in names:
            raise DataError(f"energy snapshot: unknown register {where}.{key}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataError(f"energy snapshot: {where}.{key} must be a non-negative integer, got {value!r}")
        out[str(key)] = value
    return out


EnergyRegisters = EnergyIntegrator

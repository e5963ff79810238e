"""The production test bench: what drives a meter through reference loads (control channel) and talks to its
adjustment port.  :func:`adjust` computes and writes the corrections and verifies them; the accuracy test is
:mod:`.accuracy`.  Both take a :class:`Bench`, so they run the same against a served meter (sockets and real time) and
an in-process one (a simulated clock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import DeviceError
from .adjust_protocol import parse_reply
from .adjustment import PHASES, current_gain_and_offset

__all__ = ["Adjustment", "Bench", "adjust"]

#: the reference load of the phase adjustment: PF 0.5 inductive
PHASE_ANGLE_DEG = 60.0
#: the low current of the two-point current adjustment, as a fraction of the reference current
LOW_FRACTION = 0.05
#: after writing, the corrected values must agree with the reference this well (relative) ...
VERIFY_REL = 1e-4
#: ... and the angle this well (degrees)
VERIFY_DEG = 1e-3


class Bench(Protocol):
    def apply(self, voltage_v: float, current_a: float, angle_deg: float) -> None:
        """Inject the reference load (all three phases) through the control channel."""
        ...

    def adjust(self, line: str) -> str:
        """One command to the adjustment port; its reply line."""
        ...

    def dwell(self, seconds: float) -> None:
        """Let the meter run under the load for ``seconds``."""
        ...


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What :func:`adjust` wrote (per phase: the four corrections) and the worst deviation it verified."""

    corrections: dict[str, dict[str, float]]
    worst_rel: float
    worst_deg: float
    checksum: str


def _read(bench: Bench) -> dict[str, float]:
    return {k: float(v) for k, v in parse_reply(bench.adjust("read")).items()}


def adjust(bench: Bench, *, voltage_v: float, reference_current_a: float) -> Adjustment:
    """Adjust a meter: clear its corrections, measure its raw channels at reference loads (voltage and current gain at
    the reference current and PF 1, the current offset from a second point at 5 %, the phase at PF 0.5 inductive),
    write the corrections, then verify the corrected values against the reference.  DeviceError when the port
    refuses (e.g. sealed) or the verification fails."""
    ok = parse_reply  # every step must be answered with ok (AdjustError otherwise)
    ok(bench.adjust("clear"))
    low = reference_current_a * LOW_FRACTION
    bench.apply(voltage_v, reference_current_a, 0.0)
    high_read = _read(bench)
    bench.apply(voltage_v, low, 0.0)
    low_read = _read(bench)
    bench.apply(voltage_v, reference_current_a, PHASE_ANGLE_DEG)
    phase_read = _read(bench)
    corrections: dict[str, dict[str, float]] = {}
    for name in PHASES:
        gain, offset = current_gain_and_offset(
            (reference_current_a, low), (high_read[f"{name}.raw.i"], low_read[f"{name}.raw.i"])
        )
        corrections[name] = {
            "vgain": voltage_v / high_read[f"{name}.raw.v"],
            "igain": gain,
            "phase": PHASE_ANGLE_DEG - phase_read[f"{name}.raw.phi"],
            "ioffset": offset,
        }
    for name, values in corrections.items():
        for key, value in values.items():
            written = ok(bench.adjust(f"set {name} {key} {value!r}"))
            values[key] = float(written[f"{name}.{key}"])
    worst_rel = worst_deg = 0.0
    for current, angle in ((reference_current_a, PHASE_ANGLE_DEG), (low, 0.0)):
        bench.apply(voltage_v, current, angle)
        got = _read(bench)
        for name in PHASES:
            worst_rel = max(
                worst_rel,
                abs(got[f"{name}.v"] / voltage_v - 1),
                abs(got[f"{name}.i"] / current - 1),
            )
            worst_deg = max(worst_deg, abs(got[f"{name}.phi"] - angle))
    if worst_rel > VERIFY_REL or worst_deg > VERIFY_DEG:
        raise DeviceError(
            f"verification failed: corrected values deviate {worst_rel * 100:.4f} % and {worst_deg:.4f} deg from the "
            "reference"
        )
    checksum = ok(bench.adjust("id"))["cal"]
    return Adjustment(corrections=corrections, worst_rel=worst_rel, worst_deg=worst_deg, checksum=checksum)

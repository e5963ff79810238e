"""The accuracy test of a meter lab: test points, the error limits of an accuracy class, and the error table.

At each test point the bench injects a balanced three-phase reference load (nominal voltage, a current, a power
factor) through the control channel, lets the meter run, and compares the energy the meter registered (its test
output, the exact import accumulator read on the adjustment port) with the reference energy
``3·V·I·cos φ·Δt`` over the same meter time ``Δt``.  The error is ``(E_meter - E_ref) / E_ref`` in per cent.

Limits (percentage error, balanced load, reference conditions):

* class 1 and 2, IEC 62053-21 (direct-connected, basic current Ib = the reference current): PF 1 from 0.05 Ib
  (1.5 / 2.5 % below 0.1 Ib, then 1.0 / 2.0 %); PF 0.5 inductive and 0.8 capacitive from 0.1 Ib (1.5 / 2.5 % below
  0.2 Ib, then 1.0 / 2.0 %);
* class 0.5S and 0.2S, IEC 62053-22 (transformer-operated, rated current In): PF 1 from 0.01 In (1.0 / 0.4 % below
  0.05 In, then 0.5 / 0.2 %); PF 0.5 inductive and 0.8 capacitive from 0.02 In (1.0 / 0.5 % below 0.1 In, then
  0.6 / 0.3 %);
* MID classes B and C, Directive 2014/32/EU annex V table 2 (+5 °C to +30 °C, balanced load, PF 0.5 inductive to
  0.8 capacitive): B 2 % from Imin to Imax (direct-connected: Itr = 0.1 Iref, Imin = 0.05 Iref); C 1 % from Imin to
  Itr and 0.7 % from Itr to Imax (transformer-operated: Itr = 0.05 In, Imin = 0.01 In).

Points where a class sets no limit are not run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from .adjust_protocol import parse_reply
from .adjustment import AccuracyClassName
from .bench import Bench

__all__ = [
    "CLASSES",
    "PointResult",
    "TestPoint",
    "accuracy_limit",
    "accuracy_points",
    "results_json",
    "run_accuracy_test",
]

CLASSES: tuple[AccuracyClassName, ...] = ("1", "2", "0.5S", "0.2S", "B", "C")
#: the power factors of the test points: (label, angle by which the current lags, degrees)
POWER_FACTORS = (("1", 0.0), ("0.5i", 60.0), ("0.8c", -math.degrees(math.acos(0.8))))


@dataclass(frozen=True, slots=True)
class TestPoint:
    """One test point: the current (as a label and in A) and the power factor."""

    __test__ = False  # not a pytest class

    label: str  # "5% Iref", "Imax"
    current_a: float
    pf: str  # "1", "0.5i", "0.8c"
    angle_deg: float


@dataclass(frozen=True, slots=True)
class PointResult:
    point: TestPoint
    seconds: float
    reference_wh: float
    meter_wh: float
    error_pct: float
    limit_pct: float
    passed: bool


def accuracy_limit(cls: AccuracyClassName, current_a: float, reference_a: float, pf: str) -> float | None:
    """The class's percentage error limit at a point; None where the class sets none."""
    x = current_a / reference_a
    unity = pf == "1"
    eps = 1e-9
    if cls in ("1", "2"):
        low, high = (1.5, 1.0) if cls == "1" else (2.5, 2.0)
        start, knee = (0.05, 0.1) if unity else (0.1, 0.2)
    elif cls in ("0.5S", "0.2S"):
        low, high = ((1.0, 0.5) if unity else (1.0, 0.6)) if cls == "0.5S" else ((0.4, 0.2) if unity else (0.5, 0.3))
        start, knee = (0.01, 0.05) if unity else (0.02, 0.1)
    elif cls == "B":
        low, high, start, knee = 2.0, 2.0, 0.05, 0.1
    else:
        low, high, start, knee = 1.0, 0.7, 0.01, 0.05
    if x < start - eps:
        return None
    return low if x < knee - eps else high


def accuracy_points(
    reference_a: float, max_a: float, cls: AccuracyClassName, *, fractions: tuple[float, ...] = (0.05, 0.1, 1.0)
) -> list[TestPoint]:
    """5 %, 10 %, 100 % of the reference current and Imax, each at PF 1, 0.5 inductive and 0.8 capacitive, less the
    points where ``cls`` sets no limit."""
    currents = [(f"{f * 100:g}% Iref", reference_a * f) for f in fractions] + [("Imax", max_a)]
    points = []
    for pf, angle in POWER_FACTORS:
        for label, amps in currents:
            if accuracy_limit(cls, amps, reference_a, pf) is not None:
                points.append(TestPoint(label=label, current_a=amps, pf=pf, angle_deg=angle))
    return points


def _energy(bench: Bench) -> tuple[datetime, int]:
    fields = parse_reply(bench.adjust("energy"))
    return datetime.fromisoformat(fields["t"]), int(fields["ap"])


def run_accuracy_test(
    bench: Bench,
    points: list[TestPoint],
    *,
    voltage_v: float,
    reference_a: float,
    cls: AccuracyClassName,
    dwell_s: float = 2.0,
) -> list[PointResult]:
    """Run every point: inject the load, let the meter settle one step, then compare its energy over ``dwell_s``
    with the reference energy over the same meter time."""
    results = []
    for point in points:
        bench.apply(voltage_v, point.current_a, point.angle_deg)
        bench.dwell(1.0)  # the measuring step that was running when the load changed is not part of the test
        t0, e0 = _energy(bench)
        bench.dwell(dwell_s)
        t1, e1 = _energy(bench)
        seconds = (t1 - t0).total_seconds()
        power_w = 3 * voltage_v * point.current_a * math.cos(math.radians(point.angle_deg))
        reference = power_w * seconds
        measured = (e1 - e0) / 1e12
        error = math.nan if seconds <= 0 or reference <= 0 else (measured - reference) / reference * 100
        limit = accuracy_limit(cls, point.current_a, reference_a, point.pf)
        assert limit is not None
        results.append(
            PointResult(
                point=point,
                seconds=seconds,
                reference_wh=reference / 3600,
                meter_wh=measured / 3600,
                error_pct=error,
                limit_pct=limit,
                passed=math.isfinite(error) and abs(error) <= limit,
            )
        )
    return results


def results_json(results: list[PointResult], *, cls: AccuracyClassName, serial: str) -> dict[str, Any]:
    """``{"meter": serial, "class": "1", "passed": bool, "points": [{label, current_a, pf, ...}]}``."""
    rows = []
    for r in results:
        row = asdict(r.point)
        row.update(
            seconds=r.seconds,
            reference_wh=round(r.reference_wh, 6),
            meter_wh=round(r.meter_wh, 6),
            error_pct=None if not math.isfinite(r.error_pct) else round(r.error_pct, 4),
            limit_pct=r.limit_pct,
            passed=r.passed,
        )
        rows.append(row)
    return {"meter": serial, "class": cls, "passed": all(r.passed for r in results), "points": rows}

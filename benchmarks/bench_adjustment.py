"""The cost of the measuring path (raw channel error, then corrections) when a live meter steps: simulated seconds per
wall second of the demo meter with the path and with it bypassed (as before adjustment existed), three runs each,
alternating, and the ratio of the medians, all measured in one run.

Usage: python benchmarks/bench_adjustment.py [--hours H]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from meterkit.clock import SimulatedClock
from meterkit.meter.calibration import Calibration
from meterkit.meter.config import load_config
from meterkit.meter.metrology import PhaseInput
from meterkit.meter.virtual import VirtualMeter, demo_config_path

START = datetime(2026, 11, 1, tzinfo=UTC)


def _rate(hours: float) -> float:
    vm = VirtualMeter(load_config(demo_config_path()), clock=SimulatedClock(START), follow_clock=False, start=START)
    t = time.perf_counter()
    vm.advance_to(START + timedelta(hours=hours))
    return hours * 3600 / (time.perf_counter() - t)


def _bypass(self: Calibration, phases: Sequence[PhaseInput]) -> tuple[tuple[PhaseInput, ...], tuple[PhaseInput, ...]]:
    return tuple(phases), tuple(phases)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0, help="simulated hours per run (default 2)")
    args = ap.parse_args()
    path = Calibration.measure_path
    with_path: list[float] = []
    without: list[float] = []
    for _ in range(3):
        Calibration.measure_path = path  # type: ignore[method-assign]
        with_path.append(_rate(args.hours))
        Calibration.measure_path = _bypass  # type: ignore[method-assign]
        without.append(_rate(args.hours))
    Calibration.measure_path = path  # type: ignore[method-assign]
    a, b = statistics.median(with_path), statistics.median(without)
    print(f"demo meter with raw error and corrections: {a:,.0f} simulated s per wall s (median of 3)")
    print(f"the same, measuring path bypassed:         {b:,.0f} simulated s per wall s (median of 3)")
    print(f"the measuring path costs x{b / a:.2f} of the stepping time")


if __name__ == "__main__":
    main()

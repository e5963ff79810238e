"""Simulated seconds per wall second: one-second steps of a synthetic three-phase load through the full meter
(metrology, energy registers, demand engines total and per tariff, TOU, load profile, NV memory in SQLite).

A month of one-second steps is 2.68 M steps; the benchmark runs a slice (default 1 day) and extrapolates.
Usage: python benchmarks/bench_replay.py [--hours H] [--state FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    args = ap.parse_args()
    cfg = load_config(text='[clock]\nstart = "2026-11-02T00:00:00+00:00"\n')
    with tempfile.TemporaryDirectory() as tmp:
        store = NvStore(Path(tmp) / "bench.sqlite")
        vm = VirtualMeter(cfg, store=store, follow_clock=False)
        end = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=args.hours)
        t0 = time.perf_counter()
        vm.advance_to(end, step_s=1.0)
        wall = time.perf_counter() - t0
        store.close()
    simulated = args.hours * 3600
    rate = simulated / wall
    month = 31 * 86400
    print(f"simulated {simulated:.0f} s in one-second steps in {wall:.2f} s wall: {rate:,.0f} simulated s per wall s")
    print(f"a month of one-second replay would take about {month / rate / 60:.1f} min")
    print(f"MD A+ after the slice: {vm.meter.maximum('A+')}")


if __name__ == "__main__":
    main()

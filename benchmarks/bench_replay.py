"""Simulated seconds per wall second for a month of one-second replay through the full meter.

One-second load data (a C&I day: base load at night, a weekday midday peak, noise; integer mWh per second) is
generated in memory and replayed through the whole virtual meter: energy registers, demand engines (total and per
tariff, A+, A-, S+), TOU, load profile, billing, and the NV memory (SQLite) - in memory by default, in a real state
file (WAL, synchronous=FULL, as ``meterkit serve --state``) with ``--state``.  ``--mode live`` instead steps the
synthetic three-phase source through the metrology (P, Q, three VA methods per second) the way live serving does.

Usage: python benchmarks/bench_replay.py [--days D] [--state] [--mode replay|live]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from meterkit.meter.config import load_config
from meterkit.meter.sources import ReplayInterval
from meterkit.meter.virtual import VirtualMeter, check_replay_range
from meterkit.storage import NvStore

START = datetime(2026, 11, 1, tzinfo=UTC)


def one_second_load(days: float, seed: int = 7) -> np.ndarray:
    """mWh consumed in each second: 35 kW base, up to 120 kW at weekday noon, 3 % noise."""
    n = int(days * 86400)
    t = np.arange(n, dtype=np.int64)
    hour = (t % 86400) / 3600
    weekday = ((t // 86400) + START.weekday()) % 7 < 5
    shape = np.where(weekday & (hour >= 6) & (hour < 18), np.sin(np.pi * (hour - 6) / 12).clip(0) ** 0.6, 0.0)
    kw = (35 + 85 * shape) * (1 + np.random.default_rng(seed).normal(0, 0.03, n))
    return np.rint(kw.clip(0) * 1000 / 3.6).astype(np.int64)  # kW for 1 s = kW * 1000/3.6 mWh


def intervals(energy: np.ndarray) -> Iterator[ReplayInterval]:
    second = timedelta(seconds=1)
    end = START
    for mwh in energy.tolist():
        end += second
        yield ReplayInterval(end=end, a_plus_mwh=mwh)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=31.0, help="simulated days (default: a month, 31)")
    ap.add_argument("--state", action="store_true", help="NV memory in a state file on disk instead of in memory")
    ap.add_argument("--mode", choices=("replay", "live"), default="replay")
    args = ap.parse_args()
    cfg = load_config(text=f'[clock]\nstart = "{START.isoformat()}"\n')
    with tempfile.TemporaryDirectory() as tmp:
        store = NvStore(Path(tmp) / "bench.sqlite") if args.state else NvStore(":memory:")
        vm = VirtualMeter(cfg, store=store, start=START, follow_clock=False)
        if args.mode == "replay":
            energy = one_second_load(args.days)
            check_replay_range(cfg, int(energy.max()), 1.0, "benchmark load")
            t0 = time.perf_counter()
            vm.replay_intervals(intervals(energy))
        else:
            t0 = time.perf_counter()
            vm.advance_to(START + timedelta(days=args.days), step_s=1.0)
        wall = time.perf_counter() - t0
        store.close()
    simulated = args.days * 86400
    rate = simulated / wall
    month = 31 * 86400
    nv = "state file (WAL, synchronous=FULL)" if args.state else "in-memory NV"
    print(f"{args.mode}, {nv}: {simulated:,.0f} one-second steps in {wall:.1f} s wall")
    print(f"{rate:,.0f} simulated s per wall s; a month of one-second data takes {month / rate / 60:.1f} min")
    print(f"A+ {vm.meter.registers.total['A+'] / 1e6:.3f} kWh, MD A+ {vm.meter.maximum('A+')}")


if __name__ == "__main__":
    main()

"""Throughput of the demand kernel over a fleet: 1,000 meters x 31 days of 1-minute data (44.6 M samples).

Prints, measured in one run, input samples per second of:
* ours: all 16 configurations at once (fixed 5/15/30/60 and the 12 sliding ones), int64 milli-Wh, time-major;
* pandas: a straightforward ``groupby("meter").rolling("15min")`` computing sliding 15/1 alone, then the maximum;
* ``numpy.sum`` over the same int64 array (and over a float32 copy, for reference);
and the ratios ours/pandas and ours/numpy.sum.
Usage: python benchmarks/bench_demand.py [--meters N] [--days D]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from meterkit.analytics import ALL_CONFIGS, compute_demand
from meterkit.analytics.loadprofile import LoadProfile


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--days", type=int, default=31)
    args = ap.parse_args()
    n, m = args.days * 1440, args.meters
    rng = np.random.default_rng(1)
    # 1-minute energies in mWh (0-3 kWh per minute -> 0-180 kW), time-major
    energy = rng.integers(0, 3_000_000, size=(n, m), dtype=np.int64)
    samples = n * m
    profile = LoadProfile(
        meters=[f"M{i:04d}" for i in range(m)], step_s=60, start=datetime(2026, 10, 1, tzinfo=UTC), energy=energy
    )
    ours = best_of(lambda: compute_demand(profile, ALL_CONFIGS), repeat=2)
    np_int = best_of(lambda: energy.sum())
    f32 = energy.astype(np.float32)
    np_f32 = best_of(lambda: f32.sum())

    # pandas baseline on a slice (it is slow); its rate is per input sample
    pm = max(1, min(m, 100))
    idx = pd.date_range("2026-10-01 00:01", periods=n, freq="1min", tz="UTC")
    long = pd.DataFrame(
        {
            "meter": np.repeat(np.arange(pm), n),
            "timestamp": np.tile(idx.values, pm),
            "kw": (energy[:, :pm].T.ravel() * 60 / 1e6),
        }
    ).set_index("timestamp")

    def pandas_sliding() -> None:
        rolled = long.groupby("meter")["kw"].rolling("15min", min_periods=15).mean()
        rolled.groupby(level=0).max()

    pd_t = best_of(pandas_sliding, repeat=1)
    pd_rate = pm * n / pd_t
    ours_rate = samples / ours
    print(f"data: {m} meters x {args.days} days x 1440 = {samples / 1e6:.1f} M samples (int64 mWh, time-major)")
    print(f"ours, all {len(ALL_CONFIGS)} configurations at once: {ours_rate / 1e6:8.1f} M samples/s ({ours:.3f} s)")
    print(f"pandas groupby().rolling('15min'), sliding 15/1 only ({pm} meters): {pd_rate / 1e6:8.1f} M samples/s")
    print(f"numpy.sum over the same int64 array: {samples / np_int / 1e6:8.1f} M samples/s")
    print(f"numpy.sum over a float32 copy:       {samples / np_f32 / 1e6:8.1f} M samples/s")
    print(f"ratio ours / pandas:              {ours_rate / pd_rate:6.1f}x   (target >= 20x)")
    print(f"ratio ours / numpy.sum (int64):   {ours_rate / (samples / np_int):6.3f}    (target >= 0.333)")
    print(f"ratio ours / numpy.sum (float32): {ours_rate / (samples / np_f32):6.3f}")


if __name__ == "__main__":
    main()

"""Throughput of the demand kernel over a fleet: 1,000 meters x 31 days of 1-minute data (44.6 M samples).

Prints, measured in one run, input samples per second of:
* ours: all 16 configurations at once (fixed 5/15/30/60 and the 12 sliding ones), int64 milli-Wh, time-major,
  through ``compute_demand_table`` (the MD, its time and the window counts of every meter, configuration and period as
  arrays: what a fleet computation returns), with the number of threads it used; for reference also
  ``compute_demand`` (the same plus one Python result object each, 16,000 here) and the compiled kernel alone;
* pandas: a straightforward ``groupby("meter").rolling("15min")`` computing sliding 15/1 alone, then the maximum,
  on the first 100 meters (it is slow; its rate is per input sample, so it compares with the others);
* ``numpy.sum`` over the same int64 array (single-threaded; and over a float32 copy, for reference);
and the ratios ours/pandas and ours/numpy.sum.  Ours is called once before timing (the first call compiles or loads
the compiled kernel from numba's cache); ours and numpy.sum are best of 3, pandas one run.
Usage: python benchmarks/bench_demand.py [--meters N] [--days D]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from meterkit.analytics import ALL_CONFIGS, compute_demand, fused
from meterkit.analytics.complete import complete_md
from meterkit.analytics.engine import COMPILED_MIN_CELLS, compute_demand_table
from meterkit.loadprofile.grid import LoadProfile


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
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
    # the kernel alone, with the arguments compute_demand gives it (one billing period here: October)
    ks = np.array([w.period_min for w in ALL_CONFIGS], dtype=np.int64)
    qs = np.array([w.sub_min for w in ALL_CONFIGS], dtype=np.int64)
    period_of = np.zeros(n, dtype=np.int64)

    t0 = time.perf_counter()
    compute_demand_table(profile, ALL_CONFIGS)  # warm-up: compiles, or loads from numba's cache
    warm = time.perf_counter() - t0
    ours = best_of(lambda: compute_demand_table(profile, ALL_CONFIGS))
    with_objects = best_of(lambda: compute_demand(profile, ALL_CONFIGS))
    kernel = best_of(lambda: fused.fused_md(energy, period_of, ks, qs, 1, False))
    kernel_1 = best_of(lambda: fused.fused_md(energy, period_of, ks, qs, 1, False, fused.KernelOptions(parts=1)))
    numpy_kernel = best_of(lambda: complete_md(energy, period_of, ks, qs, 1, False), repeat=2)
    threads = fused.n_threads() if fused.AVAILABLE else 1
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
    kernel_rate = samples / kernel
    sum_rate = samples / np_int
    compiled = fused.AVAILABLE and samples * len(ALL_CONFIGS) >= COMPILED_MIN_CELLS
    engine = "numba kernel" if compiled else "NumPy kernel (numba not installed or the data too small)"
    print(f"data: {m} meters x {args.days} days x 1440 = {samples / 1e6:.1f} M samples (int64 mWh, time-major)")
    print(f"warm-up call (compile or load from numba's cache, not timed below): {warm:.2f} s")
    print(
        f"ours, all {len(ALL_CONFIGS)} configurations at once: {ours_rate / 1e6:8.1f} M samples/s ({ours:.3f} s, "
        f"compute_demand_table: {engine}; {threads if compiled else 1} thread(s))"
    )
    print(
        f"ours with {m * len(ALL_CONFIGS)} result objects (compute_demand): {samples / with_objects / 1e6:8.1f} M samples/s "
        f"({with_objects:.3f} s)"
    )
    print(
        f"ours, the kernel alone (fused_md):           {kernel_rate / 1e6:8.1f} M samples/s ({kernel:.3f} s, "
        f"{threads} thread(s))"
    )
    print(
        f"the NumPy kernel alone (complete_md, 1 thread): {samples / numpy_kernel / 1e6:8.1f} M samples/s "
        f"({numpy_kernel:.3f} s; compute_demand_table runs it below {COMPILED_MIN_CELLS:.0e} samples x configurations)"
    )
    print(
        f"pandas groupby().rolling('15min'), sliding 15/1 only, on {pm} of the {m} meters: "
        f"{pd_rate / 1e6:8.1f} M samples/s"
    )
    print(f"numpy.sum over the same int64 array (1 thread): {sum_rate / 1e6:8.1f} M samples/s")
    print(f"numpy.sum over a float32 copy (1 thread):       {samples / np_f32 / 1e6:8.1f} M samples/s")
    print(f"ratio ours / pandas:                    {ours_rate / pd_rate:6.1f}x   (target >= 20x)")
    print(f"ratio ours / numpy.sum (int64):         {ours_rate / sum_rate:6.3f}    (target >= 0.333)")
    print(f"ratio kernel alone / numpy.sum (int64): {kernel_rate / sum_rate:6.3f}    (target >= 0.333)")
    print(f"ratio kernel alone on 1 thread / numpy.sum (int64): {samples / kernel_1 / sum_rate:6.3f}")
    print(f"ratio ours / numpy.sum (float32):       {ours_rate / (samples / np_f32):6.3f}")


if __name__ == "__main__":
    main()

"""End to end from files: ``meterkit demand FILE --all`` against a plain polars script, from CSV and from Parquet.

Generates (in a temporary folder, removed afterwards) 50 meters x 91 days of 1-minute energies (6.55 M rows:
``timestamp`` ISO-8601 UTC, ``meter``, ``kwh``) as CSV and as Parquet, then runs, each in its own process and one
after the other:
* ours: ``meterkit demand FILE --all --format json`` (all 16 configurations, every meter and billing month, read,
  checked onto the exact integer grid);
* polars: a plain script computing sliding 15/1 alone: read, sort by meter and time, rolling mean of 15 minutes per
  meter, maximum per meter and month.
It prints the wall time and the peak resident memory (``ru_maxrss`` of the child) of each, and the ratios
ours/polars (targets: <= 0.7x wall, <= 1.0x memory); with ``--runs N`` the pair runs N times (alternating, ours
first) and the median ratios follow, for a shared, noisy machine; ``--warmup N`` (default 1) runs each side N times
untimed first, so that neither pays alone for a cold page cache.  Optionally (``--big-gb N``) it writes an N GB CSV and runs
``meterkit demand`` on it (wall time and peak memory; the streaming path when the file is larger than the memory
budget, ``--big-limit-mb``).
Usage: python benchmarks/bench_demand_files.py [--meters 50] [--days 91] [--runs 1] [--warmup 1]
       [--big-gb 0 [--big-limit-mb 1000]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

POLARS_SCRIPT = """
import sys
import polars as pl
path = sys.argv[1]
df = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, try_parse_dates=True)
df = df.sort("meter", "timestamp")
df = df.with_columns((pl.col("kwh").rolling_mean(15).over("meter") * 60).alias("kw"))
out = df.group_by("meter", pl.col("timestamp").dt.strftime("%Y-%m").alias("month")).agg(pl.col("kw").max())
print(out.height)
"""


def generate(folder: Path, meters: int, days: int) -> tuple[Path, Path]:
    n = days * 1440
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-01-01T00:01:00", "ms")
    stamps = start + np.arange(n, dtype=np.int64) * np.timedelta64(60_000, "ms")
    frames = []
    for m in range(meters):
        base = 0.5 + 0.5 * np.sin(np.arange(n) * 2 * np.pi / 1440 + m)
        kwh = np.round(base * rng.uniform(0.5, 1.5, n) * 2.0, 3)
        frames.append(
            pl.DataFrame(
                {
                    "timestamp": pl.Series(stamps).dt.replace_time_zone("UTC"),
                    "meter": np.full(n, f"M{m:03d}"),
                    "kwh": kwh,
                }
            )
        )
    df = pl.concat(frames)
    csv, parquet = folder / "fleet.csv", folder / "fleet.parquet"
    df.write_csv(csv, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    df.write_parquet(parquet)
    return csv, parquet


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed: {err.strip()}")
    return wall, usage.ru_maxrss / 1024


def ours(path: Path) -> list[str]:
    return [sys.executable, "-m", "meterkit.cli.app", "demand", str(path), "--all", "--format", "json"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--meters", type=int, default=50)
    ap.add_argument("--days", type=int, default=91)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each side first (file cache, .pyc)")
    ap.add_argument("--big-gb", type=float, default=0.0)
    ap.add_argument("--big-limit-mb", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv, parquet = generate(folder, args.meters, args.days)
        rows = args.meters * args.days * 1440
        print(
            f"{args.meters} meters x {args.days} days of 1-minute data: {rows / 1e6:.2f} M rows; "
            f"CSV {csv.stat().st_size / 1e6:.0f} MB, Parquet {parquet.stat().st_size / 1e6:.0f} MB"
        )
        script = folder / "polars_sliding.py"
        script.write_text(POLARS_SCRIPT)
        for path in (csv, parquet):
            kind = "CSV" if path == csv else "Parquet"
            walls, mems = [], []
            for _ in range(args.warmup):  # both sides once untimed: the first run pays for a cold cache alone
                run(ours(path))
                run([sys.executable, str(script), str(path)])
            for _ in range(args.runs):
                ours_wall, ours_mb = run(ours(path))
                ref_wall, ref_mb = run([sys.executable, str(script), str(path)])
                walls.append(ours_wall / ref_wall)
                mems.append(ours_mb / ref_mb)
                print(
                    f"{kind:8s} ours (16 configurations) {ours_wall:6.2f} s {ours_mb:7.0f} MB | "
                    f"polars (sliding 15/1) {ref_wall:6.2f} s {ref_mb:7.0f} MB | "
                    f"ratio wall {walls[-1]:.2f}x (target <= 0.7x), memory {mems[-1]:.2f}x (target <= 1.0x)"
                )
            if args.runs > 1:
                print(
                    f"{kind:8s} median of {args.runs} runs: ratio wall {statistics.median(walls):.2f}x "
                    f"(range {min(walls):.2f}-{max(walls):.2f}), memory {statistics.median(mems):.2f}x"
                )
        if args.big_gb > 0:
            big = folder / "big.csv"
            base = pl.read_csv(csv, try_parse_dates=True)
            with big.open("wb") as out:
                copies = 0
                while out.tell() < args.big_gb * 1e9:  # copies shifted by whole blocks of the generated days
                    shifted = base.with_columns(pl.col("timestamp") + pl.duration(days=args.days * copies))
                    text = shifted.write_csv(datetime_format="%Y-%m-%dT%H:%M:%SZ", include_header=copies == 0)
                    out.write(text.encode())
                    copies += 1
            del base
            argv = [*ours(big), "--memory-limit", str(args.big_limit_mb)]
            wall, mb = run(argv)
            print(
                f"big CSV {big.stat().st_size / 1e9:.1f} GB ({copies * rows / 1e6:.0f} M rows), --memory-limit "
                f"{args.big_limit_mb} MB: ours {wall:.1f} s, peak {mb:.0f} MB"
            )


if __name__ == "__main__":
    main()

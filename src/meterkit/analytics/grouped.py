"""Files larger than the memory: maximum demand computed over groups of meters, one streamed read per group.

A file is read whole when its estimated footprint (:data:`BYTES_PER_ROW` per data row) fits in the memory limit.
Otherwise one streaming pass counts the rows of every meter, the meters are put in groups whose rows fit, and each
group is read in a streaming pass that keeps only its rows, checked and computed as a file of its own (errors name
the rows of the whole file), then dropped.  The results are put together in the order of a single read, every
billing period that holds data listed for every meter.  Memory: the limit, plus the interpreter and libraries
(about 300 MB); one meter whose rows alone exceed the limit is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..errors import DataError
from ..loadprofile.dialect import FileFormat, estimate_rows, meter_counts
from ..loadprofile.grid import MAX_KW, LoadProfile, read_load_profile
from .billing import BillingSchedule
from .configs import DemandWindow
from .engine import DemandResult, compute_demand_table

__all__ = ["BYTES_PER_ROW", "GroupedRun", "available_memory", "demand_in_groups", "fits", "meter_groups"]

#: Peak memory per data row of a whole read and computation (measured with benchmarks/bench_demand_files.py:
#: 6.55 M rows of 1-minute data peak at 0.66-0.75 GB, of which ~0.15 GB are the interpreter and libraries: ~85 B).
BYTES_PER_ROW = 90


def available_memory() -> int:
    """Bytes the system reports as available (``MemAvailable``), or 2 GB when it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 2 << 30


def fits(path: Path, limit_bytes: int) -> bool:
    """True when the file can be read whole within ``limit_bytes`` (folders and standard input: always)."""
    if str(path) == "-" or path.is_dir() or not path.exists():
        return True
    return estimate_rows(path) * BYTES_PER_ROW <= limit_bytes


def meter_groups(counts: dict[str, int], limit_bytes: int, name: str) -> list[list[str]]:
    """Meters (sorted) in consecutive groups whose rows fit in ``limit_bytes``."""
    most = max(1, limit_bytes // BYTES_PER_ROW)
    groups: list[list[str]] = []
    rows = 0
    for meter in sorted(counts):
        n = counts[meter]
        if n > most:
            raise DataError(
                f"{name}: meter {meter} alone has {n} rows, about {n * BYTES_PER_ROW / 1e6:.0f} MB in memory, more "
                f"than the memory limit of {limit_bytes / 1e6:.0f} MB; raise --memory-limit or split the file by time"
            )
        if not groups or rows + n > most:
            groups.append([])
            rows = 0
        groups[-1].append(meter)
        rows += n
    return groups


@dataclass
class GroupedRun:
    """What a grouped computation gives: the results (in single-read order), notes, and the first group's profile
    (its interval length decided the windows)."""

    results: list[DemandResult]
    notes: list[str] = field(default_factory=list)
    groups: int = 0
    step_s: int = 0


def demand_in_groups(
    path: Path,
    windows: Callable[[int], tuple[DemandWindow, ...]] | Sequence[DemandWindow],
    *,
    limit_bytes: int,
    billing: BillingSchedule,
    fmt: FileFormat | None = None,
    on_incomplete: Literal["fail", "skip"] = "fail",
    tz: str = "UTC",
    allow_straddle: bool = False,
    max_kw: float = MAX_KW,
    progress: Callable[[int, int], None] | None = None,
) -> GroupedRun:
    """Maximum demand of a file too large for the memory, group of meters by group (see the module docstring).
    ``windows`` may be a function of the interval length (known after the first group) giving the windows."""
    fmt = fmt or FileFormat()
    name = str(path)
    counts = meter_counts(path, fmt)
    if counts is None:
        raise DataError(
            f"{name}: about {estimate_rows(path) * BYTES_PER_ROW / 1e6:.0f} MB in memory, more than the limit of "
            f"{limit_bytes / 1e6:.0f} MB, and it cannot be read by meter groups (no meter column, or not UTF-8); "
            "raise --memory-limit or split the file"
        )
    groups = meter_groups(counts, limit_bytes, name)
    results: list[DemandResult] = []
    notes: list[str] = []
    step: int | None = None
    chosen: tuple[DemandWindow, ...] = ()
    for k, group in enumerate(groups):
        profile: LoadProfile = read_load_profile(
            path,
            on_incomplete=on_incomplete,
            tz=tz,
            fmt=fmt,
            max_kw=max_kw,
            meters=group,
            step_s=step,
            guess_label=step is None,
        )
        if step is None:  # the first group decides the interval and what the timestamps mark for all
            step = profile.step_s
            fmt = replace(fmt, label=profile.label)
            chosen = tuple(windows(step)) if callable(windows) else tuple(windows)
        notes += [n for n in profile.notes if n not in notes]
        results += compute_demand_table(profile, chosen, billing=billing, allow_straddle=allow_straddle).results()
        del profile
        if progress is not None:
            progress(k + 1, len(groups))
    return GroupedRun(_in_order(results, chosen), notes, len(groups), step or 0)


def _in_order(results: list[DemandResult], windows: tuple[DemandWindow, ...]) -> list[DemandResult]:
    """Results of all groups as one read gives them: by configuration, period and meter, with every period that
    holds data listed for every meter (no maximum where the meter has none)."""
    periods = sorted({r.billing_period for r in results})
    meters = sorted({r.meter for r in results})
    have = {(r.window, r.billing_period, r.meter): r for r in results}
    out: list[DemandResult] = []
    for w in windows:
        for p in periods:
            for m in meters:
                out.append(have.get((w, p, m)) or DemandResult(m, w, p, None, None, 0, 0))
    return out

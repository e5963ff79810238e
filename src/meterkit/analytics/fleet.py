"""Fleet scale on Dask: the same checks and kernel per meter group, over a folder of files, on any scheduler.

The local threaded scheduler is the default; ``scheduler="tcp://host:8786"`` (or a ``distributed.Client``) runs the
same graph on a cluster.  Every file is one input partition, read and checked like ``meterkit demand`` reads a single
file (local timestamps in ``tz``, the repeated DST hour resolved by order within the file), with its file name and
row numbers carried along; the rows are then shuffled on ``meter`` so each partition holds whole meters, put back in
file order, and computed by :func:`~meterkit.analytics.engine.compute_demand`.  So results, gap notes and errors
equal the single-process ones; messages name rows as ``rows 12 of part-3.parquet``.

Files are read in their dialect as without Dask (:mod:`meterkit.loadprofile.dialect`: separator, decimal mark,
encoding, column roles and units, a separate date and time of day, found in each file or given as a
:class:`~meterkit.loadprofile.dialect.FileFormat`); timestamps mark interval ends unless the format or a start column
says starts (the month-boundary guess of ``meterkit demand`` on one file is not made here).

Each partition lays its own grid from the full hour (of ``tz``) before its first reading; the grids agree for every
zone whose offsets differ by whole hours.  Billing periods in which a meter has no data are listed for it (without a
maximum) when any meter has data there, as the single-process result lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, TransportError
from ..loadprofile.dialect import ROW, FileFormat, file_quantity, read_canonical
from ..loadprofile.grid import (
    MAX_KW,
    RowNames,
    frame_arrays,
    gaps_error,
    gaps_note,
    profile_from_arrays,
    shortest_interval,
)
from .billing import BillingSchedule
from .choice import choose_windows, nothing_computable
from .configs import DemandWindow
from .engine import DemandResult, compute_demand

__all__ = ["CONNECT_TIMEOUT_S", "FleetDemand", "fleet_demand", "fleet_demand_with_notes", "fleet_files"]

#: How long to try to reach a scheduler given by address before giving up.
CONNECT_TIMEOUT_S = 10.0
SUFFIXES = (".parquet", ".pq", ".csv", ".txt", ".tsv")

# ``start``: the file's timestamps mark interval starts (moved to the ends once the interval length is known)
_INPUT = {"meter": object, "epoch": "int64", "value": "float64", "file": "int64", "row": "int64", "start": "bool"}
_OUTPUT = [
    "kind",  # "result" or "gap"
    "meter",
    "method",
    "period_min",
    "sub_min",
    "billing_period",
    "md_kw",
    "at",
    "windows",
    "skipped",
    "text",
]

Progress = Callable[[int, int], None]  # (partitions done, partitions in all)


@dataclass
class FleetDemand:
    """Results in the single-process order, the notes (skipped gaps) and the data's interval length."""

    results: list[DemandResult]
    notes: list[str] = field(default_factory=list)
    step_s: int | None = None


def fleet_files(source: str | Path) -> tuple[Path, list[Path]]:
    """The files of a data set: the file itself, or every CSV/Parquet file under a folder (sorted by path)."""
    root = Path(source)
    if root.is_file():
        return root.parent, [root]
    if not root.is_dir():
        raise DataError(f"{source}: no such file or folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataError(f"{source}: no CSV or Parquet files in the folder")
    return root, files


def _empty(columns: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _read_part(index: int, path: str, tz: str, quantity: str, fmt: FileFormat) -> pd.DataFrame:
    """One file, read in its dialect (``fmt``, else found in the file, as without Dask) and checked, as (meter,
    epoch, value, file, row, start) in file order."""
    canon = read_canonical(Path(path), fmt)
    if canon.odd_rows_only:  # a large file with cells that do not parse: the checks on those rows name them
        if canon.frame.height:
            lines = canon.frame[ROW].to_numpy()
            frame_arrays(canon.frame, path, tz=tz, default_meter=Path(path).stem, names=RowNames(row_of=lines),
                         factor=canon.factor, time_format=canon.time_format)  # fmt: skip
        canon = read_canonical(Path(path), fmt, whole_text=True)
    height = canon.frame.height
    if height == 0:
        return _empty(_INPUT)
    arrays = frame_arrays(
        canon.frame, path, tz=tz, default_meter=Path(path).stem, factor=canon.factor, time_format=canon.time_format
    )
    if arrays.quantity != quantity:
        raise DataError(f"{path}: has '{arrays.quantity}' values where the first file has '{quantity}'")
    return pd.DataFrame(
        {
            "meter": pd.Series(arrays.meters, dtype=object),
            "epoch": arrays.epoch_s,
            "value": arrays.values,
            "file": np.full(height, index, dtype=np.int64),
            "row": np.arange(height, dtype=np.int64),
            "start": np.full(height, canon.label == "start", dtype=np.bool_),
        }
    )


def _shortest(frame: pd.DataFrame) -> pd.Series:
    """The shortest interval between consecutive readings of a meter in one partition (none: empty)."""
    if frame.empty:
        return pd.Series([], dtype="float64")
    frame = frame.sort_values(["file", "row"], kind="stable")
    step = shortest_interval(frame["epoch"].to_numpy(dtype=np.int64), frame["meter"].astype(str).to_numpy(dtype=object))
    return pd.Series([] if step is None else [float(step)], dtype="float64")


def _group_results(
    frame: pd.DataFrame,
    labels: Sequence[str],
    name: str,
    windows: Sequence[DemandWindow],
    billing: BillingSchedule,
    quantity: str,
    tz: str,
    allow_straddle: bool,
    step: float | None,
    max_kw: float,
    substitute: bool | None,
) -> pd.DataFrame:
    """The kernel over one partition of whole meters; gaps are always skipped here and reported as rows, and so is
    the interval length (a row of kind ``step``).  With ``substitute`` not None, only the configurations the interval
    allows are computed (see :func:`~meterkit.analytics.choice.choose_windows`)."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _OUTPUT})
    if step is None or not np.isfinite(step):
        raise DataError(f"{name}: need at least two readings per meter to know the interval length")
    if substitute is not None:
        choice = choose_windows(windows, int(step), substitute=substitute)
        if not choice.windows:
            raise nothing_computable(name, choice, int(step))
        windows = choice.windows
    frame = frame.sort_values(["file", "row"], kind="stable")
    several = len(labels) > 1  # one file: plain row numbers, as the single-process messages give them
    names = RowNames(
        files=labels if several else (),
        file_of=frame["file"].to_numpy(dtype=np.int64) if several else None,
        row_of=frame["row"].to_numpy(dtype=np.int64),
    )
    epoch = frame["epoch"].to_numpy(dtype=np.int64)
    epoch = epoch + frame["start"].to_numpy(dtype=np.bool_) * np.int64(step)  # interval starts -> ends
    profile = profile_from_arrays(
        epoch,
        frame["value"].to_numpy(dtype=np.float64),
        frame["meter"].astype(str).to_numpy(dtype=object),
        quantity=quantity,  # type: ignore[arg-type]
        name=name,
        on_incomplete="skip",
        tz=tz,
        names=names,
        step_s=int(step),
        max_kw=max_kw,
    )
    rows: list[dict[str, object]] = [{"kind": "gap", "meter": m, "text": text} for m, text in profile.gaps.items()]
    rows.append({"kind": "step", "text": str(int(step))})
    for r in compute_demand(profile, windows, billing=billing, allow_straddle=allow_straddle):
        rows.append(
            {
                "kind": "result",
                "meter": r.meter,
                "method": r.window.method,
                "period_min": r.window.period_min,
                "sub_min": r.window.sub_min,
                "billing_period": r.billing_period,
                "md_kw": None if r.md_kw is None else str(r.md_kw),
                "at": None if r.at is None else r.at.isoformat(),
                "windows": r.windows,
                "skipped": r.skipped,
            }
        )
    return pd.DataFrame(rows, columns=_OUTPUT).astype(object)


def fleet_demand(
    source: str | Path,
    windows: Sequence[DemandWindow],
    *,
    billing: BillingSchedule | None = None,
    on_incomplete: str = "fail",
    allow_straddle: bool = False,
    tz: str | None = None,
    scheduler: Any = None,
    progress: Progress | None = None,
    fmt: FileFormat | None = None,
    max_kw: float = MAX_KW,
    substitute: bool | None = None,
) -> list[DemandResult]:
    """Maximum demand for every meter of a folder of load-profile files, computed with Dask (see the module)."""
    return fleet_demand_with_notes(
        source,
        windows,
        billing=billing,
        on_incomplete=on_incomplete,
        allow_straddle=allow_straddle,
        tz=tz,
        scheduler=scheduler,
        progress=progress,
        fmt=fmt,
        max_kw=max_kw,
        substitute=substitute,
    ).results


def fleet_demand_with_notes(
    source: str | Path,
    windows: Sequence[DemandWindow],
    *,
    billing: BillingSchedule | None = None,
    on_incomplete: str = "fail",
    allow_straddle: bool = False,
    tz: str | None = None,
    scheduler: Any = None,
    progress: Progress | None = None,
    fmt: FileFormat | None = None,
    max_kw: float = MAX_KW,
    substitute: bool | None = None,
) -> FleetDemand:
    """As :func:`fleet_demand`, with the notes.  ``tz`` (default: the billing time zone) reads local timestamps and
    aligns the grid; ``fmt`` says how to read the files (separator, decimal mark, encoding, columns, label, time
    format: by default found in each file, as :func:`~meterkit.loadprofile.grid.read_load_profile` does);
    ``max_kw`` is the largest plausible average power; ``substitute`` not None computes only the configurations the
    data's interval allows (with True, the nearest in place of the others: see
    :func:`~meterkit.analytics.choice.choose_windows`); ``progress(done, total)`` is called as partitions of meters
    finish."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - optional extra
        raise ConfigError("fleet scale needs Dask: pip install 'meterkit[fleet]'") from exc
    billing = billing or BillingSchedule()
    tz = tz or billing.tz
    root, files = fleet_files(source)
    fmt = fmt or FileFormat()
    quantity, _factor = file_quantity(files[0], fmt)
    labels = [str(p.relative_to(root)) for p in files]
    ddf = dd.from_map(
        _read_part,
        range(len(files)),
        [str(p) for p in files],
        tz=tz,
        quantity=quantity,
        fmt=fmt,
        meta=_empty(_INPUT),
        enforce_metadata=False,
    )
    meta = pd.DataFrame({c: pd.Series(dtype=object) for c in _OUTPUT})
    # shuffle so every partition holds whole meters, then run the vectorised kernel once per partition, with the
    # interval length of the whole data set (as one process finds it)
    shuffled = ddf.shuffle(on="meter")
    step = shuffled.map_partitions(_shortest, meta=pd.Series(dtype="float64")).min()
    grouped = shuffled.map_partitions(
        _group_results,
        labels,
        str(source),
        windows,
        billing,
        quantity,
        tz,
        allow_straddle,
        step,
        max_kw,
        substitute,
        meta=meta,
    )
    parts = grouped.to_delayed()
    frames = _compute(parts, scheduler, progress)
    return _collect(frames, windows, on_incomplete, str(source), substitute)


def _compute(parts: list[Any], scheduler: Any, progress: Progress | None) -> list[pd.DataFrame]:
    from dask.base import compute

    total = len(parts)
    if progress is not None:
        progress(0, total)
    if isinstance(scheduler, str):
        from distributed import Client

        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise TransportError(
                f"cannot reach the Dask scheduler at {scheduler} ({' '.join(str(exc).split())})"
            ) from exc
        with client:
            return _on_client(client, parts, progress)
    if _is_client(scheduler):
        return _on_client(scheduler, parts, progress)
    if progress is None:
        return list(compute(*parts, scheduler=scheduler or "threads"))
    from dask.callbacks import Callback

    keys = {p.key for p in parts}
    done = 0

    def finished(key: Any, *_: Any) -> None:
        nonlocal done
        if key in keys:
            done += 1
            progress(done, total)

    with Callback(posttask=finished):
        return list(compute(*parts, scheduler=scheduler or "threads"))


def _is_client(scheduler: Any) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - the fleet extra brings distributed
        return False
    return isinstance(scheduler, Client)


def _on_client(client: Any, parts: list[Any], progress: Progress | None) -> list[pd.DataFrame]:
    from distributed import as_completed

    futures = client.compute(parts)
    total = len(futures)
    for done, future in enumerate(as_completed(futures), start=1):
        future.result()  # raises the partition's error at once
        if progress is not None:
            progress(done, total)
    return list(client.gather(futures))


def _collect(
    frames: list[pd.DataFrame],
    windows: Sequence[DemandWindow],
    on_incomplete: str,
    name: str,
    substitute: bool | None = None,
) -> FleetDemand:
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_OUTPUT)
    steps = {int(t) for t in frame.loc[frame["kind"] == "step", "text"]}
    step_s = min(steps) if steps else None
    if substitute is not None and step_s is not None:
        windows = choose_windows(windows, step_s, substitute=substitute).windows
    gap_rows = frame[frame["kind"] == "gap"]
    gaps = [str(t) for _m, t in sorted(zip(gap_rows["meter"].astype(str), gap_rows["text"], strict=True))]
    if gaps and on_incomplete == "fail":
        raise gaps_error(name, gaps)
    results: dict[tuple[DemandWindow, str, str], DemandResult] = {}
    for row in frame[frame["kind"] == "result"].itertuples(index=False):
        window = DemandWindow(row.method, int(row.period_min), int(row.sub_min))
        r = DemandResult(
            meter=str(row.meter),
            window=window,
            billing_period=str(row.billing_period),
            md_kw=None if pd.isna(row.md_kw) else Decimal(str(row.md_kw)),
            at=None if pd.isna(row.at) else datetime.fromisoformat(str(row.at)),
            windows=int(row.windows),
            skipped=int(row.skipped),
        )
        results[(window, r.billing_period, r.meter)] = r
    if not results and not gaps:
        raise DataError(f"{name}: no data rows")
    # a period in which some meter has data is listed for every meter, as in one process
    meters = sorted({m for _w, _p, m in results})
    for window in windows:
        for period in sorted({p for w, p, _m in results if w == window}):
            for meter in meters:
                results.setdefault(
                    (window, period, meter),
                    DemandResult(
                        meter=meter, window=window, billing_period=period, md_kw=None, at=None, windows=0, skipped=0
                    ),
                )
    rank = {w: i for i, w in enumerate(windows)}
    ordered = sorted(results.values(), key=lambda r: (rank.get(r.window, len(rank)), r.billing_period, r.meter))
    return FleetDemand(results=ordered, notes=[gaps_note(gaps)] if gaps else [], step_s=step_s)

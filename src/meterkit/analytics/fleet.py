"""Fleet scale on Dask: the same kernel per meter group, over partitioned Parquet, on any scheduler.

The local threaded scheduler is the default; ``scheduler="tcp://host:8786"`` (or a ``distributed.Client``) runs the
same graph on a cluster.  The data are shuffled on ``meter`` so each partition holds whole meters; each partition is
computed by :func:`~meterkit.analytics.engine.compute_demand`, so
the results equal the single-process ones exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .billing import BillingSchedule
from .configs import DemandWindow
from .engine import DemandResult, compute_demand
from .loadprofile import profile_from_arrays

__all__ = ["fleet_demand"]

_META_COLUMNS = ["meter", "method", "period_min", "sub_min", "billing_period", "md_kw", "at", "windows", "skipped"]


def _group_results(
    frame: pd.DataFrame, windows: Sequence[DemandWindow], billing: BillingSchedule, on_incomplete: str, quantity: str
) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _META_COLUMNS})
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    epoch = ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()
    profile = profile_from_arrays(
        epoch.astype(np.int64),
        frame[quantity].to_numpy(dtype=np.float64),
        frame["meter"].astype(str).to_numpy(dtype=object),
        quantity=quantity,  # type: ignore[arg-type]
        on_incomplete=on_incomplete,  # type: ignore[arg-type]
    )
    rows = []
    for r in compute_demand(profile, windows, billing=billing):
        rows.append(
            {
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
    return pd.DataFrame(rows, columns=_META_COLUMNS)


def fleet_demand(
    source: str | Path,
    windows: Sequence[DemandWindow],
    *,
    billing: BillingSchedule | None = None,
    on_incomplete: str = "fail",
    scheduler: Any = None,
) -> list[DemandResult]:
    """Maximum demand for every meter of a (partitioned) Parquet data set, computed with Dask."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - optional extra
        raise ConfigError("fleet scale needs Dask: pip install 'meterkit[fleet]'") from exc
    billing = billing or BillingSchedule()
    ddf = dd.read_parquet(str(source))
    cols = set(ddf.columns)
    if "meter" not in cols or "timestamp" not in cols or ("kw" in cols) == ("kwh" in cols):
        raise DataError(f"{source}: fleet data needs columns meter, timestamp and one of kw/kwh")
    quantity = "kw" if "kw" in cols else "kwh"
    meta = pd.DataFrame({c: pd.Series(dtype=object) for c in _META_COLUMNS})
    # shuffle so every partition holds whole meters, then run the vectorised kernel once per partition
    grouped = ddf.shuffle(on="meter").map_partitions(
        _group_results, windows, billing, on_incomplete, quantity, meta=meta
    )
    compute_kwargs: dict[str, Any] = {}
    if scheduler is None:
        compute_kwargs["scheduler"] = "threads"
    elif isinstance(scheduler, str):
        from distributed import Client

        with Client(scheduler) as client:
            frame = grouped.compute(scheduler=client)
        return _to_results(frame)
    else:
        compute_kwargs["scheduler"] = scheduler
    frame = grouped.compute(**compute_kwargs)
    return _to_results(frame)


def _to_results(frame: pd.DataFrame) -> list[DemandResult]:
    from datetime import datetime
    from decimal import Decimal

    out = []
    for row in frame.itertuples(index=False):
        window = DemandWindow(row.method, int(row.period_min), int(row.sub_min))
        out.append(
            DemandResult(
                meter=str(row.meter),
                window=window,
                billing_period=str(row.billing_period),
                md_kw=None if row.md_kw is None else Decimal(str(row.md_kw)),
                at=None if row.at is None else datetime.fromisoformat(str(row.at)),
                windows=int(row.windows),
                skipped=int(row.skipped),
            )
        )
    out.sort(key=lambda r: (r.meter, r.window, r.billing_period))
    return out

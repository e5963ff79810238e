"""A meter's load profile (the R5 ``P.01`` answer) written as a load-profile file that ``meterkit demand`` reads.

Columns: ``timestamp`` (ISO-8601 with the UTC offset, end of the interval), ``meter``, ``kwh`` (A+ energy in the
interval), ``kwh_export`` (A-), ``kvarh_q_plus`` (R+), ``kvarh_q_minus`` (R-), ``status`` (the meter's status
byte, hex) and its flags ``incomplete`` (bit 0: power failure or clock set inside the interval) and ``clock_set``
(bit 1).  The meter stamps intervals in its local time without an offset (``YYMMDDhhmm``): they are read in ``tz``,
the meter's time zone, the repeated hour at the end of daylight saving time resolved by order as in a file.
CSV, or Parquet when the file name ends in ``.parquet`` or ``.pq``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ..errors import DataError
from ..iec62056_21.messages import DataSet
from .grid import RowNames, _localize

__all__ = ["meter_profile_frame", "write_meter_profile"]

_COLUMNS = ("kwh", "kwh_export", "kvarh_q_plus", "kvarh_q_minus")


def meter_profile_frame(datasets: Sequence[DataSet], *, meter: str, tz: str = "UTC") -> pl.DataFrame:
    """The profile lines (the header ``P.01`` data set is skipped) as a frame in the load-profile format."""
    lines = [ds for ds in datasets if ds.address == "" and len(ds.values) >= 3]
    stamps: list[datetime] = []
    status: list[int] = []
    energies: list[list[str]] = [[] for _ in _COLUMNS]
    for n, ds in enumerate(lines, 1):
        try:
            stamps.append(datetime.strptime(ds.values[0].value, "%y%m%d%H%M"))
            status.append(int(ds.values[1].value, 16))
        except ValueError as exc:
            raise DataError(f"profile line {n}: cannot read {ds.values[0].value!r} {ds.values[1].value!r}") from exc
        for k in range(len(_COLUMNS)):
            text = ds.values[2 + k].value if 2 + k < len(ds.values) else ""
            try:
                energies[k].append(str(Decimal(text)) if text else "")
            except InvalidOperation as exc:
                raise DataError(f"profile line {n}: cannot read the energy {text!r}") from exc
    naive = pl.Series("timestamp", stamps, dtype=pl.Datetime("us"))
    meters = np.full(len(stamps), meter, dtype=object)
    epoch = _localize(naive, "profile", tz, meters, RowNames()) if stamps else np.array([], dtype=np.int64)
    zone = ZoneInfo(tz)
    zone_times = [datetime.fromtimestamp(int(s), UTC).astimezone(zone).isoformat() for s in epoch]
    flags = np.array(status, dtype=np.int64)
    cols: dict[str, object] = {"timestamp": zone_times, "meter": [meter] * len(stamps)}
    for k, name in enumerate(_COLUMNS):
        cols[name] = energies[k]
    cols["status"] = [f"{s:02X}" for s in status]
    cols["incomplete"] = ((flags & 1) != 0).tolist()
    cols["clock_set"] = ((flags & 2) != 0).tolist()
    return pl.DataFrame(cols, schema_overrides={c: pl.Utf8 for c in _COLUMNS})


def write_meter_profile(datasets: Sequence[DataSet], path: Path, *, meter: str, tz: str = "UTC") -> int:
    """Write the profile to ``path`` (CSV, or Parquet by suffix); returns the number of intervals written."""
    frame = meter_profile_frame(datasets, meter=meter, tz=tz)
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            frame.with_columns(pl.col(c).cast(pl.Float64) for c in _COLUMNS).write_parquet(path)
        else:
            frame.write_csv(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"{path}: cannot write the profile ({exc})") from exc
    return frame.height

"""Maximum demand from load profiles: a vectorised batch kernel shared by every configuration.

One prefix sum over the integer energies (time-major, so NumPy vectorises across meters) serves all windows:
the energy of any window ending at grid step ``i`` and ``k`` steps long is ``cs[i+1] - cs[i+1-k]``.  A sliding
window with sub-period ``S`` is evaluated at every sub-period end (multiples of ``S`` from the full hour); a fixed
window of length ``P`` at every multiple of ``P``.  Demand = window energy / nominal window length; the maximum is
strictly greater-than (ties keep the first window); values are rounded half-up to 0.01 kW only at the edge.

Windows count when they are complete (every interval present) and lie inside one billing period; a window that
straddles a billing reset counts for neither period unless ``allow_straddle`` is set (then it counts for the period
it ends in).  Every billing period that holds data gets a result per meter and configuration; its maximum is
``None`` when no window in it counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..demand_rules import MWH_PER_KWH
from ..demand_rules import to_kw as _to_kw
from ..errors import ConfigError
from ..loadprofile.grid import LoadProfile
from ..loadprofile.inputs import ProfileData, as_load_profile
from . import complete, fused
from .billing import BillingSchedule
from .configs import DemandWindow, parse_window

__all__ = ["DemandResult", "DemandTable", "centikw", "compute_demand", "compute_demand_table", "demand_series", "to_kw"]

_CENT = Decimal("0.01")

Kernel = Literal["auto", "compiled", "numpy"]
#: ``kernel="auto"`` runs the compiled kernel from this many cells (steps x meters x configurations) on: below,
#: loading it (about 0.5 s) costs more than it saves over the NumPy kernel (see benchmarks/bench_demand.py)
COMPILED_MIN_CELLS = 400_000_000


@dataclass(frozen=True, slots=True)
class DemandResult:
    """Maximum demand of one meter, configuration and billing period."""

    meter: str
    window: DemandWindow
    billing_period: str
    md_kw: Decimal | None  # None: no complete window in the period
    at: datetime | None  # end of the winning window
    windows: int  # complete windows that counted
    skipped: int  # windows left out because they were incomplete

    def as_json(self) -> dict[str, object]:
        return {
            "meter": self.meter,
            "method": self.window.method,
            "period_min": self.window.period_min,
            "sub_min": self.window.sub_min,
            "billing_period": self.billing_period,
            "md_kw": None if self.md_kw is None else float(self.md_kw),
            "at": None if self.at is None else self.at.isoformat(),
            "windows": self.windows,
            "skipped_incomplete": self.skipped,
        }


def to_kw(window_mwh: int, period_min: int) -> Decimal:
    """Exact demand in kW of a window energy in mWh, rounded half-up to 0.01 kW."""
    return _to_kw(int(window_mwh), period_min)


def _steps(profile: LoadProfile, minutes: int, what: str) -> int:
    seconds = minutes * 60
    if seconds % profile.step_s:
        raise ConfigError(
            f"the data interval ({profile.step_s // 60 or profile.step_s} {'min' if profile.step_s >= 60 else 's'}) "
            f"does not divide the {what} of {minutes} min"
        )
    return seconds // profile.step_s


def _prefix(a: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    cs = np.empty((a.shape[0] + 1, a.shape[1]), dtype=np.int64)
    cs[0] = 0
    np.cumsum(a, axis=0, out=cs[1:])
    return cs


@dataclass(frozen=True, slots=True)
class DemandTable:
    """Maximum demand of every configuration, billing period and meter, as arrays (axis order: configuration,
    period, meter).  ``md_centikw`` is the demand in 0.01 kW (rounded half-up) or -1 where no window counted;
    ``at_s`` the end of the winning window in Unix seconds (-1 likewise); ``windows`` the complete windows that
    counted; ``skipped`` the windows left out because they were incomplete."""

    meters: list[str]
    windows: tuple[DemandWindow, ...]
    periods: list[str]
    md_centikw: npt.NDArray[np.int64]
    at_s: npt.NDArray[np.int64]
    counted: npt.NDArray[np.int64]
    skipped: npt.NDArray[np.int64]

    def results(self) -> list[DemandResult]:
        """One :class:`DemandResult` per configuration, period and meter (in that order)."""
        out: list[DemandResult] = []
        md = self.md_centikw.tolist()
        at = self.at_s.tolist()
        counted = self.counted.tolist()
        skipped = self.skipped.tolist()
        for c, window in enumerate(self.windows):
            for p, label in enumerate(self.periods):
                for j, meter in enumerate(self.meters):
                    value = md[c][p][j]
                    found = value >= 0
                    out.append(
                        DemandResult(
                            meter=meter,
                            window=window,
                            billing_period=label,
                            md_kw=Decimal(value).scaleb(-2) if found else None,
                            at=datetime.fromtimestamp(at[c][p][j], UTC) if found else None,
                            windows=counted[c][p][j],
                            skipped=skipped[c][p][j],
                        )
                    )
        return out


def centikw(window_mwh: npt.NDArray[np.int64], period_min: int | npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Demand in 0.01 kW, rounded half-up, of window energies in mWh (vectorised :func:`to_kw`)."""
    num = window_mwh * 6  # 0.01 kW = mWh * 60 * 100 / (10**6 * period) = mWh * 6 / (1000 * period)
    den = 1000 * period_min
    up: npt.NDArray[np.int64] = (2 * num + den) // (2 * den)
    down: npt.NDArray[np.int64] = -((-2 * num + den) // (2 * den))
    return np.where(num >= 0, up, down)


def compute_demand(
    data: ProfileData,
    windows: Sequence[DemandWindow | str] = ("fixed 15", "sliding 15/1"),
    *,
    billing: BillingSchedule | None = None,
    allow_straddle: bool = False,
    start: datetime | None = None,
    step: timedelta | int | None = None,
    meters: list[str] | None = None,
    quantity: Literal["kwh", "kw"] = "kwh",
    tz: str | None = None,
    on_incomplete: Literal["fail", "skip"] = "fail",
) -> list[DemandResult]:
    """Maximum demand per meter, window configuration and billing period.

    ``data`` is a :class:`LoadProfile`, a polars or pandas DataFrame in the load-profile format, or a NumPy array
    of interval energies with ``start`` and ``step`` (see :func:`meterkit.loadprofile.inputs.as_load_profile`);
    ``windows`` are configurations or their names (``"fixed 15"``, ``"sliding 15/1"``).  ``tz`` (default: the
    billing schedule's) is the zone of local timestamps and of the billing resets."""
    zone = tz or (billing.tz if billing is not None else "UTC")
    billing = billing or BillingSchedule(tz=zone)
    profile = as_load_profile(
        data, start=start, step=step, meters=meters, quantity=quantity, tz=zone, on_incomplete=on_incomplete
    )
    chosen = [w if isinstance(w, DemandWindow) else parse_window(w) for w in windows]
    return compute_demand_table(profile, chosen, billing=billing, allow_straddle=allow_straddle).results()


def compute_demand_table(
    profile: LoadProfile,
    windows: Sequence[DemandWindow],
    *,
    billing: BillingSchedule | None = None,
    allow_straddle: bool = False,
    kernel: Kernel = "auto",
) -> DemandTable:
    """:func:`compute_demand` as arrays: what fleet-scale callers use (no Python object per result).

    Complete data (no gaps) goes through one of two kernels with the same exact results: ``"numpy"``
    (:mod:`.complete`) or ``"compiled"`` (:mod:`.fused`, with numba installed).  ``"auto"`` takes the compiled one
    only from :data:`COMPILED_MIN_CELLS` steps x meters x configurations on, where its speed pays for loading
    it (about half a second); data with gaps always take the masked NumPy path."""
    billing = billing or BillingSchedule()
    windows = tuple(windows)
    energy = profile.energy
    n_steps, n_meters = energy.shape
    start_s = int(profile.start.timestamp())
    step = profile.step_s
    labels, bounds = billing.periods(start_s, start_s + n_steps * step)
    if profile.valid is None and windows:
        compiled = kernel == "compiled" or (
            kernel == "auto" and fused.AVAILABLE and energy.size * len(windows) >= COMPILED_MIN_CELLS
        )
        if compiled and not fused.AVAILABLE:
            raise ConfigError("the compiled kernel needs numba (pip install 'meterkit[fast]')")
        return _compute_complete(profile, windows, labels, bounds, billing, allow_straddle, compiled)
    cs = _prefix(energy)
    bad_cs = _prefix((~profile.valid).astype(np.int64)) if profile.valid is not None else None
    steps_end = start_s + (np.arange(n_steps, dtype=np.int64) + 1) * step
    if profile.valid is not None:  # each meter's span: gaps inside it are reported, the edges outside are not
        span_lo = np.argmax(profile.valid, axis=0)
        span_hi = n_steps - 1 - np.argmax(profile.valid[::-1], axis=0)
        steps_end = steps_end[profile.valid.any(axis=1)]
    # every billing period that holds data is listed (without a maximum when no window in it counts), as the
    # compiled path does
    data_periods = np.unique(billing.index_of(steps_end, bounds))
    shape = (len(windows), data_periods.size, n_meters)
    md, at = np.full(shape, -1, np.int64), np.full(shape, -1, np.int64)
    counted, skipped = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    for c, window in enumerate(windows):
        k = _steps(profile, window.period_min, "integration period")
        q = _steps(profile, window.sub_min, "sub-period")
        ends = np.arange(q - 1, n_steps, q, dtype=np.int64)  # grid index of the last interval of each window
        ends = ends[ends >= k - 1]
        sums = cs[ends + 1] - cs[ends + 1 - k]  # (W, M)
        ok: npt.NDArray[np.bool_] | None = None
        partial: npt.NDArray[np.bool_] | None = None  # windows inside a meter's span that miss intervals
        if bad_cs is not None:
            missing = bad_cs[ends + 1] - bad_cs[ends + 1 - k]
            ok = missing == 0
            inside = ((ends - k + 1)[:, None] >= span_lo[None, :]) & (ends[:, None] <= span_hi[None, :])
            partial = (missing > 0) & inside
        end_s = start_s + (ends + 1) * step
        p_end = billing.index_of(end_s, bounds)
        if not allow_straddle:
            p_start = billing.index_of(end_s - k * step + 1, bounds)
            keep = p_start == p_end
            ok = keep[:, None] if ok is None else ok & keep[:, None]
        masked = sums if ok is None else np.where(ok, sums, -1)
        for pi, p in enumerate(data_periods):
            rows = np.flatnonzero(p_end == p)
            if rows.size == 0:
                continue
            a, b = int(rows[0]), int(rows[-1]) + 1
            block = masked[a:b]
            best = np.argmax(block, axis=0)
            best_val = block[best, np.arange(n_meters)]
            n_ok = (block >= 0).sum(axis=0)
            found = n_ok > 0
            md[c, pi] = np.where(found, centikw(best_val, window.period_min), -1)
            at[c, pi] = np.where(found, end_s[a + best], -1)
            counted[c, pi] = n_ok
            if partial is not None:
                skipped[c, pi] = partial[a:b].sum(axis=0)
    names = [labels[int(p)] if 0 <= p < len(labels) else "?" for p in data_periods]
    return DemandTable(list(profile.meters), windows, names, md, at, counted, skipped)


def _compute_complete(
    profile: LoadProfile,
    windows: tuple[DemandWindow, ...],
    labels: list[str],
    bounds: npt.NDArray[np.int64],
    billing: BillingSchedule,
    allow_straddle: bool,
    compiled: bool,
) -> DemandTable:
    """Complete data: the compiled one-pass kernel or its NumPy twin (same rules, same results as the masked
    path)."""
    step = profile.step_s
    start_s = int(profile.start.timestamp())
    ends_s = start_s + (np.arange(profile.n_steps, dtype=np.int64) + 1) * step
    period_of = billing.index_of(ends_s, bounds)
    first = int(period_of.min())
    period_of = period_of - first
    n_periods = int(period_of.max()) + 1
    ks = np.array([_steps(profile, w.period_min, "integration period") for w in windows], dtype=np.int64)
    qs = np.array([_steps(profile, w.sub_min, "sub-period") for w in windows], dtype=np.int64)
    md_of = fused.fused_md if compiled else complete.complete_md
    best, best_t, counted = md_of(profile.energy, period_of, ks, qs, n_periods, allow_straddle)
    present = np.unique(period_of)
    best, best_t = best[:, present], best_t[:, present]
    periods_ = np.array([w.period_min for w in windows], dtype=np.int64)[:, None, None]
    found = (best >= 0) & (counted[:, present] > 0)[:, :, None]
    md = np.where(found, centikw(best, periods_), -1)
    at = np.where(found, ends_s[np.maximum(best_t, 0)], -1)
    n = np.broadcast_to(counted[:, present][:, :, None], best.shape).copy()
    names = [labels[int(p) + first] if 0 <= int(p) + first < len(labels) else "?" for p in present]
    return DemandTable(list(profile.meters), windows, names, md, at, n, np.zeros_like(best))


def demand_series(
    profile: LoadProfile, window: DemandWindow, meter: str | None = None
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    """Every window's demand in kW (NaN where incomplete) for one meter: what a plot shows."""
    j = 0 if meter is None else profile.meters.index(meter)
    column = profile.energy[:, j : j + 1]
    k = _steps(profile, window.period_min, "integration period")
    q = _steps(profile, window.sub_min, "sub-period")
    cs = _prefix(column)[:, 0]
    ends = np.arange(q - 1, profile.n_steps, q, dtype=np.int64)
    ends = ends[ends >= k - 1]
    kw = (cs[ends + 1] - cs[ends + 1 - k]).astype(np.float64) * 60 / (MWH_PER_KWH * window.period_min)
    if profile.valid is not None:
        bad = _prefix((~profile.valid[:, j : j + 1]).astype(np.int64))[:, 0]
        kw[(bad[ends + 1] - bad[ends + 1 - k]) > 0] = np.nan
    times = profile.end_times()[ends]
    return times, kw

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
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from . import fused
from .billing import BillingSchedule
from .configs import DemandWindow
from .loadprofile import MWH_PER_KWH, LoadProfile

__all__ = ["DemandResult", "compute_demand", "demand_series", "to_kw"]

_CENT = Decimal("0.01")


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
    return (Decimal(int(window_mwh)) * 60 / (Decimal(MWH_PER_KWH) * period_min)).quantize(_CENT, ROUND_HALF_UP)


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


def compute_demand(
    profile: LoadProfile,
    windows: Sequence[DemandWindow],
    *,
    billing: BillingSchedule | None = None,
    allow_straddle: bool = False,
) -> list[DemandResult]:
    """Maximum demand per meter, window configuration and billing period."""
    billing = billing or BillingSchedule()
    energy = profile.energy
    n_steps, _n_meters = energy.shape
    start_s = int(profile.start.timestamp())
    step = profile.step_s
    labels, bounds = billing.periods(start_s, start_s + n_steps * step)
    if profile.valid is None and fused.AVAILABLE and windows:
        return _compute_fused(profile, windows, labels, bounds, billing, allow_straddle)
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
    results: list[DemandResult] = []
    for window in windows:
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
        for p in data_periods:
            rows = np.flatnonzero(p_end == p)
            a, b = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
            block = masked[a:b]
            best = np.argmax(block, axis=0) if rows.size else np.zeros(block.shape[1], dtype=np.int64)
            best_val = block[best, np.arange(block.shape[1])] if rows.size else best
            counted = (block >= 0).sum(axis=0)
            for j, meter in enumerate(profile.meters):
                if counted[j] == 0:
                    md, at = None, None
                else:
                    md = to_kw(int(best_val[j]), window.period_min)
                    at = datetime.fromtimestamp(int(end_s[a + int(best[j])]), UTC)
                results.append(
                    DemandResult(
                        meter=meter,
                        window=window,
                        billing_period=labels[int(p)] if 0 <= p < len(labels) else "?",
                        md_kw=md,
                        at=at,
                        windows=int(counted[j]),
                        skipped=0 if partial is None else int(partial[a:b, j].sum()),
                    )
                )
    return results


def _compute_fused(
    profile: LoadProfile,
    windows: Sequence[DemandWindow],
    labels: list[str],
    bounds: npt.NDArray[np.int64],
    billing: BillingSchedule,
    allow_straddle: bool,
) -> list[DemandResult]:
    """Complete data: the compiled one-pass kernel (same rules, same results as the NumPy path)."""
    step = profile.step_s
    start_s = int(profile.start.timestamp())
    ends_s = start_s + (np.arange(profile.n_steps, dtype=np.int64) + 1) * step
    period_of = billing.index_of(ends_s, bounds)
    first = int(period_of.min())
    period_of = period_of - first
    n_periods = int(period_of.max()) + 1
    ks = np.array([_steps(profile, w.period_min, "integration period") for w in windows], dtype=np.int64)
    qs = np.array([_steps(profile, w.sub_min, "sub-period") for w in windows], dtype=np.int64)
    best, best_t, counted = fused.fused_md(profile.energy, period_of, ks, qs, n_periods, allow_straddle)
    results: list[DemandResult] = []
    present = set(np.unique(period_of).tolist())
    for c, window in enumerate(windows):
        for p in range(n_periods):
            if p not in present:
                continue
            label = labels[p + first] if 0 <= p + first < len(labels) else "?"
            for j, meter in enumerate(profile.meters):
                value = int(best[c, p, j])
                found = value >= 0 and counted[c, p] > 0
                results.append(
                    DemandResult(
                        meter=meter,
                        window=window,
                        billing_period=label,
                        md_kw=to_kw(value, window.period_min) if found else None,
                        at=datetime.fromtimestamp(int(ends_s[best_t[c, p, j]]), UTC) if found else None,
                        windows=int(counted[c, p]),
                        skipped=0,
                    )
                )
    return results


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

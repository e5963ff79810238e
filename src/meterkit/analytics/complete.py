"""Every configuration over complete data (no gaps) with NumPy alone: what ``meterkit demand`` runs on a file.

Same contract and same exact results as the compiled kernel (:func:`meterkit.analytics.fused.fused_md`), without
its fixed cost (importing numba and loading the compiled code take about half a second, more than this whole
computation on a 50 meters x 91 days file of 1-minute data).

How it works: one prefix sum over the integer energies (int64, or int32 wrapping around when every window energy
fits in int32: the differences stay exact), meter-major (one transposing copy of the time-major input, then NumPy
sums and reduces along contiguous rows); the energy of every window of ``k`` steps is ``cs[t + 1] - cs[t + 1 - k]``,
computed once per window length for sub-period 1 and read with a stride for the others (or straight from the prefix sums when no sub-period-1 configuration has that length).  Billing
periods are contiguous runs of steps, so the windows of one configuration that count for one period (ending in it
and, unless straddling is allowed, starting in it) are a contiguous run: their maximum is a ``max`` over chunks of
windows, and the first window reaching it (ties keep the first) is looked up in the one chunk where each meter's
maximum first occurs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["complete_md"]

I64 = npt.NDArray[np.int64]

CHUNK = 1024  # windows per chunk when locating the first maximum (fastest here among 64 to 4096)


def _first_max(block: npt.NDArray[Any], chunk_len: int) -> tuple[I64, I64]:
    """Row-wise maximum of ``block`` (meters x windows, at least one window) and the first window holding it."""
    m, n = block.shape
    full = n // chunk_len
    if full < 4:
        top = block.max(axis=1)
        return top.astype(np.int64), np.argmax(block == top[:, None], axis=1).astype(np.int64)
    head = block[:, : full * chunk_len].reshape(m, full, chunk_len)  # a view: no copy, also of a strided block
    chunk_max = head.max(axis=2)
    if n > full * chunk_len:
        chunk_max = np.concatenate((chunk_max, block[:, full * chunk_len :].max(axis=1)[:, None]), axis=1)
    top = chunk_max.max(axis=1)
    chunk = np.argmax(chunk_max == top[:, None], axis=1).astype(np.int64)  # first chunk holding each maximum
    cols = np.minimum(chunk[:, None] * chunk_len + np.arange(chunk_len, dtype=np.int64)[None, :], n - 1)
    inside = np.argmax(block[np.arange(m)[:, None], cols] == top[:, None], axis=1).astype(np.int64)
    return top.astype(np.int64), chunk * chunk_len + inside


def complete_md(
    energy: I64, period_of: I64, ks: I64, qs: I64, n_periods: int, allow_straddle: bool, *, chunk_len: int = CHUNK
) -> tuple[I64, I64, I64]:
    """Best window energy, its end step and the number of windows, per configuration, period (and meter).

    Arguments and results as :func:`meterkit.analytics.fused.fused_md`; ``period_of`` must not decrease (billing
    periods follow each other in time); ``chunk_len`` changes only the speed."""
    energy = np.ascontiguousarray(energy, dtype=np.int64)
    period_of = np.ascontiguousarray(period_of, dtype=np.int64)
    n_steps, n_meters = energy.shape
    n_cfg = len(ks)
    best: I64 = np.full((n_cfg, n_periods, n_meters), -1, np.int64)
    best_t: I64 = np.full((n_cfg, n_periods, n_meters), -1, np.int64)
    counted: I64 = np.zeros((n_cfg, n_periods), np.int64)
    if n_steps == 0 or n_cfg == 0:
        return best, best_t, counted
    if bool((period_of[1:] < period_of[:-1]).any()):
        raise ValueError("period_of must not decrease")
    # steps [first[p], first[p + 1]) are period p
    first = np.searchsorted(period_of, np.arange(n_periods + 1, dtype=np.int64), side="left").astype(np.int64)
    # meter-major from here on (one transposing copy): NumPy sums and reduces along the contiguous axis far faster.
    # ``work`` holds the energies, then each window length's window energies in turn (no fresh memory for each).
    # When every window energy fits in int32, the prefix sums wrap around in int32 and their differences are still
    # exact: half the memory to touch and to stream.
    kmax = int(ks.max())
    narrow = n_meters > 0 and int(energy.min()) >= 0 and int(energy.max()) * kmax < 2**31
    dtype = np.int32 if narrow else np.int64
    work: npt.NDArray[Any] = np.empty((n_meters, n_steps), dtype=dtype)
    np.copyto(work, energy.T, casting="unsafe")  # narrow: every value is below 2**31
    cs: npt.NDArray[Any] = np.empty((n_meters, n_steps + 1), dtype=dtype)
    cs[:, 0] = 0
    np.cumsum(work, axis=1, out=cs[:, 1:])
    for k in sorted({int(x) for x in ks}):
        chosen = [c for c in range(n_cfg) if int(ks[c]) == k]
        if k > n_steps:
            continue
        # every window of k steps: row i ends at step i + k - 1 (only when a configuration needs them all)
        every: npt.NDArray[Any] | None = None
        if any(int(qs[c]) == 1 for c in chosen):
            every = np.subtract(cs[:, k:], cs[:, : n_steps + 1 - k], out=work[:, : n_steps + 1 - k])
        for c in chosen:
            q = int(qs[c])
            j1 = -(-k // q)  # the first window end t = j1 * q - 1 (t + 1 >= k, (t + 1) % q == 0)
            t_first = j1 * q - 1
            if t_first >= n_steps:
                continue
            if every is not None:
                rows: npt.NDArray[Any] = every[:, t_first - (k - 1) :: q]
            else:
                ends = cs[:, j1 * q :: q]
                rows = ends - cs[:, j1 * q - k :: q][:, : ends.shape[1]]
            for p in range(n_periods):
                lo, hi = int(first[p]), int(first[p + 1])  # window ends t in [lo, hi) lie in period p
                if not allow_straddle:
                    lo += k - 1  # the window's first step t + 1 - k must be in period p too
                lo = max(lo, t_first)
                if hi <= lo:
                    continue
                r0 = -(-(lo - t_first) // q)
                r1 = -(-(hi - t_first) // q)
                if r1 <= r0:
                    continue
                counted[c, p] = r1 - r0
                top, at = _first_max(rows[:, r0:r1], chunk_len)
                beats = top > -1  # as the compiled kernel: a best starts at -1 and only greater energies replace it
                best[c, p] = np.where(beats, top, -1)
                best_t[c, p] = np.where(beats, t_first + (r0 + at) * q, -1)
    return best, best_t, counted

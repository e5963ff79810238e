"""A fused, compiled kernel for the common case of complete data (no gaps): every configuration in one pass.

The time-major energies are streamed once; a running sum per meter and a ring of the last ``max(k)`` running sums
give every window's energy as one subtraction, and the inner loop over meters is contiguous, so the compiler
vectorises it.  numba is optional (``meterkit[fast]``): without it :mod:`.engine` uses its NumPy path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["AVAILABLE", "fused_md"]


def _no_jit(*args: Any, **kwargs: Any) -> Any:
    def wrap(fn: Any) -> Any:
        return fn

    return wrap


try:  # pragma: no cover - exercised when numba is installed (the test extra has it)
    from numba import njit as _jit

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False
    _jit = _no_jit

njit: Any = _jit


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", boundscheck=False)  # type: ignore[untyped-decorator]
def _kernel(
    energy: npt.NDArray[np.int64],
    period_of: npt.NDArray[np.int64],
    ks: npt.NDArray[np.int64],
    qs: npt.NDArray[np.int64],
    n_periods: int,
    allow_straddle: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:  # pragma: no cover - compiled
    n_steps, n_meters = energy.shape
    n_cfg = ks.shape[0]
    ring_len = int(ks.max()) + 1
    ring = np.zeros((ring_len, n_meters), dtype=np.int64)
    best = np.full((n_cfg, n_periods, n_meters), -1, dtype=np.int64)
    best_t = np.full((n_cfg, n_periods, n_meters), -1, dtype=np.int64)
    counted = np.zeros((n_cfg, n_periods), dtype=np.int64)
    run = np.zeros(n_meters, dtype=np.int64)
    for t in range(n_steps):
        slot = (t + 1) % ring_len
        for j in range(n_meters):
            run[j] += energy[t, j]
            ring[slot, j] = run[j]
        for c in range(n_cfg):
            k = ks[c]
            q = qs[c]
            if (t + 1) % q != 0 or t + 1 < k:
                continue
            p = period_of[t]
            if not allow_straddle and period_of[t + 1 - k] != p:
                continue
            ps = (t + 1 - k) % ring_len
            for j in range(n_meters):  # branch-free, so the compiler vectorises across meters
                w = run[j] - ring[ps, j]
                better = w > best[c, p, j]
                best[c, p, j] = w if better else best[c, p, j]
                best_t[c, p, j] = t if better else best_t[c, p, j]
            counted[c, p] += 1
    return best, best_t, counted


def fused_md(
    energy: npt.NDArray[np.int64],
    period_of: npt.NDArray[np.int64],
    ks: npt.NDArray[np.int64],
    qs: npt.NDArray[np.int64],
    n_periods: int,
    allow_straddle: bool,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Best window energy, its end step and the number of windows, per configuration, period (and meter)."""
    result: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] = _kernel(
        np.ascontiguousarray(energy), period_of, ks, qs, n_periods, allow_straddle
    )
    return result

"""A fused, compiled kernel for the common case of complete data (no gaps): every configuration in one pass.

numba is optional (``meterkit[fast]``): without it :data:`AVAILABLE` is False and :mod:`.engine` uses its NumPy
kernel (:mod:`.complete`), as it also does for data too small to pay for loading this one.  The compiled functions
live in :mod:`.fused_jit`, imported (with numba) only when this kernel first runs.

How it works (time-major energies, SIMD across meters):

* Time is cut into blocks of ``L`` steps, ``L`` a multiple of every sub-period ``q`` and ``>= max(k)`` (60 for
  1-minute data), so every block sees the same pattern of window ends.  Each block's input rows are read once, in
  order, into running sums ``P`` of this block and the one before (per tile of meters, L2-sized); a window's energy
  is ``P[t] - P[t-k]``.
* Only the distinct window lengths ``k`` are evaluated, each once per step.  A step's position in the block says
  which configurations of that ``k`` end a window there; positions with the same set share one running maximum
  per meter (a "class"), so a step costs one ``max`` per ``k``, whatever the number of configurations.  At the
  block's end a configuration's block maximum is the maximum over its classes; only where it beats the best so far
  (strictly) is the first window reaching it looked up again: for many meters by sweeping the window ends across
  all meters, for few by scanning, per meter, the steps of the classes holding that maximum.  Ties keep the
  earliest window, as before.
* Blocks that are not plain (the first ``max(k)`` steps, a billing-period change near the block, a partial last
  block) take a direct per-step path with the same rules.
* If every energy is in ``[0, 2**b)`` with ``(2**b - 1) * max(k) < 2**31`` (checked on the fly with an OR of the
  inputs), ``P`` wraps around in int32 and window energies are still exact, at twice the SIMD width; otherwise (or
  from a value beyond the bound on) that part is redone in int64.  Results are exact either way.
* Time is split into one contiguous part per thread (``NUMBA_NUM_THREADS``, default the CPU count; the compiled
  code releases the GIL, so plain Python threads run the parts side by side); each part starts a block early for
  the history, and the parts are merged in time order (strictly greater wins, so ties keep the earlier window).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["AVAILABLE", "KernelOptions", "fused_md", "n_threads"]

I64 = npt.NDArray[np.int64]


def _numba_found() -> bool:
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


#: numba is installed (found without importing it: the import alone takes a quarter of a second)
AVAILABLE = _numba_found()
_MAX_SLOTS = 4  # distinct window lengths per pass (the offered configurations have 4: 5, 15, 30, 60 min)


@dataclass(frozen=True, kw_only=True, slots=True)
class KernelOptions:
    """How the kernel divides the work (results do not depend on it)."""

    #: time parts at most (None: :func:`n_threads`)
    parts: int | None = None
    #: run the parts in threads (False: one after another in the calling thread)
    use_threads: bool = True
    #: below this many blocks per part, splitting the time range across threads does not pay
    min_blocks_per_part: int = 8
    #: running sums of one tile of meters (two blocks, int32): about half of L2 here
    tile_bytes: int = 512 * 1024


class _Plan(NamedTuple):
    """Block length, per-step row table and class table for one set of configurations (see the module doc)."""

    n_len: int  # L
    n_slots: int  # distinct window lengths
    rtab: I64  # (2, L, 1 + n_slots): row of P[t] and of P[t - k] per slot, by block parity and step in block
    cls: I64  # (n_slots, L): class row (in the accumulators) of each slot at each step
    n_acc: int
    cfg_rows: I64  # (n_cfg, n_acc): class rows whose maximum is each configuration's block maximum
    cfg_nrows: I64
    pos_ptr: I64  # (n_acc + 1,): the steps of class row r are pos_list[pos_ptr[r]:pos_ptr[r + 1]], ascending
    pos_list: I64
    limit_bits: int  # inputs below 2**limit_bits keep every window energy inside int32


@lru_cache(maxsize=32)
def _plan(ks: tuple[int, ...], qs: tuple[int, ...]) -> _Plan:
    lengths = sorted(set(ks))
    kmax = lengths[-1]
    lcm = math.lcm(*qs)
    n_len = lcm * max(1, -(-max(kmax, 32) // lcm))
    n_slots = len(lengths)
    rows: dict[tuple[int, tuple[int, ...]], int] = {}
    cls = np.zeros((n_slots, n_len), np.int64)
    for slot, k in enumerate(lengths):
        for s in range(n_len):
            ending = tuple(c for c in range(len(ks)) if ks[c] == k and (s + 1) % qs[c] == 0)
            if ending:
                cls[slot, s] = rows.setdefault((slot, ending), len(rows))
            else:  # no configuration of this length ends a window here: a private scratch row per slot
                cls[slot, s] = -1 - slot
    n_acc = len(rows) + n_slots
    cls[cls < 0] += n_acc
    cfg_rows = np.zeros((len(ks), n_acc), np.int64)
    cfg_nrows = np.zeros(len(ks), np.int64)
    for (_slot, ending), r in rows.items():
        for c in ending:
            cfg_rows[c, cfg_nrows[c]] = r
            cfg_nrows[c] += 1
    order = np.argsort(cls.ravel(), kind="stable")
    pos_list = (order % n_len).astype(np.int64)
    pos_ptr = np.searchsorted(cls.ravel()[order], np.arange(n_acc + 1)).astype(np.int64)
    rtab = np.zeros((2, n_len, 1 + n_slots), np.int64)
    for par in range(2):
        for s in range(n_len):
            rc = par * n_len + s
            rtab[par, s, 0] = rc
            for slot, k in enumerate(lengths):
                rtab[par, s, 1 + slot] = (rc - k) % (2 * n_len)
    limit_bits = 0
    while (2 ** (limit_bits + 1) - 1) * kmax <= 2**31 - 1:
        limit_bits += 1
    return _Plan(n_len, n_slots, rtab, cls, n_acc, cfg_rows, cfg_nrows, pos_ptr, pos_list, limit_bits)


def _plain_blocks(period_of: I64, n_len: int, kmax: int, allow_straddle: bool) -> npt.NDArray[np.bool_]:
    """Blocks where every window of every configuration is evaluated and lies in the block's one billing period."""
    n_steps = period_of.shape[0]
    n_blocks = -(-n_steps // n_len)
    run_start = np.zeros(n_steps, np.int64)  # first step of the run of equal period_of containing each step
    change = np.flatnonzero(period_of[1:] != period_of[:-1]) + 1
    run_start[change] = change
    run_start = np.maximum.accumulate(run_start)
    t0 = np.arange(n_blocks, dtype=np.int64) * n_len
    last = np.minimum(t0 + n_len, n_steps) - 1
    lo = t0 if allow_straddle else t0 - kmax + 1
    plain: npt.NDArray[np.bool_] = (t0 + n_len <= n_steps) & (t0 + 1 >= kmax) & (run_start[last] <= lo)
    return plain


def n_threads() -> int:
    """Threads the kernel uses: numba's thread count (``NUMBA_NUM_THREADS``, default the CPU count); 1 without numba."""
    if not AVAILABLE:
        return 1
    numba: Any = importlib.import_module("numba")
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def _run(
    energy: I64, period_of: I64, ks: I64, qs: I64, n_periods: int, allow_straddle: bool, options: KernelOptions
) -> tuple[I64, I64]:
    from . import fused_jit  # numba: imported when first needed

    n_meters = energy.shape[1]
    plan = _plan(tuple(int(k) for k in ks), tuple(int(q) for q in qs))
    plain = _plain_blocks(period_of, plan.n_len, int(ks.max()), allow_straddle)
    n_parts = max(1, min(options.parts or n_threads(), plain.shape[0] // max(1, options.min_blocks_per_part)))
    # Tiles of meters whose two blocks of running sums stay in L2: one tile up to tile_bytes, else half that each.
    per_meter = 2 * plan.n_len * 4
    budget = options.tile_bytes
    tile = n_meters if n_meters * per_meter <= budget else max(16, budget // 2 // per_meter // 16 * 16)
    best = np.empty((n_parts, ks.shape[0], n_periods, n_meters), np.int64)
    best_t = np.empty_like(best)
    args = (period_of, plain, plan.rtab, plan.cls, plan.n_slots, plan.n_acc, ks, qs, plan.cfg_rows, plan.cfg_nrows,
            plan.pos_ptr, plan.pos_list)  # fmt: skip

    def run(part: int, bits: int) -> bool:  # bits > 0: int32 running sums while inputs stay below 2**bits
        like = np.zeros(1, np.int32 if bits else np.int64)
        ok: bool = fused_jit.run_part(
            energy, part, n_parts, tile, *args, bits, allow_straddle, like, best[part], best_t[part]
        )
        return ok

    bits = [plan.limit_bits] * n_parts
    if n_parts > 1 and options.use_threads:  # the kernel releases the GIL: one thread per part
        with ThreadPoolExecutor(max_workers=n_parts, thread_name_prefix="meterkit-md") as pool:
            oks = list(pool.map(run, range(n_parts), bits))
    else:
        oks = [run(part, bits[part]) for part in range(n_parts)]
    for part, ok in enumerate(oks):
        if not ok:  # an input at or beyond the int32 bound: this part again, in int64
            run(part, 0)
    if n_parts > 1:
        fused_jit.merge_parts(best, best_t)
    return best[0], best_t[0]


def fused_md(
    energy: npt.NDArray[np.int64],
    period_of: npt.NDArray[np.int64],
    ks: npt.NDArray[np.int64],
    qs: npt.NDArray[np.int64],
    n_periods: int,
    allow_straddle: bool,
    options: KernelOptions | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Best window energy, its end step and the number of windows, per configuration, period (and meter).

    ``energy`` (n_steps, n_meters) integers, ``period_of`` (n_steps,) the billing period (0..n_periods-1) of each step,
    ``ks``/``qs`` window length and sub-period in steps per configuration.  Windows end at the steps ``t`` with
    ``(t + 1) % q == 0`` and ``t + 1 >= k``; unless ``allow_straddle``, a window whose first step is in another
    period than its last is skipped.  Returns ``best`` (n_cfg, n_periods, n_meters): the largest window energy, or -1
    if no window beat -1; ``best_t``: the last step of the first window reaching it (-1 with it); ``counted``
    (n_cfg, n_periods): the windows evaluated.
    """
    from . import fused_jit  # numba: imported when first needed

    energy = np.ascontiguousarray(energy, dtype=np.int64)
    period_of = np.ascontiguousarray(period_of, dtype=np.int64)
    ks = np.ascontiguousarray(ks, dtype=np.int64)
    qs = np.ascontiguousarray(qs, dtype=np.int64)
    n_steps, n_meters = energy.shape
    n_cfg = ks.shape[0]
    counted: I64 = fused_jit.counted(period_of, ks, qs, n_periods, allow_straddle)
    best: I64 = np.full((n_cfg, n_periods, n_meters), -1, np.int64)
    best_t: I64 = np.full((n_cfg, n_periods, n_meters), -1, np.int64)
    if n_steps == 0 or n_meters == 0 or n_cfg == 0:
        return best, best_t, counted
    lengths = sorted(set(ks.tolist()))
    for g in range(0, len(lengths), _MAX_SLOTS):  # at most 4 distinct window lengths per pass
        sel = np.flatnonzero(np.isin(ks, lengths[g : g + _MAX_SLOTS]))
        b, bt = _run(energy, period_of, ks[sel], qs[sel], n_periods, allow_straddle, options or KernelOptions())
        best[sel] = b
        best_t[sel] = bt
    return best, best_t, counted

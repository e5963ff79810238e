"""A fused, compiled kernel for the common case of complete data (no gaps): every configuration in one pass.

numba is optional (``meterkit[fast]``): without it :data:`AVAILABLE` is False and :mod:`.engine` uses its NumPy path.

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

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["AVAILABLE", "KernelOptions", "fused_md", "n_threads"]

I64 = npt.NDArray[np.int64]


def _no_jit(*args: Any, **kwargs: Any) -> Any:
    def wrap(fn: Any) -> Any:
        return fn

    return wrap


_numba: Any
try:  # pragma: no cover - exercised when numba is installed (the test extra has it)
    import numba as _numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    _numba = None
    AVAILABLE = False

njit: Any = _numba.njit if AVAILABLE else _no_jit

_OPTS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}
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


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _prefix_rows(
    energy: Any, t0: int, t1: int, cur: int, l2: int, tile: int, buf: Any
) -> int:  # pragma: no cover - compiled
    """Running sums of rows ``t0..t1-1`` into ``buf[:, cur + t - t0]`` (wrapping in buf's dtype); OR of the inputs."""
    n_meters = energy.shape[1]
    n_tiles = buf.shape[0]
    orv = 0
    for t in range(t0, t1):
        rc = cur + t - t0
        rp = rc - 1 if rc > 0 else l2 - 1
        row = energy[t]
        for i in range(n_tiles):
            j0 = i * tile
            width = min(tile, n_meters - j0)
            pc = buf[i, rc]
            pp = buf[i, rp]
            x = row[j0 : j0 + width]
            o = 0
            for j in range(width):
                v = x[j]
                o |= v
                pc[j] = buf.dtype.type(pp[j] + v)
            orv |= o
    return orv


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _classes_block(bi: Any, acc: Any, rt: Any, cls: Any, n_slots: int, width: int) -> None:  # pragma: no cover
    """One plain block of one tile: per step and window length, the running maximum of its class."""
    for s in range(rt.shape[0]):
        rr = rt[s]
        pc = bi[rr[0]]
        if n_slots == 4:
            r0 = bi[rr[1]]
            r1 = bi[rr[2]]
            r2 = bi[rr[3]]
            r3 = bi[rr[4]]
            a0 = acc[cls[0, s]]
            a1 = acc[cls[1, s]]
            a2 = acc[cls[2, s]]
            a3 = acc[cls[3, s]]
            for j in range(width):
                p = pc[j]
                a0[j] = max(a0[j], bi.dtype.type(p - r0[j]))
                a1[j] = max(a1[j], bi.dtype.type(p - r1[j]))
                a2[j] = max(a2[j], bi.dtype.type(p - r2[j]))
                a3[j] = max(a3[j], bi.dtype.type(p - r3[j]))
        elif n_slots == 3:
            r0 = bi[rr[1]]
            r1 = bi[rr[2]]
            r2 = bi[rr[3]]
            a0 = acc[cls[0, s]]
            a1 = acc[cls[1, s]]
            a2 = acc[cls[2, s]]
            for j in range(width):
                p = pc[j]
                a0[j] = max(a0[j], bi.dtype.type(p - r0[j]))
                a1[j] = max(a1[j], bi.dtype.type(p - r1[j]))
                a2[j] = max(a2[j], bi.dtype.type(p - r2[j]))
        elif n_slots == 2:
            r0 = bi[rr[1]]
            r1 = bi[rr[2]]
            a0 = acc[cls[0, s]]
            a1 = acc[cls[1, s]]
            for j in range(width):
                p = pc[j]
                a0[j] = max(a0[j], bi.dtype.type(p - r0[j]))
                a1[j] = max(a1[j], bi.dtype.type(p - r1[j]))
        else:
            r0 = bi[rr[1]]
            a0 = acc[cls[0, s]]
            for j in range(width):
                a0[j] = max(a0[j], bi.dtype.type(pc[j] - r0[j]))


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _sweep(
    bi: Any, bm: Any, pend: Any, n_pend: int, bt: Any, t0: int, cur: int, k: int, q: int, width: int
) -> None:  # pragma: no cover - compiled
    """For every flagged meter at once, the first window end of this block whose energy is ``bm`` (clears flags)."""
    l2 = bi.shape[0]
    n_pos = l2 // 2
    s = q - 1
    while s < n_pos and n_pend > 0:
        rc = cur + s
        ro = rc - k if rc >= k else rc - k + l2
        pr = bi[rc]
        po = bi[ro]
        n_pend = 0
        for j in range(width):
            hit = pend[j] & (bi.dtype.type(pr[j] - po[j]) == bm[j])
            bt[j] = t0 + s if hit else bt[j]
            pend[j] = pend[j] != hit  # hit implies pend: clears the found ones
            n_pend += pend[j]
        s += q


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _first_step(
    bi: Any, j: int, target: Any, cur: int, k: int, acc: Any, rows: Any, pos_ptr: Any, pos_list: Any
) -> Any:  # pragma: no cover - compiled
    """For one meter, the first window end of this block whose energy is ``target``: only the steps of the classes
    (``rows``) whose maximum is ``target``, each class's steps in order."""
    l2 = bi.shape[0]
    first = l2 // 2
    for r in rows:
        if acc[r, j] != target:
            continue
        for i in range(pos_ptr[r], pos_ptr[r + 1]):
            s = pos_list[i]
            if s >= first:
                break
            rc = cur + s
            ro = rc - k if rc >= k else rc - k + l2
            if bi.dtype.type(bi[rc, j] - bi[ro, j]) == target:
                first = s
                break
    return first


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _part(
    energy: Any,
    b0: int,
    b1: int,
    tile: int,
    buf: Any,
    acc: Any,
    bms: Any,
    pend: Any,
    anyp: Any,
    period_of: Any,
    plain: Any,
    rtab: Any,
    cls: Any,
    n_slots: int,
    ks: Any,
    qs: Any,
    cfg_rows: Any,
    cfg_nrows: Any,
    pos_ptr: Any,
    pos_list: Any,
    limit_bits: int,
    allow_straddle: bool,
    best: Any,
    best_t: Any,
) -> bool:  # pragma: no cover - compiled
    """Blocks ``b0..b1-1`` for every meter into ``best``/``best_t``; False if an input reaches ``2**limit_bits``
    (``limit_bits`` 0: no bound, the int64 path)."""
    n_steps, n_meters = energy.shape
    n_tiles = buf.shape[0]
    l2 = buf.shape[1]
    n_len = l2 // 2
    n_cfg = ks.shape[0]
    buf[:] = 0
    acc[:] = -1
    pend[:] = False
    anyp[:] = False
    orv = 0
    for b in range(max(b0 - 1, 0), b1):  # block b0 - 1 only gives the history
        t0 = b * n_len
        t1 = min(t0 + n_len, n_steps)
        par = b & 1
        cur = par * n_len
        orv |= _prefix_rows(energy, t0, t1, cur, l2, tile, buf)
        if limit_bits and (orv >> limit_bits) != 0:
            return False
        if b < b0:
            continue
        for i in range(n_tiles):
            j0 = i * tile
            width = min(tile, n_meters - j0)
            bi = buf[i]
            if plain[b]:
                _classes_block(bi, acc, rtab[par], cls, n_slots, width)
                p = period_of[t0]
                n_few = 0
                for c in range(n_cfg):  # each configuration's block maximum against its best so far
                    rows = cfg_rows[c]
                    bm = bms[c]
                    a = acc[rows[0]]
                    for j in range(width):
                        bm[j] = a[j]
                    for r in range(1, cfg_nrows[c]):
                        a = acc[rows[r]]
                        for j in range(width):
                            bm[j] = max(bm[j], a[j])
                    bo = best[c, p, j0 : j0 + width]
                    flags = pend[c]
                    n_pend = 0
                    for j in range(width):
                        v = np.int64(bm[j])
                        better = v > bo[j]
                        bo[j] = v if better else bo[j]
                        flags[j] = better
                        n_pend += better
                    if n_pend == 0:
                        continue
                    # where it improved, the first window reaching it: many meters (or few window ends) -> sweep
                    # them all at once; else one by one, below
                    if 300 * n_pend >= (n_len // qs[c]) * width:
                        _sweep(bi, bm, flags, n_pend, best_t[c, p, j0 : j0 + width], t0, cur, ks[c], qs[c], width)
                    else:
                        for j in range(width):
                            anyp[j] |= flags[j]
                        n_few += 1
                if n_few:
                    words = anyp.view(np.uint64)  # 8 meters' flags at a time
                    for wi in range(words.shape[0]):
                        if words[wi] == 0:
                            continue
                        for j in range(wi * 8, wi * 8 + 8):
                            if not anyp[j]:
                                continue
                            anyp[j] = False
                            for c in range(n_cfg):
                                if pend[c, j]:
                                    pend[c, j] = False
                                    first = _first_step(
                                        bi, j, bms[c, j], cur, ks[c], acc, cfg_rows[c, : cfg_nrows[c]], pos_ptr,
                                        pos_list,
                                    )  # fmt: skip
                                    best_t[c, p, j0 + j] = t0 + first
                acc[:] = -1
            else:
                for t in range(t0, t1):
                    rc = cur + t - t0
                    pc = bi[rc]
                    for c in range(n_cfg):
                        k = ks[c]
                        if (t + 1) % qs[c] != 0 or t + 1 < k:
                            continue
                        p = period_of[t]
                        if not allow_straddle and period_of[t + 1 - k] != p:
                            continue
                        po = bi[rc - k if rc >= k else rc - k + l2]
                        bo = best[c, p, j0 : j0 + width]
                        bt = best_t[c, p, j0 : j0 + width]
                        for j in range(width):
                            w = np.int64(bi.dtype.type(pc[j] - po[j]))
                            better = w > bo[j]
                            bo[j] = w if better else bo[j]
                            bt[j] = t if better else bt[j]
    return True


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _run_part(
    energy: Any,
    part: int,
    n_parts: int,
    tile: int,
    period_of: Any,
    plain: Any,
    rtab: Any,
    cls: Any,
    n_slots: int,
    n_acc: int,
    ks: Any,
    qs: Any,
    cfg_rows: Any,
    cfg_nrows: Any,
    pos_ptr: Any,
    pos_list: Any,
    limit_bits: int,
    allow_straddle: bool,
    like: Any,
    best: Any,
    best_t: Any,
) -> bool:  # pragma: no cover - compiled
    """One time part, running sums in ``like``'s dtype: int32 (False if an input reaches ``2**limit_bits``) or, with
    ``limit_bits`` 0, int64 (compiled only when first needed)."""
    n_meters = energy.shape[1]
    n_blocks = plain.shape[0]
    l2 = 2 * rtab.shape[1]
    per = (n_blocks + n_parts - 1) // n_parts
    b0 = part * per
    b1 = min(n_blocks, b0 + per)
    best[:] = -1
    best_t[:] = -1
    if b0 >= b1:
        return True
    n_tiles = (n_meters + tile - 1) // tile
    n_cfg = ks.shape[0]
    pad = (tile + 7) // 8 * 8
    return _part(  # type: ignore[no-any-return]
        energy, b0, b1, tile, np.empty((n_tiles, l2, tile), like.dtype), np.empty((n_acc, tile), like.dtype),
        np.empty((n_cfg, tile), like.dtype), np.zeros((n_cfg, pad), np.bool_), np.zeros(pad, np.bool_), period_of,
        plain, rtab, cls, n_slots, ks, qs, cfg_rows, cfg_nrows, pos_ptr, pos_list, limit_bits, allow_straddle,
        best, best_t,
    )  # fmt: skip


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _merge_parts(best: Any, best_t: Any) -> None:  # pragma: no cover - compiled
    """Fold the parts (in time order) into part 0: a later part wins only with a strictly greater energy."""
    for i in range(1, best.shape[0]):
        bo = best[i].ravel()
        bt = best_t[i].ravel()
        b0 = best[0].ravel()
        t0 = best_t[0].ravel()
        for j in range(b0.shape[0]):
            better = bo[j] > b0[j]
            b0[j] = bo[j] if better else b0[j]
            t0[j] = bt[j] if better else t0[j]


@njit(**_OPTS)  # type: ignore[untyped-decorator]
def _counted(period_of: Any, ks: Any, qs: Any, n_periods: int, allow_straddle: bool) -> Any:  # pragma: no cover
    n_steps = period_of.shape[0]
    counted = np.zeros((ks.shape[0], n_periods), np.int64)
    for c in range(ks.shape[0]):
        k = ks[c]
        q = qs[c]
        for t in range(q - 1, n_steps, q):
            if t + 1 < k:
                continue
            p = period_of[t]
            if allow_straddle or period_of[t + 1 - k] == p:
                counted[c, p] += 1
    return counted


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
    return max(1, int(_numba.config.NUMBA_NUM_THREADS)) if AVAILABLE else 1


def _run(
    energy: I64, period_of: I64, ks: I64, qs: I64, n_periods: int, allow_straddle: bool, options: KernelOptions
) -> tuple[I64, I64]:
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
        ok: bool = _run_part(energy, part, n_parts, tile, *args, bits, allow_straddle, like, best[part], best_t[part])
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
        _merge_parts(best, best_t)
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
    energy = np.ascontiguousarray(energy, dtype=np.int64)
    period_of = np.ascontiguousarray(period_of, dtype=np.int64)
    ks = np.ascontiguousarray(ks, dtype=np.int64)
    qs = np.ascontiguousarray(qs, dtype=np.int64)
    n_steps, n_meters = energy.shape
    n_cfg = ks.shape[0]
    counted: I64 = _counted(period_of, ks, qs, n_periods, allow_straddle)
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

"""The compiled parts of the fused kernel (numba, ``meterkit[fast]``); see :mod:`.fused` for how it works.

Imported only when the compiled kernel runs: importing numba and loading these functions from numba's cache take
about half a second.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["counted", "merge_parts", "run_part"]

_OPTS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}
njit: Any = numba.njit


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
def run_part(
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
def merge_parts(best: Any, best_t: Any) -> None:  # pragma: no cover - compiled
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
def counted(period_of: Any, ks: Any, qs: Any, n_periods: int, allow_straddle: bool) -> Any:  # pragma: no cover
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

"""The compiled one-pass kernel against a plain, obviously correct reference, on small random inputs.

Random meter counts (1-70: tiles with remainders), step counts (partial last blocks, several blocks, the time split
across threads), valid window lengths and sub-periods (fixed ones with q = k), monotone billing periods (blocks with
and without a reset), both straddle rules, small energy ranges (equal window energies: the first window must win)
and energies at the int32 bound (below it, at it, and one value beyond it somewhere: the int64 redo).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.analytics import ALL_CONFIGS, fused

pytestmark = pytest.mark.skipif(not fused.AVAILABLE, reason="numba is not installed")

I64 = npt.NDArray[np.int64]


def reference(
    energy: I64, period_of: I64, ks: I64, qs: I64, n_periods: int, allow_straddle: bool
) -> tuple[I64, I64, I64]:
    """The contract, literally: every window, strictly greater wins (the first of equal ones stays)."""
    n_steps, n_meters = energy.shape
    best = np.full((len(ks), n_periods, n_meters), -1, np.int64)
    best_t = np.full((len(ks), n_periods, n_meters), -1, np.int64)
    counted = np.zeros((len(ks), n_periods), np.int64)
    for c, (k, q) in enumerate(zip(ks.tolist(), qs.tolist(), strict=True)):
        for t in range(n_steps):
            if (t + 1) % q != 0 or t + 1 < k:
                continue
            p = int(period_of[t])
            if not allow_straddle and period_of[t + 1 - k] != p:
                continue
            counted[c, p] += 1
            window = energy[t + 1 - k : t + 1].sum(axis=0)
            for j in range(n_meters):
                if window[j] > best[c, p, j]:
                    best[c, p, j] = window[j]
                    best_t[c, p, j] = t
    return best, best_t, counted


def split(min_blocks: int, parallel: bool, tile_bytes: int = fused.KernelOptions().tile_bytes) -> fused.KernelOptions:
    """Time parts from ``min_blocks`` blocks each (1: split even short inputs), in threads or one after another;
    small ``tile_bytes`` cut even a few meters into tiles of 16 (and a remainder)."""
    return fused.KernelOptions(parts=2, use_threads=parallel, min_blocks_per_part=min_blocks, tile_bytes=tile_bytes)


def limit_bits(ks: I64, qs: I64) -> int:
    return fused._plan(tuple(ks.tolist()), tuple(qs.tolist())).limit_bits


KINDS = ["ties", "wide", "bound", "beyond", "negative"]


@st.composite
def cases(draw: st.DrawFn, kind: str) -> tuple[I64, I64, I64, I64, int, bool, tuple[int, bool, int]]:
    step = draw(st.sampled_from([1, 1, 1, 2, 3, 5]))  # minutes per interval: 5 min data gives k = 1, 3, 6, 12
    valid = [w for w in ALL_CONFIGS if w.period_min % step == 0 and w.sub_min % step == 0]
    chosen = draw(st.lists(st.sampled_from(valid), min_size=1, max_size=len(valid), unique=True))
    ks = np.array([w.period_min // step for w in chosen], np.int64)
    qs = np.array([w.sub_min // step for w in chosen], np.int64)
    n_meters = draw(st.integers(1, 70))
    n_steps = draw(st.one_of(st.integers(1, 300), st.integers(300, 1500))) // step + 1
    n_resets = draw(st.integers(0, 4))
    resets = sorted(draw(st.lists(st.integers(1, max(1, n_steps - 1)), min_size=n_resets, max_size=n_resets)))
    period_of = np.zeros(n_steps, np.int64)
    for r in resets:
        period_of[r:] += 1
    n_periods = int(period_of[-1]) + 1 + draw(st.integers(0, 1))  # possibly a period without steps
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    bits = limit_bits(ks, qs)
    if kind == "ties":  # tiny range: many equal window energies
        energy = rng.integers(0, draw(st.integers(1, 3)) + 1, size=(n_steps, n_meters))
    elif kind == "wide":
        energy = rng.integers(0, 3_000_000, size=(n_steps, n_meters))
    elif kind == "bound":  # the largest values the int32 path takes; ties too
        energy = (2**bits - 1) - rng.integers(0, 2, size=(n_steps, n_meters))
    elif kind == "beyond":  # at the bound, and one value just past it somewhere: that part is redone in int64
        energy = (2**bits - 1) - rng.integers(0, 2, size=(n_steps, n_meters))
        energy[draw(st.integers(0, n_steps - 1)), draw(st.integers(0, n_meters - 1))] = 2**bits
    else:  # negative energies (export): the int64 path; windows below -1 never count as a best
        energy = rng.integers(-5, 3, size=(n_steps, n_meters))
    energy = energy.astype(np.int64)
    straddle = draw(st.booleans())
    how = (
        draw(st.sampled_from([1, 2, 8])),
        draw(st.booleans()),
        draw(st.sampled_from([1, fused.KernelOptions().tile_bytes])),
    )
    return energy, period_of, ks, qs, n_periods, straddle, how


def random_case(
    configs: list[tuple[int, int]], n_meters: int, n_steps: int, seed: int
) -> tuple[I64, I64, I64, I64, int]:
    """Energies 0-3 per step and meter from ``seed``, three billing periods, the window lengths and sub-periods of
    ``configs``: (energy, period_of, ks, qs, n_periods)."""
    ks = np.array([k for k, _ in configs], np.int64)
    qs = np.array([q for _, q in configs], np.int64)
    energy = np.random.default_rng(seed).integers(0, 4, size=(n_steps, n_meters)).astype(np.int64)
    period_of = (np.arange(n_steps) // max(1, n_steps // 3)).astype(np.int64)
    return energy, period_of, ks, qs, int(period_of[-1]) + 1


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60)
@given(data=st.data())
def test_kernel_equals_the_reference(kind: str, data: st.DataObject) -> None:
    energy, period_of, ks, qs, n_periods, straddle, how = data.draw(cases(kind))
    got = fused.fused_md(energy, period_of, ks, qs, n_periods, straddle, split(*how))
    want = reference(energy, period_of, ks, qs, n_periods, straddle)
    for name, g, w in zip(("best", "best_t", "counted"), got, want, strict=True):
        assert g.dtype == np.int64 and g.shape == w.shape, name
        np.testing.assert_array_equal(g, w, err_msg=name)


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(1, 14), st.integers(1, 9)), min_size=1, max_size=7),
    st.integers(1, 40),
    st.integers(1, 400),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_any_lengths_and_sub_periods_even_more_than_four_lengths(
    configs: list[tuple[int, int]], n_meters: int, n_steps: int, seed: int, straddle: bool
) -> None:
    energy, period_of, ks, qs, n_periods = random_case(configs, n_meters, n_steps, seed)
    got = fused.fused_md(
        energy,
        period_of,
        ks,
        qs,
        n_periods,
        straddle,
        split(1, True, 1 if seed % 2 else fused.KernelOptions().tile_bytes),
    )
    for g, w in zip(got, reference(energy, period_of, ks, qs, n_periods, straddle), strict=True):
        np.testing.assert_array_equal(g, w)


def test_a_month_of_minutes_with_a_reset_and_every_configuration() -> None:
    """Long enough for many plain blocks and a split across threads; late improvements and exact ties."""
    rng = np.random.default_rng(7)
    n_steps, n_meters = 5 * 1440, 67
    energy = rng.integers(0, 50, size=(n_steps, n_meters)).astype(np.int64)
    energy[4000:4100, 3] += 1000  # a late burst: found after many blocks without improvement
    energy[100:160, 5] = 7
    energy[3000:3060, 5] = 7  # two equal flat hours: the first wins
    period_of = (np.arange(n_steps) >= 2 * 1440 + 17).astype(np.int64)
    ks = np.array([w.period_min for w in ALL_CONFIGS], np.int64)
    qs = np.array([w.sub_min for w in ALL_CONFIGS], np.int64)
    for straddle, tile_bytes in ((False, fused.KernelOptions().tile_bytes), (True, 1)):
        got = fused.fused_md(
            energy, period_of, ks, qs, 2, straddle, split(fused.KernelOptions().min_blocks_per_part, True, tile_bytes)
        )
        for g, w in zip(got, reference(energy, period_of, ks, qs, 2, straddle), strict=True):
            np.testing.assert_array_equal(g, w)


def test_empty_inputs() -> None:
    ks = np.array([15], np.int64)
    qs = np.array([1], np.int64)
    best, best_t, counted = fused.fused_md(np.zeros((0, 3), np.int64), np.zeros(0, np.int64), ks, qs, 1, False)
    assert best.shape == best_t.shape == (1, 1, 3) and (best == -1).all() and (best_t == -1).all()
    assert counted.tolist() == [[0]]
    best, _, counted = fused.fused_md(np.zeros((30, 0), np.int64), np.zeros(30, np.int64), ks, qs, 1, False)
    assert best.shape == (1, 1, 0) and counted.tolist() == [[16]]


def test_threads_are_reported() -> None:
    assert fused.n_threads() >= 1

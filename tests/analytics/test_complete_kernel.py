"""The NumPy kernel for complete data (what ``meterkit demand`` runs on a file) against the plain reference and the
compiled kernel: the same random cases as the compiled kernel's tests, plus hand-made ties and chunk edges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.analytics import ALL_CONFIGS, fused
from meterkit.analytics.complete import complete_md
from tests.analytics.test_fused_kernel import KINDS, cases, random_case, reference


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60)
@given(data=st.data())
def test_numpy_kernel_equals_the_reference(kind: str, data: st.DataObject) -> None:
    energy, period_of, ks, qs, n_periods, straddle, _how = data.draw(cases(kind))
    chunk_len = data.draw(st.sampled_from([1, 3, 8, 1024]))  # short chunks: the lookup of the first maximum
    got = complete_md(energy, period_of, ks, qs, n_periods, straddle, chunk_len=chunk_len)
    want = reference(energy, period_of, ks, qs, n_periods, straddle)
    for name, g, w in zip(("best", "best_t", "counted"), got, want, strict=True):
        assert g.dtype == np.int64 and g.shape == w.shape, name
        np.testing.assert_array_equal(g, w, err_msg=name)


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(1, 14), st.integers(1, 9)), min_size=1, max_size=7),
    st.integers(0, 40),
    st.integers(1, 900),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_numpy_kernel_any_lengths_sub_periods_and_chunk_edges(
    configs: list[tuple[int, int]], n_meters: int, n_steps: int, seed: int, straddle: bool
) -> None:
    energy, period_of, ks, qs, n_periods = random_case(configs, n_meters, n_steps, seed)
    got = complete_md(energy, period_of, ks, qs, n_periods, straddle, chunk_len=1 + seed % 64)
    for g, w in zip(got, reference(energy, period_of, ks, qs, n_periods, straddle), strict=True):
        np.testing.assert_array_equal(g, w)


def test_numpy_kernel_finds_the_first_of_equal_maxima_in_later_chunks() -> None:
    # sliding 1/1 over 1000 steps: the maximum 9 first at step 700 (chunk 10), again at 701 and 999
    energy = np.zeros((1000, 2), np.int64)
    energy[[700, 701, 999], 0] = 9
    energy[[64, 63], 1] = 5  # meter 1: at the edge of the first two chunks, the earlier one wins
    best, best_t, counted = complete_md(
        energy, np.zeros(1000, np.int64), np.array([1], np.int64), np.array([1], np.int64), 1, False, chunk_len=64
    )
    assert best.tolist() == [[[9, 5]]] and best_t.tolist() == [[[700, 63]]] and counted.tolist() == [[1000]]


def test_a_month_of_minutes_numpy_and_compiled_kernels_agree() -> None:
    rng = np.random.default_rng(11)
    n_steps, n_meters = 5 * 1440, 67
    energy = rng.integers(0, 50, size=(n_steps, n_meters)).astype(np.int64)
    energy[4000:4100, 3] += 1000
    energy[100:160, 5] = 7
    energy[3000:3060, 5] = 7  # two equal flat hours: the first wins
    period_of = (np.arange(n_steps) >= 2 * 1440 + 17).astype(np.int64)
    ks = np.array([w.period_min for w in ALL_CONFIGS], np.int64)
    qs = np.array([w.sub_min for w in ALL_CONFIGS], np.int64)
    for straddle in (False, True):
        got = complete_md(energy, period_of, ks, qs, 2, straddle, chunk_len=256)
        want = (
            fused.fused_md(energy, period_of, ks, qs, 2, straddle)
            if fused.AVAILABLE
            else reference(energy, period_of, ks, qs, 2, straddle)
        )
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("top", [(2**31 - 1) // 60, (2**31 - 1) // 60 + 1, 2**40])
def test_numpy_kernel_is_exact_at_the_int32_bound_and_beyond(top: int) -> None:
    # 60-step windows of values up to ``top``: the prefix sums wrap in int32 while 60 * top < 2**31, else int64
    rng = np.random.default_rng(top % 1000)
    energy = (top - rng.integers(0, 3, size=(400, 3))).astype(np.int64)
    energy[123, 1] = top  # a late, exact maximum window for meter 1
    ks, qs = np.array([60, 60, 5], np.int64), np.array([1, 12, 5], np.int64)
    period_of = (np.arange(400) >= 200).astype(np.int64)
    got = complete_md(energy, period_of, ks, qs, 2, False, chunk_len=16)
    for g, w in zip(got, reference(energy, period_of, ks, qs, 2, False), strict=True):
        np.testing.assert_array_equal(g, w)
    assert int(got[0].max()) == int(reference(energy, period_of, ks, qs, 2, False)[0].max()) > 2**31 // 2


def test_numpy_kernel_refuses_periods_that_go_back() -> None:
    with pytest.raises(ValueError, match="must not decrease"):
        complete_md(
            np.zeros((3, 1), np.int64), np.array([0, 1, 0]), np.array([1], np.int64), np.array([1], np.int64), 2, False
        )

"""refint8.int8.accumulate: the two accumulation modes of int8 dot products, and the int32 bound.

Expected values are hand-worked in the comments (255*127 = 32385, sat16(v) = min(max(v, -32768),
32767)); none was captured from running refint8. The property tests compare with an independent
model written here with Python ints.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refint8.int8.accumulate import accumulator_bound, fits_int32, raw_product_sum


def one_tap(q, w, mode, signed=False):
    """Σ_c q[c]*w[c] for one group and one output: q [C], w [C]."""
    q = np.asarray([q], dtype=np.int8 if signed else np.uint8)          # [G=1, C]
    w = np.asarray(w, dtype=np.int8).reshape(1, -1, 1)                   # [G=1, C, O=1]
    out = raw_product_sum(q, w, mode, signed_activations=signed)
    assert out.shape == (1, 1) and out.dtype == np.int64
    return int(out[0, 0])


def test_onednn_worked_example():
    # u = [255, 255], w = [127, 127]: 255*127 + 255*127 = 32385 + 32385 = 64770.
    assert one_tap([255, 255], [127, 127], "exact") == 64770
    # s16_pairs: one pair, sat16(64770) = 32767 (vpmaddubsw saturates).
    assert one_tap([255, 255], [127, 127], "s16_pairs") == 32767


def test_negative_saturation():
    # 255*-128 + 255*-128 = -32640 - 32640 = -65280 -> sat16 = -32768.
    assert one_tap([255, 255], [-128, -128], "exact") == -65280
    assert one_tap([255, 255], [-128, -128], "s16_pairs") == -32768


def test_pairs_are_consecutive_channels():
    # [255, 255, 0, 0]: pairs (255,255) -> sat16(64770) = 32767 and (0,0) -> 0: total 32767.
    assert one_tap([255, 255, 0, 0], [127] * 4, "s16_pairs") == 32767
    # [255, 0, 255, 0]: pairs (255,0) -> 32385 and (255,0) -> 32385: total 64770 (no saturation),
    # the exact sum.
    assert one_tap([255, 0, 255, 0], [127] * 4, "s16_pairs") == 64770


def test_odd_channel_count():
    # C = 3: pairs (c0,c1) -> sat16(64770) = 32767, (c2, zero partner) -> 32385: 65152.
    assert one_tap([255, 255, 255], [127, 127, 127], "s16_pairs") == 65152
    # exact: 3 * 32385 = 97155.
    assert one_tap([255, 255, 255], [127, 127, 127], "exact") == 97155


def test_signed_activations_shift_and_compensation():
    # i8 q = [127, 127], w = [127, 127]. exact: 2 * 127*127 = 2 * 16129 = 32258.
    assert one_tap([127, 127], [127, 127], "exact", signed=True) == 32258
    # s16: u = q + 128 = [255, 255] -> sat16(64770) = 32767; compensation 128 * Σw = 128 * 254 =
    # 32512; 32767 - 32512 = 255.
    assert one_tap([127, 127], [127, 127], "s16_pairs", signed=True) == 255
    # q = [-128, -128], w = [-128, -128]: exact 2 * 16384 = 32768. s16: u = [0, 0] -> 0;
    # compensation 128 * (-256) = -32768; 0 - (-32768) = 32768: equal to exact (no saturation).
    assert one_tap([-128, -128], [-128, -128], "exact", signed=True) == 32768
    assert one_tap([-128, -128], [-128, -128], "s16_pairs", signed=True) == 32768


def test_groups_and_outputs():
    # q [G=2, C=2] = [[1, 2], [3, 4]]; w[g] [C, O=2]:
    # g0 = [[1, 0], [0, 1]] -> [1*1 + 2*0, 1*0 + 2*1] = [1, 2]
    # g1 = [[1, 1], [1, -1]] -> [3 + 4, 3 - 4] = [7, -1]
    q = np.array([[1, 2], [3, 4]], np.uint8)
    w = np.array([[[1, 0], [0, 1]], [[1, 1], [1, -1]]], np.int8)
    for mode in ("exact", "s16_pairs"):
        np.testing.assert_array_equal(raw_product_sum(q, w, mode, signed_activations=False),
                                      [[1, 2], [7, -1]])


def test_leading_batch_dimensions():
    # q [2, 1, G=1, C=2]: rows [1, 1] and [2, 3]; w = [[2], [5]]: 1*2 + 1*5 = 7, 2*2 + 3*5 = 19.
    q = np.array([[[[1, 1]]], [[[2, 3]]]], np.uint8)
    w = np.array([[[2], [5]]], np.int8)
    out = raw_product_sum(q, w, "exact", signed_activations=False)
    assert out.shape == (2, 1, 1, 1)
    np.testing.assert_array_equal(out.reshape(-1), [7, 19])


def test_unknown_mode():
    with pytest.raises(ValueError, match="s8_pairs"):
        raw_product_sum(np.zeros((1, 2), np.uint8), np.zeros((1, 2, 1), np.int8), "s8_pairs",
                        signed_activations=False)


def test_accumulator_bound():
    # one term: 255 * 128 = 32640; with za = 10, zw = -3: (255 + 10) * (128 + 3) = 265 * 131 = 34715.
    assert accumulator_bound(1) == 32640
    assert accumulator_bound(1, 10, -3) == 34715
    # 65793 * 32640 = 2147483520 <= 2^31 - 1 = 2147483647; 65794 * 32640 = 2147516160 > 2^31 - 1.
    assert fits_int32(65793)
    assert not fits_int32(65794)
    # with za = 1: 65793 * (255 + 1) * 128 = 65793 * 32768 = 2155905024 > 2^31 - 1.
    assert not fits_int32(65793, 1)


# -- properties against an independent model -----------------------------------------------------


def naive(q: list[int], w: list[int], mode: str, signed: bool) -> int:
    """One tap, one output, Python ints: the accumulate module docstring, written out."""
    if mode == "exact":
        return sum(a * b for a, b in zip(q, w))
    u = [a + 128 for a in q] if signed else list(q)
    if len(u) % 2:
        u, w2 = u + [0], list(w) + [0]
    else:
        w2 = list(w)
    total = 0
    for j in range(0, len(u), 2):
        total += min(max(u[j] * w2[j] + u[j + 1] * w2[j + 1], -32768), 32767)
    if signed:
        total -= 128 * sum(w)
    return total


@st.composite
def tap(draw, signed=None, max_code=None):
    c = draw(st.integers(1, 9))
    signed = draw(st.booleans()) if signed is None else signed
    lo, hi = (-128, 127) if signed else (0, 255)
    if max_code is not None:
        hi = max_code
    q = draw(st.lists(st.integers(lo, hi), min_size=c, max_size=c))
    w = draw(st.lists(st.integers(-128, 127), min_size=c, max_size=c))
    return q, w, signed


@given(tap(), st.sampled_from(["exact", "s16_pairs"]))
def test_matches_naive_model(case, mode):
    q, w, signed = case
    assert one_tap(q, w, mode, signed) == naive(q, w, mode, signed)


@given(tap(signed=False, max_code=127))
def test_s16_equals_exact_when_pairs_fit(case):
    # u8 codes <= 127: |pair| <= 2 * 127 * 128 = 32512 <= 32767, nothing saturates.
    q, w, _ = case
    assert one_tap(q, w, "s16_pairs") == one_tap(q, w, "exact")


@given(tap(signed=True, max_code=-1))
def test_s16_equals_exact_for_negative_i8_codes(case):
    # i8 codes <= -1: shifted u = q + 128 <= 127, so again no pair saturates.
    q, w, _ = case
    assert one_tap(q, w, "s16_pairs", signed=True) == one_tap(q, w, "exact", signed=True)

"""Int8AvgPool (refint8.int8.avg_pool): exact integer averages rounded half to even.

Expected values are hand-worked in the comments (S = window sum, D = divisor, S/D rounded half to
even); none was captured from running refint8. The property test compares with an independent
model written here with Python loops and fractions.Fraction.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import opset
from refint8.errors import GraphError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.ops.avg_pool import avg_pool as fp32_avg_pool

Int8AvgPool = INT8_OPS["Int8AvgPool"]


def pool_node(shape, dtype, name="pool", **attrs):
    x = opset.parameter(list(shape), dtype, name=f"{name}/x")
    return make_node("Int8AvgPool", [x], attrs, name=name)


def run(q, **attrs):
    q = np.asarray(q)
    n = pool_node(q.shape, "u8" if q.dtype == np.uint8 else "i8", **attrs)
    (y,) = Int8AvgPool.compute(n.attrs, q)
    assert y.dtype == q.dtype == n.output_types[0].dtype and y.shape == n.output_types[0].shape
    return y


def u8(values):
    return np.asarray(values, dtype=np.uint8)


def i8(values):
    return np.asarray(values, dtype=np.int8)


def test_ties_round_half_to_even():
    # 2x2 windows, stride 2, over the 2x4 image [[1, 2, 3, 3], [3, 4, 4, 4]]:
    # window 0: 1 + 2 + 3 + 4 = 10, 10/4 = 2.5 -> 2 (even); window 1: 3 + 3 + 4 + 4 = 14, 3.5 -> 4.
    y = run(u8([[[[1, 2, 3, 3], [3, 4, 4, 4]]]]), kernel=[2, 2], strides=[2, 2])
    assert y.tolist() == [[[[2, 4]]]]
    # more ties, one window each (1x4 windows): sum 2 -> 0.5 -> 0; 6 -> 1.5 -> 2;
    # 1018 = 255 + 255 + 254 + 254 -> 254.5 -> 254; and a non-tie 11 -> 2.75 -> 3.
    q = u8([[[[0, 0, 1, 1, 1, 1, 2, 2, 255, 255, 254, 254, 2, 3, 3, 3]]]])
    assert run(q, kernel=[1, 4], strides=[1, 4]).reshape(-1).tolist() == [0, 2, 254, 3]


def test_i8_ties():
    # sum -10 -> -2.5 -> -2 (even); sum -14 -> -3.5 -> -4 (even); sum -508 = 4 * -127 -> -127;
    # sum -512 -> -128.
    q = i8([[[[-1, -2, -3, -4, -3, -3, -4, -4, -127, -127, -127, -127, -128, -128, -128, -128]]]])
    assert run(q, kernel=[1, 4], strides=[1, 4]).reshape(-1).tolist() == [-2, -4, -127, -128]


def test_exclude_pad_and_pad_value():
    # 2x2 image [[10, 20], [30, 40]], 2x2 kernel, stride 1, pads_begin (1, 1), pads_end (0, 0): 2x2 out.
    #   (0,0) sees only 10;  (0,1) sees 10, 20;  (1,0) sees 10, 30;  (1,1) sees all four (sum 100).
    # exclude_pad:          10/1 = 10;  30/2 = 15;  40/2 = 20;  100/4 = 25
    # include, pad_value 0: 10/4 = 2.5 -> 2;  30/4 = 7.5 -> 8;  40/4 = 10;  25
    # include, pad_value 8: (10 + 3*8)/4 = 8.5 -> 8;  (30 + 2*8)/4 = 11.5 -> 12;  (40 + 16)/4 = 14;  25
    q = u8([[[[10, 20], [30, 40]]]])
    geometry = dict(kernel=[2, 2], pads_begin=[1, 1], pads_end=[0, 0])
    assert run(q, exclude_pad=True, **geometry).tolist() == [[[[10, 15], [20, 25]]]]
    assert run(q, exclude_pad=True, pad_value=8, **geometry).tolist() == [[[[10, 15], [20, 25]]]]
    assert run(q, exclude_pad=False, **geometry).tolist() == [[[[2, 8], [10, 25]]]]
    assert run(q, exclude_pad=False, pad_value=8, **geometry).tolist() == [[[[8, 12], [14, 25]]]]


def test_ceil_rounding_without_pads():
    # 1x3 image [3, 5, 8], 1x2 kernel, stride 2, ceil: OW = ceil((3 - 2)/2) + 1 = 2.
    # window 0: [3, 5] -> 4; window 1 starts at 2: only 8 is inside, D = min(2+2, 3) - 2 = 1 -> 8.
    # No pads at all: the divisor counts inside positions even with exclude_pad False, and
    # pad_value does not matter.
    q = u8([[[[3, 5, 8]]]])
    for exclude in (False, True):
        y = run(q, kernel=[1, 2], strides=[1, 2], rounding_type="ceil", exclude_pad=exclude, pad_value=100)
        assert y.tolist() == [[[[4, 8]]]]


def test_ceil_rounding_with_pads():
    # 1x4 image [3, 5, 8, 9], 1x2 kernel, stride 2, pads_begin (0, 1), ceil:
    # OW = ceil((4 + 1 - 2)/2) + 1 = 3; windows start at -1, 1, 3.
    #   w0: [pad, 3]; w1: [5, 8]; w2: [9, beyond the end] (the ceil overhang).
    # exclude_pad:          3/1 = 3;  13/2 = 6.5 -> 6;  9/1 = 9
    # include, pad_value 0: 3/2 = 1.5 -> 2;  6;  9/2 = 4.5 -> 4   (D = 2 = the whole kernel)
    # include, pad_value 1: 4/2 = 2;  6;  10/2 = 5                 (the overhang holds pad_value too)
    q = u8([[[[3, 5, 8, 9]]]])
    geometry = dict(kernel=[1, 2], strides=[1, 2], pads_begin=[0, 1], pads_end=[0, 0], rounding_type="ceil")
    assert run(q, exclude_pad=True, **geometry).reshape(-1).tolist() == [3, 6, 9]
    assert run(q, **geometry).reshape(-1).tolist() == [2, 6, 4]
    assert run(q, pad_value=1, **geometry).reshape(-1).tolist() == [2, 6, 5]


def test_window_entirely_outside_with_include_pad():
    # 1x5 image [10, 20, 30, 40, 50], 1x1 kernel, stride 3, pads_begin (0, 1), ceil, exclude_pad False:
    # OW = ceil((5 + 1 - 1)/3) + 1 = 3, windows at -1 (padding only), 2, 5 (past the end).
    # D = 1 (the whole kernel): [pad_value, 30, pad_value] = [7, 30, 7].
    y = run(u8([[[[10, 20, 30, 40, 50]]]]), kernel=[1, 1], strides=[1, 3], pads_begin=[0, 1],
            pads_end=[0, 0], rounding_type="ceil", pad_value=7)
    assert y.reshape(-1).tolist() == [7, 30, 7]


def test_count_where_onednn_float_rounding_differs():
    # D = 14 (a 2x7 window), thirteen 7s and one 0: S = 91, 91/14 = 6.5 exactly -> 6 (even).
    # (oneDNN multiplies by float32(1/14) instead: 91 * float32(1/14) rounds to 6.5000005 -> 7; see
    # the module docstring for the counts where the two agree.)
    q = np.full((1, 1, 2, 7), 7, np.uint8)
    q[0, 0, 1, 6] = 0
    assert run(q, kernel=[2, 7]).reshape(-1).tolist() == [6]


def test_divisor_claim_of_the_docstring():
    # The docstring states: round(float32(S) * float32(1/D)) (one float32 rounding of the product,
    # then half to even) equals round_half_even(S/D) for every possible window sum S of u8 or i8
    # codes, for every D <= 64 except 14, 26, 28, 30, 52, 56, 60; and differs for those.
    differ = []
    for d in range(1, 65):
        s = np.arange(-128 * d, 255 * d + 1, dtype=np.int64)
        recip = np.float32(1) / np.float32(d)
        onednn = np.rint(s.astype(np.float32) * recip).astype(np.int64)
        quotient, remainder = np.divmod(s, d)                         # floor division, 0 <= r < d
        exact = quotient + (2 * remainder > d) + ((2 * remainder == d) & (quotient % 2 == 1))
        if (onednn != exact).any():
            differ.append(d)
    assert differ == [14, 26, 28, 30, 52, 56, 60]


# -- errors ----------------------------------------------------------------------------------------------


def expect_error(attribute, shape=(1, 1, 4, 4), dtype="u8", **attrs):
    attrs.setdefault("kernel", [2, 2])
    with pytest.raises(GraphError) as info:
        pool_node(shape, dtype, name="bad_pool", **attrs)
    err = info.value
    assert err.node == "bad_pool" and err.op == "Int8AvgPool"
    assert err.attribute == attribute, str(err)
    return err


def test_error_dtype():
    expect_error("input[0]", dtype="f32")


def test_error_pad_value():
    expect_error("pad_value", pad_value=256)
    expect_error("pad_value", pad_value=-1)
    err = expect_error("pad_value", dtype="i8", pad_value=128)
    assert err.value == 128 and "[-128, 127]" in str(err)


def test_error_exclude_pad_with_pad_not_smaller_than_kernel():
    expect_error("pads_begin", exclude_pad=True, pads_begin=[2, 0], pads_end=[0, 0])


def test_error_empty_window_with_exclude_semantics():
    # 1x5 image, 1x1 kernel, stride 3, ceil, no pads: the third window starts at 6 > 4, no input
    # position, D <= 0 (the fp32 AvgPool gives NaN): the int8 layer rejects it.
    err = expect_error("rounding_type", shape=(1, 1, 1, 5), kernel=[1, 1], strides=[1, 3],
                       rounding_type="ceil")
    assert "outside" in str(err)


# -- property: exact rational rounding -------------------------------------------------------------------


def naive_avg_pool(q, *, kernel, strides, pads_begin, pads_end, exclude_pad, rounding_type, pad_value):
    """Python loops and Fractions. Returns None when a window has no input position under the
    exclude-padding divisor (the layer must reject that)."""
    _, _, h, w = q.shape
    (kh, kw), (sh, sw), (pt, pl), (pb, pr) = kernel, strides, pads_begin, pads_end
    def out_size(size, k, s, b, e):
        span = size + b + e - k
        return (-(-span // s) if rounding_type == "ceil" else span // s) + 1
    oh, ow = out_size(h, kh, sh, pt, pb), out_size(w, kw, sw, pl, pr)
    exclude = exclude_pad or not any((pt, pl, pb, pr))
    out = np.zeros(q.shape[:2] + (oh, ow), np.int64)
    for n in range(q.shape[0]):
        for c in range(q.shape[1]):
            for y in range(oh):
                for x in range(ow):
                    total, inside = 0, 0
                    for i in range(kh):
                        for j in range(kw):
                            iy, ix = y * sh + i - pt, x * sw + j - pl
                            if 0 <= iy < h and 0 <= ix < w:
                                total += int(q[n, c, iy, ix])
                                inside += 1
                            elif not exclude:
                                total += pad_value
                    if exclude and inside == 0:
                        return None
                    out[n, c, y, x] = round(Fraction(total, inside if exclude else kh * kw))
    return out


@st.composite
def pool_case(draw):
    signed = draw(st.booleans())
    lo, hi = (-128, 127) if signed else (0, 255)
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    exclude_pad = draw(st.booleans())
    # with exclude_pad each pad must be smaller than the kernel (AvgPool-1's rule)
    pads = [draw(st.integers(0, k - 1 if exclude_pad else 2)) for k in (kh, kw, kh, kw)]
    h = draw(st.integers(max(1, kh - pads[0] - pads[2]), 6))
    w = draw(st.integers(max(1, kw - pads[1] - pads[3]), 6))
    q = draw(hnp.arrays(np.int8 if signed else np.uint8, (1, draw(st.integers(1, 2)), h, w),
                        elements=st.integers(lo, hi)))
    attrs = dict(kernel=[kh, kw], strides=[draw(st.integers(1, 3)), draw(st.integers(1, 3))],
                 pads_begin=pads[:2], pads_end=pads[2:], exclude_pad=exclude_pad,
                 rounding_type=draw(st.sampled_from(["floor", "ceil"])),
                 pad_value=draw(st.integers(lo, hi)))
    return q, attrs


@given(pool_case())
def test_matches_fraction_model(case):
    q, attrs = case
    expected = naive_avg_pool(q, **attrs)
    if expected is None:
        with pytest.raises(GraphError):
            run(q, **attrs)
        return
    np.testing.assert_array_equal(run(q, **attrs), expected)


@given(pool_case())
def test_agrees_with_fp32_avg_pool_rounded(case):
    # With pad_value 0 (padding = code 0 = fp32's zeros) the divisors are fp32 AvgPool's, and
    # rint(float32(S/D)) is round_half_even(S/D): a non-tie is at least 1/(2D) from a half-integer,
    # far more than float32 rounding moves it; an exact tie k + 1/2 is a float32 number.
    q, attrs = case
    attrs = dict(attrs, pad_value=0)
    if naive_avg_pool(q, **attrs) is None:
        return
    geometry = {k: v for k, v in attrs.items() if k != "pad_value"}
    expected = np.rint(fp32_avg_pool(q.astype(np.float32), **geometry))
    np.testing.assert_array_equal(run(q, **attrs), expected.astype(q.dtype))

"""AvgPool: hand-worked divisors (exclude_pad, pads, ceil extension, empty windows), a property
test against a per-pixel loop, and node errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refint8 import opset as ops
from refint8.errors import GraphError, InputError
from refint8.ops.avg_pool import AvgPool, avg_pool


def row(values) -> np.ndarray:
    """A [1, 1, 1, W] f32 tensor: pooling along W only (kernel height 1)."""
    return np.asarray(values, dtype=np.float32).reshape(1, 1, 1, -1)


X2 = np.float32([[[[1, 2], [3, 4]]]])


def test_plain_mean():
    # (1 + 2 + 3 + 4) / 4 = 2.5
    np.testing.assert_array_equal(avg_pool(X2, kernel=(2, 2)), np.float32([[[[2.5]]]]))


def test_include_pad_divides_by_the_kernel():
    # pads 1 everywhere, k 2, s 1 -> 3x3; exclude_pad False with nonzero pads: D = 2*2 = 4
    # (0,0): 1/4  (0,1): (1+2)/4  (0,2): 2/4  (1,0): (1+3)/4  (1,1): 10/4  (1,2): (2+4)/4
    # (2,0): 3/4  (2,1): (3+4)/4  (2,2): 4/4
    y = avg_pool(X2, kernel=(2, 2), pads_begin=(1, 1), pads_end=(1, 1))
    expected = np.float32([[0.25, 0.75, 0.5], [1.0, 2.5, 1.5], [0.75, 1.75, 1.0]])
    np.testing.assert_array_equal(y[0, 0], expected)


def test_exclude_pad_divides_by_the_real_elements():
    # same windows, D = number of input elements in the window
    # (0,0): 1/1  (0,1): 3/2  (0,2): 2/1  (1,0): 4/2  (1,1): 10/4  (1,2): 6/2
    # (2,0): 3/1  (2,1): 7/2  (2,2): 4/1
    y = avg_pool(X2, kernel=(2, 2), pads_begin=(1, 1), pads_end=(1, 1), exclude_pad=True)
    expected = np.float32([[1.0, 1.5, 2.0], [2.0, 2.5, 3.0], [3.0, 3.5, 4.0]])
    np.testing.assert_array_equal(y[0, 0], expected)


def test_ceil_extension_counts_with_include_pad():
    # W=6, k=3, s=2, pads 1/1, ceil: ceil((6 + 2 - 3)/2) + 1 = 4 windows starting at -1, 1, 3, 5.
    # sums: 10+20 = 30, 20+30+40 = 90, 40+50+60 = 150, 60 = 60.
    # include (pads nonzero): D = 3 always, also for the last window that reaches past pads_end
    # (positions 6 = pad, 7 = beyond): 10, 30, 50, 20
    x = row([10, 20, 30, 40, 50, 60])
    kw = dict(kernel=(1, 3), strides=(1, 2), pads_begin=(0, 1), pads_end=(0, 1), rounding_type="ceil")
    np.testing.assert_array_equal(avg_pool(x, **kw), row([10, 30, 50, 20]))
    # exclude: D = 2, 3, 3, 1 -> 15, 30, 50, 60
    np.testing.assert_array_equal(avg_pool(x, exclude_pad=True, **kw), row([15, 30, 50, 60]))


def test_no_pads_include_behaves_as_exclude():
    # W=4, k=3, s=2, no pads, ceil: windows at 0 and 2. exclude_pad False with all pads zero
    # divides by the elements inside: (10+20+30)/3 = 20, (30+40)/2 = 35 (not 70/3)
    x = row([10, 20, 30, 40])
    y = avg_pool(x, kernel=(1, 3), strides=(1, 2), rounding_type="ceil")
    np.testing.assert_array_equal(y, row([20, 35]))


def test_empty_ceil_window_signed_zero():
    # W=5, k=1, s=3, ceil, no pads: windows at 0, 3, 6; the last is past the input:
    # D = min(6+1, 5) - max(6, 0) = -1, S = +0.0 -> 0.0 / -1 = -0.0 (OpenVINO CPU gives -0.0)
    y = avg_pool(row([1, 2, 3, 4, 5]), kernel=(1, 1), strides=(1, 3), rounding_type="ceil")
    np.testing.assert_array_equal(y, row([1, 4, 0]))
    assert np.signbit(y[0, 0, 0, 2])
    # 2-D: a window empty along both axes has D = (-1) * (-1) = 1 -> +0.0
    y = avg_pool(np.ones((1, 1, 5, 5), np.float32), kernel=(1, 1), strides=(3, 3), rounding_type="ceil")
    assert y[0, 0, 2, 2] == 0 and not np.signbit(y[0, 0, 2, 2])
    assert y[0, 0, 0, 2] == 0 and np.signbit(y[0, 0, 0, 2])


def test_empty_ceil_window_with_pads_is_nan():
    # W=5, k=3, s=3, pads 1/1, exclude, ceil: ceil((5+2-3)/3) + 1 = 3 windows at -1, 2, 5.
    # (1+2)/2 = 1.5, (3+4+5)/3 = 4, last: D = min(8, 5) - max(5, 0) = 0 -> 0/0 = NaN
    y = avg_pool(row([1, 2, 3, 4, 5]), kernel=(1, 3), strides=(1, 3), pads_begin=(0, 1),
                 pads_end=(0, 1), exclude_pad=True, rounding_type="ceil")
    np.testing.assert_array_equal(y[0, 0, 0, :2], np.float32([1.5, 4]))
    assert np.isnan(y[0, 0, 0, 2])
    # include: the same window sums zeros over the full kernel: 0/3 = 0
    y = avg_pool(row([1, 2, 3, 4, 5]), kernel=(1, 3), strides=(1, 3), pads_begin=(0, 1),
                 pads_end=(0, 1), rounding_type="ceil")
    np.testing.assert_array_equal(y, row([1, 4, 0]))


def test_auto_pad_same_upper_counts_as_padding():
    # W=4, k=2, s=1, same_upper: pad 1 at the end; windows [1,2] [2,3] [3,4] [4,pad]
    x = row([1, 2, 3, 4])
    # include: resolved pads are nonzero -> D = 2: 1.5, 2.5, 3.5, 4/2 = 2
    np.testing.assert_array_equal(avg_pool(x, kernel=(1, 2), auto_pad="same_upper"), row([1.5, 2.5, 3.5, 2]))
    # exclude: 1.5, 2.5, 3.5, 4/1 = 4
    y = avg_pool(x, kernel=(1, 2), auto_pad="same_upper", exclude_pad=True)
    np.testing.assert_array_equal(y, row([1.5, 2.5, 3.5, 4]))
    # same_lower: pad at the beginning: [pad,1] [1,2] [2,3] [3,4] -> 0.5 (include), 1 (exclude)
    np.testing.assert_array_equal(avg_pool(x, kernel=(1, 2), auto_pad="same_lower"), row([0.5, 1.5, 2.5, 3.5]))


def test_rounded_once_to_float32():
    # (2**24 + 1 + 1 + 0) / 4 = 4194304.5, representable in f32 (spacing 0.5 at 2**22).
    # Summing in float32 would lose both 1s (2**24 + 1 rounds to 2**24) and give 4194304.
    y = avg_pool(row([2.0**24, 1, 1, 0]), kernel=(1, 4))
    assert y[0, 0, 0, 0] == np.float32(4194304.5)


def test_nan_and_inf_propagate():
    y = avg_pool(row([np.nan, 1, np.inf, 1]), kernel=(1, 2), strides=(1, 2))
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == np.inf


def test_node_shape_and_compute():
    x = ops.parameter([1, 2, 7, 7], name="x")
    y = ops.avg_pool(x, [7, 7], [1, 1], name="gap")  # global average pool
    assert y.shape == (1, 2, 1, 1)
    data = np.stack([np.ones((7, 7)), np.full((7, 7), 3.0)]).astype(np.float32)[None]
    (out,) = AvgPool.compute(y.node.attrs, data)
    np.testing.assert_array_equal(out, np.float32([1, 3]).reshape(1, 2, 1, 1))


# -- property test against a per-pixel loop --------------------------------------------------------


def naive_avg_pool(x, kernel, strides, pads_begin, pads_end, exclude_pad, rounding_type, auto_pad):
    """Direct definition; returns (y, empty) where empty marks windows without any input element."""
    _, _, h, w = x.shape
    pb_, pe_, outs = [], [], []
    for size, k, s, pb, pe in zip((h, w), kernel, strides, pads_begin, pads_end):
        if auto_pad == "valid":
            pb = pe = 0
        elif auto_pad != "explicit":
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pb, pe = (total // 2, total - total // 2)
            if auto_pad == "same_lower":
                pb, pe = pe, pb
        span = size + pb + pe - k
        if span < 0 or (exclude_pad and (pb >= k or pe >= k)):
            return None, None
        outs.append((math.ceil(span / s) if rounding_type == "ceil" else span // s) + 1)
        pb_.append(pb)
        pe_.append(pe)
    include = not exclude_pad and any(pb_ + pe_)
    y = np.zeros(x.shape[:2] + tuple(outs), np.float32)
    empty = np.zeros(tuple(outs), bool)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oy in range(outs[0]):
                for ox in range(outs[1]):
                    inside = []
                    for i in range(kernel[0]):
                        for j in range(kernel[1]):
                            iy, ix = oy * strides[0] + i - pb_[0], ox * strides[1] + j - pb_[1]
                            if 0 <= iy < h and 0 <= ix < w:
                                inside.append(float(x[n, c, iy, ix]))
                    divisor = kernel[0] * kernel[1] if include else len(inside)
                    if divisor == 0:
                        empty[oy, ox] = True
                    else:
                        y[n, c, oy, ox] = math.fsum(inside) / divisor
    return y, empty


@st.composite
def pool_cases(draw):
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-20, 21, (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)).astype(np.float32)
    attrs = dict(
        kernel=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        pads_begin=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        pads_end=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        exclude_pad=draw(st.booleans()),
        rounding_type=draw(st.sampled_from(["floor", "ceil"])),
        auto_pad=draw(st.sampled_from(["explicit", "same_upper", "same_lower", "valid"])),
    )
    return x, attrs


@given(pool_cases())
def test_matches_per_pixel_loop(case):
    x, attrs = case
    expected, empty = naive_avg_pool(x, **attrs)
    if expected is None:
        with pytest.raises(InputError):
            avg_pool(x, **attrs)
        return
    got = avg_pool(x, **attrs)
    assert got.shape == expected.shape and got.dtype == np.float32
    # integer sums are exact; a single division then rounds like the naive float64 division
    np.testing.assert_array_equal(got[..., ~empty], expected[..., ~empty])
    # windows without any input element (ceil rounding past the end) give a zero or NaN
    past = got[..., empty]
    assert np.all((past == 0) | np.isnan(past))


# -- node errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs, attribute, value",
    [
        (dict(kernel=[2, 2], pads_begin=[2, 0], exclude_pad=True), "pads_begin", "(2, 0)"),
        (dict(kernel=[2, 3], pads_end=[0, 3], exclude_pad=True), "pads_end", "(0, 3)"),
        (dict(kernel=[2, 2], strides=[0, 1]), "strides", "(0, 1)"),
        (dict(kernel=[2]), "kernel", "(2,)"),
        (dict(kernel=[2, 9]), "kernel", "(2, 9)"),
        (dict(kernel=[2, 2], pads_end=[0, -1]), "pads_end", "(0, -1)"),
    ],
)
def test_errors_name_node_attribute_value(attrs, attribute, value):
    x = ops.parameter([1, 1, 4, 4], name="x")
    with pytest.raises(GraphError) as info:
        ops.avg_pool(x, name="ap_bad", **attrs)
    assert "node 'ap_bad'" in str(info.value)
    assert f"attribute '{attribute}' = {value}" in str(info.value)


def test_include_pad_allows_pads_as_large_as_the_kernel():
    # only exclude_pad forbids a pad >= kernel (OpenVINO's check); with include the windows in the
    # padding average zeros: W=2, k=1, pads 1/1 -> [pad] 0, 5, 7, [pad] 0
    y = avg_pool(row([5, 7]), kernel=(1, 1), pads_begin=(0, 1), pads_end=(0, 1))
    np.testing.assert_array_equal(y, row([0, 5, 7, 0]))


def test_integer_input_rejected():
    q = ops.parameter([1, 1, 4, 4], "u8", name="q")
    with pytest.raises(GraphError) as info:
        ops.avg_pool(q, [2, 2], name="ap_u8")
    assert "node 'ap_u8'" in str(info.value) and "f32" in str(info.value)

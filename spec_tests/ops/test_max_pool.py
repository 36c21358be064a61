"""MaxPool: hand-worked windows (padding, ceil mode, auto_pad, NaN, integer types), a property
test against a per-pixel loop, and node errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refint8 import opset as ops
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.ops.max_pool import MaxPool, max_pool

F32_LOWEST = np.float32(-3.4028235e38)  # -FLT_MAX


def row(values, dtype=np.float32) -> np.ndarray:
    """A [1, 1, 1, W] tensor: pooling along W only (kernel height 1)."""
    return np.asarray(values, dtype=dtype).reshape(1, 1, 1, -1)


def test_blocks_2x2_stride_2():
    # 4x4 = 0..15; the maxima of the four 2x2 blocks are their bottom-right elements 5, 7, 13, 15
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y = max_pool(x, kernel=(2, 2), strides=(2, 2))
    np.testing.assert_array_equal(y, np.float32([[[[5, 7], [13, 15]]]]))


def test_padding_never_wins():
    # all values negative, pads 1 on every side, kernel 2, stride 1 -> 3x3 output;
    # a zero pad would win everywhere, but each window's max is over its real elements only:
    # x = [[-1, -2], [-3, -4]]
    # (0,0): {-1} (0,1): {-1,-2} (0,2): {-2} (1,0): {-1,-3} (1,1): all -> -1 (1,2): {-2,-4}
    # (2,0): {-3} (2,1): {-3,-4} (2,2): {-4}
    x = np.float32([[[[-1, -2], [-3, -4]]]])
    y = max_pool(x, kernel=(2, 2), pads_begin=(1, 1), pads_end=(1, 1))
    np.testing.assert_array_equal(y, np.float32([[[[-1, -1, -2], [-1, -1, -2], [-3, -3, -4]]]]))


def test_floor_and_ceil_rounding():
    x = row([1, 2, 3, 4, 5])
    # floor: (5 - 2) // 2 + 1 = 2 windows [1,2], [3,4]
    np.testing.assert_array_equal(max_pool(x, kernel=(1, 2), strides=(1, 2)), row([2, 4]))
    # ceil: ceil(3 / 2) + 1 = 3 windows, the last [5, beyond] -> 5
    y = max_pool(x, kernel=(1, 2), strides=(1, 2), rounding_type="ceil")
    np.testing.assert_array_equal(y, row([2, 4, 5]))


def test_ceil_window_entirely_past_the_input_is_kept():
    # W=5, k=1, s=3, ceil: ceil(4/3) + 1 = 3 windows starting at 0, 3, 6. MaxPool-1 keeps the
    # third one (no "must start inside the input" rule) and it holds no element -> -FLT_MAX
    y = max_pool(row([10, 20, 30, 40, 50]), kernel=(1, 1), strides=(1, 3), rounding_type="ceil")
    np.testing.assert_array_equal(y, row([10, 40, F32_LOWEST]))


def test_ceil_window_starting_in_pads_end_is_kept():
    # W=3, k=1, s=2, pads_end 1: padded size 4, ceil(3/2) + 1 = 3 windows at 0, 2, 4 (padded
    # coordinates = input 0, 2 and pad) -> 1, 3, -FLT_MAX
    y = max_pool(row([1, 2, 3]), kernel=(1, 1), strides=(1, 2), pads_end=(0, 1), rounding_type="ceil")
    np.testing.assert_array_equal(y, row([1, 3, F32_LOWEST]))


def test_auto_pad_same_upper_and_lower():
    # W=4, k=2, s=1: total pad = 3*1 + 2 - 4 = 1
    x = row([1, 5, 2, 3])
    # same_upper: pad at the end: [1,5] [5,2] [2,3] [3,pad] -> 5, 5, 3, 3
    np.testing.assert_array_equal(max_pool(x, kernel=(1, 2), auto_pad="same_upper"), row([5, 5, 3, 3]))
    # same_lower: pad at the beginning: [pad,1] [1,5] [5,2] [2,3] -> 1, 5, 5, 3
    np.testing.assert_array_equal(max_pool(x, kernel=(1, 2), auto_pad="same_lower"), row([1, 5, 5, 3]))


def test_auto_pad_valid_ignores_pads_and_same_with_ceil():
    x = row([1, 5, 2, 3])
    y = max_pool(x, kernel=(1, 2), pads_begin=(0, 3), pads_end=(0, 3), auto_pad="valid")
    np.testing.assert_array_equal(y, row([5, 5, 3]))
    # same_upper, W=6, k=1, s=2: total = (3-1)*2 + 1 - 6 < 0 -> 0; ceil: ceil(5/2) + 1 = 4
    # windows at 0, 2, 4, 6 -> 1, 3, 5, -FLT_MAX (OpenVINO 2026.4 does the same)
    y = max_pool(row([1, 2, 3, 4, 5, 6]), kernel=(1, 1), strides=(1, 2), rounding_type="ceil",
                 auto_pad="same_upper")
    np.testing.assert_array_equal(y, row([1, 3, 5, F32_LOWEST]))


def test_nan_is_skipped_and_minus_inf_loses_to_lowest():
    # [nan, 1] -> 1 ; [nan, nan] -> nothing counts -> -FLT_MAX ; [-inf, -inf] -> -FLT_MAX ;
    # [+inf, 2] -> +inf
    x = row([np.nan, 1, np.nan, np.nan, -np.inf, -np.inf, np.inf, 2])
    y = max_pool(x, kernel=(1, 2), strides=(1, 2))
    np.testing.assert_array_equal(y, row([1, F32_LOWEST, F32_LOWEST, np.inf]))


def test_int8_and_uint8():
    # i8: windows at 0, 3, 6 (ceil) -> -100, -10 and the empty one -> -128 (i8 lowest)
    x = row([-100, -50, -20, -10, -5], np.int8)
    y = max_pool(x, kernel=(1, 1), strides=(1, 3), rounding_type="ceil")
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, row([-100, -10, -128], np.int8))
    # u8, k=2, s=2, pads 1/1, ceil: padded size 5, ceil(3/2) + 1 = 3 windows at padded 0, 2, 4:
    # [pad, 7] -> 7, [200, 3] -> 200, [pad, beyond] -> 0 (u8 lowest)
    x = row([7, 200, 3], np.uint8)
    y = max_pool(x, kernel=(1, 2), strides=(1, 2), pads_begin=(0, 1), pads_end=(0, 1),
                 rounding_type="ceil")
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, row([7, 200, 0], np.uint8))


def test_channels_are_independent():
    x = np.stack([np.arange(4, dtype=np.float32), -np.arange(4, dtype=np.float32)]).reshape(1, 2, 2, 2)
    # channel 0: [[0,1],[2,3]] -> 3 ; channel 1: [[0,-1],[-2,-3]] -> 0
    np.testing.assert_array_equal(max_pool(x, kernel=(2, 2)), np.float32([3, 0]).reshape(1, 2, 1, 1))


def test_node_keeps_dtype_and_computes():
    q = ops.parameter([1, 3, 7, 7], "i8", name="q")
    y = ops.max_pool(q, [3, 3], [2, 2], [1, 1], [1, 1], name="pool")
    # floor((7 + 2 - 3) / 2) + 1 = 4
    assert y.shape == (1, 3, 4, 4) and y.dtype == np.int8
    x = np.full((1, 3, 7, 7), -5, np.int8)
    (out,) = MaxPool.compute(y.node.attrs, x)
    assert out.dtype == np.int8 and (out == -5).all()


# -- property test against a per-pixel loop --------------------------------------------------------


def naive_max_pool(x, kernel, strides, pads_begin, pads_end, rounding_type, auto_pad):
    _, _, h, w = x.shape
    pads, outs = [], []
    for size, k, s, pb, pe in zip((h, w), kernel, strides, pads_begin, pads_end):
        if auto_pad == "valid":
            pb = pe = 0
        elif auto_pad != "explicit":
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pb, pe = (total // 2, total - total // 2)
            if auto_pad == "same_lower":
                pb, pe = pe, pb
        span = size + pb + pe - k
        if span < 0:
            return None
        outs.append((math.ceil(span / s) if rounding_type == "ceil" else span // s) + 1)
        pads.append(pb)
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
    y = np.empty(x.shape[:2] + tuple(outs), x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oy in range(outs[0]):
                for ox in range(outs[1]):
                    best = info.min
                    for i in range(kernel[0]):
                        for j in range(kernel[1]):
                            iy, ix = oy * strides[0] + i - pads[0], ox * strides[1] + j - pads[1]
                            if 0 <= iy < h and 0 <= ix < w:
                                v = x[n, c, iy, ix]
                                if not (x.dtype.kind == "f" and np.isnan(v)) and v > best:
                                    best = v
                    y[n, c, oy, ox] = best
    return y


@st.composite
def pool_cases(draw):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.uint8, np.int8])))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
    if dtype.kind == "f":
        x = rng.standard_normal(shape).astype(np.float32)
        special = rng.random(shape)
        x[special < 0.1] = np.nan
        x[(special >= 0.1) & (special < 0.15)] = -np.inf
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max + 1, shape).astype(dtype)
    attrs = dict(
        kernel=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        pads_begin=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        pads_end=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        rounding_type=draw(st.sampled_from(["floor", "ceil"])),
        auto_pad=draw(st.sampled_from(["explicit", "same_upper", "same_lower", "valid"])),
    )
    return x, attrs


@given(pool_cases())
def test_matches_per_pixel_loop(case):
    x, attrs = case
    expected = naive_max_pool(x, **attrs)
    if expected is None:
        with pytest.raises(InputError):
            max_pool(x, **attrs)
        return
    got = max_pool(x, **attrs)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, expected)


# -- node errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs, attribute, value",
    [
        (dict(kernel=[2, 2, 2]), "kernel", "(2, 2, 2)"),
        (dict(kernel=[0, 2]), "kernel", "(0, 2)"),
        (dict(kernel=[2, 2], strides=[1, 0]), "strides", "(1, 0)"),
        (dict(kernel=[2, 2], pads_begin=[-1, 0]), "pads_begin", "(-1, 0)"),
        (dict(kernel=[2, 2], pads_end=[1]), "pads_end", "(1,)"),
        (dict(kernel=[6, 2]), "kernel", "(6, 2)"),  # larger than the 4 + 0 + 0 padded input
    ],
)
def test_errors_name_node_attribute_value(attrs, attribute, value):
    x = ops.parameter([1, 1, 4, 4], name="x")
    with pytest.raises(GraphError) as info:
        ops.max_pool(x, name="mp_bad", **attrs)
    assert "node 'mp_bad'" in str(info.value)
    assert f"attribute '{attribute}' = {value}" in str(info.value)


def test_unsupported_rounding_type():
    x = ops.parameter([1, 1, 4, 4], name="x")
    with pytest.raises(UnsupportedError) as info:
        ops.max_pool(x, [2, 2], rounding_type="ceil_torch", name="mp_torch")
    assert "node 'mp_torch'" in str(info.value) and "'rounding_type' = 'ceil_torch'" in str(info.value)


def test_rank_and_dtype_errors():
    with pytest.raises(GraphError) as info:
        ops.max_pool(ops.parameter([1, 4, 4], name="x3"), [2, 2], name="mp_rank")
    assert "node 'mp_rank'" in str(info.value) and "[1, 4, 4]" in str(info.value)
    with pytest.raises(GraphError) as info:
        ops.max_pool(ops.parameter([1, 1, 4, 4], "i32", name="xi"), [2, 2], name="mp_i32")
    assert "node 'mp_i32'" in str(info.value) and "i32" in str(info.value)

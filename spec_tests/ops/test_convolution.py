"""Convolution: hand-worked values, a property test against a per-pixel loop, and node errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refint8 import opset as ops
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.ops.convolution import Convolution, convolution


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


X3 = f32([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]])  # [1, 1, 3, 3]


def test_single_channel_valid():
    # w = [[1, 0], [0, -1]]: y[i, j] = x[i, j] - x[i+1, j+1]; every such difference is -4
    w = f32([[[[1, 0], [0, -1]]]])
    np.testing.assert_array_equal(convolution(X3, w), f32([[[[-4, -4], [-4, -4]]]]))


def test_padding_and_stride():
    # 3x3 ones, pads 1, stride 2: OH = floor((3 + 2 - 3) / 2) + 1 = 2; windows clipped to the input
    # (0,0): 1+2+4+5 = 12   (0,1): 2+3+5+6 = 16   (1,0): 4+5+7+8 = 24   (1,1): 5+6+8+9 = 28
    w = np.ones((1, 1, 3, 3), np.float32)
    y = convolution(X3, w, strides=(2, 2), pads_begin=(1, 1), pads_end=(1, 1))
    np.testing.assert_array_equal(y, f32([[[[12, 16], [24, 28]]]]))


def test_asymmetric_pads():
    # pads_begin (0, 1), pads_end (0, 0), kernel 1x2 of ones on row [1, 2, 3]:
    # OW = floor((3 + 1 - 2) / 1) + 1 = 3: (pad + 1) = 1, 1 + 2 = 3, 2 + 3 = 5
    x = f32([[[[1, 2, 3]]]])
    y = convolution(x, np.ones((1, 1, 1, 2), np.float32), pads_begin=(0, 1), pads_end=(0, 0))
    np.testing.assert_array_equal(y, f32([[[[1, 3, 5]]]]))


def test_dilation():
    # kernel [1, 1] with dilation 2 spans 3 columns: y[i] = x[i] + x[i+2] -> 1+3, 2+4, 3+5
    x = f32([[[[1, 2, 3, 4, 5]]]])
    y = convolution(x, np.ones((1, 1, 1, 2), np.float32), dilations=(1, 2))
    np.testing.assert_array_equal(y, f32([[[[4, 6, 8]]]]))


def test_auto_pad_same_upper_and_lower():
    # in = 4, k = 2, s = 1: total pad = (ceil(4/1) - 1)*1 + 2 - 4 = 1
    x = f32([[[[1, 2, 3, 4]]]])
    w = f32([[[[1, 10]]]])
    # same_upper pads the end: y[i] = x[i] + 10*x[i+1] -> 1+20, 2+30, 3+40, 4+0
    up = convolution(x, w, auto_pad="same_upper", pads_begin=(5, 5), pads_end=(5, 5))
    np.testing.assert_array_equal(up, f32([[[[21, 32, 43, 4]]]]))
    # same_lower pads the beginning: y[i] = x[i-1] + 10*x[i] -> 0+10, 1+20, 2+30, 3+40
    low = convolution(x, w, auto_pad="same_lower")
    np.testing.assert_array_equal(low, f32([[[[10, 21, 32, 43]]]]))


def test_auto_pad_same_with_stride_and_valid():
    x = f32([[[[1, 2, 3, 4]]]])
    w = f32([[[[1, 10]]]])
    # stride 2: total = (ceil(4/2) - 1)*2 + 2 - 4 = 0 -> windows at 0, 2: 1+20, 3+40
    y = convolution(x, w, strides=(1, 2), auto_pad="same_upper")
    np.testing.assert_array_equal(y, f32([[[[21, 43]]]]))
    # valid ignores pads_*: windows at 0, 1, 2 -> 21, 32, 43
    v = convolution(x, w, auto_pad="valid", pads_begin=(0, 3), pads_end=(0, 3))
    np.testing.assert_array_equal(v, f32([[[[21, 32, 43]]]]))


def test_channels_are_summed():
    # one output channel over two inputs: 2*10 + 3*100 = 320
    x = f32([[[[2]], [[3]]]])
    w = f32([[[[10]], [[100]]]])
    np.testing.assert_array_equal(convolution(x, w), f32([[[[320]]]]))


def test_groups_route_channels():
    # group 2, OC 4: outputs 0,1 read channel 0 (value 3), outputs 2,3 read channel 1 (value 5)
    # weights 1, 2 | 3, 4 -> 3*1, 3*2, 5*3, 5*4
    x = f32([[[[3]], [[5]]]])
    w = f32([1, 2, 3, 4]).reshape(4, 1, 1, 1)
    np.testing.assert_array_equal(convolution(x, w, group=2), f32([3, 6, 15, 20]).reshape(1, 4, 1, 1))


def test_grouped_two_channels_per_group():
    # group 2, IC/group = 2: out0 = 1*1 + 2*1 = 3 (channels 0,1), out1 = 3*1 + 4*(-1) = -1 (2,3)
    x = f32([1, 2, 3, 4]).reshape(1, 4, 1, 1)
    w = f32([[1, 1], [1, -1]]).reshape(2, 2, 1, 1)
    np.testing.assert_array_equal(convolution(x, w, group=2), f32([3, -1]).reshape(1, 2, 1, 1))


def test_depthwise():
    # group == IC == OC == 2: each channel convolved with its own 1x2 kernel
    # channel 0: [1, 2, 3] * [1, 1] -> 3, 5 ; channel 1: [1, 2, 3] * [1, -1] -> -1, -1
    x = f32([[[[1, 2, 3]], [[1, 2, 3]]]])
    w = f32([[[[1, 1]]], [[[1, -1]]]])
    np.testing.assert_array_equal(convolution(x, w, group=2), f32([[[[3, 5]], [[-1, -1]]]]))


def test_padding_is_skipped_not_multiplied():
    # weights inf, 1, inf over a 1-pixel input padded by 1 on each side: only the middle tap hits
    # the input, so y = 7 * 1 = 7 (a multiplied zero pad would give 0 * inf = NaN)
    x = f32([[[[7]]]])
    w = f32([[[[np.inf, 1, np.inf]]]])
    y = convolution(x, w, pads_begin=(0, 1), pads_end=(0, 1))
    np.testing.assert_array_equal(y, f32([[[[7]]]]))


def test_rounded_once_to_float32():
    # 1 + 2**-24 + 2**-24 = 1 + 2**-23 exactly (representable in f32). Accumulating in float32
    # would round 1 + 2**-24 to 1 (tie to even) twice and give 1.0.
    tiny = 2.0**-24
    x = f32([[[[1, tiny, tiny]]]])
    y = convolution(x, np.ones((1, 1, 1, 3), np.float32))
    assert y[0, 0, 0, 0] == np.float32(1 + 2.0**-23)


def test_nan_propagates():
    x = f32([[[[np.nan, 1]]]])
    y = convolution(x, np.ones((1, 1, 1, 1), np.float32))
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == 1


def test_node_shape_and_compute():
    x = ops.parameter([1, 4, 7, 7], name="x")
    w = np.ones((6, 2, 3, 3), np.float32)
    y = ops.convolution(x, w, strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1], group=2, name="conv")
    # OH = floor((7 + 2 - 3) / 2) + 1 = 4
    assert y.shape == (1, 6, 4, 4) and y.dtype == np.float32
    attrs = y.node.attrs
    data = np.ones((1, 4, 7, 7), np.float32)
    (out,) = Convolution.compute(attrs, data, w)
    # centre output (1,1): full 3x3 window over 2 channels of ones -> 18
    assert out.shape == (1, 6, 4, 4) and out[0, 0, 1, 1] == 18


# -- property test against a per-pixel loop --------------------------------------------------------


def naive_convolution(x, w, strides, pads_begin, pads_end, dilations, auto_pad, group):
    """Direct definition: one output at a time, summing with math.fsum (exactly rounded)."""
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    pads = []
    for size, k, s, d, pb, pe in zip((h, wd), (kh, kw), strides, dilations, pads_begin, pads_end):
        if auto_pad == "valid":
            pads.append((0, 0))
        elif auto_pad in ("same_upper", "same_lower"):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            half = total // 2
            pads.append((half, total - half) if auto_pad == "same_upper" else (total - half, half))
        else:
            pads.append((pb, pe))
    out_sizes = [
        (size + pb + pe - ((k - 1) * d + 1)) // s + 1
        for size, k, s, d, (pb, pe) in zip((h, wd), (kh, kw), strides, dilations, pads)
    ]
    y = np.zeros((n, oc, *out_sizes), np.float32)
    ocg = oc // group
    for b in range(n):
        for o in range(oc):
            g = o // ocg
            for oy in range(out_sizes[0]):
                for ox in range(out_sizes[1]):
                    terms = []
                    for ci in range(icg):
                        for i in range(kh):
                            for j in range(kw):
                                iy = oy * strides[0] + i * dilations[0] - pads[0][0]
                                ix = ox * strides[1] + j * dilations[1] - pads[1][0]
                                if 0 <= iy < h and 0 <= ix < wd:
                                    terms.append(float(x[b, g * icg + ci, iy, ix]) * float(w[o, ci, i, j]))
                    y[b, o, oy, ox] = math.fsum(terms)
    return y


@st.composite
def conv_cases(draw):
    group = draw(st.integers(1, 3))
    icg = draw(st.integers(1, 2))
    ocg = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilations = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads_begin = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pads_end = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    auto_pad = draw(st.sampled_from(["explicit", "same_upper", "same_lower", "valid"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, (draw(st.integers(1, 2)), group * icg, h, w)).astype(np.float32) / 4
    wt = rng.integers(-8, 9, (group * ocg, icg, kh, kw)).astype(np.float32) / 4
    return x, wt, dict(strides=strides, pads_begin=pads_begin, pads_end=pads_end,
                       dilations=dilations, auto_pad=auto_pad, group=group)


@given(conv_cases())
def test_matches_per_pixel_loop(case):
    x, w, attrs = case
    try:
        expected = naive_convolution(x, w, **attrs)
    except ValueError:  # a negative output size
        expected = None
    if expected is None or min(expected.shape[2:]) < 1:
        with pytest.raises(InputError):
            convolution(x, w, **attrs)
        return
    np.testing.assert_array_equal(convolution(x, w, **attrs), expected)


# -- node errors ---------------------------------------------------------------------------------


def _conv_error(error_type, x_shape, w_shape, **attrs):
    x = ops.parameter(x_shape, name="x")
    with pytest.raises(error_type) as info:
        ops.convolution(x, np.ones(w_shape, np.float32), name="conv_bad", **attrs)
    return str(info.value)


@pytest.mark.parametrize(
    "x_shape, w_shape, attrs, attribute, value",
    [
        ([1, 4, 5, 5], [6, 2, 3, 3], dict(group=3), "group", "3"),  # 4 != 3 * 2
        ([1, 3, 5, 5], [4, 2, 3, 3], dict(), "group", "1"),  # 3 != 1 * 2: mismatched channels
        ([1, 4, 5, 5], [5, 2, 3, 3], dict(group=2), "group", "2"),  # OC 5 % 2 != 0
        ([1, 1, 5, 5], [1, 1, 3, 3], dict(strides=[0, 1]), "strides", "(0, 1)"),
        ([1, 1, 5, 5], [1, 1, 3, 3], dict(dilations=[1, 0]), "dilations", "(1, 0)"),
        ([1, 1, 5, 5], [1, 1, 3, 3], dict(pads_begin=[-1, 0]), "pads_begin", "(-1, 0)"),
        ([1, 1, 5, 5], [1, 1, 3, 3], dict(pads_end=[0, -2]), "pads_end", "(0, -2)"),
        ([1, 1, 5, 5], [1, 1, 3, 3], dict(strides=[1, 1, 1]), "strides", "(1, 1, 1)"),
        ([1, 1, 5, 5], [1, 1, 3, 3], dict(pads_begin=[1]), "pads_begin", "(1,)"),
        ([1, 1, 2, 2], [1, 1, 3, 3], dict(), "pads_begin", "(0, 0)"),  # output size 0
        ([1, 1, 2, 2], [1, 1, 1, 5], dict(auto_pad="valid"), "auto_pad", "'valid'"),
    ],
)
def test_errors_name_node_attribute_value(x_shape, w_shape, attrs, attribute, value):
    message = _conv_error(GraphError, x_shape, w_shape, **attrs)
    assert "node 'conv_bad'" in message
    assert f"attribute '{attribute}' = {value}" in message


def test_error_messages_explain():
    assert "mismatched channels" in _conv_error(GraphError, [1, 3, 5, 5], [4, 2, 3, 3])
    assert "output size" in _conv_error(GraphError, [1, 1, 2, 2], [1, 1, 3, 3])


def test_wrong_rank_and_dtype():
    x = ops.parameter([1, 3, 5], name="x3")
    with pytest.raises(GraphError) as info:
        ops.convolution(x, np.ones((1, 3, 1, 1), np.float32), name="conv_rank")
    assert "node 'conv_rank'" in str(info.value) and "input[0]" in str(info.value)
    assert "[1, 3, 5]" in str(info.value)
    q = ops.parameter([1, 3, 5, 5], "u8", name="q")
    with pytest.raises(GraphError) as info:
        ops.convolution(q, np.ones((1, 3, 1, 1), np.float32), name="conv_u8")
    assert "node 'conv_u8'" in str(info.value) and "f32" in str(info.value)


def test_unknown_auto_pad_is_unsupported():
    message = _conv_error(UnsupportedError, [1, 1, 5, 5], [1, 1, 3, 3], auto_pad="notpad")
    assert "node 'conv_bad'" in message and "'auto_pad' = 'notpad'" in message
    assert "same_upper" in message


def test_function_errors():
    with pytest.raises(InputError, match="group"):
        convolution(np.ones((1, 3, 4, 4), np.float32), np.ones((1, 2, 1, 1), np.float32))

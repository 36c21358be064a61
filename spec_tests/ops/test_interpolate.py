"""Interpolate: hand-worked coordinates for every coordinate and nearest mode, linear blends, the
scales-mode epsilon, a property test against a per-output loop, and node errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refint8 import opset as ops
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.ops.interpolate import Interpolate, interpolate


def vec(values, dtype=np.float32) -> np.ndarray:
    return np.asarray(values, dtype=dtype)


def resize1d(x, size, **kw):
    return interpolate(vec(x), sizes=[size], axes=[0], **kw)


# -- nearest ---------------------------------------------------------------------------------------


def test_nearest_asymmetric_floor_upsample():
    # in 3 -> out 6, scale 2: coords o/2 = 0, .5, 1, 1.5, 2, 2.5 -> floor 0,0,1,1,2,2
    y = resize1d([1, 2, 3], 6, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    np.testing.assert_array_equal(y, vec([1, 1, 2, 2, 3, 3]))


def test_nearest_half_pixel_default():
    # half_pixel: (o + .5)/2 - .5 = -.25, .25, .75, 1.25, 1.75, 2.25 -> round: 0 (clamped), 0, 1,
    # 1, 2, 2
    np.testing.assert_array_equal(resize1d([1, 2, 3], 6), vec([1, 1, 2, 2, 3, 3]))


@pytest.mark.parametrize(
    "nearest_mode, expected",
    [
        # asymmetric, in 2 -> out 4: coords 0, .5, 1, 1.5
        ("round_prefer_floor", [10, 10, 20, 20]),  # ties .5 -> 0, 1.5 -> 1
        ("round_prefer_ceil", [10, 20, 20, 20]),  # ties .5 -> 1, 1.5 -> 2 clamped to 1
        ("floor", [10, 10, 20, 20]),
        ("ceil", [10, 20, 20, 20]),  # 0, 1, 1, 2 -> clamped 1
        ("simple", [10, 10, 20, 20]),  # upsampling: trunc
    ],
)
def test_nearest_modes_on_ties(nearest_mode, expected):
    y = resize1d([10, 20], 4, coordinate_transformation_mode="asymmetric", nearest_mode=nearest_mode)
    np.testing.assert_array_equal(y, vec(expected))


def test_simple_downsample_uses_ceil():
    # tf_half_pixel_for_nn, in 4 -> out 2, scale .5: (o + .5)/.5 = 1, 3 -> ceil 1, 3 -> 2, 4
    y = resize1d([1, 2, 3, 4], 2, coordinate_transformation_mode="tf_half_pixel_for_nn",
                 nearest_mode="simple")
    np.testing.assert_array_equal(y, vec([2, 4]))
    # asymmetric downsample 4 -> 3, scale .75: o/.75 = 0, 1.333, 2.667 -> ceil 0, 2, 3
    y = resize1d([1, 2, 3, 4], 3, coordinate_transformation_mode="asymmetric", nearest_mode="simple")
    np.testing.assert_array_equal(y, vec([1, 3, 4]))


def test_align_corners_nearest():
    # in 3 -> out 5: o * 2/4 = 0, .5, 1, 1.5, 2 -> round_prefer_ceil 0, 1, 1, 2, 2
    y = resize1d([1, 2, 3], 5, coordinate_transformation_mode="align_corners",
                 nearest_mode="round_prefer_ceil")
    np.testing.assert_array_equal(y, vec([1, 2, 2, 3, 3]))


def test_pytorch_half_pixel_single_output():
    x = [1, 2, 3, 4]
    # pytorch_half_pixel with out 1: coordinate 0 -> x[0]
    np.testing.assert_array_equal(resize1d(x, 1, coordinate_transformation_mode="pytorch_half_pixel"), vec([1]))
    # half_pixel with out 1: scale .25: .5/.25 - .5 = 1.5, a tie -> floor 1 -> x[1] = 2
    np.testing.assert_array_equal(resize1d(x, 1, coordinate_transformation_mode="half_pixel"), vec([2]))


def test_nearest_2d_and_integer_types():
    # 2x2 -> 4x4 asymmetric floor: every element repeated twice along both axes
    for dtype in (np.float32, np.uint8, np.int8):
        x = np.array([[1, 2], [3, 4]], dtype)
        y = interpolate(x, sizes=[4, 4], coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, np.array([[1, 1, 2, 2]] * 2 + [[3, 3, 4, 4]] * 2, dtype))


def test_nearest_copies_nan_and_negative_zero():
    y = resize1d([np.nan, -0.0], 4, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    assert np.isnan(y[:2]).all() and (y[2:] == 0).all() and np.signbit(y[2:]).all()


# -- linear ---------------------------------------------------------------------------------------


def test_linear_half_pixel_upsample():
    # in 2 -> out 4: coords -.25, .25, .75, 1.25 clamped to [0, 1] -> 0, .25, .75, 1
    # y = x0 + c * (x1 - x0) with x = [1, 2]: 1, 1.25, 1.75, 2
    y = resize1d([1, 2], 4, mode="linear_onnx")
    np.testing.assert_array_equal(y, vec([1, 1.25, 1.75, 2]))


def test_linear_align_corners():
    # in 3 -> out 5: coords 0, .5, 1, 1.5, 2 -> 1, 1.5, 2, 2.5, 3
    y = resize1d([1, 2, 3], 5, mode="linear_onnx", coordinate_transformation_mode="align_corners")
    np.testing.assert_array_equal(y, vec([1, 1.5, 2, 2.5, 3]))


def test_bilinear_2d():
    # 2x2 -> 3x3 align_corners: coords 0, .5, 1 on both axes
    # centre = (1 + 2 + 3 + 4)/4 = 2.5; edge midpoints are means of their two corners
    x = vec([[1, 2], [3, 4]])
    y = interpolate(x, mode="linear_onnx", sizes=[3, 3], coordinate_transformation_mode="align_corners")
    np.testing.assert_array_equal(y, vec([[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]]))


def test_linear_single_output_modes():
    x = [1, 2, 3, 4]
    # pytorch_half_pixel, out 1: coordinate 0 -> 1 ; half_pixel: coordinate 1.5 -> (2 + 3)/2 = 2.5
    assert resize1d(x, 1, mode="linear_onnx", coordinate_transformation_mode="pytorch_half_pixel")[0] == 1
    assert resize1d(x, 1, mode="linear_onnx", coordinate_transformation_mode="half_pixel")[0] == 2.5


def test_linear_mode_equals_linear_onnx():
    x = vec([1, 4, 2, 8, 5])
    for ctm in ("half_pixel", "asymmetric", "align_corners"):
        for size in (3, 8):
            a = resize1d(x, size, mode="linear", coordinate_transformation_mode=ctm)
            b = resize1d(x, size, mode="linear_onnx", coordinate_transformation_mode=ctm)
            np.testing.assert_array_equal(a, b)


def test_linear_input_size_one():
    # in 1: i0 = i1 = 0, weights .5/.5 -> the element itself
    np.testing.assert_array_equal(resize1d([7], 3, mode="linear_onnx"), vec([7, 7, 7]))


# -- scales mode ---------------------------------------------------------------------------------


def test_scales_mode_output_size_uses_epsilon():
    # s = float32(2.1) = 2.0999999; 30 * s = 62.999996 would truncate to 62. OpenVINO computes
    # trunc(float32(30) * float32(s + 1e-6)) = trunc(30 * 2.1000009) = trunc(63.000027) = 63.
    x = np.zeros(30, np.float32)
    assert interpolate(x, shape_calculation_mode="scales", scales=[2.1], axes=[0]).shape == (63,)
    # scale 1/3 on 3: float32(1/3) + 1e-6 = 0.33333433; 3 * that = 1.000003 -> 1
    assert interpolate(np.zeros(3, np.float32), shape_calculation_mode="scales", scales=[1 / 3],
                       axes=[0]).shape == (1,)


def test_scales_mode_coordinates_use_the_given_scale():
    # x = [0, 39], asymmetric linear. scales mode, s = 3.9: out = trunc(2 * 3.900001) = 7 and
    # y[1] = 39 * (1 / 3.9) = 10 (up to float32 coordinate rounding).
    # sizes mode with 7 outputs uses s = 7/2 = 3.5: y[1] = 39 / 3.5 = 11.142857...
    x = vec([0, 39])
    by_scale = interpolate(x, mode="linear_onnx", shape_calculation_mode="scales", scales=[3.9],
                           coordinate_transformation_mode="asymmetric")
    by_size = interpolate(x, mode="linear_onnx", sizes=[7], coordinate_transformation_mode="asymmetric")
    assert by_scale.shape == by_size.shape == (7,)
    assert by_scale[1] == pytest.approx(10, rel=1e-6)
    assert by_size[1] == pytest.approx(39 / 3.5, rel=1e-6)
    # past the last input element the coordinate is clamped: 4/3.9 > 1 -> 39
    assert by_scale[4] == 39


def test_default_axes_are_all_axes():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    y = interpolate(x, sizes=[1, 1, 4, 4], nearest_mode="floor", coordinate_transformation_mode="asymmetric")
    assert y.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(y[0, 0, :, 0], vec([0, 0, 2, 2]))


def test_unchanged_axis_is_identity_whatever_the_mode():
    # in == out: the coordinate is o itself, even for tf_half_pixel_for_nn (which would shift by .5)
    x = vec([1, 2, 3])
    y = resize1d(x, 3, coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="ceil")
    np.testing.assert_array_equal(y, x)


def test_node():
    x = ops.parameter([1, 3, 4, 6], "u8", name="img")
    y = ops.interpolate(x, scales=[2.0, 0.5], axes=[2, 3], name="resize")
    assert y.shape == (1, 3, 8, 3) and y.dtype == np.uint8
    data = np.arange(72, dtype=np.uint8).reshape(1, 3, 4, 6)
    (out,) = Interpolate.compute(y.node.attrs, data)
    assert out.shape == (1, 3, 8, 3) and out.dtype == np.uint8
    # H: half_pixel, s=2: (o+.5)/2-.5 -> rows 0,0,1,1,2,2,3,3 ; W: s=.5: (o+.5)*2-.5 = .5, 2.5, 4.5
    # -> ties to floor: 0, 2, 4
    np.testing.assert_array_equal(out[0, 0, :, 0], data[0, 0, [0, 0, 1, 1, 2, 2, 3, 3], 0])
    np.testing.assert_array_equal(out[0, 0, 0], data[0, 0, 0, [0, 2, 4]])


# -- property test against a per-output loop -------------------------------------------------------


def naive_coordinate(o, in_size, out_size, scale, ctm):
    """Source coordinate, float32 arithmetic step by step (as OpenVINO's CPU plugin)."""
    s, f = np.float32(scale), np.float32
    if s == 1 or in_size == out_size:
        return f(o)
    if ctm == "half_pixel" or (ctm == "pytorch_half_pixel" and out_size > 1):
        return f(f(f(o) + f(0.5)) / s) - f(0.5)
    if ctm == "asymmetric":
        return f(o) / s
    if ctm == "tf_half_pixel_for_nn":
        return f(f(o) + f(0.5)) / s
    if ctm == "align_corners" and out_size > 1:
        return f(o) * f(f(in_size - 1) / f(out_size - 1))
    return f(0)


def naive_nearest_index(c, in_size, scale, nearest_mode):
    c = float(c)
    if nearest_mode == "round_prefer_floor":
        i = math.floor(c) if c - math.floor(c) == 0.5 else math.floor(c + 0.5)
    elif nearest_mode == "round_prefer_ceil":
        i = math.floor(c + 0.5)
    elif nearest_mode == "floor":
        i = math.floor(c)
    elif nearest_mode == "ceil":
        i = math.ceil(c)
    else:  # simple
        i = math.ceil(c) if np.float32(scale) < 1 else math.trunc(c)
    return min(max(i, 0), in_size - 1)


def naive_interpolate(x, mode, sizes, ctm, nearest_mode):
    """Per output element: per-axis indices/weights, then a sum over the 2**rank corners."""
    scales = [np.float32(o) / np.float32(i) for o, i in zip(sizes, x.shape)]
    y = np.zeros(sizes, np.float32 if mode != "nearest" else x.dtype)
    for out_index in np.ndindex(*sizes):
        per_axis = []
        for o, in_size, out_size, s in zip(out_index, x.shape, sizes, scales):
            c = naive_coordinate(o, in_size, out_size, s, ctm)
            if mode == "nearest":
                per_axis.append([(naive_nearest_index(c, in_size, s, nearest_mode), 1.0)])
            else:
                c = min(max(float(c), 0.0), float(in_size - 1))
                i0 = int(math.floor(c))
                i1 = min(i0 + 1, in_size - 1)
                w1, w0 = c - i0, i1 - c
                per_axis.append([(i0, 0.5), (i1, 0.5)] if i0 == i1 else [(i0, w0), (i1, w1)])
        terms = []
        for corner in np.ndindex(*[len(p) for p in per_axis]):
            weight = math.prod(per_axis[a][k][1] for a, k in enumerate(corner))
            src = tuple(per_axis[a][k][0] for a, k in enumerate(corner))
            terms.append(weight * float(x[src]))
        y[out_index] = x[src] if mode == "nearest" else math.fsum(terms)
    return y


@st.composite
def interpolate_cases(draw):
    mode = draw(st.sampled_from(["nearest", "linear_onnx"]))
    dtype = np.dtype(np.float32)
    if mode == "nearest":
        dtype = np.dtype(draw(st.sampled_from([np.float32, np.uint8, np.int8])))
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    sizes = [draw(st.integers(1, 7)) for _ in range(rank)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-50, 51, shape).astype(dtype) if dtype != np.uint8 else rng.integers(0, 256, shape).astype(dtype)
    ctm = draw(st.sampled_from(["half_pixel", "pytorch_half_pixel", "asymmetric",
                                "tf_half_pixel_for_nn", "align_corners"]))
    nearest_mode = draw(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"]))
    return x, mode, sizes, ctm, nearest_mode


@given(interpolate_cases())
def test_matches_per_output_loop(case):
    x, mode, sizes, ctm, nearest_mode = case
    got = interpolate(x, mode=mode, sizes=sizes, coordinate_transformation_mode=ctm, nearest_mode=nearest_mode)
    expected = naive_interpolate(x, mode, sizes, ctm, nearest_mode)
    assert got.dtype == expected.dtype
    if mode == "nearest":
        np.testing.assert_array_equal(got, expected)
    else:  # separable float64 vs. corner-sum float64: equal up to float64 rounding
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


# -- node errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, attribute, value",
    [
        (dict(sizes=[4], axes=[2, 3]), GraphError, "sizes", "(4,)"),
        (dict(scales=[2.0, 2.0, 2.0], axes=[2, 3]), GraphError, "scales", "(2.0, 2.0, 2.0)"),
        (dict(sizes=[4, 4], axes=[2, 4]), GraphError, "axes", "(2, 4)"),
        (dict(sizes=[4, 4], axes=[3, -1]), GraphError, "axes", "(3, 3)"),
        (dict(sizes=[0, 4], axes=[2, 3]), GraphError, "sizes", "(0, 4)"),
        (dict(scales=[0.0, 1.0], axes=[2, 3]), GraphError, "scales", "(0.0, 1.0)"),
        (dict(scales=[0.1, 1.0], axes=[2, 3]), GraphError, "scales", "(0.1, 1.0)"),  # 6*.1 -> 0
        (dict(sizes=[4, 4], scales=[2.0, 2.0], axes=[2, 3]), GraphError, "scales", "(2.0, 2.0)"),
        (dict(sizes=[4, 4], axes=[2, 3], mode="cubic"), UnsupportedError, "mode", "'cubic'"),
        (dict(sizes=[4, 4], axes=[2, 3], nearest_mode="round"), UnsupportedError, "nearest_mode", "'round'"),
        (dict(sizes=[4, 4], axes=[2, 3], coordinate_transformation_mode="half"), UnsupportedError,
         "coordinate_transformation_mode", "'half'"),
    ],
)
def test_errors_name_node_attribute_value(kwargs, error, attribute, value):
    x = ops.parameter([1, 1, 6, 6], name="x")
    with pytest.raises(error) as info:
        ops.interpolate(x, name="resize_bad", **kwargs)
    assert "node 'resize_bad'" in str(info.value)
    assert f"attribute '{attribute}' = {value}" in str(info.value)


def test_linear_needs_f32():
    q = ops.parameter([1, 1, 4, 4], "i8", name="q")
    with pytest.raises(GraphError) as info:
        ops.interpolate(q, sizes=[8, 8], axes=[2, 3], mode="linear_onnx", name="resize_i8")
    assert "node 'resize_i8'" in str(info.value) and "f32" in str(info.value)


def test_function_errors():
    with pytest.raises(InputError, match="sizes"):
        interpolate(np.zeros(3, np.float32), sizes=None, shape_calculation_mode="sizes")

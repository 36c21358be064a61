"""Clamp: hand-worked values, float32 bounds, NaN and signed zero, properties, errors.

Rule: ``lo = float32(min)``, ``hi = float32(max)``; ``y = lo if x < lo, hi if x > hi, else x``.
Outputs are compared bit for bit (``-0.0`` differs from ``0.0``, any NaN matches any NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import opset
from refint8.errors import GraphError, InputError
from refint8.ops.clamp import Clamp, clamp

f32 = np.float32
NAN, INF = float("nan"), float("inf")


def assert_bits(actual, expected) -> None:
    expected = np.asarray(expected, dtype=np.float32)
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float32
    assert actual.shape == expected.shape
    same = (actual.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(actual) & np.isnan(expected))
    assert same.all(), f"\nactual   {actual!r}\nexpected {expected!r}"


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert err.node == node and err.attribute == attribute
    assert err.value == value or (np.isnan(err.value) and np.isnan(value))


def test_relu6_values():
    # [0, 6]: -1 < 0 -> 0; 0.5 inside; 7 > 6 -> 6; 6 and 0 are inside (not strictly beyond);
    # -inf -> 0; +inf -> 6.
    x = f32([-1.0, 0.5, 7.0, 6.0, 0.0, -INF, INF])
    assert_bits(clamp(x, 0.0, 6.0), [0.0, 0.5, 6.0, 6.0, 0.0, 0.0, 6.0])


def test_nan_stays_nan():
    # Both comparisons with NaN are false, so y = x = NaN (OpenVINO's CPU plugin returns min).
    assert_bits(clamp(f32([NAN]), -1.0, 1.0), [NAN])


def test_negative_zero_with_zero_lower_bound():
    # -0.0 < +0.0 is false, so -0.0 is inside [0, 6] and stays -0.0 (the sign bit is kept).
    assert_bits(clamp(f32([-0.0]), 0.0, 6.0), [-0.0])


def test_bounds_are_rounded_to_float32():
    # float32(0.1) = 13421773 * 2^-27 = 0.100000001490116...; float32(0.2) = 0.200000002980232...
    # 0.0 < lo -> lo; 1.0 > hi -> hi: the outputs are the float32 bounds themselves.
    lo, hi = f32(13421773 * 2.0 ** -27), f32(13421773 * 2.0 ** -26)
    assert_bits(clamp(f32([0.0, 1.0]), 0.1, 0.2), [lo, hi])
    # x = 0.1f is equal to lo, so it is kept; a float64 bound 0.1 (< 0.1f) would not change that.
    assert_bits(clamp(f32([0.1]), 0.1, 0.2), [lo])


def test_bound_beyond_float32_range_is_infinite():
    # 1e39 rounds to +inf in float32, so nothing is clamped from above: 3e38 stays.
    assert_bits(clamp(f32([3e38, -5.0]), 0.0, 1e39), [3e38, 0.0])


def test_equal_bounds_give_a_constant():
    # min == max == 2: -5 -> 2, 5 -> 2, 2 -> 2, NaN -> NaN.
    assert_bits(clamp(f32([-5.0, 5.0, 2.0, NAN]), 2.0, 2.0), [2.0, 2.0, 2.0, NAN])


def test_infinite_bounds():
    # (-inf, 0.5]: only the upper bound acts. 1 -> 0.5, -1e30 stays, -inf stays (not < -inf).
    assert_bits(clamp(f32([1.0, -1e30, -INF]), -INF, 0.5), [0.5, -1e30, -INF])


def test_function_rejects_min_above_max():
    with pytest.raises(InputError, match="min"):
        clamp(f32([1.0]), 6.0, 0.0)
    with pytest.raises(InputError):
        clamp(f32([1.0]), NAN, 1.0)


@settings(max_examples=50)
@given(
    hnp.arrays(np.float32, 12, elements=st.floats(width=32)),
    st.floats(allow_nan=False, min_value=-1e6, max_value=1e6),
    st.floats(min_value=0, max_value=1e6),
)
def test_properties(x, low, width):
    high = low + width
    lo, hi = f32(low), f32(high)
    y = clamp(x, low, high)
    nan = np.isnan(x)
    assert np.isnan(y[nan]).all()
    # Independent formulation for the rest: np.clip with the float32 bounds.
    assert_bits(y[~nan], np.clip(x[~nan], lo, hi))
    assert ((y[~nan] >= lo) & (y[~nan] <= hi)).all()
    # Idempotent.
    assert_bits(clamp(y, low, high), y)


def test_node_inference_and_compute():
    x = opset.parameter([2, 3], name="x")
    y = opset.relu6(x, name="r6")
    assert y.node.type == "Clamp" and y.node.attrs == {"min": 0.0, "max": 6.0}
    assert y.type.shape == (2, 3) and y.dtype == np.float32
    (out,) = Clamp.compute(y.node.attrs, f32([-2.0, 3.0, 9.0]))
    assert_bits(out, [0.0, 3.0, 6.0])


def test_node_error_min_above_max():
    x = opset.parameter([2], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.clamp(x, 6.0, 0.0, name="bad_clamp")
    assert_names(excinfo, "bad_clamp", "min", 6.0)
    assert "max" in str(excinfo.value)


def test_node_error_nan_bound():
    x = opset.parameter([2], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.clamp(x, 0.0, NAN, name="nan_clamp")
    assert_names(excinfo, "nan_clamp", "max", NAN)


def test_node_error_non_number_bound():
    x = opset.parameter([2], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.clamp(x, "zero", 1.0, name="str_clamp")
    assert_names(excinfo, "str_clamp", "min", "zero")


def test_node_error_non_f32_input():
    q = opset.parameter([2], element_type="i8", name="q")
    with pytest.raises(GraphError) as excinfo:
        opset.clamp(q, 0.0, 6.0, name="int_clamp")
    assert_names(excinfo, "int_clamp", "input[0]", "q")

"""Softmax, Sigmoid, Tanh, Exp: fp32 ops computed in float64 and rounded once to float32.

Expected values are worked out by hand from known constants (e, e^-1, e^-2, tanh(0.5)); each comment
gives the exact value to ~16 digits, and the test compares with its float32 rounding
``np.float32(<that literal>)``. Outputs are compared bit for bit (any NaN matches any NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import opset
from refint8.errors import GraphError, InputError
from refint8.ops.exp import Exp, exp
from refint8.ops.sigmoid import Sigmoid, sigmoid
from refint8.ops.softmax import Softmax, softmax
from refint8.ops.tanh import Tanh, tanh

f32 = np.float32
NAN, INF = float("nan"), float("inf")
E = 2.718281828459045            # e
E_M1 = 0.36787944117144233       # e^-1
E_M2 = 0.1353352832366127        # e^-2


def assert_bits(actual, expected) -> None:
    expected = np.asarray(expected, dtype=np.float32)
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float32
    assert actual.shape == expected.shape
    same = (actual.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(actual) & np.isnan(expected))
    assert same.all(), f"\nactual   {actual!r}\nexpected {expected!r}"


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


# -- Exp -----------------------------------------------------------------------------------------


def test_exp_values():
    # e^0 = 1; e^1 = 2.718281828459045 -> float32 2.7182817; e^-1 = 0.36787944117144233.
    assert_bits(exp(f32([0.0, -0.0, 1.0, -1.0])), [1.0, 1.0, f32(E), f32(E_M1)])


def test_exp_overflow_underflow_specials():
    # e^89 = 4.49e38 > max float32 3.40e38 -> +inf.
    # e^-100 = 3.720076e-44 = 26.55 * 2^-149 (2^-149 = 1.401298e-45, the smallest subnormal):
    #   rounds to 27 * 2^-149 (a subnormal, kept).
    # e^-110 = 1.7e-48, below half of 2^-149 -> +0.
    # exp(+inf) = inf, exp(-inf) = 0, NaN -> NaN.
    assert_bits(exp(f32([89.0, -100.0, -110.0, INF, -INF, NAN])),
                [INF, 27 * 2.0 ** -149, 0.0, INF, 0.0, NAN])


# -- Sigmoid -------------------------------------------------------------------------------------


def test_sigmoid_values():
    # 1/(1+e^0) = 0.5; 1/(1+e^-2) = 1/1.1353352832366127 = 0.8807970779778823;
    # 1/(1+e^2) = 1 - 0.8807970779778823 = 0.11920292202211755.
    assert_bits(sigmoid(f32([0.0, 2.0, -2.0])), [0.5, f32(0.8807970779778823), f32(0.11920292202211755)])


def test_sigmoid_saturation_and_specials():
    # x = 20: 1 - sigmoid = e^-20/(1+e^-20) = 2.06e-9 < 2^-25 = 2.98e-8 (half an ulp below 1): 1.0.
    # x = -800: e^800 overflows float64 to inf; 1/(1+inf) = 0.
    # x = -90: e^-90/(1+e^-90) = 8.194012624e-40 (the 1+ changes nothing at this precision), a
    #   float32 subnormal, not 0: 8.194012624e-40 / 2^-149 (1.4012984643e-45) = 584744.28
    #   -> 584744 * 2^-149.
    # +inf -> 1, -inf -> 0, NaN -> NaN.
    assert_bits(sigmoid(f32([20.0, -800.0, -90.0, INF, -INF, NAN])),
                [1.0, 0.0, 584744 * 2.0 ** -149, 1.0, 0.0, NAN])


# -- Tanh ----------------------------------------------------------------------------------------


def test_tanh_values():
    # tanh(0.5) = 0.46211715726000974; tanh(-0.5) its negative; tanh(0) = 0, tanh(-0) = -0;
    # tanh(10) = 1 - 4.1e-9 rounds to 1.0 (half an ulp below 1 is 2.98e-8); tanh(±inf) = ±1.
    x = f32([0.5, -0.5, 0.0, -0.0, 10.0, INF, -INF, NAN])
    assert_bits(tanh(x), [f32(0.46211715726000974), -f32(0.46211715726000974), 0.0, -0.0,
                          1.0, 1.0, -1.0, NAN])


# -- Softmax -------------------------------------------------------------------------------------


def test_softmax_hand_worked():
    # [1,2,3]: subtract the max 3 -> [-2,-1,0]; exps [e^-2, e^-1, 1] sum S = 1.5032147244080551;
    # y = [0.1353352832366127/S, 0.36787944117144233/S, 1/S]
    #   = [0.09003057317038046, 0.24472847105479764, 0.6652409557748219].
    y = softmax(f32([[1.0, 2.0, 3.0]]), axis=1)
    assert_bits(y, [[f32(0.09003057317038046), f32(0.24472847105479764), f32(0.6652409557748219)]])


def test_softmax_uniform_and_large_inputs():
    # Equal entries: each 1/n: [5,5,5,5] -> 0.25 each; [0,0] -> 0.5 each.
    assert_bits(softmax(f32([5.0, 5.0, 5.0, 5.0]), axis=0), [0.25] * 4)
    # [1000, 0, -1000]: no overflow thanks to the max: exps [1, e^-1000 = 0, 0] -> [1, 0, 0].
    assert_bits(softmax(f32([1000.0, 0.0, -1000.0]), axis=0), [1.0, 0.0, 0.0])


def test_softmax_axis():
    # x = [[0, 0], [2, 0]]. Along axis 1 (rows): [0.5, 0.5] and [1/(1+e^-2), e^-2/(1+e^-2)]
    # = [0.8807970779778823, 0.11920292202211755]. Along axis 0 (columns): column 0 is [0, 2]
    # -> [0.11920292202211755, 0.8807970779778823]; column 1 is [0, 0] -> [0.5, 0.5].
    x = f32([[0.0, 0.0], [2.0, 0.0]])
    hi, lo = f32(0.8807970779778823), f32(0.11920292202211755)
    assert_bits(softmax(x, axis=1), [[0.5, 0.5], [hi, lo]])
    assert_bits(softmax(x, axis=-1), [[0.5, 0.5], [hi, lo]])
    assert_bits(softmax(x, axis=0), [[lo, 0.5], [hi, 0.5]])


def test_softmax_non_finite_slices():
    # Row by row (axis 1):
    # [NaN, 0, 0]: max is NaN -> every entry NaN.
    # [inf, 1, 1]: inf - inf = NaN, sum NaN -> every entry NaN.
    # [-inf, 0, 0]: max 0; exp(-inf) = 0 -> [0, 0.5, 0.5].
    # [-inf, -inf, -inf]: -inf - (-inf) = NaN -> every entry NaN.
    x = f32([[NAN, 0.0, 0.0], [INF, 1.0, 1.0], [-INF, 0.0, 0.0], [-INF, -INF, -INF]])
    assert_bits(softmax(x, axis=1), [[NAN] * 3, [NAN] * 3, [0.0, 0.5, 0.5], [NAN] * 3])


@settings(max_examples=50)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                  elements=st.floats(-1e4, 1e4, width=32)),
       st.integers(-2, 1))
def test_softmax_properties(x, axis):
    y = softmax(x, axis)
    assert y.shape == x.shape and y.dtype == np.float32
    assert ((y >= 0) & (y <= 1)).all()
    # Each output is within half a float32 ulp (2^-24 relative) of the exact quotient, so the
    # exact (float64) sum of a slice is within 2^-24 of 1, up to float64 error and subnormal
    # rounding; the test allows 2^-23.
    sums = y.astype(np.float64).sum(axis=axis)
    assert np.all(np.abs(sums - 1.0) <= 2.0 ** -23)
    # Order is preserved within a slice: a larger input never gets a smaller output.
    xs, ys = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    for xr, yr in zip(xs.reshape(-1, xs.shape[-1]), ys.reshape(-1, ys.shape[-1])):
        ranked = yr[np.argsort(xr, kind="stable")]
        assert np.all(ranked[1:] >= ranked[:-1])


@settings(max_examples=50)
@given(hnp.arrays(np.float32, 16, elements=st.floats(width=32, allow_nan=False)))
def test_elementwise_properties(x):
    s, t, e = sigmoid(x), tanh(x), exp(x)
    assert ((s >= 0) & (s <= 1)).all() and ((t >= -1) & (t <= 1)).all() and (e >= 0).all()
    # Monotone (non-decreasing) in x, as the exact functions are and rounding to nearest keeps.
    order = np.argsort(x, kind="stable")
    for y in (s, t, e):
        ranked = y[order]
        assert np.all(ranked[1:] >= ranked[:-1])
    # tanh is odd, bit for bit.
    assert_bits(tanh(-x), -t)


# -- nodes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("builder,op", [(opset.sigmoid, Sigmoid), (opset.tanh, Tanh), (opset.exp, Exp)])
def test_elementwise_nodes(builder, op):
    x = opset.parameter([2, 3], name="x")
    y = builder(x, name="act")
    assert y.node.type == op.type_name and y.type.shape == (2, 3) and y.dtype == np.float32
    (out,) = op.compute({}, f32([0.0]))
    assert out.dtype == np.float32 and out.shape == (1,)
    q = opset.parameter([2], element_type="u8", name="q")
    with pytest.raises(GraphError) as excinfo:
        builder(q, name="int_act")
    assert_names(excinfo, "int_act", "input[0]", "q")


def test_softmax_node_and_compute():
    x = opset.parameter([2, 3], name="x")
    y = opset.softmax(x, axis=-1, name="sm")
    assert y.type.shape == (2, 3) and y.dtype == np.float32
    (out,) = Softmax.compute({"axis": -1}, f32([[0.0, 0.0]]))
    assert_bits(out, [[0.5, 0.5]])


@pytest.mark.parametrize("axis", [2, -3])
def test_softmax_node_error_axis(axis):
    x = opset.parameter([2, 3], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.softmax(x, axis=axis, name="bad_softmax")
    assert_names(excinfo, "bad_softmax", "axis", axis)
    with pytest.raises(InputError, match="out of range"):
        softmax(np.zeros((2, 3), np.float32), axis)


def test_softmax_node_error_type():
    x = opset.parameter([2, 3], element_type="i32", name="logits")
    with pytest.raises(GraphError) as excinfo:
        opset.softmax(x, axis=1, name="int_softmax")
    assert_names(excinfo, "int_softmax", "input[0]", "logits")

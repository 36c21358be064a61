"""Add, Subtract, Multiply, Maximum, Minimum: hand-worked cases, broadcasting, properties, errors.

Expected values are worked out by hand in the comments (float32 arithmetic; the inputs are chosen so
that every operation is exact or its rounding is stated). Outputs are compared bit for bit: ``-0.0``
differs from ``0.0``, any NaN matches any NaN.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import opset
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.graph import make_node
from refint8.ops.add import Add, add
from refint8.ops.maximum import Maximum, maximum
from refint8.ops.minimum import Minimum, minimum
from refint8.ops.multiply import Multiply, multiply
from refint8.ops.subtract import Subtract, subtract

f32 = np.float32
NAN, INF = float("nan"), float("inf")


def assert_bits(actual, expected) -> None:
    expected = np.asarray(expected, dtype=np.float32)
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float32
    assert actual.shape == expected.shape
    same = (actual.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(actual) & np.isnan(expected))
    assert same.all(), f"\nactual   {actual!r}\nexpected {expected!r}"


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    """The error names the node, the attribute and the offending value (message and fields)."""
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


# -- hand-worked values ----------------------------------------------------------------------------


def test_add_values():
    # 1.5 + 0.25 = 1.75; -2 + 3 = 1; exact in float32.
    assert_bits(add(f32([1.5, -2.0]), f32([0.25, 3.0])), [1.75, 1.0])


def test_add_rounds_once_in_float32():
    # 2^24 + 1 = 16777217 lies halfway between the float32 neighbours 16777216 and 16777218;
    # ties to even keeps 16777216 (mantissa ...0). 2^24 + 3 = 16777219 is halfway between
    # 16777218 (odd mantissa) and 16777220 (even): 16777220. A float64 sum would keep both.
    assert_bits(add(f32([16777216.0, 16777216.0]), f32([1.0, 3.0])), [16777216.0, 16777220.0])


def test_add_ieee_specials():
    # inf + -inf = NaN; NaN + 1 = NaN; 3e38 + 3e38 = 6e38 > max float32 (3.4028e38) -> inf;
    # -0 + -0 = -0; 2 + -2 = +0.
    assert_bits(
        add(f32([INF, NAN, 3e38, -0.0, 2.0]), f32([-INF, 1.0, 3e38, -0.0, -2.0])),
        [NAN, NAN, INF, -0.0, 0.0],
    )


def test_subtract_values_and_order():
    # 5 - 2 = 3; 1 - 3 = -2 (b is subtracted from a); -0 - 0 = -0; x - x = +0; inf - inf = NaN.
    assert_bits(
        subtract(f32([5.0, 1.0, -0.0, 7.5, INF]), f32([2.0, 3.0, 0.0, 7.5, INF])),
        [3.0, -2.0, -0.0, 0.0, NAN],
    )


def test_multiply_values_and_specials():
    # 2 * 0.5 = 1; -3 * 4 = -12; -2 * 0 = -0 (sign XOR); 0 * inf = NaN; 2e38 * 2 = 4e38 -> inf;
    # 2^-100 * 2^-100 = 2^-200, below the smallest subnormal 2^-149 -> +0.
    tiny = f32(2.0 ** -100)
    assert_bits(
        multiply(f32([2.0, -3.0, -2.0, 0.0, 2e38, tiny]), f32([0.5, 4.0, 0.0, INF, 2.0, tiny])),
        [1.0, -12.0, -0.0, NAN, INF, 0.0],
    )


def test_multiply_keeps_subnormals():
    # 2^-126 (smallest normal) * 0.5 = 2^-127, a subnormal: kept, not flushed to 0.
    assert_bits(multiply(f32([2.0 ** -126]), f32([0.5])), [2.0 ** -127])


def test_maximum_minimum_values():
    # max(1, 2) = 2, max(-1, -3) = -1, max(5, -inf) = 5, max(5, inf) = inf; min is the other one.
    a, b = f32([1.0, -1.0, 5.0, 5.0]), f32([2.0, -3.0, -INF, INF])
    assert_bits(maximum(a, b), [2.0, -1.0, 5.0, INF])
    assert_bits(minimum(a, b), [1.0, -3.0, -INF, 5.0])


def test_maximum_minimum_nan_propagates_in_both_orders():
    # NaN in either operand gives NaN (OpenVINO's reference and CPU plugin each return one operand
    # depending on the order; refint8 propagates NaN like np.maximum).
    a, b = f32([NAN, 1.0, NAN]), f32([1.0, NAN, NAN])
    assert_bits(maximum(a, b), [NAN, NAN, NAN])
    assert_bits(minimum(a, b), [NAN, NAN, NAN])


def test_maximum_minimum_signed_zero_returns_first_operand():
    # Equal operands give a (OpenVINO's reference kernel): max(-0, +0) = -0, max(+0, -0) = +0.
    a, b = f32([-0.0, 0.0]), f32([0.0, -0.0])
    assert_bits(maximum(a, b), [-0.0, 0.0])
    assert_bits(minimum(a, b), [-0.0, 0.0])


# -- broadcasting ------------------------------------------------------------------------------


def test_numpy_broadcast_hand_worked():
    # a [2,1] = [[1],[2]], b [3] = [10,20,30] -> [2,3]: row i is a[i] + b.
    a = f32([[1.0], [2.0]])
    b = f32([10.0, 20.0, 30.0])
    assert_bits(add(a, b), [[11.0, 21.0, 31.0], [12.0, 22.0, 32.0]])
    # Subtract keeps the operand order under broadcasting: b - a.
    assert_bits(subtract(b, a), [[9.0, 19.0, 29.0], [8.0, 18.0, 28.0]])


def test_scalar_operand():
    # A rank-0 operand broadcasts to everything: [1, 2] * 3 = [3, 6]; result keeps shape [2].
    assert_bits(multiply(f32([1.0, 2.0]), f32(3.0)), [3.0, 6.0])
    # Two rank-0 operands give a rank-0 float32 array.
    assert_bits(add(f32(1.0), f32(2.0)), np.array(3.0, dtype=np.float32))


def test_auto_broadcast_none_requires_equal_shapes():
    assert_bits(add(f32([1.0, 2.0]), f32([3.0, 4.0]), auto_broadcast="none"), [4.0, 6.0])
    with pytest.raises(InputError, match="must be equal"):
        add(f32([1.0, 2.0]), f32([3.0]), auto_broadcast="none")


def test_incompatible_shapes_rejected():
    with pytest.raises(InputError, match="do not broadcast"):
        add(np.zeros((2, 3), np.float32), np.zeros((2,), np.float32))
    with pytest.raises(InputError, match="not supported"):
        add(f32([1.0]), f32([1.0]), auto_broadcast="pdpd")


@pytest.mark.parametrize("builder,op_type", [
    (opset.add, "Add"), (opset.subtract, "Subtract"), (opset.multiply, "Multiply"),
    (opset.maximum, "Maximum"), (opset.minimum, "Minimum"),
])
def test_node_inference(builder, op_type):
    a = opset.parameter([2, 1, 4], name="a")
    b = opset.parameter([3, 1], name="b")
    out = builder(a, b, name="n")
    assert out.node.type == op_type
    assert out.type.shape == (2, 3, 4) and out.dtype == np.float32


@pytest.mark.parametrize("op", [Add, Subtract, Multiply, Maximum, Minimum])
def test_compute_matches_public_function(op):
    # compute(attrs, a, b) returns a one-tuple with the function's result: 3 op 2.
    expected = {"Add": 5.0, "Subtract": 1.0, "Multiply": 6.0, "Maximum": 3.0, "Minimum": 2.0}
    (y,) = op.compute({"auto_broadcast": "numpy"}, f32([3.0]), f32([2.0]))
    assert_bits(y, [expected[op.type_name]])


# -- properties ----------------------------------------------------------------------------------

finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def broadcastable_pair(draw):
    """Two shapes that broadcast, and float32 arrays of those shapes."""
    rank = draw(st.integers(0, 3))
    out = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    shapes = []
    for _ in range(2):
        keep = draw(st.integers(0, rank))  # drop leading dims, set some of the rest to 1
        shape = [d if draw(st.booleans()) else 1 for d in out[rank - keep:]]
        shapes.append(tuple(shape))
    a = draw(hnp.arrays(np.float32, shapes[0], elements=finite_f32))
    b = draw(hnp.arrays(np.float32, shapes[1], elements=finite_f32))
    return a, b


def element(array: np.ndarray, index: tuple[int, ...]) -> float:
    """array's element for output index ``index`` under NumPy broadcasting, written out by hand."""
    index = index[len(index) - array.ndim:]  # align from the right
    return array[tuple(0 if d == 1 else i for i, d in zip(index, array.shape))]


@settings(max_examples=40)
@given(broadcastable_pair())
def test_broadcasting_matches_explicit_indexing(pair):
    # Independent formulation: for every output index, pick the aligned element of each operand
    # (index 0 on a size-1 dimension) and add them as Python floats rounded to float32 (the sum of
    # two float32 values in float64 is exact up to one rounding, so rounding it to float32 once is
    # the float32 sum).
    a, b = pair
    y = add(a, b)
    out_shape = tuple(max(da, db) for da, db in itertools.zip_longest(
        a.shape[::-1], b.shape[::-1], fillvalue=1))[::-1]
    assert y.shape == out_shape
    for index in np.ndindex(*out_shape):
        assert y[index] == f32(float(element(a, index)) + float(element(b, index)))


@settings(max_examples=40)
@given(hnp.arrays(np.float32, 8, elements=finite_f32), hnp.arrays(np.float32, 8, elements=finite_f32))
def test_float32_single_rounding(a, b):
    # Each op is one IEEE float32 operation: the exact float64 result rounded once to float32
    # (exact in float64 for +, - and * of two float32 values).
    with np.errstate(over="ignore"):
        wide_a, wide_b = a.astype(np.float64), b.astype(np.float64)
        assert_bits(add(a, b), (wide_a + wide_b).astype(np.float32))
        assert_bits(subtract(a, b), (wide_a - wide_b).astype(np.float32))
        assert_bits(multiply(a, b), (wide_a * wide_b).astype(np.float32))


@settings(max_examples=40)
@given(hnp.arrays(np.float32, 8, elements=st.floats(width=32)),
       hnp.arrays(np.float32, 8, elements=st.floats(width=32)))
def test_maximum_minimum_properties(a, b):
    hi, lo = maximum(a, b), minimum(a, b)
    either_nan = np.isnan(a) | np.isnan(b)
    assert np.isnan(hi[either_nan]).all() and np.isnan(lo[either_nan]).all()
    ok = ~either_nan
    # Every result is one of the operands; hi >= both, lo <= both.
    assert ((hi[ok] == a[ok]) | (hi[ok] == b[ok])).all()
    assert (hi[ok] >= a[ok]).all() and (hi[ok] >= b[ok]).all()
    assert (lo[ok] <= a[ok]).all() and (lo[ok] <= b[ok]).all()
    # min(a, b) = -max(-a, -b), bit for bit (signed zeros included).
    assert_bits(lo, -maximum(-a, -b))


# -- graph errors ----------------------------------------------------------------------------------


def test_node_error_shapes_do_not_broadcast():
    a = opset.parameter([2, 3], name="a")
    with pytest.raises(GraphError) as excinfo:
        opset.add(a, np.zeros(2, np.float32), name="bad_add")
    assert_names(excinfo, "bad_add", "auto_broadcast", "numpy")
    assert "[2, 3]" in str(excinfo.value) and "[2]" in str(excinfo.value)


def test_node_error_none_with_different_shapes():
    a = opset.parameter([2, 3], name="a")
    b = opset.parameter([1, 3], name="b")
    with pytest.raises(GraphError) as excinfo:
        opset.multiply(a, b, auto_broadcast="none", name="bad_mul")
    assert_names(excinfo, "bad_mul", "auto_broadcast", "none")


def test_node_error_unsupported_broadcast_mode():
    a = opset.parameter([2], name="a")
    with pytest.raises(UnsupportedError) as excinfo:
        opset.subtract(a, a, auto_broadcast="pdpd", name="bad_mode")
    assert_names(excinfo, "bad_mode", "auto_broadcast", "pdpd")


def test_node_error_non_f32_input():
    q = opset.parameter([2], element_type="u8", name="q")
    x = opset.parameter([2], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.maximum(x, q, name="bad_type")
    assert_names(excinfo, "bad_type", "input[1]", "q")
    assert "u8" in str(excinfo.value)


def test_node_error_wrong_input_count():
    x = opset.parameter([2], name="x")
    with pytest.raises(GraphError, match="node 'one_input'.*takes 2 inputs"):
        make_node("Minimum", [x], {}, name="one_input")

"""Reshape: shape resolution (special_zero, -1), row-major element order, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refint8 import opset
from refint8.errors import GraphError, InputError
from refint8.ops.reshape import Reshape, reshape


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


def out_shape(input_shape, shape, special_zero=False):
    x = opset.parameter(list(input_shape), name="x")
    return opset.reshape(x, shape, special_zero=special_zero).type.shape


@pytest.mark.parametrize("input_shape,shape,special_zero,expected", [
    # [2,3,4] has 24 elements.
    ([2, 3, 4], [0, -1], True, (2, 12)),        # 0 copies dim 0 (= 2); -1 = 24 / 2 = 12
    ([2, 3, 4], [-1, 0], True, (8, 3)),         # 0 copies dim 1 (= 3); -1 = 24 / 3 = 8
    ([2, 3, 4], [0, 0, -1], True, (2, 3, 4)),   # copies 2 and 3; -1 = 24 / 6 = 4
    ([2, 3, 4], [1, 0, 0, -1], True, (1, 3, 4, 2)),  # index 1 -> 3, index 2 -> 4; -1 = 24 / 12
    ([2, 3, 4], [3, -1], False, (3, 8)),        # -1 = 24 / 3 = 8
    ([2, 3, 4], [24], False, (24,)),
    ([2, 3, 4], [-1], True, (24,)),
    ([2, 3, 4], [4, 3, 2], True, (4, 3, 2)),    # no 0 or -1: taken as is (4*3*2 = 24)
    ([1, 1], [], False, ()),                    # empty pattern: a scalar, 1 element
    ([1, 1], [-1], False, (1,)),
])
def test_shape_resolution(input_shape, shape, special_zero, expected):
    assert out_shape(input_shape, shape, special_zero) == expected


def test_row_major_order():
    # arange(6) as [2,3] = [[0,1,2],[3,4,5]]; as [3,2] the flat order 0..5 is refilled row by row:
    # [[0,1],[2,3],[4,5]] (not a transpose).
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = reshape(x, [3, 2])
    assert y.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert y.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int8, np.int32])
def test_dtype_generic(dtype):
    # The values are carried unchanged: u8 255, i8 -128, i32 -2^31 included.
    values = {np.float32: [1.5, -0.0, 3.0, 4.0], np.uint8: [0, 255, 7, 1],
              np.int8: [-128, 127, 0, -1], np.int32: [-(2**31), 2**31 - 1, 5, 6]}[dtype]
    x = np.array(values, dtype=dtype)
    y = reshape(x, [2, -1])
    assert y.dtype == np.dtype(dtype)
    assert y.reshape(-1).view(np.uint8).tolist() == x.view(np.uint8).tolist()  # bit for bit
    node = opset.reshape(opset.parameter([4], element_type={np.float32: "f32", np.uint8: "u8",
                                                            np.int8: "i8", np.int32: "i32"}[dtype]),
                         [2, 2])
    assert node.dtype == np.dtype(dtype) and node.type.shape == (2, 2)


def test_compute():
    (y,) = Reshape.compute({"shape": (0, -1), "special_zero": True}, np.zeros((2, 3, 4), np.int8))
    assert y.shape == (2, 12) and y.dtype == np.int8


def test_function_errors():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(InputError, match="more than one -1"):
        reshape(x, [-1, -1])
    with pytest.raises(InputError, match="24 elements"):
        reshape(x, [5, 5])


@settings(max_examples=40)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=4), st.data())
def test_round_trip_and_minus_one(dims, data):
    # Reshape to any factorisation and back gives x again; a -1 anywhere equals the explicit value.
    x = np.arange(int(np.prod(dims, dtype=np.int64)), dtype=np.int32).reshape(dims)
    target = data.draw(st.permutations(dims))
    y = reshape(x, target)
    assert y.shape == tuple(target) and np.array_equal(y.reshape(-1), x.reshape(-1))
    assert np.array_equal(reshape(y, list(x.shape)), x)
    if target:
        k = data.draw(st.integers(0, len(target) - 1))
        with_minus_one = list(target)
        with_minus_one[k] = -1
        assert reshape(x, with_minus_one).shape == tuple(target)


# -- node errors: they name the node, the attribute 'shape' and its value ---------------------------


@pytest.mark.parametrize("shape,special_zero,reason", [
    ([-1, -1], False, "more than one -1"),
    ([5, -1], False, "not a multiple of 5"),
    ([0, 0, 0, 0], True, "index 3 copies input dimension 3"),
    ([0, 24], False, "resolves to [0, 24] (0 elements)"),      # 0 is a real 0 without special_zero
    ([0, -1], False, "-1 cannot be inferred"),
    ([-2, 12], False, "-2 at index 0"),
    ([4, 3, 3], False, "36 elements"),
    ([], False, "24 elements"),
])
def test_node_errors(shape, special_zero, reason):
    x = opset.parameter([2, 3, 4], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.reshape(x, shape, special_zero=special_zero, name="bad_reshape")
    assert_names(excinfo, "bad_reshape", "shape", shape)
    assert reason in str(excinfo.value)


def test_node_error_dtype_and_attribute_kind():
    x = opset.parameter([4], element_type="i64", name="shape_input")
    with pytest.raises(GraphError) as excinfo:
        opset.reshape(x, [2, 2], name="i64_reshape")
    assert_names(excinfo, "i64_reshape", "input[0]", "shape_input")
    y = opset.parameter([4], name="y")
    with pytest.raises(GraphError) as excinfo:
        opset.reshape(y, [2, 2], special_zero=1, name="int_flag")
    assert_names(excinfo, "int_flag", "special_zero", 1)

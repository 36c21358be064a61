"""Concat: joining order, negative axis, dtypes, variadic inputs, split round trip, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refint8 import opset
from refint8.errors import GraphError, InputError
from refint8.graph import make_node
from refint8.ops.concat import Concat, concat


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


def test_join_on_last_axis():
    # [[1,2],[3,4]] and [[5],[6]] on axis 1 (or -1): each row is a's row then b's row.
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[5], [6]], np.float32)
    assert concat([a, b], 1).tolist() == [[1, 2, 5], [3, 4, 6]]
    assert concat([a, b], -1).tolist() == [[1, 2, 5], [3, 4, 6]]


def test_join_on_first_axis_three_inputs():
    # Axis 0: the inputs' rows in input order: a's two rows, then c's row, then a's again.
    a = np.array([[1, 2], [3, 4]], np.int8)
    c = np.array([[7, 8]], np.int8)
    y = concat([a, c, a], 0)
    assert y.dtype == np.int8 and y.tolist() == [[1, 2], [3, 4], [7, 8], [1, 2], [3, 4]]


def test_single_input_is_a_copy():
    a = np.array([1, 2, 3], np.uint8)
    y = concat([a], 0)
    assert y.tolist() == [1, 2, 3] and y is not a


@pytest.mark.parametrize("element_type,dtype", [("f32", np.float32), ("u8", np.uint8),
                                                ("i8", np.int8), ("i32", np.int32)])
def test_node_inference(element_type, dtype):
    # [1,2,4,4] + [1,3,4,4] + [1,1,4,4] on axis 1 (= -3): channels 2 + 3 + 1 = 6.
    xs = [opset.parameter([1, c, 4, 4], element_type=element_type, name=f"x{c}") for c in (2, 3, 1)]
    y = opset.concat(xs, axis=-3, name="cat")
    assert y.type.shape == (1, 6, 4, 4) and y.dtype == np.dtype(dtype)
    assert len(y.node.inputs) == 3


def test_compute():
    (y,) = Concat.compute({"axis": 0}, np.array([1], np.int32), np.array([2, 3], np.int32))
    assert y.tolist() == [1, 2, 3] and y.dtype == np.int32


def test_constant_inputs_are_labelled():
    # Constants built from arrays get names "<node>/input<i>".
    x = opset.parameter([1, 2], name="x")
    y = opset.concat([x, np.zeros((1, 2), np.float32)], axis=0, name="cat")
    assert y.node.inputs[1].node.name == "cat/input1" and y.type.shape == (2, 2)


@settings(max_examples=40)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_split_then_concat_round_trip(dims, data):
    x = np.arange(int(np.prod(dims, dtype=np.int64)), dtype=np.int32).reshape(dims)
    axis = data.draw(st.integers(-len(dims), len(dims) - 1))
    n = dims[axis]
    cuts = sorted(data.draw(st.lists(st.integers(1, n - 1), max_size=3, unique=True))) if n > 1 else []
    pieces = np.split(x, cuts, axis=axis)
    y = concat(pieces, axis)
    assert np.array_equal(y, x)
    assert y.shape[axis] == sum(p.shape[axis] for p in pieces)


def test_function_errors():
    with pytest.raises(InputError, match="at least one input"):
        concat([], 0)
    with pytest.raises(InputError, match="differ on axis 0"):
        concat([np.zeros((2, 3)), np.zeros((3, 3))], 1)
    with pytest.raises(InputError, match="same type"):
        concat([np.zeros(2, np.int8), np.zeros(2, np.uint8)], 0)


# -- node errors ---------------------------------------------------------------------------------


def test_node_error_axis_out_of_range():
    a = opset.parameter([2, 3], name="a")
    for axis in (2, -3):
        with pytest.raises(GraphError) as excinfo:
            opset.concat([a, a], axis=axis, name="cat_axis")
        assert_names(excinfo, "cat_axis", "axis", axis)
        assert "rank 2" in str(excinfo.value)


def test_node_error_other_dimension_differs():
    a = opset.parameter([2, 3], name="a")
    b = opset.parameter([3, 3], name="b")
    with pytest.raises(GraphError) as excinfo:
        opset.concat([a, b], axis=1, name="cat_dims")
    assert_names(excinfo, "cat_dims", "axis", 1)
    assert "[3, 3]" in str(excinfo.value) and "differ on axis 0" in str(excinfo.value)


def test_node_error_rank_differs():
    a = opset.parameter([2, 3], name="a")
    b = opset.parameter([2, 3, 1], name="b")
    with pytest.raises(GraphError) as excinfo:
        opset.concat([a, b], axis=0, name="cat_rank")
    assert_names(excinfo, "cat_rank", "input[1]", "b")


def test_node_error_element_type_differs():
    a = opset.parameter([2], element_type="u8", name="a")
    b = opset.parameter([2], element_type="i8", name="b")
    with pytest.raises(GraphError) as excinfo:
        opset.concat([a, b], axis=0, name="cat_type")
    assert_names(excinfo, "cat_type", "input[1]", "b")
    assert "i8" in str(excinfo.value) and "u8" in str(excinfo.value)


def test_node_error_unsupported_element_type():
    a = opset.parameter([2], element_type="i64", name="a")
    with pytest.raises(GraphError) as excinfo:
        opset.concat([a], axis=0, name="cat_i64")
    assert_names(excinfo, "cat_i64", "input[0]", "a")


def test_node_error_no_input():
    with pytest.raises(GraphError, match="node 'cat_empty'.*one or more inputs, got 0"):
        make_node("Concat", [], {"axis": 0}, name="cat_empty")

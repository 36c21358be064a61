"""Transpose: permutation semantics, empty order, dtypes, round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refint8 import opset
from refint8.errors import GraphError, InputError
from refint8.ops.transpose import Transpose, transpose


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


def test_matrix_transpose():
    # [[0,1,2],[3,4,5]] with order [1,0]: y[j][i] = x[i][j] -> [[0,3],[1,4],[2,5]].
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert transpose(x, [1, 0]).tolist() == [[0, 3], [1, 4], [2, 5]]


def test_rank3_order():
    # x[i,j,k] = 100 i + 10 j + k, shape [2,3,4]. order [2,0,1]: output axis 0 is input axis 2,
    # so y has shape [4,2,3] and y[k,i,j] = x[i,j,k]. y[3,1,2] = x[1,2,3] = 123.
    i, j, k = np.meshgrid(range(2), range(3), range(4), indexing="ij")
    x = (100 * i + 10 * j + k).astype(np.int32)
    y = transpose(x, [2, 0, 1])
    assert y.shape == (4, 2, 3)
    assert y[3, 1, 2] == 123 and y[0, 1, 0] == 100 and y[2, 0, 1] == 12


def test_empty_order_reverses_axes():
    # [2,3,4] with order [] is order [2,1,0]: shape [4,3,2], y[k,j,i] = x[i,j,k].
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    y = transpose(x)
    assert y.shape == (4, 3, 2) and y[3, 2, 1] == x[1, 2, 3]
    assert opset.transpose(opset.parameter([2, 3, 4], "i8")).type.shape == (4, 3, 2)


def test_nchw_to_nhwc_node():
    x = opset.parameter([1, 3, 5, 7], element_type="u8", name="img")
    y = opset.transpose(x, [0, 2, 3, 1], name="to_nhwc")
    assert y.type.shape == (1, 5, 7, 3) and y.dtype == np.uint8


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int8, np.int32])
def test_dtype_generic_and_contiguous(dtype):
    x = np.arange(6).astype(dtype).reshape(3, 2)
    y = transpose(x, [1, 0])
    assert y.dtype == np.dtype(dtype) and y.flags.c_contiguous
    assert y.tolist() == [[0, 2, 4], [1, 3, 5]]


def test_compute():
    (y,) = Transpose.compute({"order": ()}, np.zeros((2, 5), np.float32))
    assert y.shape == (5, 2)


def test_function_error():
    with pytest.raises(InputError, match="not a permutation"):
        transpose(np.zeros((2, 3)), [0, 0])


@settings(max_examples=40)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=4).flatmap(
    lambda dims: st.tuples(st.just(dims), st.permutations(range(len(dims))))))
def test_inverse_permutation_round_trip(case):
    dims, order = case
    x = np.arange(int(np.prod(dims, dtype=np.int64)), dtype=np.int32).reshape(dims)
    y = transpose(x, order)
    assert y.shape == tuple(dims[o] for o in order)
    inverse = [order.index(a) for a in range(len(order))]
    assert np.array_equal(transpose(y, inverse), x)
    # Elementwise definition: y[idx] = x[j] with j[order[k]] = idx[k].
    for idx in np.ndindex(*y.shape):
        j = [0] * len(order)
        for k, a in enumerate(order):
            j[a] = idx[k]
        assert y[idx] == x[tuple(j)]


@pytest.mark.parametrize("order,reason", [
    ([0, 0, 1], "not a permutation"),
    ([-1, 0, 1], "negative axes are not accepted"),
    ([0, 1, 3], "not a permutation"),
    ([0, 1], "has 2 entries but the input has rank 3"),
])
def test_node_errors(order, reason):
    x = opset.parameter([2, 3, 4], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.transpose(x, order, name="bad_transpose")
    assert_names(excinfo, "bad_transpose", "order", order)
    assert reason in str(excinfo.value)

"""Squeeze and Unsqueeze: axes rules (negative, empty, duplicates), dtypes, round trips, errors.

Deliberate differences from OpenVINO 2026.4, tested here: squeezing an axis whose dimension is not
1 is an error (OpenVINO >= 2024.3 keeps the dimension), and an Unsqueeze axis listed twice is an
error (OpenVINO inserts it once).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refint8 import opset
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.ops.squeeze import Squeeze, squeeze
from refint8.ops.unsqueeze import Unsqueeze, unsqueeze


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


def squeezed(shape, axes):
    return opset.squeeze(opset.parameter(list(shape)), axes).type.shape


def unsqueezed(shape, axes):
    return opset.unsqueeze(opset.parameter(list(shape)), axes).type.shape


# -- Squeeze -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,axes,expected", [
    ([1, 3, 1, 2], [0, -2], (3, 2)),      # -2 is axis 2 (rank 4); both are 1
    ([1, 3, 1, 2], [], (3, 2)),           # empty: every 1 goes
    ([1, 3, 1, 2], [2], (1, 3, 2)),
    ([1, 3, 1, 2], [0, 0], (3, 1, 2)),    # the same axis twice is removed once (as OpenVINO)
    ([1, 3, 1, 2], [0, -4], (3, 1, 2)),   # -4 is axis 0 again
    ([1, 1], [], ()),                     # everything squeezed: a scalar
    ([2, 3], [], (2, 3)),                 # nothing to squeeze: unchanged
])
def test_squeeze_shapes(shape, axes, expected):
    assert squeezed(shape, axes) == expected


def test_squeeze_values_and_dtypes():
    # Values and their order are unchanged: [[[1],[2],[3]]] (shape [1,3,1]) -> [1,2,3].
    for dtype in (np.float32, np.uint8, np.int8, np.int32):
        y = squeeze(np.array([[[1], [2], [3]]], dtype=dtype), [0, 2])
        assert y.dtype == np.dtype(dtype) and y.tolist() == [1, 2, 3]
    (y,) = Squeeze.compute({"axes": ()}, np.zeros((1, 4, 1), np.int8))
    assert y.shape == (4,) and y.dtype == np.int8


def test_squeeze_non_one_dimension_is_unsupported():
    x = opset.parameter([1, 2, 1], name="x")
    with pytest.raises(UnsupportedError) as excinfo:
        opset.squeeze(x, [1], name="sq_two")
    assert_names(excinfo, "sq_two", "axes", [1])
    assert "dimension 2" in str(excinfo.value) and "OpenVINO" in str(excinfo.value)
    with pytest.raises(InputError, match="only a dimension of 1"):
        squeeze(np.zeros((1, 2, 1)), [1])


@pytest.mark.parametrize("axes", [[3], [-4]])
def test_squeeze_axis_out_of_range(axes):
    x = opset.parameter([1, 2, 1], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.squeeze(x, axes, name="sq_range")
    assert not isinstance(excinfo.value, UnsupportedError)
    assert_names(excinfo, "sq_range", "axes", axes)
    assert "out of range for rank 3" in str(excinfo.value)


# -- Unsqueeze -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,axes,expected", [
    ([2, 3], [0, 3], (1, 2, 3, 1)),       # output rank 4: positions 0 and 3 are new
    ([2, 3], [3, 0], (1, 2, 3, 1)),       # order of axes does not matter
    ([2, 3], [-1], (2, 3, 1)),            # output rank 3: -1 is position 2
    ([2, 3], [-1, 1], (2, 1, 3, 1)),      # output rank 4: -1 is position 3
    ([2, 3], [0, 1], (1, 1, 2, 3)),
    ([], [0], (1,)),                      # scalar to [1]
])
def test_unsqueeze_shapes(shape, axes, expected):
    assert unsqueezed(shape, axes) == expected


def test_unsqueeze_values_and_dtypes():
    for dtype in (np.float32, np.uint8, np.int8, np.int32):
        y = unsqueeze(np.array([1, 2, 3], dtype=dtype), [0, -1])
        assert y.dtype == np.dtype(dtype) and y.shape == (1, 3, 1)
        assert y.tolist() == [[[1], [2], [3]]]
    (y,) = Unsqueeze.compute({"axes": (1,)}, np.zeros((4,), np.uint8))
    assert y.shape == (4, 1)


@pytest.mark.parametrize("axes", [[0, 0], [0, -4], [-1, 3]])
def test_unsqueeze_duplicate_axis_is_unsupported(axes):
    # Output rank 2 + 2 = 4: -4 is position 0, -1 is position 3.
    x = opset.parameter([2, 3], name="x")
    with pytest.raises(UnsupportedError) as excinfo:
        opset.unsqueeze(x, axes, name="us_dup")
    assert_names(excinfo, "us_dup", "axes", axes)
    assert "both name output axis" in str(excinfo.value)


@pytest.mark.parametrize("axes,reason", [
    ([3], "out of range for the output rank 3"),      # [2,3] + 1 axis: positions 0..2
    ([-4], "out of range for the output rank 3"),
    ([], "at least one axis"),
])
def test_unsqueeze_errors(axes, reason):
    x = opset.parameter([2, 3], name="x")
    with pytest.raises(GraphError) as excinfo:
        opset.unsqueeze(x, axes, name="us_bad")
    assert_names(excinfo, "us_bad", "axes", axes)
    assert reason in str(excinfo.value)
    with pytest.raises(InputError):
        unsqueeze(np.zeros((2, 3)), axes)


# -- round trip ----------------------------------------------------------------------------------


@settings(max_examples=50)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=3), st.data())
def test_unsqueeze_then_squeeze_is_identity(dims, data):
    x = np.arange(int(np.prod(dims, dtype=np.int64)), dtype=np.int32).reshape(dims)
    out_rank = len(dims) + data.draw(st.integers(1, 3))
    positions = data.draw(st.lists(st.integers(0, out_rank - 1), min_size=out_rank - len(dims),
                                   max_size=out_rank - len(dims), unique=True))
    # Spell some positions negatively: p and p - out_rank name the same output axis.
    axes = [p - out_rank if data.draw(st.booleans()) else p for p in positions]
    y = unsqueeze(x, axes)
    assert y.ndim == out_rank
    assert all(y.shape[p] == 1 for p in positions)
    assert [d for i, d in enumerate(y.shape) if i not in positions] == list(dims)
    assert np.array_equal(squeeze(y, axes), x)

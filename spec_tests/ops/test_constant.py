"""Constant (refint8.ops.constant): f16/f64 values become f32, the node keeps a private copy."""

from __future__ import annotations

import numpy as np

from refint8 import dtypes
from refint8.graph import make_node


def test_read_only_float64_view_is_converted_and_copied():
    """np.broadcast_to returns a read-only view; its float64 values must still be stored as f32
    and the graph must not follow later changes of the array the view looks at."""
    base = np.array([1.5, -2.25], np.float64)
    view = np.broadcast_to(base, (2, 2))
    node = make_node("Constant", [], {"value": view}, "c64")
    assert node.output_types[0].dtype == dtypes.F32
    assert node.output_types[0].shape == (2, 2)
    base[0] = 7.0
    np.testing.assert_array_equal(node.attrs["value"], np.float32([[1.5, -2.25], [1.5, -2.25]]))
    assert not node.attrs["value"].flags.writeable


def test_read_only_float16_is_stored_as_f32():
    value = np.array([0.5, 3.0], np.float16)
    value.setflags(write=False)
    node = make_node("Constant", [], {"value": value}, "c16")
    assert node.output_types[0].dtype == dtypes.F32
    np.testing.assert_array_equal(node.attrs["value"], np.float32([0.5, 3.0]))

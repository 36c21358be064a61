"""Relu: fp32 values and the int8 semantics on u8/i8 codes, hand-worked."""

from __future__ import annotations

import numpy as np
import pytest

from refint8 import opset as ops
from refint8.errors import GraphError
from refint8.ops.relu import relu


def test_float32_values():
    # max(x, 0); NaN stays NaN; -0.0 becomes +0.0
    y = relu(np.array([-2.5, -0.0, 0.0, 1e-45, 3.25, np.nan, -np.inf, np.inf], np.float32))
    assert y.dtype == np.float32
    assert np.array_equal(y[:5], np.array([0.0, 0.0, 0.0, 1e-45, 3.25], np.float32))
    assert not np.signbit(y[1])
    assert np.isnan(y[5]) and y[6] == 0.0 and y[7] == np.inf


def test_u8_codes_are_unchanged():
    # u8 codes are >= 0: ReLU is the identity on them
    codes = np.array([0, 1, 128, 255], np.uint8)
    y = relu(codes)
    assert y.dtype == np.uint8 and np.array_equal(y, codes)


def test_i8_codes_clip_at_zero():
    # with no zero point and scale >= 0, relu(s*q) = s*max(q, 0)
    y = relu(np.array([-128, -1, 0, 1, 127], np.int8))
    assert y.dtype == np.int8 and np.array_equal(y, [0, 0, 0, 1, 127])


def test_integer_accumulators_are_rejected():
    x = ops.parameter([2], element_type="i32", name="acc")
    with pytest.raises(GraphError) as caught:
        ops.relu(x, name="r")
    message = str(caught.value)
    assert "node 'r'" in message and "i32" in message

"""LPT MaxPool (refint8.lpt.max_pool): the dequantization moves after MaxPool only where that is an
identity; a window with no input position is not (its maximum is the type's lowest value)."""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops
from refint8.graph import Model


def _model(rounding_type: str) -> Model:
    c = lambda v: ops.constant(np.float32(v))  # noqa: E731
    x = ops.parameter([1, 1, 5, 5], name="x")
    y = ops.fake_quantize(x, c(0), c(2.55), c(0), c(2.55), 256, name="fq")
    # kernel 1, stride 3 on 5 elements: windows start at 0 and 3, and with ceil rounding also at 6,
    # which lies past the input.
    y = ops.max_pool(y, kernel=[1, 1], strides=[3, 3], rounding_type=rounding_type, name="pool")
    w = ops.fake_quantize(ops.constant(np.ones((1, 1, 1, 1), np.float32)), c(-1), c(1), c(-1), c(1),
                          255, name="w")
    return Model(ops.convolution(y, w, name="conv"), name="pool_past_input")


def test_window_past_the_input_keeps_maxpool_fp32():
    image = np.full((1, 1, 5, 5), 0.5, np.float32)
    compiled = refint8.compile(_model("ceil"), backend="reference")
    pool = compiled.model.node("pool")
    assert pool.type == "MaxPool" and "entirely outside the input" in pool.rt_info["fp32_reason"]
    out = compiled.infer({"x": image})["conv"][0, 0]
    lowest = np.finfo(np.float32).min
    # the third row and column are windows without input: MaxPool gives -FLT_MAX, times weight 1
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out[2, :], np.float32([lowest] * 3))
    np.testing.assert_array_equal(out[:, 2], np.float32([lowest] * 3))
    # inside: 0.5 is level 50 of [0, 2.55] (step 0.01), so about 0.5
    np.testing.assert_allclose(out[:2, :2], 0.5, rtol=1e-6)


def test_windows_inside_the_input_still_move():
    compiled = refint8.compile(_model("floor"), backend="reference")
    assert compiled.model.node("pool").inputs[0].dtype == np.uint8

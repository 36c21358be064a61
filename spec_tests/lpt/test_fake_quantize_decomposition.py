"""LPT FakeQuantize decomposition (refint8.lpt.fake_quantize_decomposition): special ranges.

The int8 graph must compute the FakeQuantize graph; the expected values below are worked by hand
from the FakeQuantize formula.
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops
from refint8.graph import Model
from refint8.lowering import lower


def _per_channel(values):
    return ops.constant(np.array(values, np.float32).reshape(1, 2, 1, 1))


def test_empty_output_range_channel_stays_constant():
    """Channel 1 has ``ol == oh == 1``: the FakeQuantize outputs 1.0 for every x. Its codes must be
    ``min`` (range ``[min, min]``) so that ``(min - (min - ol)) * 1 == ol``; with the full code
    range the dequantized value would follow x (0.5 -> 1 + 50 = 51 before the next FakeQuantize)."""
    x = ops.parameter([1, 2, 1, 4], name="x")
    y = ops.fake_quantize(x, _per_channel([0, 0]), _per_channel([2.55, 2.55]),
                          _per_channel([0, 1]), _per_channel([2.55, 1]), 256, name="fq1")
    y = ops.relu(y, name="relu")
    scalar = lambda v: ops.constant(np.float32(v))  # noqa: E731
    y = ops.fake_quantize(y, scalar(0), scalar(2.55), scalar(0), scalar(2.55), 256, name="fq2")
    model = Model(y, name="empty_range")
    image = np.array([0, 0.5, 1.5, 2.5, 0, 0.5, 1.5, 2.5], np.float32).reshape(1, 2, 1, 4)

    compiled = refint8.compile(model, backend="reference")
    codes = [n for n in compiled.model.nodes
             if n.type == "FakeQuantize" and n.attrs["output_type"] != "f32"]
    assert codes, "fq1 was not decomposed"
    out = compiled.infer({"x": image})["fq2"]

    # channel 0: levels 50, 150, 250 of step 0.01 -> 0.5, 1.5, 2.5; channel 1: always 1.0
    np.testing.assert_allclose(out[0, 0, 0], [0.0, 0.5, 1.5, 2.5], atol=1e-6)
    np.testing.assert_array_equal(out[0, 1, 0], np.float32([1.0, 1.0, 1.0, 1.0]))


def test_near_symmetric_signed_range_drops_its_zero_point_like_openvino():
    # FQ [-1.28, 1.2701], 256 levels: ol/oh = -1.007794 vs -128/127 = -1.007874 (0.008 % off, within
    # OpenVINO's 0.2 %): i8 without zero point. The exact zero point would be
    # (-128*1.2701 - 127*(-1.28)) / 2.5501 = -0.0127/2.5501 = -0.00498, not an integer, which would
    # keep the convolution FP32; OpenVINO drops it and so does refint8.
    from refint8.lpt.restrictions import OPENVINO_CPU_AMX

    x = ops.parameter([1, 2, 3, 3], name="input")
    q = ops.fake_quantize(x, -1.28, 1.2701, -1.28, 1.2701, levels=256, name="fq")
    w = np.ones((1, 2, 1, 1), np.float32)
    y = ops.convolution(q, ops.fake_quantize(w, -1.0, 1.0, -1.0, 1.0, levels=255, name="wfq"), name="conv")
    lowered = lower(refint8.Model(y), refint8.Capabilities(precision_restrictions=OPENVINO_CPU_AMX))
    conv = lowered.node("conv")
    assert conv.type == "Int8Convolution" and conv.inputs[0].dtype == np.int8
    assert conv.attrs["input_zero_point"] == (0,)

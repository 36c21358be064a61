"""Dequantize (refint8.int8.dequantize): float32(q), then the float32 post-ops.

Expected values are hand-worked in the comments; none was captured from running refint8.
"""

from __future__ import annotations

import numpy as np
import pytest

from refint8 import opset
from refint8.errors import GraphError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Multiply, Quantize, Relu, Subtract

Dequantize = INT8_OPS["Dequantize"]
f32 = np.float32
NAMES = {np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8", np.dtype(np.int32): "i32"}


def run(q, **attrs):
    q = np.asarray(q)
    x = opset.parameter(list(q.shape), NAMES[q.dtype], name="deq/x")
    n = make_node("Dequantize", [x], attrs, name="deq")
    (y,) = Dequantize.compute(n.attrs, q)
    assert y.dtype == n.output_types[0].dtype and y.shape == n.output_types[0].shape
    return y


def test_convert_subtract_multiply():
    # u8 [0, 128, 255], zp 128, scale 0.5: (0-128)*0.5 = -64, (128-128)*0.5 = 0, (255-128)*0.5 = 63.5.
    y = run(np.array([0, 128, 255], np.uint8), post_ops=(Subtract(128.0), Multiply(0.5)))
    assert y.dtype == np.float32 and y.tolist() == [-64.0, 0.0, 63.5]


def test_i8_per_channel():
    # i8 [1, 2, 1, 2] = c0 [-128, 127], c1 [1, -1]; Multiply([1,2,1,1] = [0.25, 4]):
    # c0: [-32, 31.75]; c1: [4, -4].
    q = np.array([-128, 127, 1, -1], np.int8).reshape(1, 2, 1, 2)
    y = run(q, post_ops=(Multiply(np.array([0.25, 4.0]).reshape(1, 2, 1, 1)),))
    assert y.reshape(-1).tolist() == [-32.0, 31.75, 4.0, -4.0]


def test_no_post_ops():
    # plain conversion: i8 [-5, 7] -> [-5.0, 7.0]
    assert run(np.array([-5, 7], np.int8)).tolist() == [-5.0, 7.0]


def test_i32_conversion_rounds_to_nearest_even():
    # float32 has 24 significand bits: in [2^24, 2^25) the spacing is 2.
    # 16777216 = 2^24 exact; 16777217 is halfway between 16777216 (significand 2^23, even) and
    # 16777218 (odd) -> 16777216; 16777219 is halfway between 16777218 (odd significand 8388609)
    # and 16777220 (even, 8388610) -> 16777220; -16777217 -> -16777216.
    y = run(np.array([16777216, 16777217, 16777219, -16777217], np.int32))
    assert y.tolist() == [16777216.0, 16777216.0, 16777220.0, -16777216.0]


def test_subtract_before_multiply():
    # q = 1, Subtract(float32(0.1)), Multiply(3): (1 - h) = 15099494 * 2^-24 (float32 grid of [0.5, 1),
    # 120795955 * 2^-27 / 8 = 15099494.375 rounded); * 3 = 45298482 * 2^-24, a tie on the 2^-22 grid
    # of [2, 4) -> even 11324620 * 2^-22 = 2.69999980926513671875.
    # (q*3 - h*3 would give 11324621 * 2^-22: see test_int8_eltwise.test_add_pinned_order.)
    y = run(np.array([1], np.uint8), post_ops=(Subtract(f32(0.1)), Multiply(3.0)))
    assert y.tolist() == [11324620 * 2.0**-22]


def test_requantization():
    # i32 codes [253, 255, -4], Multiply(0.5) -> [126.5, 127.5, -2] (exact); Quantize u8 [0, 255]:
    # 126.5 -> 126, 127.5 -> 128 (half to even; ties derived in spec_tests/test_fake_quantize.py),
    # -2 <= il -> ol = 0.
    quant = Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")
    y = run(np.array([253, 255, -4], np.int32), post_ops=(Multiply(0.5), quant))
    assert y.dtype == np.uint8 and y.tolist() == [126, 128, 0]


def test_relu_post_op():
    # i8 [-3, -2, 0, 4] * 0.75 = [-2.25, -1.5, 0, 3]; Relu -> [0, 0, 0, 3].
    y = run(np.array([-3, -2, 0, 4], np.int8), post_ops=(Multiply(0.75), Relu()))
    assert y.tolist() == [0.0, 0.0, 0.0, 3.0]


def test_errors():
    x = opset.parameter([2, 3], "f32", name="deq/f32")
    with pytest.raises(GraphError) as info:
        make_node("Dequantize", [x], {}, name="bad_deq")
    assert info.value.node == "bad_deq" and info.value.attribute == "input[0]"
    x = opset.parameter([2, 3], "u8", name="deq/u8")
    with pytest.raises(GraphError) as info:
        make_node("Dequantize", [x], {"post_ops": (Multiply(np.ones(2)),)}, name="bad_deq")
    assert info.value.attribute == "post_ops" and "Multiply[2]" in str(info.value)
    quant = Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")
    with pytest.raises(GraphError) as info:
        make_node("Dequantize", [x], {"post_ops": (quant, Relu())}, name="bad_deq")
    assert info.value.attribute == "post_ops" and "last" in str(info.value)

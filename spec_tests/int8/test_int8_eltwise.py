"""Int8Add / Int8Multiply (refint8.int8.eltwise): the two-branch rule, the pinned float32 order.

Expected values are hand-worked in the comments; none was captured from running refint8. The
float32 values of the pinned-order case were derived on the integer grid of float32 (a float32 in
[2^e, 2^(e+1)) is an integer multiple of 2^(e-23)).
"""

from __future__ import annotations

import numpy as np
import pytest

from refint8 import opset
from refint8.errors import GraphError, UnsupportedError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Multiply, Quantize

f32 = np.float32


def node(op_type, full, empty, name="eltwise", **attrs):
    a = opset.parameter(list(full[0]), full[1], name=f"{name}/full")
    b = opset.parameter(list(empty[0]), empty[1], name=f"{name}/empty")
    return make_node(op_type, [a, b], attrs, name=name)


def run(op_type, q_full, q_empty, **attrs):
    q_full, q_empty = np.asarray(q_full), np.asarray(q_empty)
    dt = {np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8"}
    n = node(op_type, (q_full.shape, dt[q_full.dtype]), (q_empty.shape, dt[q_empty.dtype]), **attrs)
    (y,) = INT8_OPS[op_type].compute(n.attrs, q_full, q_empty)
    assert isinstance(y, np.ndarray)
    assert y.dtype == n.output_types[0].dtype and y.shape == n.output_types[0].shape
    return y


def u8(values):
    return np.asarray(values, dtype=np.uint8)


def i8(values):
    return np.asarray(values, dtype=np.int8)


# -- Int8Add ---------------------------------------------------------------------------------------------


def test_add_two_branch_identity():
    # x1 = s1*(q1 - sh1) with s1 = 0.5, sh1 = 2; x2 = s2*(q2 - sh2) with s2 = 0.25, sh2 = 4.
    # full_scale = s1/s2 = 2; full_shift = sh1 + s2*sh2/s1 = 2 + 0.25*4/0.5 = 2 + 2 = 4;
    # post-op Multiply(s2 = 0.25). All constants are exact in float32.
    # q1 = [10, 3], q2 = [8, 0]:
    #   fp32 graph: 0.5*(10-2) + 0.25*(8-4) = 4 + 1 = 5;   0.5*(3-2) + 0.25*(0-4) = 0.5 - 1 = -0.5
    #   int8: t = [10-4, 3-4] = [6, -1]; *2 = [12, -2]; + [8, 0] = [20, -2]; *0.25 = [5, -0.5]
    y = run("Int8Add", u8([10, 3]), u8([8, 0]), full_shift=4.0, full_scale=2.0,
            post_ops=(Multiply(0.25),))
    assert y.tolist() == [5.0, -0.5]


def test_add_pinned_order():
    # q1 = 1, full_shift h = float32(0.1) = 13421773 * 2^-27, full_scale 3, q2 = 0.
    # t = 1 - h = (134217728 - 13421773) * 2^-27 = 120795955 * 2^-27; in [0.5, 1) float32 is a multiple
    #     of 2^-24 = 8 * 2^-27: 120795955 / 8 = 15099494.375 -> 15099494 * 2^-24.
    # t = t * 3 = 45298482 * 2^-24; in [2, 4) a multiple of 2^-22: 45298482 / 4 = 11324620.5, a tie ->
    #     even 11324620 * 2^-22 = 2.69999980926513671875.
    # t = t + 0 -> 2.69999980926513671875.
    # (The reassociated q1*3 - h*3 would give: h*3 = 40265319 * 2^-27 -> /4 = 10066329.75 ->
    #  10066330 * 2^-25; 3 - that = 11324620.75 * 2^-22 -> 11324621 * 2^-22 = 2.7000000476837158203125.)
    y = run("Int8Add", u8([1]), u8([0]), full_shift=f32(0.1), full_scale=3.0)
    assert y.tolist() == [11324620 * 2.0**-22]
    assert y.tolist() != [11324621 * 2.0**-22]


def test_add_broadcast_and_per_channel_shift():
    # full [1, 2, 1, 1] = [[10], [20]], empty [1, 1, 1, 2] = [1, 2] -> output [1, 2, 1, 2].
    # full_shift per channel [1,2,1,1] = [1, 2], full_scale 0.5:
    #   c0: (10 - 1)*0.5 = 4.5 -> + [1, 2] = [5.5, 6.5]
    #   c1: (20 - 2)*0.5 = 9   -> + [1, 2] = [10, 11]
    shift = np.array([1.0, 2.0], np.float32).reshape(1, 2, 1, 1)
    y = run("Int8Add", u8([10, 20]).reshape(1, 2, 1, 1), u8([1, 2]).reshape(1, 1, 1, 2),
            full_shift=shift, full_scale=0.5)
    assert y.shape == (1, 2, 1, 2)
    assert y.reshape(-1).tolist() == [5.5, 6.5, 10.0, 11.0]


def test_add_signed_and_unsigned_inputs():
    # full i8 [-128, 127], empty u8 [255, 0], shift 0, scale 1: [-128 + 255, 127 + 0] = [127, 127].
    y = run("Int8Add", i8([-128, 127]), u8([255, 0]))
    assert y.tolist() == [127.0, 127.0]


def test_add_quantize_output():
    # (q1 - 0)*1 + q2 = [1 + 252, 2 + 253] = [253, 255]; Multiply(0.5) -> [126.5, 127.5];
    # Quantize u8 [0, 255] ties to even -> [126, 128].
    quant = Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")
    y = run("Int8Add", u8([1, 2]), u8([252, 253]), post_ops=(Multiply(0.5), quant))
    assert y.dtype == np.uint8 and y.tolist() == [126, 128]


# -- Int8Multiply ----------------------------------------------------------------------------------------


def test_multiply_two_branch_identity():
    # x1 = 0.5*(q1 - 2), x2 = 0.25*q2 (no shift on the empty branch); full_shift = 2; post-op
    # Multiply(s1*s2 = 0.125). q1 = [10, 1], q2 = [8, 3]:
    #   fp32 graph: 0.5*8 * 0.25*8 = 4*2 = 8;   0.5*(1-2) * 0.25*3 = -0.5 * 0.75 = -0.375
    #   int8: t = [10-2, 1-2] = [8, -1]; * [8, 3] = [64, -3]; * 0.125 = [8, -0.375]
    y = run("Int8Multiply", u8([10, 1]), u8([8, 3]), full_shift=2.0, post_ops=(Multiply(0.125),))
    assert y.tolist() == [8.0, -0.375]


def test_multiply_pinned_order():
    # q1 = 1, h = float32(0.1), q2 = 3: t = 1 - h = 15099494 * 2^-24 (as in test_add_pinned_order),
    # t * 3 = 45298482 * 2^-24 -> tie -> 11324620 * 2^-22.
    y = run("Int8Multiply", u8([1]), u8([3]), full_shift=f32(0.1))
    assert y.tolist() == [11324620 * 2.0**-22]


def test_multiply_has_no_full_scale():
    with pytest.raises(UnsupportedError) as info:
        node("Int8Multiply", ((2,), "u8"), ((2,), "u8"), name="mul", full_scale=2.0)
    assert info.value.attribute == "full_scale"


# -- errors ----------------------------------------------------------------------------------------------


def expect_error(op_type, attribute, full=((1, 2, 2, 2), "u8"), empty=((1, 2, 2, 2), "u8"), **attrs):
    with pytest.raises(GraphError) as info:
        node(op_type, full, empty, name="bad_add", **attrs)
    err = info.value
    assert err.node == "bad_add" and err.op == op_type
    assert err.attribute == attribute, str(err)
    return err


def test_error_dtypes():
    expect_error("Int8Add", "input[0]", full=((2,), "f32"), empty=((2,), "u8"))
    expect_error("Int8Multiply", "input[1]", full=((2,), "i8"), empty=((2,), "i32"))


def test_error_shapes():
    err = expect_error("Int8Add", None, full=((1, 3), "u8"), empty=((1, 2), "u8"))
    assert "do not broadcast" in str(err)


def test_error_operands():
    # output [1, 2, 2, 2]: a [1, 3, 1, 1] shift does not broadcast; a [2, 2, 2, 2] one would enlarge it
    err = expect_error("Int8Add", "full_shift", full_shift=np.zeros((1, 3, 1, 1), np.float32))
    assert "[1, 3, 1, 1]" in str(err)
    expect_error("Int8Add", "full_scale", full_scale=np.ones((2, 2, 2, 2), np.float32))
    expect_error("Int8Add", "full_scale", full_scale="two")
    expect_error("Int8Multiply", "full_shift", full_shift=np.zeros(3))


def test_error_post_ops():
    expect_error("Int8Add", "post_ops", post_ops=(Multiply(np.ones(3)),))

"""Int8MVN (refint8.int8.mvn): exact integer moments, float64 normalization, one float32 rounding.

Expected values are hand-worked in the comments (S = Σq, Q = Σq², mean = S/n,
var = (n*Q - S*S)/n²); none was captured from running refint8.
"""

from __future__ import annotations

import numpy as np
import pytest

from refint8 import opset
from refint8.errors import GraphError, Refint8Error, UnsupportedError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Multiply, Quantize
from refint8.ops.mvn import mvn as fp32_mvn

Int8MVN = INT8_OPS["Int8MVN"]


def mvn_node(shape, dtype, name="mvn", **attrs):
    x = opset.parameter(list(shape), dtype, name=f"{name}/x")
    return make_node("Int8MVN", [x], attrs, name=name)


def run(q, **attrs):
    q = np.asarray(q)
    n = mvn_node(q.shape, "u8" if q.dtype == np.uint8 else "i8", **attrs)
    (y,) = Int8MVN.compute(n.attrs, q)
    assert y.dtype == n.output_types[0].dtype and y.shape == n.output_types[0].shape
    return y


def u8(values):
    return np.asarray(values, dtype=np.uint8)


def test_hand_worked_u8():
    # q = [0, 0, 4, 4], n = 4: S = 8, Q = 0 + 0 + 16 + 16 = 32; mean = 8/4 = 2;
    # var = (4*32 - 8*8) / 16 = (128 - 64)/16 = 4; d = [-2, -2, 2, 2].
    # eps = 0, inside: d / sqrt(4) = [-1, -1, 1, 1].
    assert run(u8([0, 0, 4, 4]), axes=[0], eps=0.0).tolist() == [-1.0, -1.0, 1.0, 1.0]
    # eps = 5, inside: d / sqrt(4 + 5) = d/3 = -2/3 -> float32(-2/3) = -11184811 * 2^-24
    # (2/3 * 2^24 = 11184810.67, nearest integer 11184811).
    third = 11184811 * 2.0**-24
    assert run(u8([0, 0, 4, 4]), axes=[0], eps=5.0).tolist() == [-third, -third, third, third]
    # eps = 1, outside: d / (sqrt(4) + 1) = d/3, the same.
    y = run(u8([0, 0, 4, 4]), axes=[0], eps=1.0, eps_mode="outside_sqrt")
    assert y.tolist() == [-third, -third, third, third]


def test_without_variance_normalization():
    # y = d = q - mean = [-2, -2, 2, 2]; LPT keeps Multiply(s) as the first post-op: s = 0.5 ->
    # [-1, -1, 1, 1].
    assert run(u8([0, 0, 4, 4]), axes=[0], normalize_variance=False).tolist() == [-2.0, -2.0, 2.0, 2.0]
    y = run(u8([0, 0, 4, 4]), axes=[0], normalize_variance=False, post_ops=(Multiply(0.5),))
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0]


def test_sign_of_scale_post_op():
    # normalize_variance with a negative dequantization scale: LPT's post-op Multiply(sign(s) = -1):
    # [-1, -1, 1, 1] * -1 = [1, 1, -1, -1].
    y = run(u8([0, 0, 4, 4]), axes=[0], eps=0.0, post_ops=(Multiply(-1.0),))
    assert y.tolist() == [1.0, 1.0, -1.0, -1.0]


def test_fractional_mean():
    # q = [1, 2], n = 2: S = 3, Q = 5; mean = 1.5; var = (2*5 - 9)/4 = 1/4; sqrt = 0.5;
    # d = [-0.5, 0.5] -> [-1, 1] (eps = 0).
    assert run(u8([1, 2]), axes=[0], eps=0.0).tolist() == [-1.0, 1.0]


def test_i8_codes():
    # q = [-4, -4, 4, 4]: S = 0, Q = 64; mean = 0; var = (4*64 - 0)/16 = 16; sqrt = 4 -> q/4.
    y = run(np.array([-4, -4, 4, 4], np.int8), axes=[0], eps=0.0)
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0]


def test_groups_and_constant_group():
    # [2, 4]: each row is its own group (axes [1]).
    # row 0 [0, 0, 4, 4] -> [-1, -1, 1, 1] up to eps = 1e-9: d / sqrt(4 + 1e-9); float32 of
    #   -2/sqrt(4.000000001) = -(1 - 1.25e-10) rounds to -1 (float32 spacing below 1 is 6e-8).
    # row 1 [7, 7, 7, 7]: S = 28, Q = 196; var = (4*196 - 784)/16 = 0; d = 0 -> 0/sqrt(1e-9) = 0.
    y = run(u8([[0, 0, 4, 4], [7, 7, 7, 7]]), axes=[1], eps=1e-9)
    assert y.tolist() == [[-1.0, -1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    # eps = 0: the constant row is 0/0 = NaN.
    y = run(u8([[0, 0, 4, 4], [7, 7, 7, 7]]), axes=[1], eps=0.0)
    assert np.isnan(y[1]).all() and y[0].tolist() == [-1.0, -1.0, 1.0, 1.0]


def test_nan_cannot_be_quantized():
    # the NaN of a constant group with eps = 0 reaching a Quantize post-op is an error (a refint8
    # error naming NaN; refint8.ops.fake_quantize.to_integer_codes defines which one)
    quant = Quantize(-128.0, 127.0, -128.0, 127.0, 256, "i8")
    with pytest.raises(Refint8Error, match="NaN"):
        run(u8([7, 7]), axes=[0], eps=0.0, post_ops=(quant,))


def test_several_and_negative_axes():
    # [1, 2, 2] = [[[0, 4], [0, 4]]], axes [-1, -2] (= [2, 1]): one group [0, 4, 0, 4]:
    # S = 8, Q = 32 -> mean 2, var 4 -> [-1, 1, -1, 1] (eps = 0).
    y = run(u8([[[0, 4], [0, 4]]]), axes=[-1, -2], eps=0.0)
    assert y.tolist() == [[[-1.0, 1.0], [-1.0, 1.0]]]


def test_eps_acts_on_the_variance_of_the_codes():
    # Codes [0, 0, 4, 4] dequantized with s = 0.01: x = [0, 0, 0.04, 0.04], var_x = 4e-4.
    # fp32 graph, eps = 1e-3: |y| = 0.02 / sqrt(4e-4 + 1e-3) = 0.02 / 0.0374166 = 0.534522...
    # int8 layer (times sign(s) = 1): |y| = 2 / sqrt(4 + 1e-3) = 1/sqrt(1.00025) = 0.99987503...
    # i.e. fp32 MVN of x with eps * s^2 = 1e-7: 0.02 / sqrt(4.001e-4) = 0.99987503...
    y = run(u8([0, 0, 4, 4]), axes=[0], eps=1e-3)
    assert y[2] == pytest.approx(0.99987503, abs=2e-8)
    x = np.array([0, 0, 0.04, 0.04], np.float32)
    assert fp32_mvn(x, axes=[0], eps=1e-3)[2] == pytest.approx(0.534522, abs=1e-6)


def test_large_group_accepted_within_bound():
    # i8: n = 4096 * 4096 = 16777216 <= 23726566 (128² * n² <= 2^63 - 1) is accepted.
    mvn_node((4096, 4096), "i8", name="big_i8", axes=[0, 1])


# -- errors ----------------------------------------------------------------------------------------------


def expect_error(attribute, shape=(2, 4), dtype="u8", **attrs):
    attrs.setdefault("axes", [1])
    with pytest.raises(GraphError) as info:
        mvn_node(shape, dtype, name="bad_mvn", **attrs)
    err = info.value
    assert err.node == "bad_mvn" and err.op == "Int8MVN"
    assert err.attribute == attribute, str(err)
    return err


def test_error_dtype():
    expect_error("input[0]", dtype="f32")


def test_error_axes():
    expect_error("axes", axes=[2])
    expect_error("axes", axes=[1, -1])
    expect_error("axes", axes=[])


def test_error_eps():
    expect_error("eps", eps=float("inf"))
    err = expect_error("eps_mode", eps_mode="inside")
    assert isinstance(err, UnsupportedError)


def test_error_moment_overflow_bound():
    # u8: n = 4096 * 4096 = 16777216 > 11909805 (the largest n with 255² * n² <= 2^63 - 1).
    err = expect_error("axes", shape=(4096, 4096), axes=[0, 1])
    assert "16777216" in str(err) and "11909805" in str(err)


def test_error_post_ops():
    expect_error("post_ops", post_ops=(Multiply(np.ones(3)),))

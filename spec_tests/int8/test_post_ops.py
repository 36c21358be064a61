"""refint8.int8.post_ops: the float32 tail of every int8 layer, one float32 operation per step.

Expected values are hand-worked in the comments; none was captured from running refint8. The
Quantize tie values (126.5 -> 126, 127.5 -> 128, 254.5 -> 254 on [0, 255] with 256 levels, and
-127.5 -> -128, 0.5 -> 0, 126.5 -> 126 on [-128, 127]) are FakeQuantize's, derived in
spec_tests/test_fake_quantize.py: ``fl(fl(x/255)*255)`` returns these x exactly, so they stay ties
and round half to even on the level index.
"""

from __future__ import annotations

import numpy as np
import pytest

from refint8.errors import InputError
from refint8.int8 import post_ops as post
from refint8.int8.post_ops import (Add, Clamp, FakeQuantize, Multiply, Quantize, Relu, Subtract,
                                   apply_post_ops, check_post_ops, describe, output_dtype)

f32 = np.float32


def assert_bits(actual, expected):
    expected = np.asarray(expected, dtype=np.float32)
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    same = (actual.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(actual) & np.isnan(expected))
    assert same.all(), f"\nactual   {actual!r}\nexpected {expected!r}"


def apply(y, ops):
    return apply_post_ops(np.asarray(y, dtype=np.float32), ops)


def u8_quantize():
    return Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")


def i8_quantize():
    return Quantize(-128.0, 127.0, -128.0, 127.0, 256, "i8")


def test_order_matters():
    # y = 3: Multiply(2) then Add(1) = 3*2 + 1 = 7; Add(1) then Multiply(2) = (3+1)*2 = 8.
    assert_bits(apply([3.0], [Multiply(2.0), Add(1.0)]), [7.0])
    assert_bits(apply([3.0], [Add(1.0), Multiply(2.0)]), [8.0])


def test_each_step_rounds_to_float32():
    # y = 3, Multiply(1 + 2^-23) (a float32): exact product 3 + 3*2^-23. float32 spacing in [2, 4)
    # is 2^-22, so this is halfway between 3 + 2^-22 (odd significand 12582913) and 3 + 2^-21
    # (even, 12582914): ties to even -> 3 + 2^-21. Then Add(-3): exactly 2^-21 = 4.76837158203125e-07.
    # (Evaluated in float64 and rounded once, the result would be 3*2^-23 = 3.5762786865234375e-07.)
    assert_bits(apply([3.0], [Multiply(1 + 2**-23), Add(-3.0)]), [2.0**-21])


def test_subtract_and_per_channel_operand():
    # [1, 2, 1, 2] ones; Multiply([1,2,1,1] = [2, 3]) then Subtract(0.25):
    # channel 0: 1*2 - 0.25 = 1.75; channel 1: 1*3 - 0.25 = 2.75.
    y = apply(np.ones((1, 2, 1, 2)), [Multiply(np.array([2, 3]).reshape(1, 2, 1, 1)), Subtract(0.25)])
    assert_bits(y, [[[[1.75, 1.75]], [[2.75, 2.75]]]])


def test_relu():
    # y if y > 0 else 0: -1 -> 0, -0.0 -> +0.0 (not > 0), 0 -> 0, 2 -> 2, NaN stays NaN.
    assert_bits(apply([-1.0, -0.0, 0.0, 2.0, np.nan], [Relu()]), [0.0, 0.0, 0.0, 2.0, np.nan])


def test_clamp():
    # min(max(y, -1), 1.5): -3 -> -1, 0.5 -> 0.5, 2 -> 1.5.
    assert_bits(apply([-3.0, 0.5, 2.0], [Clamp(-1.0, 1.5)]), [-1.0, 0.5, 1.5])


def test_fake_quantize_stays_float():
    # levels 5 on [0, 4] -> [0, 4]: t = (x/4)*4 = x exactly; ties to even: 0.5 -> 0, 1.5 -> 2,
    # 2.5 -> 2, 3.5 -> 4; y = (q/4)*4 = q.
    y = apply([0.5, 1.5, 2.5, 3.5], [FakeQuantize(0.0, 4.0, 0.0, 4.0, 5)])
    assert_bits(y, [0.0, 2.0, 2.0, 4.0])


def test_quantize_u8_ties_and_saturation():
    # ties: 126.5 -> 126, 127.5 -> 128, 254.5 -> 254 (half to even); -3 <= il -> ol = 0;
    # 300 > ih -> oh = 255.
    y = apply([126.5, 127.5, 254.5, -3.0, 300.0], [u8_quantize()])
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, [126, 128, 254, 0, 255])


def test_quantize_i8_ties_and_saturation():
    # [-128, 127], 256 levels: -127.5 -> level 0.5 -> 0 -> -128; 0.5 -> level 128.5 -> 128 -> 0;
    # 126.5 -> level 254.5 -> 254 -> 126; -200 -> ol = -128; 200 -> oh = 127.
    y = apply([-127.5, 0.5, 126.5, -200.0, 200.0], [i8_quantize()])
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, [-128, 0, 126, -128, 127])


def test_quantize_after_scale():
    # acc [253, 255, 509] * 0.5 = [126.5, 127.5, 254.5] (exact) -> [126, 128, 254].
    y = apply([253.0, 255.0, 509.0], [Multiply(0.5), u8_quantize()])
    np.testing.assert_array_equal(y, [126, 128, 254])


def test_check_post_ops():
    shape = (1, 2, 3, 3)
    assert check_post_ops((), shape) is None
    assert check_post_ops([Multiply(np.ones((1, 2, 1, 1))), Add(1.0), Relu(), u8_quantize()], shape) is None
    # Quantize must be last
    problem = check_post_ops([u8_quantize(), Relu()], shape)
    assert problem and "post-op 0 (Quantize) must be the last" in problem
    # an operand that does not broadcast: [2] aligns with the last axis W = 3
    problem = check_post_ops([Add(np.ones(2))], shape)
    assert problem and "post-op 0 (Add)" in problem and "[2]" in problem
    # an operand that broadcasts but would enlarge the output: [2, 1, 1, 1] on N = 1
    problem = check_post_ops([Relu(), Multiply(np.ones((2, 1, 1, 1)))], shape)
    assert problem and "post-op 1 (Multiply)" in problem
    # FakeQuantize ranges are checked too
    problem = check_post_ops([FakeQuantize(np.zeros(5), 1.0, 0.0, 1.0, 256)], shape)
    assert problem and "FakeQuantize" in problem


def test_check_post_ops_rejects_non_post_ops():
    # something that is not a post-op (here a bare string and a plain function) must be rejected
    # at compile time, not crash at run time
    assert check_post_ops(["Relu"], (1,)) is not None
    assert check_post_ops([abs], (1,)) is not None
    # and a bare post-op where a sequence is expected
    assert check_post_ops(Relu(), (1,)) is not None


def test_output_dtype():
    assert output_dtype(()) == np.float32
    assert output_dtype([Multiply(1.0), Relu()]) == np.float32
    assert output_dtype([Multiply(1.0), u8_quantize()]) == np.uint8
    assert output_dtype([i8_quantize()]) == np.int8
    # a FakeQuantize (not Quantize) keeps float32
    assert output_dtype([FakeQuantize(0.0, 1.0, 0.0, 1.0, 256)]) == np.float32


def test_apply_needs_float32():
    with pytest.raises(InputError, match="float32"):
        apply_post_ops(np.ones(2, dtype=np.float64), [Relu()])


def test_operands_are_float32_and_read_only():
    op = Multiply([0.1, 2])
    assert op.operand.dtype == np.float32 and not op.operand.flags.writeable
    # 0.1 is stored as float32(0.1) = 0.100000001490116119384765625
    assert op.operand[0] == f32(0.1)


def test_describe():
    ops = [Multiply(np.ones(2)), Add(1.0), Relu(), Clamp(0.0, 6.0), u8_quantize()]
    assert describe(ops) == "Multiply[2] -> Add[] -> Relu -> Clamp(0, 6) -> Quantize(u8, 256)"
    assert describe(()) == "(none)"
    assert describe([FakeQuantize(0.0, 1.0, 0.0, 1.0, 255)]) == "FakeQuantize(255)"


def test_module_lists_every_post_op():
    # the PostOp union names exactly the classes the docstring table lists
    for name in ("Multiply", "Add", "Subtract", "Relu", "Clamp", "FakeQuantize", "Quantize"):
        assert name in post.__doc__ and hasattr(post, name)


def test_clamp_post_op_keeps_negative_zero_like_the_clamp_op():
    # -0.0 is not below lo = +0.0, so Clamp(0, 6) returns it unchanged (refint8.ops.clamp's rule);
    # np.minimum(np.maximum(-0.0, 0.0), 6.0) would give +0.0.
    from refint8.int8 import post_ops as P

    y = P.apply_post_ops(np.array([-0.0, -1.0, 7.0, np.nan], np.float32), (P.Clamp(0.0, 6.0),))
    assert np.signbit(y[0]) and y[0] == 0.0
    assert y[1] == 0.0 and y[2] == 6.0 and np.isnan(y[3])

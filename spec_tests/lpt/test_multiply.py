"""LPT Multiply (refint8.lpt.multiply): two dequantized branches -> Int8Multiply -> Multiply(s1*s2).

Bound (derived in refint8/lpt/multiply.py): the int8 layer and the dequantized fp32 product differ
by at most ``5 * 2^-24 * |y|``; the fp32 graph reads FakeQuantize outputs, which differ from the
dequantized values by at most two float32 roundings of ``s*(|q| + |sh|)`` per branch. With
``M = s_full*(|q_full| + |sh_full|) * s_empty*|q_empty|`` the tests use ``8 * 2^-24 * M_max``.
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops

U = 2.0**-24
SHAPE = [1, 2, 3, 3]


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def rows(compiled):
    return {r.name: r for r in compiled.perf_counts()}


def hand_model(requantize=False):
    """a: FQ [0, 2.55] -> u8, s_a = 0.01, no zero point.
    b: FQ [-0.5, 2.05], a signed interval with ratio -0.5/2.05 != -128/127 -> i8 with zero point
       zp = (-128*2.05 - 127*(-0.5)) / 2.55 = (-262.4 + 63.5) / 2.55 = -78, s_b = 2.55/255 = 0.01."""
    xa = ops.parameter(SHAPE, name="xa")
    xb = ops.parameter(SHAPE, name="xb")
    fa = ops.fake_quantize(xa, 0.0, 2.55, 0.0, 2.55, 256, name="fqa")
    fb = ops.fake_quantize(xb, -0.5, 2.05, -0.5, 2.05, 256, name="fqb")
    y = ops.multiply(fa, fb, name="mul")
    if requantize:
        # s = 0.025, zero point 52: [-52*0.025, 203*0.025] = [-1.3, 5.075]
        y = ops.fake_quantize(y, -1.3, 5.075, -1.3, 5.075, 256, name="fq3")
        w = np.random.default_rng(0).normal(size=(2, 2, 1, 1)).astype(np.float32)
        wq = ops.fake_quantize(w, -2.0, 2.0, -2.0, 2.0, 255, name="wfq")
        c = ops.convolution(y, wq, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                            dilations=[1, 1], name="conv")
        return refint8.Model({"y": y, "c": c})
    return refint8.Model({"y": y})


def inputs(seed):
    rng = np.random.default_rng(seed)
    return {"xa": rng.uniform(-0.2, 2.7, SHAPE).astype(np.float32),
            "xb": rng.uniform(-0.7, 2.2, SHAPE).astype(np.float32)}


# M_max = s_b*(|q_b| + |zp_b|) * s_a*|q_a| <= 0.01*(128 + 78) * 0.01*255 = 2.06 * 2.55 = 5.253
HAND_BOUND = 8 * U * 5.253


def test_hand_worked_constants_zero_point_free_branch_is_empty():
    compiled, _ = compile_both(hand_model())
    mul = compiled.model.node("mul")
    assert mul.type == "Int8Multiply"
    # The default rule would make input 1 empty, but input 1 (b) has a zero point: a is empty.
    assert mul.rt_info["empty_input"] == 0
    assert mul.rt_info["empty_input_rule"] == "the input without a zero point is empty"
    full, empty = mul.inputs
    assert (full.node.name, full.dtype) == ("fqb", np.dtype(np.int8))
    assert (empty.node.name, empty.dtype) == ("fqa", np.dtype(np.uint8))
    # full_shift = zp_b = -78 (the float32 zero point of the decomposition, integral within 1e-4)
    assert abs(float(mul.attrs["full_shift"]) + 78) <= 1e-4
    # post-op Multiply(s_a * s_b) = 0.01 * 0.01 = 1e-4 (float64 product of the float32 scales)
    first = mul.attrs["post_ops"][0]
    s = np.float32(2.55 / 255)
    assert type(first).__name__ == "Multiply"
    assert first.operand == np.float32(np.float64(s) * np.float64(s))
    assert abs(float(first.operand) - 1e-4) <= 1e-4 * 2.0**-20


def test_hand_worked_values_and_counters():
    # xa = 2.0 -> q_a = 200; xb = 1.0 -> q_b = -78 + 100 = 22.
    # int8: (22 - (-78)) * 200 = 100 * 200 = 20000, * 1e-4 = 2.0 = 2.0 * 1.0.
    compiled, reference = compile_both(hand_model())
    xa = np.full(SHAPE, 2.0, np.float32)
    xb = np.full(SHAPE, 1.0, np.float32)
    got = compiled.infer({"xa": xa, "xb": xb})["y"]
    want = reference.infer({"xa": xa, "xb": xb})["y"]
    assert np.max(np.abs(got - 2.0)) <= HAND_BOUND
    assert np.max(np.abs(got - want)) <= HAND_BOUND
    table = rows(compiled)
    assert table["mul"].exec_type.endswith("_I8") and table["mul"].layer_type == "Eltwise"
    assert table["mul/dequantize/multiply"].status.value == "NOT_RUN"


def test_random_within_bound():
    compiled, reference = compile_both(hand_model())
    for seed in range(5):
        got, want = compiled.infer(inputs(seed))["y"], reference.infer(inputs(seed))["y"]
        assert np.max(np.abs(got - want)) <= HAND_BOUND


def test_requantized_then_conv_runs_int8():
    compiled, reference = compile_both(hand_model(requantize=True))
    mul = compiled.model.node("mul")
    assert mul.type == "Int8Multiply"
    assert [type(p).__name__ for p in mul.attrs["post_ops"]] == ["Multiply", "Quantize"]
    assert compiled.model.node("conv").type == "Int8Convolution"
    assert rows(compiled)["conv"].exec_type.endswith("_I8")
    pre = refint8.compile(hand_model(), backend="reference", lpt=False)
    step = 6.375 / 255
    flips = 0
    for seed in range(5):
        got, want = compiled.infer(inputs(seed))["y"], reference.infer(inputs(seed))["y"]
        diff = np.abs(got.astype(np.float64) - want)
        assert np.all(diff <= step + 8 * U * 5.075)
        flipped = diff > step / 2
        position = (pre.infer(inputs(seed))["y"][flipped].astype(np.float64) + 1.3) / step
        assert np.all(np.abs(position - np.floor(position) - 0.5) * step <= HAND_BOUND + 8 * U * 5.075)
        flips += int(flipped.sum())
    assert flips <= 5 * 18 // 4


# -- not transformed ---------------------------------------------------------------------------------


def test_both_inputs_with_zero_point_stay_fp32():
    xa = ops.parameter(SHAPE, name="xa")
    xb = ops.parameter(SHAPE, name="xb")
    fa = ops.fake_quantize(xa, -0.5, 2.05, -0.5, 2.05, 256, name="fqa")
    fb = ops.fake_quantize(xb, -0.5, 2.05, -0.5, 2.05, 256, name="fqb")
    model = refint8.Model(ops.multiply(fa, fb, name="mul"))
    compiled, reference = compile_both(model)
    mul = compiled.model.node("mul")
    assert mul.type == "Multiply"
    assert mul.rt_info["fp32_reason"].startswith("both inputs have a zero point")
    assert rows(compiled)["mul"].exec_type.endswith("_FP32")
    got = compiled.infer(inputs(1))["mul"]
    want = reference.infer(inputs(1))["mul"]
    # the inputs are dequantized by Dequantize layers ((q - zp) * s vs FakeQuantize's formula)
    assert np.max(np.abs(got - want)) <= HAND_BOUND


def test_only_one_input_quantized_stays_fp32():
    xa = ops.parameter(SHAPE, name="xa")
    xb = ops.parameter(SHAPE, name="xb")
    fa = ops.fake_quantize(xa, 0.0, 2.55, 0.0, 2.55, 256, name="fqa")
    model = refint8.Model(ops.multiply(fa, xb, name="mul"))
    compiled = refint8.compile(model, backend="reference")
    mul = compiled.model.node("mul")
    assert mul.type == "Multiply"
    assert mul.rt_info["fp32_reason"] == "only one input is quantized (the other input is float32 data)"


def test_multiply_by_a_constant_is_a_post_op():
    xa = ops.parameter(SHAPE, name="xa")
    fa = ops.fake_quantize(xa, 0.0, 2.55, 0.0, 2.55, 256, name="fqa")
    model = refint8.Model(ops.multiply(fa, np.float32(3.0), name="mul"))
    compiled, reference = compile_both(model)
    assert not any(n.type == "Int8Multiply" for n in compiled.model.nodes)
    assert rows(compiled)["mul"].status.value == "NOT_RUN"  # fused after the Dequantize
    got = compiled.infer({"xa": inputs(2)["xa"]})["mul"]
    want = reference.infer({"xa": inputs(2)["xa"]})["mul"]
    assert np.max(np.abs(got - want)) <= 4 * U * 3 * 2.55

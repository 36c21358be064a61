"""LPT Add (refint8.lpt.add): two dequantized branches -> Int8Add -> Multiply(s2).

Each test builds a FakeQuantize graph with refint8.opset, compiles it with LPT (reference backend)
and without (``lpt=False``, the fp32 graph), and checks which nodes run int8, the recorded FP32
reasons, and the numeric agreement.

Bounds (derived in refint8/lpt/add.py): with ``M = |s1|*(|q1| + |sh1| + |h|) + |s2|*(|q2| + |sh2|)``
the int8 layer and the dequantized fp32 Add differ by at most ``8 * 2^-24 * M``; the fp32 graph
reads FakeQuantize outputs ``q/(L-1)*(oh-ol) + ol``, which differ from ``s*(q - sh)`` by at most
two roundings of each branch value (``<= 2 * 2^-24 * M``), so the tests use
``ADD_BOUND = 10 * 2^-24 * M_max``. A requantizing FakeQuantize after the Add may differ by one
step, only where the fp32 value lies within ADD_BOUND of a rounding tie.
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops

U = 2.0**-24
SHAPE = [1, 2, 4, 4]


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def rows(compiled):
    return {r.name: r for r in compiled.perf_counts()}


def conv_weights(out_channels, in_channels, seed=0):
    w = np.random.default_rng(seed).normal(size=(out_channels, in_channels, 1, 1)).astype(np.float32)
    return ops.fake_quantize(w, -2.0, 2.0, -2.0, 2.0, 255, name=f"wfq{seed}")


def conv(x, out_channels, in_channels, name, seed=0):
    return ops.convolution(x, conv_weights(out_channels, in_channels, seed), strides=[1, 1],
                           pads_begin=[0, 0], pads_end=[0, 0], dilations=[1, 1], name=name)


def hand_model(requantize: bool):
    """x1: FQ [0, 5.1] -> u8, s1 = 0.02, zero point 0.
    x2: FQ [-1.28, 1.27], also feeding a Convolution (port 0 accepts only u8), so it becomes u8
    with s2 = 0.01 and zero point 128 (instead of i8 without zero point)."""
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 5.1, 0.0, 5.1, 256, name="fq1")
    f2 = ops.fake_quantize(x2, -1.28, 1.27, -1.28, 1.27, 256, name="fq2")
    y = ops.add(f1, f2, name="add")
    if requantize:
        y = ops.fake_quantize(y, -2.0, 8.2, -2.0, 8.2, 256, name="fq3")
    return refint8.Model({"y": y, "c": conv(f2, 3, 2, "conv")})


def hand_inputs(seed=1):
    rng = np.random.default_rng(seed)
    return {"x1": rng.uniform(-0.5, 5.5, SHAPE).astype(np.float32),
            "x2": rng.uniform(-1.5, 1.5, SHAPE).astype(np.float32)}


# Hand-worked constants: full = branch 1 (s1 = 0.02, sh1 = 0), empty = branch 2 (s2 = 0.01, sh2 = 128)
#   full_scale = s1/s2 = 0.02/0.01 = 2
#   full_shift = sh1 + s2*sh2/s1 = 0 + 0.01*128/0.02 = 64
# Check: 0.01 * ((q1 - 64)*2 + q2) = 0.02*q1 + 0.01*(q2 - 128).
# M_max = 0.02*(255 + 0 + 64) + 0.01*(255 + 128) = 6.38 + 3.83 = 10.21.
HAND_BOUND = 10 * U * 10.21


def test_hand_worked_constants_and_empty_branch():
    compiled, _ = compile_both(hand_model(requantize=False))
    add = compiled.model.node("add")
    assert add.type == "Int8Add"
    full, empty = add.inputs
    assert (full.node.name, full.dtype) == ("fq1", np.dtype(np.uint8))
    assert (empty.node.name, empty.dtype) == ("fq2", np.dtype(np.uint8))  # u8 forced by the conv
    assert add.rt_info["empty_input"] == 1  # fq2 has two uses (Add and Convolution): empty
    assert add.rt_info["empty_input_rule"] == "the FakeQuantize with more uses is empty"
    # f32(0.02)/f32(0.01) rounds to 2 within one float32 ulp of 2 (2^-22); 64 within 2^-17.
    assert abs(float(add.attrs["full_scale"]) - 2.0) <= 2.0**-22
    assert abs(float(add.attrs["full_shift"]) - 64.0) <= 2.0**-17
    first = add.attrs["post_ops"][0]
    assert type(first).__name__ == "Multiply" and first.operand == np.float32(2.55 / 255)


def test_hand_worked_values():
    # x1 = 2.0 -> q1 = 2.0/0.02 = 100; x2 = 0.72 -> q2 = (0.72 + 1.28)/0.01 = 200.
    # int8: ((100 - 64)*2 + 200) * 0.01 = 272 * 0.01 = 2.72; fp32 graph: 2.0 + 0.72 = 2.72.
    # x1 = 5.1 -> 255, x2 = -1.28 -> 0: (255 - 64)*2 + 0 = 382 -> 3.82 = 5.1 - 1.28.
    compiled, reference = compile_both(hand_model(requantize=False))
    x1 = np.full(SHAPE, 2.0, np.float32)
    x2 = np.full(SHAPE, 0.72, np.float32)
    x1[0, 0, 0, 0], x2[0, 0, 0, 0] = 5.1, -1.28
    got = compiled.infer({"x1": x1, "x2": x2})["y"]
    want = reference.infer({"x1": x1, "x2": x2})["y"]
    assert abs(got[0, 1, 1, 1] - 2.72) <= HAND_BOUND
    assert abs(got[0, 0, 0, 0] - 3.82) <= HAND_BOUND
    assert np.max(np.abs(got - want)) <= HAND_BOUND


def test_float_output_within_bound_and_counters():
    compiled, reference = compile_both(hand_model(requantize=False))
    for seed in range(5):
        inputs = hand_inputs(seed)
        got, want = compiled.infer(inputs), reference.infer(inputs)
        assert np.max(np.abs(got["y"] - want["y"])) <= HAND_BOUND
    table = rows(compiled)
    assert table["add"].exec_type.endswith("_I8") and table["add"].layer_type == "Eltwise"
    assert table["add/dequantize/multiply"].status.value == "NOT_RUN"
    assert table["conv"].exec_type.endswith("_I8")
    assert rows(reference)["add"].exec_type.endswith("_FP32")


def assert_requantized_close(got, want, pre, il, ih, levels, bound):
    """``got`` and ``want`` are FakeQuantize([il, ih], levels) outputs; ``pre`` is the fp32 graph's
    FakeQuantize input. They may differ by one step, only where ``pre`` is within ``bound`` of a
    rounding tie."""
    step = (ih - il) / (levels - 1)
    diff = np.abs(got.astype(np.float64) - want)
    # one step, plus the float32 rounding of FakeQuantize's output formula on both sides
    assert np.all(diff <= step + 8 * U * max(abs(il), abs(ih)))
    flipped = diff > step / 2
    position = (pre[flipped].astype(np.float64) - il) / step
    tie_distance = np.abs(position - np.floor(position) - 0.5) * step
    assert np.all(tie_distance <= bound + 4 * U * max(abs(il), abs(ih))), tie_distance
    return int(flipped.sum())


def test_requantized_output_at_most_one_step_at_ties():
    model = hand_model(requantize=True)
    compiled, reference = compile_both(model)
    pre_model = refint8.compile(hand_model(requantize=False), backend="reference", lpt=False)
    add = compiled.model.node("add")
    assert [type(p).__name__ for p in add.attrs["post_ops"]] == ["Multiply", "FakeQuantize"]
    assert rows(compiled)["fq3"].status.value == "NOT_RUN"
    for seed in range(5):
        inputs = hand_inputs(seed)
        assert_requantized_close(compiled.infer(inputs)["y"], reference.infer(inputs)["y"],
                                 pre_model.infer(inputs)["y"], -2.0, 8.2, 256, HAND_BOUND)


def test_add_then_fake_quantize_then_conv_runs_int8():
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 5.1, 0.0, 5.1, 256, name="fq1")
    f2 = ops.fake_quantize(x2, -1.28, 1.27, -1.28, 1.27, 256, name="fq2")
    f3 = ops.fake_quantize(ops.add(f1, f2, name="add"), -2.0, 8.2, -2.0, 8.2, 256, name="fq3")
    model = refint8.Model({"y": f3, "c": conv(f3, 3, 2, "conv")})
    compiled, reference = compile_both(model)
    add = compiled.model.node("add")
    assert add.type == "Int8Add"
    # fq3 feeds the conv (u8): it becomes the Add's final Quantize post-op, the Add outputs u8.
    assert type(add.attrs["post_ops"][-1]).__name__ == "Quantize"
    assert add.output_types[0].dtype == np.uint8
    assert compiled.model.node("conv").inputs[0].node is add
    table = rows(compiled)
    assert table["add"].exec_type.endswith("_I8") and table["conv"].exec_type.endswith("_I8")
    # fq2 has one use here: no rule before the default applies, input 1 is empty.
    assert add.rt_info["empty_input"] == 1
    pre_model = refint8.compile(refint8.Model(ops.add(
        ops.fake_quantize(x1, 0.0, 5.1, 0.0, 5.1, 256), ops.fake_quantize(x2, -1.28, 1.27, -1.28, 1.27, 256))),
        backend="reference", lpt=False)
    for seed in range(3):
        inputs = hand_inputs(seed)
        got, want = compiled.infer(inputs), reference.infer(inputs)
        # branch 2 is i8 without zero point here (s2 = 0.01): M_max = 0.02*255 + 0.01*128 < 10.21.
        assert_requantized_close(got["y"], want["y"], next(iter(pre_model.infer(inputs).values())),
                                 -2.0, 8.2, 256, HAND_BOUND)


# -- choice of the empty branch ----------------------------------------------------------------------


def two_branch_model(shape1, shape2, range1=(0.0, 2.55), range2=(0.0, 5.1)):
    x1 = ops.parameter(shape1, name="x1")
    x2 = ops.parameter(shape2, name="x2")
    f1 = ops.fake_quantize(x1, *range1, *range1, 256, name="fq1")
    f2 = ops.fake_quantize(x2, *range2, *range2, 256, name="fq2")
    return refint8.Model(ops.add(f1, f2, name="add"))


def check_against_fp32(model, inputs, bound):
    compiled, reference = compile_both(model)
    got = next(iter(compiled.infer(inputs).values()))
    want = next(iter(reference.infer(inputs).values()))
    assert np.max(np.abs(got - want)) <= bound
    return compiled


def test_default_rule_input_1_is_empty():
    model = two_branch_model(SHAPE, SHAPE)
    rng = np.random.default_rng(3)
    inputs = {"x1": rng.uniform(0, 2.6, SHAPE).astype(np.float32),
              "x2": rng.uniform(0, 5.2, SHAPE).astype(np.float32)}
    # s1 = 0.01, s2 = 0.02: r = 0.5, h = 0; M <= 0.01*255 + 0.02*255 = 7.65.
    compiled = check_against_fp32(model, inputs, 10 * U * 7.65)
    add = compiled.model.node("add")
    assert add.rt_info["empty_input"] == 1
    assert add.rt_info["empty_input_rule"] == "default: input 0 is full"
    assert abs(float(add.attrs["full_scale"]) - 0.5) <= 2.0**-25
    assert float(add.attrs["full_shift"]) == 0.0


def test_broadcast_branch_is_full():
    # x2 is [1, 2, 1, 1] (all spatial dims 1): OpenVINO's isBroadcasted makes it the full branch,
    # so input 0 is empty (where the default would have chosen input 1).
    model = two_branch_model(SHAPE, [1, 2, 1, 1])
    rng = np.random.default_rng(4)
    inputs = {"x1": rng.uniform(0, 2.6, SHAPE).astype(np.float32),
              "x2": rng.uniform(0, 5.2, [1, 2, 1, 1]).astype(np.float32)}
    compiled = check_against_fp32(model, inputs, 10 * U * 7.65)
    add = compiled.model.node("add")
    assert add.rt_info["empty_input"] == 0
    assert add.rt_info["empty_input_rule"] == "a broadcast branch is full"
    assert add.inputs[0].node.name == "fq2" and add.inputs[1].node.name == "fq1"


def test_codes_not_from_a_fake_quantize_are_empty():
    # x1 -> FQ -> MaxPool: the MaxPool moves the dequantization, so branch 0's codes come from the
    # MaxPool, not from a FakeQuantize: branch 0 is empty.
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter([1, 2, 2, 2], name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    pooled = ops.max_pool(f1, kernel=[2, 2], strides=[2, 2], name="pool")
    f2 = ops.fake_quantize(x2, 0.0, 5.1, 0.0, 5.1, 256, name="fq2")
    model = refint8.Model(ops.add(pooled, f2, name="add"))
    rng = np.random.default_rng(5)
    inputs = {"x1": rng.uniform(0, 2.6, SHAPE).astype(np.float32),
              "x2": rng.uniform(0, 5.2, [1, 2, 2, 2]).astype(np.float32)}
    compiled = check_against_fp32(model, inputs, 10 * U * 7.65)
    add = compiled.model.node("add")
    assert add.type == "Int8Add" and add.rt_info["empty_input"] == 0
    assert add.rt_info["empty_input_rule"] == "codes not produced by a FakeQuantize are empty"
    assert add.inputs[1].node.name == "pool"


def test_branch_after_a_convolution_is_full():
    # Add(FQ(x2), FQ(conv(FQ(x1)) + bias)): neither broadcast nor shared, exactly one branch after
    # a Convolution: that branch (input 1) is full, so input 0 is empty (the default says 1).
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    biased = ops.add(conv(f1, 2, 2, "conv"), np.array([0.1, -0.2], np.float32).reshape(1, 2, 1, 1),
                     name="bias")
    fa = ops.fake_quantize(biased, -4.0, 4.0, -4.0, 4.0, 256, name="fqa")
    fb = ops.fake_quantize(x2, 0.0, 5.1, 0.0, 5.1, 256, name="fqb")
    model = refint8.Model(ops.add(fb, fa, name="add"))
    compiled, _ = compile_both(model)
    add = compiled.model.node("add")
    assert add.type == "Int8Add" and add.rt_info["empty_input"] == 0
    assert add.rt_info["empty_input_rule"] == "the branch after a Convolution/MatMul is full"
    assert "fp32_reason" not in add.rt_info
    table = rows(compiled)
    assert table["bias"].status.value == "NOT_RUN"  # the bias Add fused into the convolution
    assert table["conv"].exec_type.endswith("_I8") and table["add"].exec_type.endswith("_I8")


# -- not transformed ---------------------------------------------------------------------------------


def test_only_one_input_quantized_stays_fp32():
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    model = refint8.Model(ops.add(f1, x2, name="add"))
    rng = np.random.default_rng(6)
    inputs = {"x1": rng.uniform(0, 2.6, SHAPE).astype(np.float32),
              "x2": rng.uniform(-1, 1, SHAPE).astype(np.float32)}
    compiled = check_against_fp32(model, inputs, 10 * U * 4.0)
    add = compiled.model.node("add")
    assert add.type == "Add"
    assert add.rt_info["fp32_reason"] == "only one input is quantized (the other input is float32 data)"
    assert rows(compiled)["add"].exec_type.endswith("_FP32")


def test_neither_input_quantized_stays_fp32():
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    model = refint8.Model({"a": ops.add(x1, x2, name="add"), "c": conv(f1, 2, 2, "conv")})
    compiled = refint8.compile(model, backend="reference")
    assert compiled.model.node("add").rt_info["fp32_reason"].startswith("neither input is dequantized")


def test_constant_operand_is_not_a_two_branch_add():
    x1 = ops.parameter(SHAPE, name="x1")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    model = refint8.Model(ops.add(f1, np.float32(0.5), name="add"))
    rng = np.random.default_rng(7)
    inputs = {"x1": rng.uniform(0, 2.6, SHAPE).astype(np.float32)}
    compiled = check_against_fp32(model, inputs, 10 * U * 4.0)
    assert not any(n.type == "Int8Add" for n in compiled.model.nodes)
    # the Add (kept float32) fuses after the leftover dequantization
    assert rows(compiled)["add"].status.value == "NOT_RUN"


def test_bias_add_is_fused_into_the_convolution_without_reason():
    x1 = ops.parameter(SHAPE, name="x1")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    model = refint8.Model(ops.add(conv(f1, 2, 2, "conv"), np.float32(0.25), name="bias"))
    compiled = refint8.compile(model, backend="reference")
    assert [n.type for n in compiled.model.nodes if n.type not in ("Constant", "Parameter", "FakeQuantize")] \
        == ["Int8Convolution"]
    assert rows(compiled)["bias"].status.value == "NOT_RUN"


def test_signed_branches():
    # both i8 (symmetric ranges, no zero point): r = s1/s2, h = 0.
    model = two_branch_model(SHAPE, SHAPE, (-1.28, 1.27), (-2.56, 2.54))
    rng = np.random.default_rng(8)
    inputs = {"x1": rng.uniform(-1.4, 1.4, SHAPE).astype(np.float32),
              "x2": rng.uniform(-2.7, 2.7, SHAPE).astype(np.float32)}
    compiled = check_against_fp32(model, inputs, 10 * U * (0.01 * 128 + 0.02 * 128))
    add = compiled.model.node("add")
    assert add.inputs[0].dtype == np.int8 and add.inputs[1].dtype == np.int8

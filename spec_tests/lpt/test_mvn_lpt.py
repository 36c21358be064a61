"""LPT MVN (refint8.lpt.mvn): MVN(s*q) -> Int8MVN(q) -> Multiply(sign(s)) or Multiply(s).

Bounds (derived in refint8/lpt/mvn.py), for normalize_variance with var(x) >> eps:
``|Δ| <= 2^-24 * (|y| + 4 * max|q| / std(q) * (1 + |y|)) + |y| * eps / (2 * var(x))``; the tests
add the difference between FakeQuantize's output formula and ``s*q`` (two roundings of |x|, which
the ``4 * max|q| / std(q)`` term already covers with room: it is counted as a further
``4 * max|q| / std(q)``). A requantizing FakeQuantize may move by one step, at near-ties only.
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops
from refint8.ops.mvn import mvn as fp32_mvn

U = 2.0**-24
SHAPE = [1, 2, 4, 4]


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def rows(compiled):
    return {r.name: r for r in compiled.perf_counts()}


def negative_scale_fq(x, name="fq"):
    """FQ [0, 2.55] -> [0, -2.55]: ol = 0, so u8 without zero point; s = (oh - ol)/255 = -0.01."""
    return ops.fake_quantize(x, 0.0, 2.55, 0.0, -2.55, 256, name=name)


def normalized_bound(q, y, axes):
    """The module's bound for the normalize_variance case, per element (eps term negligible)."""
    q = q.astype(np.float64)
    std = np.sqrt(q.var(axis=axes, keepdims=True))
    ratio = np.abs(q).max(axis=axes, keepdims=True) / std
    return U * (np.abs(y) + 8 * ratio * (1 + np.abs(y)))


def test_hand_worked_negative_scale_flips_the_sign():
    # x = [0, 1, 2, 1] -> q = x / 0.01 = [0, 100, 200, 100], values s*q = [0, -1, -2, -1].
    # codes: mean 100, d = [-100, 0, 100, 0], var = (10000 + 10000)/4 = 5000,
    #        MVN(q) = d / sqrt(5000) = [-1.41421, 0, 1.41421, 0]; times sign(-0.01) = -1:
    #        [1.41421, 0, -1.41421, 0].
    # values: mean -1, d = [1, 0, -1, 0], var = 0.5, MVN = d / sqrt(0.5) = [1.41421, 0, -1.41421, 0].
    x = ops.parameter([1, 1, 2, 2], name="x")
    model = refint8.Model(ops.mvn(negative_scale_fq(x), axes=[2, 3], normalize_variance=True, name="mvn"))
    compiled, reference = compile_both(model)
    node = compiled.model.node("mvn")
    assert node.type == "Int8MVN" and node.inputs[0].dtype == np.uint8
    first = node.attrs["post_ops"][0]
    assert type(first).__name__ == "Multiply" and np.all(first.operand == np.float32(-1))
    data = np.array([0, 1, 2, 1], np.float32).reshape(1, 1, 2, 2)
    got = compiled.infer({"x": data})["mvn"]
    want = reference.infer({"x": data})["mvn"]
    r2 = np.sqrt(2.0)
    expected = np.array([r2, 0, -r2, 0]).reshape(1, 1, 2, 2)
    # |y| <= 1.5, max|q|/std(q) = 200/70.71 = 2.83: U*(1.5 + 8*2.83*2.5) = 58 U < 64 U
    assert np.max(np.abs(got - expected)) <= 64 * U
    assert np.max(np.abs(got - want)) <= 64 * U
    table = rows(compiled)
    assert table["mvn"].exec_type.endswith("_I8") and table["mvn"].layer_type == "MVN"
    assert table["mvn/dequantize/multiply"].status.value == "NOT_RUN"


def random_input(seed, low=0.0, high=2.6, shape=SHAPE):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def test_negative_scale_random_within_bound():
    x = ops.parameter(SHAPE, name="x")
    fq = negative_scale_fq(x)
    model = refint8.Model(ops.mvn(fq, axes=[2, 3], name="mvn"))
    compiled, reference = compile_both(model)
    codes = refint8.compile(refint8.Model(ops.fake_quantize(x, 0.0, 2.55, 0.0, 255.0, 256)),
                            backend="reference", lpt=False)
    for seed in range(5):
        data = random_input(seed)
        got, want = compiled.infer({"x": data})["mvn"], reference.infer({"x": data})["mvn"]
        q = next(iter(codes.infer({"x": data}).values()))
        assert np.all(np.abs(got - want) <= normalized_bound(q, want, (2, 3)))


def test_requantized_after_mvn_at_most_one_step_at_ties():
    # FQ -> MVN -> FQ(model output): the output FakeQuantize fuses into the Int8MVN as a post-op.
    x = ops.parameter(SHAPE, name="x")
    y = ops.mvn(negative_scale_fq(x), axes=[2, 3], name="mvn")
    model = refint8.Model({"y": ops.fake_quantize(y, -3.0, 3.0, -3.0, 3.0, 256, name="fq_out")})
    compiled, reference = compile_both(model)
    pre = refint8.compile(refint8.Model({"y": y}), backend="reference", lpt=False)
    node = compiled.model.node("mvn")
    assert [type(p).__name__ for p in node.attrs["post_ops"]] == ["Multiply", "FakeQuantize"]
    assert rows(compiled)["fq_out"].status.value == "NOT_RUN"
    step = 6.0 / 255
    for seed in range(5):
        data = random_input(seed)
        got, want = compiled.infer({"x": data})["y"], reference.infer({"x": data})["y"]
        diff = np.abs(got.astype(np.float64) - want)
        assert np.all(diff <= step + 8 * U * 3.0)
        flipped = diff > step / 2
        position = (pre.infer({"x": data})["y"][flipped].astype(np.float64) + 3.0) / step
        assert np.all(np.abs(position - np.floor(position) - 0.5) * step <= 1e-5)


def test_requantized_then_conv_runs_int8():
    x = ops.parameter(SHAPE, name="x")
    y = ops.mvn(ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq"), axes=[1, 2, 3], name="mvn")
    # u8 with zero point 128 (a signed range, forced to u8 by the convolution)
    fq = ops.fake_quantize(y, -2.56, 2.54, -2.56, 2.54, 256, name="fq2")
    w = np.random.default_rng(0).normal(size=(2, 2, 1, 1)).astype(np.float32)
    wq = ops.fake_quantize(w, -2.0, 2.0, -2.0, 2.0, 255, name="wfq")
    c = ops.convolution(fq, wq, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                        dilations=[1, 1], name="conv")
    compiled = refint8.compile(refint8.Model(c), backend="reference")
    node = compiled.model.node("mvn")
    assert node.type == "Int8MVN"
    assert [type(p).__name__ for p in node.attrs["post_ops"]] == ["Multiply", "Quantize"]
    assert node.output_types[0].dtype == np.uint8
    table = rows(compiled)
    assert table["mvn"].exec_type.endswith("_I8") and table["conv"].exec_type.endswith("_I8")


def test_without_variance_normalization_keeps_the_per_channel_scale():
    # per-channel ranges [0, 2.55] and [0, 5.1]: s = [0.01, 0.02] along axis 1, reduced over (2, 3)
    x = ops.parameter(SHAPE, name="x")
    high = np.array([2.55, 5.1], np.float32).reshape(1, 2, 1, 1)
    fq = ops.fake_quantize(x, 0.0, high, 0.0, high, 256, name="fq")
    model = refint8.Model(ops.mvn(fq, axes=[2, 3], normalize_variance=False, name="mvn"))
    compiled, reference = compile_both(model)
    node = compiled.model.node("mvn")
    assert node.type == "Int8MVN" and node.attrs["normalize_variance"] is False
    first = node.attrs["post_ops"][0]
    np.testing.assert_array_equal(first.operand.reshape(-1), (high / 255).reshape(-1))
    for seed in range(3):
        data = random_input(seed, high=5.2)
        got, want = compiled.infer({"x": data})["mvn"], reference.infer({"x": data})["mvn"]
        # y = s * (q - mean(q)): 2^-24 * (|y| + 2*max|x|) + 2^-24*|y|, plus two roundings of |x|
        # in FakeQuantize's formula: <= 2^-24 * (2*|y| + 4*5.1)
        assert np.all(np.abs(got - want) <= U * (2 * np.abs(want) + 4 * 5.1))


def test_eps_is_compared_with_the_variance_of_the_codes():
    # The documented caveat: int8 MVN equals fp32 MVN of x = s*q with eps replaced by s^2 * eps.
    # A large eps (1e-3) makes the fp32 graph shrink a low-variance group; the int8 layer barely.
    x = ops.parameter([1, 1, 1, 4], name="x")
    fq = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq")  # s = 0.01
    model = refint8.Model(ops.mvn(fq, axes=[3], eps=1e-3, name="mvn"))
    compiled, reference = compile_both(model)
    data = np.array([1.0, 1.01, 1.0, 1.01], np.float32).reshape(1, 1, 1, 4)  # q = [100, 101, 100, 101]
    got = compiled.infer({"x": data})["mvn"]
    want = reference.infer({"x": data})["mvn"]
    # codes: d = ±0.5, var(q) = 0.25: got = ±0.5/sqrt(0.25 + 1e-3) = ±0.99800
    # values: d = ±0.005, var(x) = 2.5e-5: want = ±0.005/sqrt(2.5e-5 + 1e-3) = ±0.15617
    assert abs(abs(float(got[0, 0, 0, 0])) - 0.5 / np.sqrt(0.25 + 1e-3)) <= 1e-6
    assert abs(abs(float(want[0, 0, 0, 0])) - 0.005 / np.sqrt(2.5e-5 + 1e-3)) <= 1e-5
    s = np.float64(np.float32(0.01))
    rescaled = fp32_mvn(data, axes=[3], eps=float(np.float32(1e-3)) * s * s)
    assert np.max(np.abs(got - rescaled)) <= 1e-5


# -- not transformed ---------------------------------------------------------------------------------


def reason_of(model):
    node = refint8.compile(model, backend="reference").model.node("mvn")
    assert node.type == "MVN"
    return node.rt_info["fp32_reason"]


def test_zero_point_stays_fp32():
    x = ops.parameter(SHAPE, name="x")
    fq = ops.fake_quantize(x, 0.5, 3.05, 0.5, 3.05, 256, name="fq")  # u8 with zero point -50
    assert "zero point" in reason_of(refint8.Model(ops.mvn(fq, axes=[2, 3], name="mvn")))


def test_channel_axis_with_per_channel_scales_stays_fp32():
    x = ops.parameter(SHAPE, name="x")
    high = np.array([2.55, 5.1], np.float32).reshape(1, 2, 1, 1)
    fq = ops.fake_quantize(x, 0.0, high, 0.0, high, 256, name="fq")
    reason = reason_of(refint8.Model(ops.mvn(fq, axes=[1, 2, 3], name="mvn")))
    assert reason == "it reduces over the channel axis with per-channel scales"


def test_channel_axis_without_all_spatial_axes_stays_fp32():
    x = ops.parameter(SHAPE, name="x")
    fq = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq")
    reason = reason_of(refint8.Model(ops.mvn(fq, axes=[1, 2], name="mvn")))
    assert reason == "it reduces over the channel axis but not over every spatial axis"


def test_input_not_quantized_stays_fp32():
    x = ops.parameter(SHAPE, name="x")
    fq = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq")
    model = refint8.Model({"m": ops.mvn(x, axes=[2, 3], name="mvn"), "r": ops.relu(fq)})
    compiled = refint8.compile(model, backend="reference")
    assert compiled.model.node("mvn").rt_info["fp32_reason"].startswith("its input is not dequantized")

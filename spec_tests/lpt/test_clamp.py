"""LPT Clamp (refint8.lpt.clamp): the scale moves after the Clamp, the bounds are rescaled.

Each test builds a FakeQuantize graph with refint8.opset, compiles it with LPT (reference backend)
and without (``lpt=False``), and checks the rewritten Clamp, which nodes run int8, the FP32
reasons and the numbers.

Bound (module docstring): ``clamp(s*d, lo, hi)`` and ``s * clamp(d, lo/s, hi/s)`` agree exactly
except within a few ulps of a bound, where they differ by at most ``2^-21 * max(|lo|, |hi|)``;
the FakeQuantize graph's own output formula adds float32 rounding of the value (``2^-22 * |v|``).
"""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.lpt import fake_quantize_decomposition
from refint8.lpt.clamp import bounds_for_codes
from refint8.lpt.clamp import transform as clamp_transform
from refint8.lpt.context import LptContext

SHAPE = [1, 2, 4, 4]


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def exec_types(compiled):
    return {r.name: r.exec_type for r in compiled.perf_counts()}


def clamp_bound(lo, hi, values):
    return 2.0**-21 * max(abs(lo), abs(hi)) + 2.0**-22 * np.abs(values)


def rewritten_clamp(compiled):
    """The Clamp after LPT: fused into the Dequantize that replaced the leftover Convert."""
    for node in compiled.model.nodes:
        if node.type == "Dequantize":
            kinds = [type(op).__name__ for op in node.attrs["post_ops"]]
            if "Clamp" in kinds:
                return node, kinds
    raise AssertionError("no Dequantize with a Clamp post-op")


def test_bounds_for_codes_positive_and_negative_scale():
    assert bounds_for_codes(0.0, 6.0, 0.02) == pytest.approx((0.0, 300.0), rel=1e-6)
    # s < 0: clamp(-0.01*d, 0.5, 2.0) = -0.01 * clamp(d, 2.0/-0.01, 0.5/-0.01): bounds swap
    assert bounds_for_codes(0.5, 2.0, -0.01) == pytest.approx((-200.0, -50.0), rel=1e-6)


def test_standalone_relu6_before_conv_keeps_conv_fp32():
    """FQ -> ReLU6 -> Convolution: the FakeQuantize is decomposed (Clamp accepts u8/i8), the Clamp
    takes the scale after it and outputs float; the Convolution sees no dequantization chain and
    stays FP32, as in OpenVINO (observed ``brgconv_avx512_f32`` after a Clamp)."""
    x = ops.parameter(SHAPE, name="x")
    # [-2, 8] is a signed interval: i8 (the Clamp accepts it) with s = 10/255 and
    # zp = (-128*8 - 127*(-2)) / 10 = -77
    f = ops.fake_quantize(x, -2.0, 8.0, -2.0, 8.0, 256, name="fq")
    r = ops.relu6(f, name="relu6")
    w = np.random.default_rng(0).normal(size=(3, 2, 1, 1)).astype(np.float32)
    wq = ops.fake_quantize(w, -3.0, 3.0, -3.0, 3.0, 255, name="wfq")
    model = refint8.Model({"r": r, "y": ops.convolution(r, wq, name="conv")})
    compiled, reference = compile_both(model)

    assert compiled.model.node("fq").attrs["output_type"] == "i8"
    deq, kinds = rewritten_clamp(compiled)
    assert kinds == ["Subtract", "Clamp", "Multiply"]
    sub, clamp, mul = deq.attrs["post_ops"]
    s = np.float32(10.0 / 255)
    assert float(sub.operand) == pytest.approx(-77.0, abs=1e-4)
    assert (clamp.low, clamp.high) == pytest.approx((0.0, 6.0 / float(s)), rel=1e-7)  # 153
    assert mul.operand == s
    conv = compiled.model.node("conv")
    assert conv.type == "Convolution"
    assert "the int8 chain ends at Clamp 'relu6'" in conv.rt_info["fp32_reason"]
    assert exec_types(compiled)["conv"].endswith("_FP32")

    rng = np.random.default_rng(1)
    xs = rng.uniform(-2.5, 8.5, SHAPE).astype(np.float32)
    xs.reshape(-1)[:6] = [-2.0, 0.0, 6.0, 8.0, 6.0 - 1e-6, 5.99]  # around the bounds
    got, want = compiled.infer({"x": xs}), reference.infer({"x": xs})
    assert np.all(np.abs(got["r"] - want["r"]) <= clamp_bound(0.0, 6.0, want["r"]))
    assert np.all(got["r"][want["r"] == 0] == 0)                 # clamped low: exactly 0
    assert np.allclose(got["r"][want["r"] == 6], 6, rtol=2**-21)  # clamped high: 6 within ulps
    np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-5)


def test_negative_scale_swaps_the_bounds():
    """FQ with output range [2.55, 0] (decreasing): u8 codes with s = -0.01 and zp = 255, so
    the value is (q - 255) * -0.01. Clamp(0.5, 2.0) becomes Clamp(-200, -50) on q - 255."""
    x = ops.parameter(SHAPE, name="x")
    f = ops.fake_quantize(x, 0.0, 2.55, 2.55, 0.0, 256, name="fq")
    model = refint8.Model({"r": ops.clamp(f, 0.5, 2.0, name="clamp")})
    compiled, reference = compile_both(model)
    deq, kinds = rewritten_clamp(compiled)
    assert kinds == ["Subtract", "Clamp", "Multiply"]
    sub, clamp, mul = deq.attrs["post_ops"]
    assert float(sub.operand) == pytest.approx(255.0)
    assert float(mul.operand) == pytest.approx(-0.01)
    assert (clamp.low, clamp.high) == pytest.approx((-200.0, -50.0), rel=1e-6)
    # hand-worked: x = 0 -> q = 0 -> d = -255 -> value 2.55 -> clamped 2.0;
    #              new: clamp(-255, -200, -50) = -200 -> * -0.01 = 2.0
    xs = np.linspace(-0.2, 2.7, int(np.prod(SHAPE)), dtype=np.float32).reshape(SHAPE)
    xs.reshape(-1)[0] = 0.0
    got, want = compiled.infer({"x": xs})["r"], reference.infer({"x": xs})["r"]
    assert got.reshape(-1)[0] == pytest.approx(2.0, rel=1e-6)
    assert np.all(np.abs(got - want) <= clamp_bound(0.5, 2.0, want))
    assert got.min() == pytest.approx(0.5, rel=1e-6) and got.max() == pytest.approx(2.0, rel=1e-6)


def test_per_channel_scale_declines():
    x = ops.parameter(SHAPE, name="x")
    high = np.array([2.0, 4.0], np.float32).reshape(1, 2, 1, 1)
    f = ops.fake_quantize(x, 0.0, high, 0.0, high, 256, name="fq")
    model = refint8.Model({"r": ops.relu6(f, name="relu6")})
    ctx = LptContext(model)
    fake_quantize_decomposition.transform(ctx, model.node("fq"))
    assert clamp_transform(ctx, model.node("relu6")) is False
    assert "per-channel dequantization scales" in model.node("relu6").rt_info["fp32_reason"]
    # compiled: the Clamp keeps its bounds and follows the dequantization (fused into it)
    compiled, reference = compile_both(refint8.Model({"r": ops.relu6(f, name="relu6")}))
    deq, kinds = rewritten_clamp(compiled)
    assert kinds == ["Multiply", "Clamp"]
    assert (deq.attrs["post_ops"][1].low, deq.attrs["post_ops"][1].high) == (0.0, 6.0)
    xs = np.random.default_rng(0).uniform(-1, 5, SHAPE).astype(np.float32)
    np.testing.assert_allclose(compiled.infer({"x": xs})["r"], reference.infer({"x": xs})["r"],
                               rtol=0, atol=1e-6)


def test_requantized_after_clamp_stays_int8():
    """FQ -> ReLU6 -> FQ -> Convolution: the second FakeQuantize requantizes, fused as a Quantize
    post-op into the Dequantize that carries the Clamp: the Convolution runs int8."""
    x = ops.parameter(SHAPE, name="x")
    f = ops.fake_quantize(x, -2.0, 8.0, -2.0, 8.0, 256, name="fq")
    r = ops.relu6(f, name="relu6")
    g = ops.fake_quantize(r, 0.0, 6.0, 0.0, 6.0, 256, name="fq2")
    w = np.random.default_rng(0).normal(size=(3, 2, 1, 1)).astype(np.float32)
    wq = ops.fake_quantize(w, -3.0, 3.0, -3.0, 3.0, 255, name="wfq")
    compiled, reference = compile_both(refint8.Model({"y": ops.convolution(g, wq, name="conv")}))
    assert compiled.model.node("conv").type == "Int8Convolution"
    deq, kinds = rewritten_clamp(compiled)
    assert kinds == ["Subtract", "Clamp", "Multiply", "Quantize"]
    xs = np.random.default_rng(4).uniform(-2.5, 8.5, SHAPE).astype(np.float32)
    got, want = compiled.infer({"x": xs})["y"], reference.infer({"x": xs})["y"]
    # Requantization to step 6/255 may flip one step only at ties; the codes of fq (step 10/255)
    # land on a tie of fq2 only where 10*q/6 - 51*10/6 is k + 1/2, which this input avoids.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_bias_relu6_fq_is_fused():
    """Convolution -> bias -> ReLU6 -> FakeQuantize -> Convolution: the Clamp reads the conv's
    float output (no dequantization chain), so this module leaves it; the cleanup fuses it."""
    x = ops.parameter(SHAPE, name="x")
    f = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq")
    rng = np.random.default_rng(0)
    w1 = ops.fake_quantize(rng.normal(size=(2, 2, 1, 1)).astype(np.float32), -3.0, 3.0, -3.0, 3.0, 255,
                           name="w1")
    y = ops.add(ops.convolution(f, w1, name="conv1"), rng.normal(size=(1, 2, 1, 1)).astype(np.float32),
                name="bias")
    y = ops.fake_quantize(ops.relu6(y, name="relu6"), 0.0, 6.0, 0.0, 6.0, 256, name="fq2")
    w2 = ops.fake_quantize(rng.normal(size=(3, 2, 1, 1)).astype(np.float32), -3.0, 3.0, -3.0, 3.0, 255,
                           name="w2")
    compiled, _ = compile_both(refint8.Model({"y": ops.convolution(y, w2, name="conv2")}))
    types = exec_types(compiled)
    assert types["conv1"].endswith("_I8") and types["conv2"].endswith("_I8")
    rows = {r.name: r for r in compiled.perf_counts()}
    assert rows["relu6"].status.value == "NOT_RUN"
    assert "fp32_reason" not in compiled.model.node("conv1").rt_info


def test_scale_one_has_no_multiply_and_keeps_the_bounds():
    """FQ [0, 255]: u8 with scale 1, so no Multiply (OpenVINO would have a Multiply by 1): the
    Clamp keeps its bounds on the codes, and a Convolution after it names the Clamp."""
    x = ops.parameter(SHAPE, name="x")
    f = ops.fake_quantize(x, 0.0, 255.0, 0.0, 255.0, 256, name="fq")
    r = ops.clamp(f, 10.0, 200.0, name="clamp")
    w = np.random.default_rng(0).normal(size=(3, 2, 1, 1)).astype(np.float32)
    wq = ops.fake_quantize(w, -3.0, 3.0, -3.0, 3.0, 255, name="wfq")
    compiled, reference = compile_both(refint8.Model({"r": r, "y": ops.convolution(r, wq, name="conv")}))
    deq, kinds = rewritten_clamp(compiled)
    assert kinds == ["Clamp"]
    assert (deq.attrs["post_ops"][0].low, deq.attrs["post_ops"][0].high) == (10.0, 200.0)
    assert "the int8 chain ends at Clamp 'clamp'" in compiled.model.node("conv").rt_info["fp32_reason"]
    xs = np.random.default_rng(5).uniform(-5, 260, SHAPE).astype(np.float32)
    np.testing.assert_array_equal(compiled.infer({"x": xs})["r"], reference.infer({"x": xs})["r"])

"""LPT AvgPool (refint8.lpt.avg_pool): Int8AvgPool with pad_value = zero point, when int8 follows.

Each test builds a FakeQuantize graph with refint8.opset, compiles it with LPT (reference backend)
and without (``lpt=False``), and checks which nodes run int8, the FP32 reasons and the numbers.

Bound (module docstring): the int8 average is the exact average of the codes rounded half to even,
so the dequantized result differs from the FakeQuantize graph's float average by at most
``|s|/2`` (plus float32 rounding, ``SLACK``), exactly ``|s|/2`` at ties; through a Convolution by
at most ``sum_k |w[o, k]| * |s|/2`` per output channel.
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops

SLACK = 1e-6


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def exec_types(compiled):
    return {r.name: r.exec_type for r in compiled.perf_counts()}


def folded_weights(channels_out, channels_in, group=1, seed=0):
    w = np.random.default_rng(seed).normal(size=(channels_out, channels_in // group, 1, 1)).astype(np.float32)
    limit = float(np.abs(w).max())
    return (ops.fake_quantize(w, -limit, limit, -limit, limit, 255, name="wfq"),
            refint8.fake_quantize(w, -limit, limit, -limit, limit, 255))


def pool_conv_model(fq_range, shape, group=1, **pool):
    lo, hi = fq_range
    x = ops.parameter(shape, name="x")
    f = ops.fake_quantize(x, lo, hi, lo, hi, 256, name="fq")
    p = ops.avg_pool(f, name="pool", **pool)
    wq, w = folded_weights(3 if group == 1 else shape[1], shape[1], group)
    return refint8.Model({"p": p, "y": ops.convolution(p, wq, group=group, name="conv")}), w


def test_hand_worked_ties_round_half_to_even():
    # FQ [0, 2.55]: u8, s = 0.01, no zero point. Codes (x = code * 0.01), 2x2 windows, stride 2:
    #   window sums 2, 6, 10, 14 -> averages 0.5, 1.5, 2.5, 3.5 -> codes 0, 2, 2, 4 (half to even)
    #   dequantized 0, 0.02, 0.02, 0.04 against the float averages 0.005, 0.015, 0.025, 0.035:
    #   every one off by exactly s/2 = 0.005, the bound.
    codes = np.array([[0, 1, 1, 1, 2, 2, 3, 3],
                      [0, 1, 1, 3, 3, 3, 4, 4]], np.float32)
    shape = [1, 1, 2, 8]
    model, _ = pool_conv_model((0.0, 2.55), shape, kernel=[2, 2], strides=[2, 2])
    compiled, reference = compile_both(model)
    pool = compiled.model.node("pool")
    assert pool.type == "Int8AvgPool" and pool.attrs["pad_value"] == 0
    assert compiled.model.node("conv").type == "Int8Convolution"
    types = exec_types(compiled)
    assert types["pool"].endswith("_I8") and types["conv"].endswith("_I8")
    assert {r.name: r.layer_type for r in compiled.perf_counts()}["pool"] == "AvgPool"
    x = {"x": (codes * np.float32(0.01)).reshape(shape)}
    got, want = compiled.infer(x)["p"], reference.infer(x)["p"]
    np.testing.assert_allclose(got.reshape(-1), [0.0, 0.02, 0.02, 0.04], atol=SLACK)
    np.testing.assert_allclose(want.reshape(-1), [0.005, 0.015, 0.025, 0.035], atol=SLACK)
    np.testing.assert_allclose(np.abs(got - want), 0.005, atol=SLACK)


def check_bound(compiled, reference, x, scale, w):
    got, want = compiled.infer(x), reference.infer(x)
    assert np.abs(got["p"] - want["p"]).max() <= abs(scale) / 2 + SLACK
    per_channel = np.abs(w).sum(axis=(1, 2, 3)).reshape(1, -1, 1, 1) * abs(scale) / 2
    assert np.all(np.abs(got["y"] - want["y"]) <= per_channel + 1e-5)
    return got, want


def test_zero_point_pads_with_the_zero_point_code():
    # FQ [-1.28, 1.27] feeding (through AvgPool) a Convolution, whose port 0 takes only u8:
    # u8 with s = 0.01 and zero point 128. Include-pad 3x3 average: padded positions are the float
    # value 0 = code 128, so pad_value = 128.
    shape = [1, 2, 5, 5]
    model, w = pool_conv_model((-1.28, 1.27), shape, kernel=[3, 3], strides=[1, 1],
                               pads_begin=[1, 1], pads_end=[1, 1], exclude_pad=False)
    compiled, reference = compile_both(model)
    pool = compiled.model.node("pool")
    assert pool.type == "Int8AvgPool" and pool.attrs["pad_value"] == 128
    assert compiled.model.node("conv").attrs["input_zero_point"] == (128,)
    x = {"x": np.random.default_rng(0).uniform(-1.4, 1.4, shape).astype(np.float32)}
    got, want = check_bound(compiled, reference, x, 0.01, w)
    assert np.abs(got["p"] - want["p"]).max() > 1e-3   # really rounded


def test_exclude_pad_and_auto_pad_are_resolved():
    shape = [1, 2, 5, 5]
    model, w = pool_conv_model((-1.28, 1.27), shape, kernel=[2, 2], strides=[2, 2],
                               auto_pad="same_upper", exclude_pad=True)
    compiled, reference = compile_both(model)
    pool = compiled.model.node("pool")
    assert pool.type == "Int8AvgPool"
    assert (tuple(pool.attrs["pads_begin"]), tuple(pool.attrs["pads_end"])) == ((0, 0), (1, 1))
    x = {"x": np.random.default_rng(1).uniform(-1.4, 1.4, shape).astype(np.float32)}
    check_bound(compiled, reference, x, 0.01, w)


def test_no_int8_layer_after_it_keeps_the_exact_average():
    """FQ -> AvgPool -> FQ -> Convolution: the consumer is a FakeQuantize, so OpenVINO does not
    mark the AvgPool precision-preserved and averages in float; so does refint8 (FP32, on the
    dequantized values: equal to OpenVINO's average of the codes up to float32 rounding)."""
    shape = [1, 2, 4, 4]
    x = ops.parameter(shape, name="x")
    f = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq")
    p = ops.avg_pool(f, kernel=[2, 2], strides=[2, 2], name="pool")
    g = ops.fake_quantize(p, 0.0, 2.55, 0.0, 2.55, 256, name="fq2")
    wq, _ = folded_weights(3, 2)
    compiled, reference = compile_both(refint8.Model({"p": p, "y": ops.convolution(g, wq, name="conv")}))
    pool = compiled.model.node("pool")
    assert pool.type == "AvgPool"
    assert pool.rt_info["fp32_reason"].startswith("no int8 layer follows it")
    assert "exact average in float" in pool.rt_info["fp32_reason"]
    assert compiled.model.node("fq").attrs["output_type"] == "u8"   # decomposed all the same
    assert compiled.model.node("conv").type == "Int8Convolution"
    xs = {"x": np.random.default_rng(2).uniform(-0.1, 2.6, shape).astype(np.float32)}
    np.testing.assert_allclose(compiled.infer(xs)["p"], reference.infer(xs)["p"], rtol=0, atol=SLACK)


def test_output_only_is_not_int8():
    x = ops.parameter([1, 1, 4, 4], name="x")
    f = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, 256, name="fq")
    compiled, _ = compile_both(refint8.Model({"p": ops.avg_pool(f, kernel=[2, 2], name="pool")}))
    assert compiled.model.node("pool").type == "AvgPool"
    assert "no layer after it can run in int8" in compiled.model.node("fq").rt_info["fp32_reason"]


def per_channel_model(**pool):
    # channel 0: [-0.5, 2.05] -> u8, s = 0.01, zp = 255*0.5/2.55 = 50; channel 1: [-1.28, 1.27] -> zp 128
    shape = [1, 2, 4, 4]
    lo = np.array([-0.5, -1.28], np.float32).reshape(1, 2, 1, 1)
    hi = np.array([2.05, 1.27], np.float32).reshape(1, 2, 1, 1)
    x = ops.parameter(shape, name="x")
    f = ops.fake_quantize(x, lo, hi, lo, hi, 256, name="fq")
    p = ops.avg_pool(f, name="pool", **pool)
    wq, w = folded_weights(2, 2, group=2)
    return refint8.Model({"p": p, "y": ops.convolution(p, wq, group=2, name="dw")}), w, shape


def test_per_channel_zero_point_without_counted_padding():
    model, w, shape = per_channel_model(kernel=[2, 2], strides=[2, 2])
    compiled, reference = compile_both(model)
    pool = compiled.model.node("pool")
    assert pool.type == "Int8AvgPool" and pool.attrs["pad_value"] == 0
    assert compiled.model.node("dw").attrs["input_zero_point"] == (50, 128)
    x = {"x": np.random.default_rng(3).uniform(-1.4, 2.1, shape).astype(np.float32)}
    check_bound(compiled, reference, x, 0.01, w)


def test_per_channel_zero_point_with_counted_padding_declines():
    model, _, _ = per_channel_model(kernel=[3, 3], pads_begin=[1, 1], pads_end=[1, 1], exclude_pad=False)
    compiled, _ = compile_both(model)
    assert "per-channel zero points with counted padding" in compiled.model.node("pool").rt_info["fp32_reason"]


def test_window_past_the_input_declines():
    # W = 5, kernel 1, stride 3, ceil: windows at 0, 3, 6; the last lies past the input (float NaN).
    model, _ = pool_conv_model((0.0, 2.55), [1, 1, 1, 5], kernel=[1, 1], strides=[1, 3],
                               rounding_type="ceil")
    compiled, _ = compile_both(model)
    assert "entirely past the input" in compiled.model.node("pool").rt_info["fp32_reason"]

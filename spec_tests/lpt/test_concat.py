"""LPT Concat (refint8.lpt.concat): Concat of the codes, concatenated dequantization constants.

Each test builds a FakeQuantize graph with refint8.opset, compiles it with LPT (reference backend)
and without (``lpt=False``), and checks the Concat's precision, the concatenated constants, the
recorded FP32 reasons and the numbers. The rewrite is exact (same float32 operations on the same
operands): the tests allow only float32 rounding of the FakeQuantize output formula (``SLACK``).

The Concats here are followed by a requantizing FakeQuantize and then a Convolution: a FakeQuantize
accepts u8 and i8 and has no per-tensor restriction, so no interval alignment happens and each
input keeps its own scale (see test_interval_alignment.py for the per-tensor case).
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops

SHAPE = [1, 2, 3, 3]
SLACK = 1e-6


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def exec_types(compiled):
    return {r.name: r.exec_type for r in compiled.perf_counts()}


def tail(c, channels):
    """Concat -> FakeQuantize [0, 4] -> Convolution: a consumer accepting u8/i8 per channel."""
    r = ops.fake_quantize(c, 0.0, 4.0, 0.0, 4.0, 256, name="requant")
    w = np.random.default_rng(0).normal(size=(2, channels, 1, 1)).astype(np.float32)
    wq = ops.fake_quantize(w, -3.0, 3.0, -3.0, 3.0, 255, name="wfq")
    return ops.convolution(r, wq, name="conv")


def model_of(ranges, axis=1, shapes=None):
    shapes = shapes or [SHAPE] * len(ranges)
    fqs = []
    for i, ((lo, hi), shape) in enumerate(zip(ranges, shapes)):
        x = ops.parameter(shape, name=f"x{i}")
        fqs.append(ops.fake_quantize(x, lo, hi, lo, hi, 256, name=f"fq{i}"))
    c = ops.concat(fqs, axis=axis, name="concat")
    channels = c.shape[1]
    return refint8.Model({"c": c, "y": tail(c, channels)})


def inputs_for(ranges, shapes=None, seed=0):
    rng = np.random.default_rng(seed)
    shapes = shapes or [SHAPE] * len(ranges)
    return {f"x{i}": rng.uniform(np.min(lo) - 0.2, np.max(hi) + 0.2, shape).astype(np.float32)
            for i, ((lo, hi), shape) in enumerate(zip(ranges, shapes))}


def dequantize_post_ops(compiled, output="c"):
    node = compiled.model.outputs[output].node
    assert node.type == "Dequantize" and node.inputs[0].node.name == "concat"
    return {type(op).__name__: op.operand for op in node.attrs["post_ops"]}


def test_scales_concatenate_along_the_axis_exact():
    # [0, 2.55] -> u8, s = 0.01;  [0, 1.275] -> u8, s = 0.005; no zero points
    ranges = [(0.0, 2.55), (0.0, 1.275)]
    compiled, reference = compile_both(model_of(ranges))
    concat = compiled.model.node("concat")
    assert [i.dtype for i in concat.inputs] == [np.dtype(np.uint8)] * 2
    assert exec_types(compiled)["concat"].endswith("_I8")
    ops_ = dequantize_post_ops(compiled)
    assert list(ops_) == ["Multiply"]
    np.testing.assert_allclose(ops_["Multiply"].reshape(-1), [0.01, 0.01, 0.005, 0.005], rtol=1e-6)
    assert ops_["Multiply"].shape == (1, 4, 1, 1)
    # the requantizing FakeQuantize folded the per-channel dequantization and reads the codes
    assert compiled.model.node("requant").inputs[0].node.name == "concat"
    assert exec_types(compiled)["conv"].endswith("_I8")
    x = inputs_for(ranges)
    np.testing.assert_allclose(compiled.infer(x)["c"], reference.infer(x)["c"], rtol=0, atol=SLACK)


def test_missing_zero_point_is_zero_and_missing_scale_is_one():
    # [0, 255]: u8 with scale 1 (no Multiply) and no zero point;
    # [0.5, 3.05]: u8 with scale 0.01 and zero point (0*3.05 - 255*0.5)/2.55 = -50.
    ranges = [(0.0, 255.0), (0.5, 3.05)]
    compiled, reference = compile_both(model_of(ranges))
    ops_ = dequantize_post_ops(compiled)
    assert list(ops_) == ["Subtract", "Multiply"]
    np.testing.assert_allclose(ops_["Subtract"].reshape(-1), [0, 0, -50, -50], atol=1e-4)
    np.testing.assert_allclose(ops_["Multiply"].reshape(-1), [1, 1, 0.01, 0.01], rtol=1e-6)
    x = inputs_for(ranges)
    np.testing.assert_allclose(compiled.infer(x)["c"], reference.infer(x)["c"], rtol=0, atol=1e-4)


def test_equal_constants_become_scalars():
    ranges = [(0.0, 2.55), (0.0, 2.55), (0.0, 2.55)]
    compiled, reference = compile_both(model_of(ranges))
    ops_ = dequantize_post_ops(compiled)
    assert ops_["Multiply"].shape == () and ops_["Multiply"] == np.float32(0.01)
    x = inputs_for(ranges)
    np.testing.assert_allclose(compiled.infer(x)["c"], reference.infer(x)["c"], rtol=0, atol=SLACK)


def test_per_channel_constants_along_the_axis_and_unequal_sizes():
    shapes = [[1, 2, 3, 3], [1, 1, 3, 3]]
    high = np.array([1.0, 2.0], np.float32).reshape(1, 2, 1, 1)
    x0, x1 = ops.parameter(shapes[0], name="x0"), ops.parameter(shapes[1], name="x1")
    f0 = ops.fake_quantize(x0, 0.0, high, 0.0, high, 256, name="fq0")
    f1 = ops.fake_quantize(x1, 0.0, 5.1, 0.0, 5.1, 256, name="fq1")
    c = ops.concat([f0, f1], axis=1, name="concat")
    compiled, reference = compile_both(refint8.Model({"c": c, "y": tail(c, 3)}))
    ops_ = dequantize_post_ops(compiled)
    np.testing.assert_allclose(ops_["Multiply"].reshape(-1), [1 / 255, 2 / 255, 0.02], rtol=1e-6)
    rng = np.random.default_rng(2)
    x = {"x0": rng.uniform(-0.2, 2.2, shapes[0]).astype(np.float32),
         "x1": rng.uniform(-0.2, 5.3, shapes[1]).astype(np.float32)}
    np.testing.assert_allclose(compiled.infer(x)["c"], reference.infer(x)["c"], rtol=0, atol=SLACK)


def test_concat_on_a_spatial_axis():
    ranges = [(0.0, 2.55), (0.0, 1.275)]
    compiled, reference = compile_both(model_of(ranges, axis=-1))
    ops_ = dequantize_post_ops(compiled)
    assert ops_["Multiply"].shape == (1, 1, 1, 6)
    x = inputs_for(ranges)
    np.testing.assert_allclose(compiled.infer(x)["c"], reference.infer(x)["c"], rtol=0, atol=SLACK)


def test_per_channel_constant_on_another_axis_declines():
    high = np.array([1.0, 2.0], np.float32).reshape(1, 2, 1, 1)
    x0, x1 = ops.parameter(SHAPE, name="x0"), ops.parameter(SHAPE, name="x1")
    f0 = ops.fake_quantize(x0, 0.0, high, 0.0, high, 256, name="fq0")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    c = ops.concat([f0, f1], axis=2, name="concat")
    compiled, reference = compile_both(refint8.Model({"c": c, "y": tail(c, 2)}))
    reason = compiled.model.node("concat").rt_info["fp32_reason"]
    assert "scale of input 0 varies along axis 1, not along the concat axis 2" in reason
    assert exec_types(compiled)["concat"].endswith("_FP32")
    x = inputs_for([(0.0, 2.0), (0.0, 2.55)])
    np.testing.assert_allclose(compiled.infer(x)["c"], reference.infer(x)["c"], rtol=0, atol=SLACK)


def test_different_precisions_decline():
    # [0, 2.55] prefers u8, [-1.28, 1.27] i8 (zero-point free); a FakeQuantize accepts both.
    compiled, _ = compile_both(model_of([(0.0, 2.55), (-1.28, 1.27)]))
    assert compiled.model.node("concat").rt_info["fp32_reason"] == \
        "its inputs have different low precisions (i8, u8)"


def test_float_input_declines_and_plain_float_concat_records_nothing():
    x0, x1 = ops.parameter(SHAPE, name="x0"), ops.parameter(SHAPE, name="x1")
    f0 = ops.fake_quantize(x0, 0.0, 2.55, 0.0, 2.55, 256, name="fq0")
    c = ops.concat([f0, ops.relu(x1, name="r")], axis=1, name="concat")
    plain = ops.concat([x0, x1], axis=1, name="plain")
    compiled, _ = compile_both(refint8.Model({"y": tail(c, 4), "p": plain}))
    assert compiled.model.node("concat").rt_info["fp32_reason"].startswith("input 1 ('r') is not dequantized")
    assert "fp32_reason" not in compiled.model.node("plain").rt_info

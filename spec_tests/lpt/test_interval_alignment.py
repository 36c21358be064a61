"""Interval alignment (refint8.lpt.interval_alignment): FakeQuantizes meeting at a Concat that feeds
a per-tensor port share one scale and zero point.

Each test builds a FakeQuantize graph with refint8.opset, compiles it with LPT (reference backend)
and without (``lpt=False``, the FakeQuantize graph), and checks the aligned FakeQuantizes, which
nodes run int8, the recorded FP32 reasons and the numbers.

Bound (derived in the module docstring): per element of an aligned member,
``|y' - y| <= s/2 + d/2 + max(|s*(round(lo') - zp) - ol|, |s*(round(hi') - zp) - oh|)``
(``interval_alignment.bound``); through a Convolution the difference is at most
``sum_k |w[o, k]| * bound`` per output channel. Float32 rounding adds a few ulps (``SLACK``).
"""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.lpt import interval_alignment as ia
from refint8.lpt.context import LptContext

SHAPE = [1, 2, 3, 3]
SLACK = 1e-5


def compile_both(model):
    return (refint8.compile(model, backend="reference"),
            refint8.compile(model, backend="reference", lpt=False))


def exec_types(compiled):
    return {r.name: r.exec_type for r in compiled.perf_counts()}


def weights(out_channels, in_channels, seed=0):
    return np.random.default_rng(seed).normal(size=(out_channels, in_channels, 1, 1)).astype(np.float32)


def conv(x, w, name):
    limit = np.abs(w).max()
    wq = ops.fake_quantize(w, -limit, limit, -limit, limit, 255, name=f"{name}/wfq")
    return ops.convolution(x, wq, name=name)


def range_of(compiled, name):
    node = compiled.model.node(name)
    return tuple(float(node.inputs[i].node.attrs["value"]) for i in (3, 4)), node.attrs["levels"]


def two_branch_model(range1, range2, levels=(256, 256), extra=None):
    """x1 -> FQ(range1) and x2 -> FQ(range2) -> Concat(axis 1) -> Convolution 4 -> 3 (output y);
    the Concat is also output c."""
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, *range1, *range1, levels[0], name="fq1")
    f2 = ops.fake_quantize(x2, *range2, *range2, levels[1], name="fq2")
    c = ops.concat([f1, f2], axis=1, name="concat")
    outputs = {"c": c, "y": conv(c, weights(3, 4), "conv")}
    if extra is not None:
        outputs["z"] = extra(f2)
    return refint8.Model(outputs)


def grid_inputs(range1, range2, seed=0):
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    def values(lo, hi):  # a grid over the range (both ends and the mid point included) plus noise
        grid = np.linspace(lo, hi, n).astype(np.float32)
        grid[1::3] += rng.uniform(-0.02, 0.02, grid[1::3].shape).astype(np.float32)
        return grid.reshape(SHAPE)
    return {"x1": values(*range1), "x2": values(*range2)}


# -- calculateLevels by hand ------------------------------------------------------------------------
#
# FQ1 [0, 2.55] and FQ2 [0, 1.275], both 256 levels, u8 (Convolution port 0) [0, 255]:
#   combined interval [0, 2.55], width 2.55
#   q_mul = 255 / 2.55 = 100,  s = 2.55 / 255 = 0.01,  q_sub = 0 - 0 * 0.01 = 0,  zp = round(0) = 0
#   FQ1: lo' = 0,  hi' = 2.55 * 100 = 255    -> codes [0, 255], levels 256 (unchanged)
#   FQ2: lo' = 0,  hi' = 1.275 * 100 = 127.5 -> roundf (half away from zero) 128
#        -> codes [0, 128], levels 129 (was 256): step 0.01 instead of 0.005, top value 1.28.
#   (float32: 1.275f = 1.27499997..., times 100 rounds to exactly 127.5f.)
# Bound for FQ2: s/2 + d/2 + max(|0 - 0|, |0.01 * 128 - 1.275|) = 0.005 + 0.0025 + 0.005 = 0.0125.


def test_calculate_levels_hand_worked():
    one = ia.calculate_levels(0, 255, 0.0, 2.55, 0.0, 2.55)
    two = ia.calculate_levels(0, 255, 0.0, 2.55, 0.0, 1.275)
    assert one.scale == two.scale == np.float32(0.01)
    assert one.zero_point == two.zero_point == 0
    assert (one.code_low, one.code_high, one.levels) == (0, 255, 256)
    assert two.high == np.float32(127.5)
    assert (two.code_low, two.code_high, two.levels) == (0, 128, 129)


def test_round_half_away_from_zero():
    assert [float(ia.round_half_away(np.float32(v))) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997)] \
        == [1.0, 2.0, 3.0, -1.0, -3.0, 0.0]


def test_calculate_levels_signed_hand_worked():
    # FQ1 [-1.28, 1.27] and FQ2 [0, 2.55] into a u8 port: combined [-1.28, 2.55], width 3.83
    #   s = 3.83/255 = 0.0150196..., q_mul = 255/3.83 = 66.5796..., q_sub = -1.28
    #   zp = round(1.28 * 66.5796) = round(85.2219) = 85
    #   FQ1: lo' = 0, hi' = 2.55 * 66.5796 = 169.778 -> [0, 170], 171 levels
    #   FQ2: lo' = 85.2219 -> 85, hi' = 3.83 * 66.5796 = 255 -> [85, 255], 171 levels
    a = ia.calculate_levels(0, 255, -1.28, 2.55, -1.28, 1.27)
    b = ia.calculate_levels(0, 255, -1.28, 2.55, 0.0, 2.55)
    assert a.zero_point == b.zero_point == 85
    assert a.scale == pytest.approx(3.83 / 255, rel=1e-6)
    assert (a.code_low, a.code_high, a.levels) == (0, 170, 171)
    assert (b.code_low, b.code_high, b.levels) == (85, 255, 171)
    assert b.low == pytest.approx(85.2219, abs=1e-3)


def test_degenerate_combined_interval_is_one_level():
    result = ia.calculate_levels(0, 255, 1.0, 1.0, 1.0, 1.0)
    assert (result.levels, float(result.scale), float(result.zero_point)) == (1, 1.0, 0.0)


# -- the graph ----------------------------------------------------------------------------------------


def test_hand_worked_concat_conv_is_aligned_and_int8():
    r1, r2 = (0.0, 2.55), (0.0, 1.275)
    model = two_branch_model(r1, r2)
    group = ia.find_group(LptContext(model), model.node("fq1"))
    assert [m.node.name for m in group.members] == ["fq1", "fq2"]
    assert ia.bound(group.members[1]) == pytest.approx(0.0125, abs=1e-7)
    compiled, reference = compile_both(model)  # compile lowers a copy: model is unchanged
    assert range_of(compiled, "fq1") == ((0.0, 255.0), 256)
    assert range_of(compiled, "fq2") == ((0.0, 128.0), 129)
    for name in ("fq1", "fq2"):
        node = compiled.model.node(name)
        assert node.attrs["output_type"] == "u8"
        assert "shared interval [0, 2.55]" in node.rt_info["interval_alignment"]
        # input ranges unchanged
        assert node.inputs[2].node.attrs["value"] == np.float32({"fq1": 2.55, "fq2": 1.275}[name])
    concat = compiled.model.node("concat")
    assert concat.type == "Concat" and concat.output_types[0].dtype == np.uint8
    assert compiled.model.node("conv").type == "Int8Convolution"
    types = exec_types(compiled)
    assert types["concat"].endswith("_I8") and types["conv"].endswith("_I8")
    # One scalar dequantization after the Concat: Multiply(0.01), no Subtract.
    deq = compiled.model.outputs["c"].node
    assert deq.type == "Dequantize" and deq.inputs[0].node is concat
    assert [type(op).__name__ for op in deq.attrs["post_ops"]] == ["Multiply"]
    assert deq.attrs["post_ops"][0].operand.shape == () and deq.attrs["post_ops"][0].operand == np.float32(0.01)

    inputs = grid_inputs(r1, r2)
    got, want = compiled.infer(inputs), reference.infer(inputs)
    # FQ1 spans the combined interval: reproduced exactly (up to float32 rounding).
    np.testing.assert_allclose(got["c"][:, :2], want["c"][:, :2], rtol=0, atol=SLACK)
    # FQ2: coarser step 0.01; within its bound 0.0125, and really coarser (not exact).
    err = np.abs(got["c"][:, 2:] - want["c"][:, 2:])
    assert err.max() <= 0.0125 + SLACK
    assert err.max() > 1e-3
    # top of FQ2's range: 1.28 aligned vs 1.275 in the FakeQuantize graph
    top = inputs["x2"] >= 1.275
    assert np.allclose(got["c"][:, 2:][top], 1.28) and np.allclose(want["c"][:, 2:][top], 1.275)
    # all aligned values are multiples of the shared step
    assert np.allclose(got["c"] / 0.01, np.rint(got["c"] / 0.01), atol=1e-3)
    # through the convolution: sum |w| * bound per output channel
    w = weights(3, 4)
    limit = np.abs(w).max()
    wq = refint8.fake_quantize(w, -limit, limit, -limit, limit, 255)
    conv_bound = np.abs(wq[:, 2:]).sum(axis=(1, 2, 3)).reshape(1, 3, 1, 1) * 0.0125
    assert np.all(np.abs(got["y"] - want["y"]) <= conv_bound + 1e-4)


def test_signed_and_unsigned_share_zero_point():
    r1, r2 = (-1.28, 1.27), (0.0, 2.55)
    model = two_branch_model(r1, r2)
    group = ia.find_group(LptContext(model), model.node("fq1"))
    assert isinstance(group, ia.Group)
    assert (group.precision, group.low, group.high) == ("u8", np.float32(-1.28), np.float32(2.55))
    compiled, reference = compile_both(two_branch_model(r1, r2))
    assert range_of(compiled, "fq1") == ((0.0, 170.0), 171)
    assert range_of(compiled, "fq2") == ((85.0, 255.0), 171)
    conv = compiled.model.node("conv")
    assert conv.type == "Int8Convolution" and conv.attrs["input_zero_point"] == (85,)
    inputs = grid_inputs(r1, r2, seed=3)
    got, want = compiled.infer(inputs), reference.infer(inputs)
    for member, channels in zip(group.members, (slice(0, 2), slice(2, 4))):
        assert np.abs(got["c"][:, channels] - want["c"][:, channels]).max() <= ia.bound(member) + SLACK


def test_no_per_tensor_port_no_alignment():
    """A depthwise convolution accepts per-channel scales: each FakeQuantize keeps its own range
    and the Concat carries the scales [0.01, 0.01, 0.005, 0.005]; the result is exact."""
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    f2 = ops.fake_quantize(x2, 0.0, 1.275, 0.0, 1.275, 256, name="fq2")
    c = ops.concat([f1, f2], axis=1, name="concat")
    w = np.random.default_rng(0).normal(size=(4, 1, 1, 1)).astype(np.float32)
    wq = ops.fake_quantize(w, -2.0, 2.0, -2.0, 2.0, 255, name="wfq")
    model = refint8.Model({"y": ops.convolution(c, wq, group=4, name="dw")})
    compiled, reference = compile_both(model)
    assert range_of(compiled, "fq2") == ((0.0, 255.0), 256)
    assert "interval_alignment" not in compiled.model.node("fq2").rt_info
    assert compiled.model.node("dw").type == "Int8Convolution"
    inputs = grid_inputs((0.0, 2.55), (0.0, 1.275))
    np.testing.assert_allclose(compiled.infer(inputs)["y"], reference.infer(inputs)["y"], rtol=0, atol=SLACK)


def test_through_precision_preserving_layers():
    """FQ -> MaxPool -> Concat and Concat -> Relu -> Convolution still align."""
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    f2 = ops.fake_quantize(x2, 0.0, 1.275, 0.0, 1.275, 256, name="fq2")
    p1 = ops.max_pool(f1, kernel=[1, 1], name="pool")
    c = ops.relu(ops.concat([p1, f2], axis=1, name="concat"), name="relu")
    model = refint8.Model({"y": conv(c, weights(3, 4), "conv")})
    compiled, _ = compile_both(model)
    assert range_of(compiled, "fq2") == ((0.0, 128.0), 129)
    types = exec_types(compiled)
    for name in ("pool", "concat", "relu", "conv"):
        assert types[name].endswith("_I8"), name


@pytest.mark.parametrize("levels", [(256, 255), (255, 256)])
def test_different_levels_keep_the_group_fp32(levels):
    compiled, _ = compile_both(two_branch_model((0.0, 2.55), (0.0, 1.275), levels=levels))
    for name in ("fq1", "fq2"):
        node = compiled.model.node(name)
        assert node.attrs["output_type"] == "f32"
        assert "different levels" in node.rt_info["fp32_reason"]
    assert compiled.model.node("conv").type == "Convolution"
    assert exec_types(compiled)["concat"].endswith("_FP32")


def test_too_few_levels_keep_the_group_fp32():
    # combined [0, 255], s = 1: FQ2 [0, 0.5] gets codes [0, round(0.5) = 1], 2 levels
    compiled, _ = compile_both(two_branch_model((0.0, 255.0), (0.0, 0.5)))
    reason = compiled.model.node("fq2").rt_info["fp32_reason"]
    assert "only 2 level(s)" in reason
    assert compiled.model.node("fq1").rt_info["fp32_reason"] == reason
    assert compiled.model.node("conv").type == "Convolution"


def test_member_without_int8_consumer_keeps_the_group_fp32():
    compiled, _ = compile_both(two_branch_model((0.0, 2.55), (0.0, 1.275), extra=ops.sigmoid))
    assert "Sigmoid" in compiled.model.node("fq2").rt_info["fp32_reason"]
    assert "shares its interval" in compiled.model.node("fq1").rt_info["fp32_reason"]
    assert compiled.model.node("conv").type == "Convolution"


def test_float_input_to_the_concat_is_not_aligned():
    """A Concat input that is not a FakeQuantize: no alignment; the Concat and the conv stay FP32."""
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    c = ops.concat([f1, x2], axis=1, name="concat")
    compiled, _ = compile_both(refint8.Model({"y": conv(c, weights(3, 4), "conv")}))
    assert range_of(compiled, "fq1") == ((0.0, 255.0), 256)   # decomposed on its own
    assert "input 1 ('x2') is not dequantized" in compiled.model.node("concat").rt_info["fp32_reason"]
    assert compiled.model.node("conv").type == "Convolution"


def test_per_channel_member_is_not_aligned():
    """A per-channel output range has no single interval: each FakeQuantize is decomposed on its
    own, the Concat carries per-channel constants and the per-tensor convolution declines."""
    x1 = ops.parameter(SHAPE, name="x1")
    x2 = ops.parameter(SHAPE, name="x2")
    f1 = ops.fake_quantize(x1, 0.0, 2.55, 0.0, 2.55, 256, name="fq1")
    high = np.array([1.0, 2.0], np.float32).reshape(1, 2, 1, 1)
    f2 = ops.fake_quantize(x2, 0.0, high, 0.0, high, 256, name="fq2")
    c = ops.concat([f1, f2], axis=1, name="concat")
    compiled, _ = compile_both(refint8.Model({"y": conv(c, weights(3, 4), "conv")}))
    assert "interval_alignment" not in compiled.model.node("fq1").rt_info
    assert exec_types(compiled)["concat"].endswith("_I8")
    assert "per-channel activation scales" in compiled.model.node("conv").rt_info["fp32_reason"]


@pytest.mark.parametrize("seed", range(12))
def test_random_ranges_within_bound(seed):
    """Random pairs of ranges (signed or not, narrow or wide): every aligned member stays within
    its bound, and the codes stay inside the u8 range of the convolution."""
    rng = np.random.default_rng(seed)
    def random_range():
        lo = float(rng.choice([0.0, rng.uniform(-3, 0), rng.uniform(0.1, 1)]))
        return lo, lo + float(rng.uniform(0.05, 4))
    r1, r2 = random_range(), random_range()
    model = two_branch_model(r1, r2)
    group = ia.find_group(LptContext(model), model.node("fq1"))
    if isinstance(group, str):  # e.g. a member left with <= 2 levels: the group stays FP32
        assert "level" in group
        return
    compiled, reference = compile_both(model)
    for member in group.members:
        assert 0 <= member.levels.code_low <= member.levels.code_high <= 255
    inputs = grid_inputs(r1, r2, seed=seed)
    got, want = compiled.infer(inputs), reference.infer(inputs)
    for member, channels in zip(group.members, (slice(0, 2), slice(2, 4))):
        err = np.abs(got["c"][:, channels] - want["c"][:, channels]).max()
        assert err <= ia.bound(member) + SLACK * max(1.0, abs(group.low), abs(group.high))

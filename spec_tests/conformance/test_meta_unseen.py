"""More meta-tests of the conformance suite: broken backends it had never been shown.

Same style as ``test_meta.py`` (whose helpers are reused): each backend is the reference with ONE
thing changed, registered by hand and run through the suite's DEFAULT run with test_meta's small
example count and seed; each must be caught in the unit where the bug lives, and nowhere else.
"""

from __future__ import annotations

import numpy as np
import pytest

from refint8.int8 import post_ops as post
from refint8.ops import get_op

from refint8_conformance import Verdict

from test_meta import GRAPHS, REQUANTIZING, ReferenceLike, _default_run, _fit, _registry


def _ref(node_type, attrs, inputs):
    return get_op(node_type).compute(attrs, *inputs)


class QuantizeI8Symmetric(ReferenceLike):
    """Requantization to i8 saturates to [-127, 127] instead of [-128, 127]."""

    name = "broken-i8-symmetric"

    def compute(self, node, inputs):
        out = super().compute(node, inputs)
        if "post_ops" in node.attrs or (node.type == "FakeQuantize" and node.attrs["output_type"] == "i8"):
            return tuple(np.maximum(o, np.int8(-127)).astype(o.dtype) if o.dtype == np.int8 else o
                         for o in out)
        return out


class MaxPoolPadsWithZero(ReferenceLike):
    """MaxPool on codes pads with 0 instead of the lowest value (wrong for i8)."""

    name = "broken-maxpool-pad-zero"

    def compute(self, node, inputs):
        x = inputs[0]
        a = node.attrs
        if node.type == "MaxPool" and x.dtype == np.int8 and a["auto_pad"] == "explicit":
            (pt, pl), (pb, pr) = a["pads_begin"], a["pads_end"]
            x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=0)
            return _ref("MaxPool", dict(a, pads_begin=(0, 0), pads_end=(0, 0)), [x])
        return super().compute(node, inputs)


class PerChannelInputZeroPointFirst(ReferenceLike):
    """Int8Convolution uses the first per-channel activation zero point for every channel."""

    name = "broken-za-first"

    def compute(self, node, inputs):
        za = node.attrs.get("input_zero_point", ())
        if node.type == "Int8Convolution" and len(za) > 1:
            return _ref(node.type, dict(node.attrs, input_zero_point=(za[0],)), inputs)
        return super().compute(node, inputs)


class WeightZeroPointNegated(ReferenceLike):
    """The weight zero point is subtracted with the wrong sign (added)."""

    name = "broken-zw-sign"

    def compute(self, node, inputs):
        zw = node.attrs.get("weight_zero_point", ())
        if node.type in ("Int8Convolution", "Int8MatMul") and zw:
            flipped = tuple(min(127, -z) for z in zw)
            return _ref(node.type, dict(node.attrs, weight_zero_point=flipped), inputs)
        return super().compute(node, inputs)


class DilationIgnored(ReferenceLike):
    """Int8Convolution ignores dilations > 1."""

    name = "broken-dilation"

    def compute(self, node, inputs):
        if node.type == "Int8Convolution" and tuple(node.attrs["dilations"]) != (1, 1):
            return _ref(node.type, dict(node.attrs, dilations=(1, 1)), inputs)
        return super().compute(node, inputs)


class StrideWIgnored(ReferenceLike):
    """fp32 Convolution ignores the stride along W (computes with 1, keeps every column)."""

    name = "broken-stride-w"

    def compute(self, node, inputs):
        if node.type == "Convolution" and node.attrs["strides"][1] != 1:
            return _ref(node.type, dict(node.attrs, strides=(node.attrs["strides"][0], 1)), inputs)
        return super().compute(node, inputs)


class DepthwiseChannelsReversed(ReferenceLike):
    """Grouped Int8Convolution maps group g to the input channels of group G - 1 - g."""

    name = "broken-group-map"

    def compute(self, node, inputs):
        a = node.attrs
        if node.type == "Int8Convolution" and a["group"] > 1:
            q, w = inputs
            g, c = a["group"], q.shape[1]
            order = np.arange(c).reshape(g, c // g)[::-1].reshape(-1)
            za = a["input_zero_point"]
            za = tuple(np.asarray(za)[order]) if len(za) > 1 else za
            return _ref(node.type, dict(a, input_zero_point=tuple(int(v) for v in za)), [q[:, order], w])
        return super().compute(node, inputs)


class FakeQuantizeNaNToLow(ReferenceLike):
    """f32 FakeQuantize maps NaN to output_low (as CPU fused kernels do) instead of NaN."""

    name = "broken-fq-nan"

    def compute(self, node, inputs):
        out = super().compute(node, inputs)
        if node.type == "FakeQuantize" and node.attrs["output_type"] == "f32":
            x = np.asarray(inputs[0], np.float32)
            ol = np.broadcast_to(_fit(np.asarray(inputs[3], np.float32), x.ndim), x.shape)
            return (np.where(np.isnan(x), ol, out[0]).astype(np.float32),)
        return out


class FakeQuantizeLowBoundaryStrict(ReferenceLike):
    """f32 FakeQuantize tests ``x < min(il, ih)`` instead of ``<=`` (x on the bound takes the formula)."""

    name = "broken-fq-boundary"

    def compute(self, node, inputs):
        out = super().compute(node, inputs)
        if node.type == "FakeQuantize" and node.attrs["output_type"] == "f32":
            x = np.asarray(inputs[0], np.float32)
            il, ih, ol, oh = (_fit(np.asarray(v, np.float32), x.ndim) for v in inputs[1:])
            steps = np.float32(node.attrs["levels"] - 1)
            with np.errstate(all="ignore"):
                q = np.rint(((x - il) / (ih - il)) * steps)
                y = ((q / steps) * (oh - ol)) + ol
            on_bound = x == np.where(ih < il, ih, il)
            return (np.where(on_bound, np.broadcast_to(y, x.shape), out[0]).astype(np.float32),)
        return out


class NearestPrefersCeil(ReferenceLike):
    """Interpolate nearest: round_prefer_floor ties go up (round_prefer_ceil)."""

    name = "broken-nearest-ties"

    def compute(self, node, inputs):
        if node.type == "Interpolate" and node.attrs["mode"] == "nearest" and \
                node.attrs["nearest_mode"] == "round_prefer_floor":
            return _ref(node.type, dict(node.attrs, nearest_mode="round_prefer_ceil"), inputs)
        return super().compute(node, inputs)


class ReluKeepsNegativeZero(ReferenceLike):
    """f32 Relu returns -0.0 for -0.0 (``max(x, 0)`` keeping its first operand)."""

    name = "broken-relu-negzero"

    def compute(self, node, inputs):
        out = super().compute(node, inputs)
        if node.type == "Relu" and inputs[0].dtype == np.float32:
            x = inputs[0]
            return (np.where((x == 0) & np.signbit(x), x, out[0]).astype(np.float32),)
        return out


class Int8AddScaleBeforeShift(ReferenceLike):
    """Int8Add computes ``q1 * full_scale - full_shift`` instead of ``(q1 - full_shift) * full_scale``."""

    name = "broken-add-order"

    def compute(self, node, inputs):
        if node.type == "Int8Add":
            a = node.attrs
            h = np.asarray(a["full_shift"], np.float32)
            r = np.asarray(a["full_scale"], np.float32)
            with np.errstate(all="ignore"):
                t = inputs[0].astype(np.float32) * r - h + inputs[1].astype(np.float32)
            return (post.apply_post_ops(np.asarray(t, np.float32), a["post_ops"]),)
        return super().compute(node, inputs)


class MVNEpsOutside(ReferenceLike):
    """MVN / Int8MVN add eps outside the square root when asked for inside_sqrt."""

    name = "broken-mvn-eps"

    def compute(self, node, inputs):
        if node.type in ("MVN", "Int8MVN") and node.attrs["eps_mode"] == "inside_sqrt":
            return _ref(node.type, dict(node.attrs, eps_mode="outside_sqrt"), inputs)
        return super().compute(node, inputs)


class SoftmaxNegativeAxisOffByOne(ReferenceLike):
    """Softmax normalizes a negative axis as ``axis + rank - 1``."""

    name = "broken-softmax-axis"

    def compute(self, node, inputs):
        axis, rank = node.attrs["axis"] if node.type == "Softmax" else 0, inputs[0].ndim
        if node.type == "Softmax" and axis < 0 and rank > 1:
            return _ref(node.type, dict(node.attrs, axis=(axis + rank - 1) % rank), inputs)
        return super().compute(node, inputs)


class ConvertRounds(ReferenceLike):
    """Convert float -> integer rounds to nearest (even) instead of truncating."""

    name = "broken-convert-round"

    def compute(self, node, inputs):
        x = inputs[0]
        if node.type == "Convert" and x.dtype.kind == "f" and node.attrs["destination_type"] != "f32":
            return _ref(node.type, node.attrs, [np.rint(x)])
        return super().compute(node, inputs)


class MatMulSquareWeightsTransposed(ReferenceLike):
    """Int8MatMul reads square weights transposed (a layout mix-up invisible in the shapes)."""

    name = "broken-square-weights"

    def compute(self, node, inputs):
        if node.type == "Int8MatMul" and inputs[1].shape[0] == inputs[1].shape[1]:
            return _ref(node.type, node.attrs, [inputs[0], np.ascontiguousarray(inputs[1].T)])
        return super().compute(node, inputs)


class ClampBoundsSwappedAtZero(ReferenceLike):
    """Clamp with ``min == 0`` swaps its bounds (clips to max first, then to min)."""

    name = "broken-clamp-zero"

    def compute(self, node, inputs):
        if node.type == "Clamp" and node.attrs["min"] == 0:
            x = np.asarray(inputs[0], np.float32)
            lo, hi = np.float32(node.attrs["min"]), np.float32(node.attrs["max"])
            return (np.where(x < hi, hi, np.where(x > lo, lo, x)).astype(np.float32),)
        return super().compute(node, inputs)


class DequantizeIgnoresSubtract(ReferenceLike):
    """Dequantize drops its zero-point Subtract."""

    name = "broken-dequantize-subtract"

    def compute(self, node, inputs):
        if node.type == "Dequantize":
            ops = tuple(o for o in node.attrs["post_ops"] if not isinstance(o, post.Subtract))
            return _ref(node.type, dict(node.attrs, post_ops=ops), inputs)
        return super().compute(node, inputs)


CONV = {"Int8Convolution[u8]", "Int8Convolution[i8]"}
MATMUL = {"Int8MatMul[u8]", "Int8MatMul[i8]"}

CASES = [
    # (backend class, units that must fail, units that may fail)
    (QuantizeI8Symmetric, {"FakeQuantize[quantize]"}, REQUANTIZING),
    (MaxPoolPadsWithZero, {"MaxPool[u8/i8]"}, {"MaxPool[u8/i8]"} | GRAPHS),
    (PerChannelInputZeroPointFirst, CONV, CONV | GRAPHS),
    (WeightZeroPointNegated, CONV | MATMUL, CONV | MATMUL | GRAPHS),
    (DilationIgnored, CONV, CONV | GRAPHS),
    (StrideWIgnored, {"Convolution[f32]"}, {"Convolution[f32]"} | GRAPHS),
    (DepthwiseChannelsReversed, CONV, CONV | GRAPHS),
    (FakeQuantizeNaNToLow, {"FakeQuantize[f32]"}, {"FakeQuantize[f32]", "FakeQuantize[requantize]"} | GRAPHS),
    (FakeQuantizeLowBoundaryStrict, {"FakeQuantize[f32]"},
     {"FakeQuantize[f32]", "FakeQuantize[requantize]"} | GRAPHS),
    (NearestPrefersCeil, {"Interpolate[nearest]", "Interpolate[nearest-u8/i8]"},
     {"Interpolate[nearest]", "Interpolate[nearest-u8/i8]"} | GRAPHS),
    (ReluKeepsNegativeZero, {"Relu[f32]"}, {"Relu[f32]"} | GRAPHS),
    (Int8AddScaleBeforeShift, {"Int8Add[u8/i8]"}, {"Int8Add[u8/i8]"} | GRAPHS),
    (MVNEpsOutside, {"MVN[f32]", "Int8MVN[u8/i8]"}, {"MVN[f32]", "Int8MVN[u8/i8]"} | GRAPHS),
    (SoftmaxNegativeAxisOffByOne, {"Softmax[f32]"}, {"Softmax[f32]"} | GRAPHS),
    (ConvertRounds, {"Convert[f32/f16/i32/i64/bool]"}, {"Convert[f32/f16/i32/i64/bool]"} | GRAPHS),
    (MatMulSquareWeightsTransposed, MATMUL, MATMUL | GRAPHS),
    (ClampBoundsSwappedAtZero, {"Clamp[f32]"}, {"Clamp[f32]"} | GRAPHS),
    (DequantizeIgnoresSubtract, {"Dequantize[u8/i8/i32]"}, {"Dequantize[u8/i8/i32]"} | GRAPHS),
]


@pytest.mark.parametrize("backend, must_fail, may_fail", CASES, ids=[c[0].name for c in CASES])
def test_unseen_broken_backend_is_caught(backend, must_fail, may_fail, tmp_path):
    report = _default_run(backend.name, _registry(backend), tmp_path)
    failed = {r.unit.name for r in report.results if r.verdict is Verdict.UNEXPECTED_FAILURE}
    assert not report.ok
    assert must_fail <= failed, f"{backend.__doc__} not caught in {sorted(must_fail - failed)}"
    assert failed <= may_fail, f"false alarms: {sorted(failed - may_fail)}"
    others = {r.verdict for r in report.results if r.unit.name not in failed}
    assert others == {Verdict.EXPECTED_PASS}, [
        (r.unit.id, r.verdict, r.message) for r in report.results if r.verdict not in
        (Verdict.EXPECTED_PASS, Verdict.UNEXPECTED_FAILURE)]

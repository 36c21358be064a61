"""Cleanup: fold a dequantization that feeds a FakeQuantize into the FakeQuantize's input range.

Pattern
    ``FakeQuantize(Multiply(Subtract(Convert(q), zp), s), il, ih, ol, oh)`` (a requantization:
    OpenVINO's FuseMultiplyToFakeQuantize, FuseSubtractToFakeQuantize and FuseConvert).
Rewrite
    ``FakeQuantize(q, il', ih', ol, oh)`` reading the codes ``q`` directly, with
    ``il' = (il / s) + zp`` and ``ih' = (ih / s) + zp`` computed in float32 in that order.
Identity
    ``(s*(q - zp) - il) / (ih - il) = (q - il') / (ih' - il')`` for ``s > 0``, and the comparisons
    ``x <= min(il, ih)``, ``x > max(il, ih)`` keep their meaning. The new range is rounded to
    float32, so a value within about an ulp of a rounding tie may land on the neighbouring level:
    at most one quantization step, at ties only (OpenVINO's fused kernels have the same property).
Declines
    a negative (or zero) scale: the comparisons would flip and FakeQuantize's boundary rules are not
    symmetric, so the dequantization stays before the FakeQuantize (which then runs FP32).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from . import dequantization
from .context import LptContext


def transform(ctx: LptContext, node: Node) -> bool:
    if node.type != "FakeQuantize":
        return False
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    ranges = [src.node.constant_value() for src in node.inputs[1:3]]
    if any(r is None for r in ranges):
        return False
    if np.any(chain.scale <= 0):
        return ctx.decline(node, "the dequantization before it has a scale <= 0, which cannot fold "
                                 "into its input range")
    scale = chain.scale.astype(np.float32)
    zero_point = chain.zero_point.astype(np.float32)
    rank = node.inputs[0].type.rank
    new_ranges = []
    for label, r in zip(("input_low", "input_high"), ranges):
        value = (r.astype(np.float32) / scale) + zero_point
        if value.ndim > rank:
            return False
        new_ranges.append(make_node("Constant", [], {"value": np.asarray(value, np.float32)},
                                    f"{node.name}/{label}_folded").output(0))
    fused = make_node("FakeQuantize", [chain.data, *new_ranges, *node.inputs[3:]], node.attrs, node.name)
    fused.rt_info.update(node.rt_info)
    for part in chain.nodes:
        if len(ctx.consumers(part.output(0))) == 1 and not ctx.is_model_output(part.output(0)):
            ctx.record_fused(fused, part)
    ctx.replace(node.output(0), fused.output(0))
    return True

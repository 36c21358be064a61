"""FakeQuantize decomposition: an activation FakeQuantize becomes integer codes plus dequantization.

Pattern
    ``FakeQuantize(x, il, ih, ol, oh, levels)`` whose ``x`` is not a constant (weights are folded
    by :mod:`refint8.lpt.weight_folding` instead).
Rewrite
    ``FakeQuantize(x, il, ih, min, max, levels) -> u8/i8 codes``, then
    ``Convert(f32) -> Subtract(zero_point) -> Multiply(scale)``, with ``[min, max]``, ``scale`` and
    ``zero_point`` from :mod:`refint8.lpt.quantization` (the integer range of the chosen precision).
Identity
    The FakeQuantize picks level ``q`` from ``x`` exactly as before (same input range and levels);
    its float output ``q/(L-1)*(oh-ol) + ol`` equals ``(code - zero_point) * scale`` with
    ``code = q + min`` whenever ``max - min == L - 1`` (256 levels in u8/i8, 255 in i8, 16, 15 in
    i8), up to float32 rounding of the two expressions (a few ulp). With u8 and 255 (or 15) levels
    the codes are ``round_half_even(q * 255/254)`` (resp. 15/14), which is not exact: up to half a
    code step, as in OpenVINO. An element whose output range is empty (``ol == oh``, a constant
    output) gets the code range ``[min, min]``: its code is always ``min`` and, with scale 1 and
    zero point ``min - ol``, its dequantized value is exactly ``ol`` (as weight folding does).
Precision
    The set of precisions the consumers accept (:mod:`refint8.lpt.precisions`); the range's preferred
    precision if it is in the set, otherwise the first accepted one (u8 before i8) with a zero point.
    When the preferred precision is taken and the range counts as zero-point free (a signed range
    whose ``ol/oh`` is within 0.2 % of the symmetric ratio, or an unsigned one with ``|ol| < 1e-6``),
    the zero point is dropped, as OpenVINO does (no Subtract): ``x = code * scale``. The output
    then departs from the FakeQuantize graph by the dropped fractional zero point times the scale
    (at most 0.002 * 128 = 0.26 of a step for 256 levels).
Interval alignment
    FakeQuantizes that meet at a Concat whose result reaches a per-tensor port are decomposed
    together onto one shared scale and zero point instead (:mod:`.interval_alignment`); this
    module handles every other activation FakeQuantize.
Declines (the FakeQuantize stays FP32, with the reason)
    levels not in LPT's set; ranges not constant; no consumer that accepts low precision (or a
    consumer without int8 semantics). (A per-element range whose elements disagree on the sign is
    not declined: it has no preferred precision and takes the first accepted one, u8 before i8,
    with a per-element zero point.)
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from . import dequantization, interval_alignment
from .context import LptContext
from .precisions import required_precisions
from .quantization import (QUANTIZATION_LEVELS, Dequantization, dequantization_for, integer_range,
                           precision_details)


def transform(ctx: LptContext, node: Node) -> bool:
    if node.attrs.get("output_type", "f32") != "f32" or node.inputs[0].node.type == "Constant":
        return False
    aligned = interval_alignment.transform(ctx, node)
    if aligned is not None:
        return aligned
    levels = node.attrs["levels"]
    if levels not in QUANTIZATION_LEVELS:
        return ctx.decline(node, f"levels {levels} is not one of LPT's level sets {QUANTIZATION_LEVELS}")
    ranges = [src.node.constant_value() for src in node.inputs[1:]]
    if any(r is None for r in ranges):
        return ctx.decline(node, "its ranges are not constant")
    accepted, reason = required_precisions(ctx, node.output(0))
    if not accepted:
        return ctx.decline(node, reason)
    il, ih, ol, oh = ranges
    details = precision_details(ol, oh, levels)
    if details.precision in accepted:
        precision = details.precision
    else:
        precision = "u8" if "u8" in accepted else "i8"
    code_min, code_max = integer_range(levels, precision)
    deq = dequantization_for(ol, oh, code_min, code_max)
    if precision == details.precision and not details.has_zero_point:
        deq = Dequantization(deq.scale, np.zeros_like(deq.zero_point))  # OpenVINO drops it
    low = make_node("Constant", [], {"value": np.full(np.shape(ol), code_min, np.float32)},
                    f"{node.name}/code_min").output(0)
    code_high = np.full(np.shape(oh), code_max, np.float32)
    empty = np.asarray(ol) == np.asarray(oh)
    if np.any(empty):  # an empty output range: every code is ``min`` (see the module docstring)
        code_high = np.where(empty, np.float32(code_min), np.float32(code_max)).astype(np.float32)
    high = make_node("Constant", [], {"value": code_high}, f"{node.name}/code_max").output(0)
    codes = make_node(
        "FakeQuantize",
        [node.inputs[0], node.inputs[1], node.inputs[2], low, high],
        {"levels": levels, "auto_broadcast": node.attrs["auto_broadcast"], "output_type": precision},
        node.name,
    )
    codes.rt_info.update(node.rt_info)
    out = dequantization.build(codes.output(0), deq.zero_point, deq.scale, f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True

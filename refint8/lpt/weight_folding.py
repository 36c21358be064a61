"""Weight folding: a FakeQuantize on constant weights becomes i8 codes and per-channel scales.

Pattern
    ``FakeQuantize(W, il, ih, ol, oh, levels)`` with constant ``W`` and constant ranges, feeding
    the weights port of a Convolution or MatMul.
Result (not a graph rewrite: the weightable-layer transformation consumes it)
    ``codes``: i8 array of W's shape; ``scale`` and ``zero_point``: one float32 per output channel
    (along ``axis``), such that ``(codes - zero_point) * scale`` equals the FakeQuantize output up to
    float32 rounding.
Arithmetic
    Target range ``[-127, 127]`` for 255 levels, ``[-128, 127]`` for 256 (also ``[-7, 7]`` /
    ``[-8, 7]`` for 15 / 16). ``codes = round_half_even(FakeQuantize(W, il, ih, min, max, levels))``
    evaluated with the reference FakeQuantize in float32 (OpenVINO's ``foldFakeQuantize`` with
    ``Round(HALF_TO_EVEN)``; OpenVINO versions before 2023 rounded half away from zero here).
    ``scale``, ``zero_point`` as in :func:`refint8.lpt.quantization.dequantization_for`. A channel
    whose output range is empty (``ol == oh``) is all ``min`` codes with scale 1 and zero point
    ``min - ol``.
Declines (returns a reason)
    levels not in LPT's set; ranges not constant; output ranges that vary along any axis but
    ``axis``; a zero point that is not an integer in [-128, 127].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Node
from ..ops.fake_quantize import fake_quantize, to_integer_codes
from .dequantization import per_channel_axis
from .quantization import QUANTIZATION_LEVELS, dequantization_for, integer_range, integral_zero_point


@dataclass(frozen=True)
class FoldedWeights:
    codes: np.ndarray          # i8, the weights' shape
    scale: np.ndarray          # float32 [channels]
    zero_point: np.ndarray     # int64 [channels]


def fold(fq: Node, axis: int) -> FoldedWeights | str:
    """Fold the weight FakeQuantize ``fq`` per output channel along ``axis`` (or explain why not)."""
    if fq.type != "FakeQuantize" or fq.inputs[0].node.type != "Constant":
        return "weights are not quantized (no FakeQuantize on constant weights)"
    weights = fq.inputs[0].node.attrs["value"]
    ranges = [src.node.constant_value() for src in fq.inputs[1:]]
    if any(r is None for r in ranges):
        return f"the ranges of weight FakeQuantize '{fq.name}' are not constant"
    levels = fq.attrs["levels"]
    if levels not in QUANTIZATION_LEVELS:
        return f"weight FakeQuantize '{fq.name}' has levels {levels}, not one of {QUANTIZATION_LEVELS}"
    il, ih, ol, oh = ranges
    rank = weights.ndim
    for name, r in (("output_low", ol), ("output_high", oh)):
        if r.ndim > rank or per_channel_axis(r, rank) not in (None, axis):
            return (f"weight FakeQuantize '{fq.name}' {name} of shape {list(r.shape)} is not "
                    f"per-tensor or per-output-channel")
    code_min, code_max = integer_range(levels, "i8")
    channels = weights.shape[axis]
    shape = [1] * rank
    shape[axis] = channels
    lo = np.broadcast_to(ol.reshape((1,) * (rank - ol.ndim) + ol.shape), shape).astype(np.float32)
    hi = np.broadcast_to(oh.reshape((1,) * (rank - oh.ndim) + oh.shape), shape).astype(np.float32)
    values = fake_quantize(weights, il, ih, np.full(shape, code_min, np.float32),
                           np.full(shape, code_max, np.float32), levels)
    codes = to_integer_codes(values, np.dtype(np.int8))
    empty = (lo == hi)
    if np.any(empty):
        codes = np.where(np.broadcast_to(empty, codes.shape), np.int8(code_min), codes)
    deq = dequantization_for(lo, hi, code_min, code_max)
    zero_point, reason = integral_zero_point(deq.zero_point, -128, 127)
    if zero_point is None:
        return f"weight FakeQuantize '{fq.name}': {reason}"
    return FoldedWeights(codes, deq.scale.reshape(-1), zero_point.reshape(-1))

"""Cleanup: remove a FakeQuantize that maps integer codes onto the same codes.

Pattern
    ``FakeQuantize(q, il, ih, ol, oh)`` whose input ``q`` and output have the same element type,
    with constant ranges (OpenVINO's EliminateFakeQuantizeTransformation). After
    :mod:`.fuse_to_fake_quantize` this is a requantization of codes, e.g. the QuantizeLinear after a
    MaxPool that keeps its input's scale and zero point (ResNet-50's stem pool in ONNX QDQ files).
Rewrite
    Every use of the FakeQuantize's output reads ``q`` instead; the FakeQuantize is reported
    optimized out.
Conditions (``lo``, ``hi``: OpenVINO's ``DataPrecision::getMinValue`` and ``getMaxValue`` of the
output type for ``levels``, :func:`type_bounds`; ``d = hi/levels - lo/levels`` in float32; equal
means within float32's epsilon, 2^-23; OpenVINO's ``levels == 0`` case cannot occur: refint8's
FakeQuantize has ``levels >= 2``)
    * ``ol`` equals ``lo`` and ``oh`` equals ``hi`` in every element;
    * ``il`` equals ``lo`` and ``ih`` equals ``hi`` in every element, or (integer types only) every
      element that differs does so by at most ``d`` and the FakeQuantize applied to that range
      tensor itself (``FakeQuantize(il, il, ih, ol, oh)``, and likewise for ``ih``) gives ``lo``
      (``hi``) in every element.
Identity
    With ``il = lo``, ``ih = hi``, ``ol = lo``, ``oh = hi`` and ``levels - 1 = hi - lo`` (256 levels
    of u8 or i8), every code ``c`` maps onto ``c``: ``round((c - lo) / (hi - lo) * (hi - lo)) + lo``,
    each step exact or within an ulp of an integer in float32. Where ``il`` or ``ih`` only come
    within ``d`` of the bounds, or ``levels - 1`` differs from ``hi - lo`` (255 levels of u8: 0..254
    onto 0..255), a code may map onto a neighbour; OpenVINO removes the FakeQuantize all the same,
    and so does this module (the difference is the engine's, stated here).
Declines (silently: nothing to record, the FakeQuantize just stays)
    different input and output types, a non-constant range, a type other than u8, i8 or f32.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..graph import Node
from ..ops import get_op
from .context import LptContext

#: std::numeric_limits<float>::epsilon(): OpenVINO's tolerance for "equal" here
_EPSILON = float(np.finfo(np.float32).eps)


def type_bounds(element_type: str, levels: int) -> tuple[float, float] | None:
    """OpenVINO's ``DataPrecision::getMinValue`` / ``getMaxValue`` (low_precision/
    layer_transformation.hpp) for the types refint8's FakeQuantize outputs, None for others.

    u8: 0 .. 15 for 16 levels, else 0 .. 255; i8: -8 .. 7 for 16 levels, -7 .. 127 for 15 (as
    OpenVINO has it), -127 .. 127 for 255, -128 .. 127 for 256; f32: the float32 extremes."""
    if element_type == "u8":
        return 0.0, 15.0 if levels == 16 else 255.0
    if element_type == "i8":
        low = {16: -8.0, 15: -7.0, 256: -128.0, 255: -127.0}.get(levels)
        if low is None:
            return None
        return low, 7.0 if levels == 16 else 127.0
    if element_type == "f32":
        return float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)
    return None


def transform(ctx: LptContext, node: Node) -> bool:
    if node.type != "FakeQuantize":
        return False
    output_type = node.output_types[0]
    if node.inputs[0].type.dtype != output_type.dtype:
        return False
    levels = int(node.attrs["levels"])
    type_name = dtypes.type_name(output_type.dtype)
    bounds = type_bounds(type_name, levels)
    ranges = [src.node.constant_value() for src in node.inputs[1:]]
    if bounds is None or any(r is None for r in ranges):
        return False
    lo, hi = bounds
    integral = type_name in ("u8", "i8")
    tolerance = float(np.float32(hi) / np.float32(levels) - np.float32(lo) / np.float32(levels))
    checks = ((ranges[0], lo, not integral), (ranges[1], hi, not integral),
              (ranges[2], lo, True), (ranges[3], hi, True))
    if not all(_matches(node, ranges, r, value, tolerance, exact) for r, value, exact in checks):
        return False
    ctx.replace(node.output(0), node.inputs[0])
    return True


def _matches(node: Node, ranges: list[np.ndarray], constant: np.ndarray, value: float, tolerance: float,
             exact: bool) -> bool:
    """OpenVINO's ``check_interval``: every element of ``constant`` equals ``value``, or (not
    ``exact``) differs by at most ``tolerance`` and the FakeQuantize maps the tensor onto ``value``."""
    diff = np.abs(np.asarray(constant, np.float32).astype(np.float64) - value)
    if not np.any(diff > _EPSILON):
        return True
    if exact or np.any(diff > tolerance):
        return False
    folded = get_op("FakeQuantize").compute(node.attrs, constant, *ranges)[0]
    return not np.any(np.abs(folded.astype(np.float64) - value) > _EPSILON)

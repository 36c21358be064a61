"""Which low precisions the consumers of an activation FakeQuantize accept.

OpenVINO's MarkupPrecisions writes the accepted precisions on every input port (from the
restrictions; an op LPT does not support gets the empty set), and PropagatePrecisions carries them
back to the FakeQuantize outputs through precision-preserving layers, intersecting over consumers.
:func:`required_precisions` computes the same set directly by walking forward from the
FakeQuantize:

* a precision-preserving consumer (Relu, MaxPool, Reshape, Transpose, Squeeze, Unsqueeze, Concat,
  Interpolate) and AvgPool pass the question on to their own consumers;
* any other consumer contributes the precisions its input port accepts (empty when the op has no
  int8 semantics, which makes the whole intersection empty: OpenVINO then keeps the FakeQuantize in
  FP32, and so does refint8);
* model outputs do not constrain.

The result is ``(precisions, reason)``: a non-empty set, or the empty set and why.
"""

from __future__ import annotations

from ..graph import Output
from .context import LptContext
from .restrictions import PRECISION_PRESERVED, port_layer

_PASS_THROUGH = PRECISION_PRESERVED | {"AvgPool"}


def required_precisions(ctx: LptContext, out: Output) -> tuple[frozenset[str], str]:
    allowed = frozenset({"u8", "i8"})
    found_consumer = False
    for consumer, port in ctx.consumers(out):
        if consumer.type in _PASS_THROUGH:
            sub, reason = required_precisions(ctx, consumer.output(0))
            if not sub:
                return frozenset(), reason
            found_consumer = True
            allowed &= sub
            continue
        layer = port_layer(consumer.type, consumer.attrs.get("group", 1))
        accepted = ctx.restrictions.allowed(layer, port)
        if not accepted:
            return frozenset(), f"consumer '{consumer.name}' ({consumer.type}) has no int8 semantics"
        found_consumer = True
        allowed &= accepted
        if not allowed:
            return frozenset(), (f"consumers disagree on the precision: '{consumer.name}' "
                                 f"({consumer.type}) port {port} accepts only {sorted(accepted)}")
    if not found_consumer:
        return frozenset(), "no layer after it can run in int8"
    return allowed, ""

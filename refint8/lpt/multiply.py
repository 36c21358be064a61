"""Multiply of two dequantized branches -> Int8Multiply (OpenVINO's MultiplyPartialTransformation).

Pattern
    ``Multiply(x1, x2)`` with both inputs dequantized low-precision data,
    ``x1 = s1 * (float32(q1) - sh1)`` and ``x2 = s2 * (float32(q2) - sh2)``.
Rewrite
    ``Int8Multiply(full=q1, empty=q2; full_shift=sh1) -> Multiply(s1 * s2)``, the empty branch being
    one WITHOUT a zero point (``sh2 == 0``). ``s1 * s2`` is computed in float64 from the float32
    scales and stored as float32 (OpenVINO folds it in float32: at most one ulp apart). The
    cleanup fuses the Multiply as the layer's first post-op.
Identity
    ``(s1*(q1 - sh1)) * (s2*q2) = (s1*s2) * ((q1 - sh1) * q2)``. A zero point on the empty branch
    would leave a term ``-s1*s2*sh2*(q1 - sh1)`` that is not a product of the codes, hence the
    condition. Float32: the int8 layer rounds ``q1 - sh1`` (exact for an integral ``sh1``), the
    product with ``q2`` (exact while below 2^24) and the product with ``s1*s2``; the fp32 graph
    rounds ``q1 - sh1``, both dequantizing products and the final product. The results differ by
    at most ``5 * 2^-24 * |y|`` (y the exact product; a derived bound: three roundings of the fp32
    graph, one of the int8 layer, one of the stored ``s1*s2``).
Choice of the empty branch
    The branch without a zero point. If both have none, OpenVINO's priority of the Add
    transformation decides (:func:`refint8.lpt.add.full_branch`). Both with a zero point: FP32.
    (Departure, as specified for refint8: OpenVINO picks the empty branch by that priority alone
    and keeps the Multiply FP32 when the branch it picked has a zero point, even if the other
    one has none; refint8 takes the zero-point-free branch.)
Not this transformation
    ``Multiply(y, constant)``: a dequantization scale or a post-op (fused by the cleanup).
    Returns False without a reason when ``y`` is not dequantized data; when it is, records the
    reason and keeps the float32 Multiply, which then fuses after the Dequantize layer (OpenVINO
    would fold the constant into the dequantization scale: the same product up to one float32
    rounding).
Declines (the Multiply stays FP32, with the reason)
    only one input dequantized ("only one input is quantized"); neither; both with a zero point;
    constants varying along a non-channel axis or not broadcasting to the output; ``s1*s2`` not
    finite.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from .add import broadcasts_to, check_constants, full_branch, two_dequantized_inputs
from .context import LptContext
from .convolution import dequantization_after


def transform(ctx: LptContext, node: Node) -> bool:
    chains = two_dequantized_inputs(ctx, node)
    if chains is None:
        return False
    reason = check_constants(node, chains)
    if reason:
        return ctx.decline(node, reason)
    without_zero_point = [i for i, chain in enumerate(chains) if not np.any(chain.zero_point != 0)]
    if not without_zero_point:
        return ctx.decline(node, "both inputs have a zero point (the raw input of an int8 Multiply "
                                 "must have none)")
    if len(without_zero_point) == 2:
        full_index, rule = full_branch(ctx, chains)
        empty_index = 1 - full_index
    else:
        empty_index, rule = without_zero_point[0], "the input without a zero point is empty"
    full, empty = chains[1 - empty_index], chains[empty_index]

    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.asarray(full.scale.astype(np.float64) * empty.scale.astype(np.float64), np.float32)
    if not np.all(np.isfinite(scale)):
        return ctx.decline(node, "the product of the dequantization scales is not finite")
    out_shape = tuple(node.output(0).shape)
    if not broadcasts_to(scale.shape, out_shape):
        return ctx.decline(node, f"the combined scale of shape {list(scale.shape)} does not "
                                 f"broadcast to the output {list(out_shape)}")
    full_shift = full.zero_point.astype(np.float32)

    int8 = make_node(
        "Int8Multiply",
        [full.data, empty.data],
        {"full_shift": full_shift, "post_ops": ()},
        node.name,
    )
    int8.rt_info.update(node.rt_info)
    int8.rt_info["layer_type"] = "Eltwise"
    int8.rt_info["empty_input"] = empty_index
    int8.rt_info["empty_input_rule"] = rule
    out = dequantization_after(int8, scale, f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True

"""MaxPool: precision-preserving when every dequantization scale is >= 0.

Identity: ``max_i s*(q_i - zp) = s*(max_i q_i - zp)`` for ``s >= 0`` and a zp and s that do not
vary inside a window (per-tensor or per-channel). Padding never wins a max in either domain.
A negative scale turns max into min: MaxPool stays FP32 (as in OpenVINO).

A window with no input position (entirely in the padding, or a ceil-rounded last window past the
input) has no maximum: MaxPool gives the lowest value of the type there, ``-FLT_MAX`` in float but
the lowest CODE (0 for u8, -128 for i8) on the codes, which dequantizes to a different value. Such
a MaxPool stays FP32, with the reason (OpenVINO moves the dequantization regardless).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..ops.convolution import input_error
from ..ops.max_pool import pool_geometry
from . import dequantization
from .context import LptContext
from .move import move_through, unchanged_if_not_varying


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    if np.any(chain.scale < 0):
        return ctx.decline(node, "a negative dequantization scale before MaxPool")
    a = node.attrs
    (pbh, pbw), _, (_, _, oh, ow) = pool_geometry(
        node.inputs[0].shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
        pads_end=a["pads_end"], rounding_type=a["rounding_type"], auto_pad=a["auto_pad"],
        fail=input_error("max_pool"),
    )
    for size, out, k, stride, pad in zip(node.inputs[0].shape[2:], (oh, ow), a["kernel"],
                                         a["strides"], (pbh, pbw)):
        starts = np.arange(out) * stride - pad
        if np.any(np.minimum(starts + k, size) - np.maximum(starts, 0) <= 0):
            return ctx.decline(node, "a pooling window lies entirely outside the input: its float "
                                     "maximum is -FLT_MAX, its code maximum the lowest code")
    rank = node.inputs[0].type.rank
    return move_through(ctx, node, chain, unchanged_if_not_varying(set(range(2, rank)) | {0}, rank))

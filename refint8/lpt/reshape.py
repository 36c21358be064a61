"""Reshape: precision-preserving when the dequantization survives the new shape.

Identity: reshaping does not change values, so ``reshape(s * (q - zp)) = s' * (reshape(q) - zp')``
whenever each constant means the same thing in the new shape: always for per-tensor constants, and
for per-channel constants ``[1, C, 1, ...]`` when the reshape keeps the first two dimensions
(batch and channels) unchanged; the constants then become ``[1, C, 1, ...]`` of the new rank.
Any other per-channel case keeps Reshape in FP32 (the OpenVINO rule is more general; refint8 takes
the common, clearly correct case).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from . import dequantization
from .context import LptContext
from .move import full_rank, move_through


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    in_shape = node.inputs[0].shape
    out_shape = node.output_types[0].shape

    def remap(constant: np.ndarray) -> np.ndarray | None:
        if dequantization.is_scalar_like(constant):
            return np.asarray(constant.reshape(-1)[0], np.float32)
        axis = dequantization.per_channel_axis(constant, len(in_shape))
        if axis == 1 and len(out_shape) >= 2 and tuple(out_shape[:2]) == tuple(in_shape[:2]):
            return full_rank(constant, len(in_shape)).reshape((1, in_shape[1]) + (1,) * (len(out_shape) - 2))
        return None

    return move_through(ctx, node, chain, remap)

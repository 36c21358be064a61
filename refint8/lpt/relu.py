"""ReLU: precision-preserving when the dequantization has no zero point and scales >= 0.

Identity: ``relu(s * q) = s * relu(q)`` for ``s >= 0``; on u8 codes ``relu`` is the identity and on
i8 codes ``max(q, 0)``. With a zero point, ``relu(s*(q - zp))`` clips at ``q = zp``, which is not a
ReLU of the codes, and a negative scale flips which side is clipped: both keep ReLU in FP32
(OpenVINO's ReluTransformation has the same conditions).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from . import dequantization
from .context import LptContext
from .move import move_through


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    if chain.subtract is not None and np.any(chain.zero_point != 0):
        return ctx.decline(node, "its input dequantization has a zero point (ReLU would clip at it)")
    if np.any(chain.scale < 0):
        return ctx.decline(node, "a negative dequantization scale before ReLU")
    return move_through(ctx, node, chain, lambda c: c)

"""MaxPool: precision-preserving when every dequantization scale is >= 0.

Identity: ``max_i s*(q_i - zp) = s*(max_i q_i - zp)`` for ``s >= 0`` and a zp and s that do not
vary inside a window (per-tensor or per-channel). Padding never wins a max in either domain.
A negative scale turns max into min: MaxPool stays FP32 (as in OpenVINO).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from . import dequantization
from .context import LptContext
from .move import move_through, unchanged_if_not_varying


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    if np.any(chain.scale < 0):
        return ctx.decline(node, "a negative dequantization scale before MaxPool")
    rank = node.inputs[0].type.rank
    return move_through(ctx, node, chain, unchanged_if_not_varying(set(range(2, rank)) | {0}, rank))

"""Transpose (Permute): precision-preserving; the dequantization constants are transposed too.

Identity: ``transpose(s * (q - zp), order) = transpose(s) * (transpose(q) - transpose(zp))`` with
the constants expanded to the data's rank; a per-channel constant ``[1, C, 1, 1]`` becomes
per-channel along wherever ``order`` moves axis 1.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..ops.transpose import permutation
from . import dequantization
from .context import LptContext
from .move import full_rank, move_through


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    rank = node.inputs[0].type.rank
    order = permutation(rank, node.attrs["order"])
    return move_through(ctx, node, chain, lambda c: np.transpose(full_rank(c, rank), order))

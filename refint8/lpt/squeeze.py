"""Squeeze and Unsqueeze: precision-preserving; the constants get the same axes removed/added.

Identity: squeezing or unsqueezing only changes the shape. A dequantization constant expanded to
the data's rank has size 1 wherever the data has size 1, so the same Squeeze (or Unsqueeze)
applied to it keeps it aligned with the data.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node
from ..ops.squeeze import squeezed_axes
from ..ops.unsqueeze import unsqueezed_shape
from . import dequantization
from .context import LptContext
from .move import full_rank, move_through


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    in_shape = node.inputs[0].shape
    rank = len(in_shape)
    if node.type == "Squeeze":
        axes = squeezed_axes(in_shape, node.attrs["axes"])
        return move_through(ctx, node, chain, lambda c: np.squeeze(full_rank(c, rank), axis=axes))
    def unsqueeze(constant: np.ndarray) -> np.ndarray:
        full = full_rank(constant, rank)
        return full.reshape(unsqueezed_shape(full.shape, node.attrs["axes"]))

    return move_through(ctx, node, chain, unsqueeze)

"""Moving a dequantization through a layer: the shared mechanics of the precision-preserving moves.

``layer(Multiply(Subtract(Convert(q), zp), s))`` becomes
``Multiply(Subtract(Convert(layer(q)), zp'), s')`` where ``layer`` now runs on the integer codes
and ``zp'``, ``s'`` are the constants transformed the way the layer transforms positions (the
same constants for elementwise-per-channel layers, transposed for Transpose, and so on). Each
transformation module states when this is an identity; this module only performs the rewrite.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..graph import Node, make_node
from . import dequantization
from .context import LptContext

ConstantMap = Callable[[np.ndarray], "np.ndarray | None"]


def full_rank(constant: np.ndarray, rank: int) -> np.ndarray:
    """The constant with leading 1-dims added so that it has the data's rank."""
    return constant.reshape((1,) * (rank - constant.ndim) + constant.shape)


def move_through(ctx: LptContext, node: Node, chain: dequantization.Chain, map_constant: ConstantMap) -> bool:
    """Rebuild ``node`` on the codes and put the (mapped) dequantization after it."""
    zero_point = map_constant(chain.zero_point) if chain.subtract is not None else None
    scale = map_constant(chain.scale) if chain.multiply is not None else None
    if (chain.subtract is not None and zero_point is None) or (chain.multiply is not None and scale is None):
        return ctx.decline(node, "its dequantization constants cannot be carried through it")
    moved = make_node(node.type, [chain.data, *node.inputs[1:]], node.attrs, node.name)
    moved.rt_info.update(node.rt_info)
    out = dequantization.build(moved.output(0), zero_point, scale, f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True


def unchanged_if_not_varying(axes: set[int], rank: int) -> ConstantMap:
    """Keep constants that do not vary along ``axes`` (the axes the layer mixes or resizes)."""

    def keep(constant: np.ndarray) -> np.ndarray | None:
        full = full_rank(constant, rank)
        if any(full.shape[a] != 1 for a in axes):
            return None
        return constant

    return keep

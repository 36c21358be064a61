"""Interpolate (Resample): precision-preserving in nearest mode only.

Identity: nearest-neighbour resampling copies values, so it commutes with a dequantization that
does not vary along the resized axes. Linear modes compute weighted sums of neighbours, which are
not codes: they stay FP32 (OpenVINO's InterpolateTransformation accepts only nearest as well).
"""

from __future__ import annotations

from ..graph import Node
from . import dequantization
from .context import LptContext
from .move import move_through, unchanged_if_not_varying


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    if node.attrs["mode"] != "nearest":
        return ctx.decline(node, f"{node.attrs['mode']} interpolation has no int8 semantics (only nearest)")
    rank = node.inputs[0].type.rank
    # Nearest resampling to the same size is the identity in every coordinate mode, so only the
    # axes whose size changes constrain the constants.
    resized = {axis for axis, (a, b) in enumerate(zip(node.inputs[0].shape, node.output_types[0].shape))
               if a != b}
    return move_through(ctx, node, chain, unchanged_if_not_varying(resized, rank))

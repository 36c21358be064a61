"""Concat: join the integer codes and concatenate the dequantization constants along the axis.

Pattern
    ``Concat(x_1, ..., x_n, axis)`` where every ``x_i = Multiply(Subtract(Convert(q_i), zp_i), s_i)``
    is a dequantization chain (Subtract and Multiply optional) of u8/i8 codes.
Rewrite
    ``Concat(q_1, ..., q_n) -> Convert -> Subtract(ZP) -> Multiply(S)`` where ``ZP`` (``S``) is the
    concatenation along ``axis`` of every input's zero point (scale) broadcast to
    ``[1, ..., C_i, ..., 1]`` (``C_i`` the input's size on the axis); an input without a Subtract
    contributes zeros, one without a Multiply ones. A constant whose values are all equal becomes
    a scalar (OpenVINO's ``toScalarIfPossible``); no Subtract at all when every zero point is 0.
    The Concat itself now runs on the codes: precision-preserving, its output is u8/i8.
Identity
    Concat copies values, so slice ``i`` of the output is ``(q_i - zp_i) * s_i`` before and after;
    each constant element multiplies exactly the elements it multiplied before. Exact (the same
    float32 operations on the same operands).
Preconditions (OpenVINO's ConcatTransformation::canBeTransformed)
    every input dequantized (if none is, the Concat is plain float and nothing is recorded); all
    codes of the same element type; each constant scalar-like or varying only along the concat
    axis (one varying along another axis, concatenated with the others, would give a constant that
    varies along two axes, which is not a dequantization constant). Otherwise the Concat stays
    FP32 with the reason.
With a per-tensor consumer
    Different scales per input make the result per-channel, which a Convolution's port 0 cannot
    take: :mod:`.interval_alignment` decomposes the FakeQuantizes feeding such a Concat onto one
    shared scale and zero point first, so that the concatenated constants collapse to scalars.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from . import dequantization
from .context import LptContext
from .move import full_rank


def _along_axis(constant: np.ndarray | None, fill: float, rank: int, axis: int, size: int) -> np.ndarray:
    """``constant`` (or ``fill``) broadcast to ``[1, ..., size (at axis), ..., 1]``."""
    target = [1] * rank
    target[axis] = size
    if constant is None:
        return np.full(target, fill, np.float32)
    full = full_rank(np.asarray(constant, np.float32), rank)
    if dequantization.is_scalar_like(full):
        return np.full(target, full.reshape(-1)[0], np.float32)
    return np.broadcast_to(full, target).astype(np.float32)


def _scalar_if_possible(constant: np.ndarray) -> np.ndarray:
    if dequantization.is_scalar_like(constant):
        return np.asarray(constant.reshape(-1)[0], np.float32)
    return constant


def transform(ctx: LptContext, node: Node) -> bool:
    chains = [dequantization.match(src) for src in node.inputs]
    if all(chain is None for chain in chains):
        return False
    for position, chain in enumerate(chains):
        if chain is None:
            src = node.inputs[position]
            return ctx.decline(node, f"input {position} ('{src.name}') is not dequantized int8 data "
                                     "(every input of an int8 Concat must be)")
    precisions = sorted({chain.precision for chain in chains})
    if len(precisions) > 1:
        return ctx.decline(node, f"its inputs have different low precisions ({', '.join(precisions)})")
    rank = node.output_types[0].rank
    axis = node.attrs["axis"] % rank
    for position, chain in enumerate(chains):
        for label, present, constant in (("zero point", chain.subtract, chain.zero_point),
                                         ("scale", chain.multiply, chain.scale)):
            if present is None or dequantization.is_scalar_like(constant):
                continue
            varying = dequantization.per_channel_axis(constant, rank)
            if varying != axis:
                where = "several axes" if varying == -1 else f"axis {varying}"
                return ctx.decline(node, f"the {label} of input {position} varies along {where}, "
                                         f"not along the concat axis {axis}")

    sizes = [src.shape[axis] for src in node.inputs]
    zero_point = scale = None
    if any(chain.subtract is not None for chain in chains):
        zero_point = _scalar_if_possible(np.concatenate(
            [_along_axis(c.zero_point if c.subtract is not None else None, 0.0, rank, axis, n)
             for c, n in zip(chains, sizes)], axis=axis))
    if any(chain.multiply is not None for chain in chains):
        scale = _scalar_if_possible(np.concatenate(
            [_along_axis(c.scale if c.multiply is not None else None, 1.0, rank, axis, n)
             for c, n in zip(chains, sizes)], axis=axis))

    joined = make_node("Concat", [chain.data for chain in chains], node.attrs, node.name)
    joined.rt_info.update(node.rt_info)
    out = dequantization.build(joined.output(0), zero_point, scale, f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True

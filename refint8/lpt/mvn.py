"""MVN on dequantized data -> Int8MVN on the codes (OpenVINO's MVNTransformation).

Pattern
    ``MVN(Multiply(Convert(q), s))``: a dequantization by a scale only (no zero point).
Rewrite
    ``Int8MVN(q; same axes, normalize_variance, eps, eps_mode) -> Multiply(s')`` with
    ``s' = sign(s)`` (+1 or -1 per element of the scale constant, as float32) when
    ``normalize_variance`` is true, ``s' = s`` when it is false. The cleanup fuses the Multiply
    as the layer's first post-op (and a following requantizing FakeQuantize after it).
Identity
    With ``x = s*q`` and ``s`` constant over every reduction group: ``mean(x) = s*mean(q)``, so
    ``x - mean(x) = s * (q - mean(q))`` (the normalize_variance=false case: MVN without variance
    normalization is linear), and ``var(x) = s^2 * var(q)``, so
    ``(x - mean(x)) / sqrt(var(x)) = sign(s) * (q - mean(q)) / sqrt(var(q))``.
    The zero point would also cancel in the mean, but OpenVINO requires its absence; so does
    refint8.
eps caveat
    eps is compared with the variance OF THE CODES in the int8 layer, with the variance of the
    values in the fp32 graph: the int8 result equals fp32 MVN of ``x`` with eps replaced by
    ``s^2 * eps`` (inside_sqrt) or ``|s| * eps`` (outside_sqrt). OpenVINO does not rescale eps
    either. The two agree closely where ``var(x) >> eps``; on near-constant groups (``var(x)``
    comparable to eps, or a large eps) the fp32 graph shrinks the output towards 0 while the
    int8 layer normalizes it (refint8.int8.mvn). eps is passed rounded to float32 (OpenVINO
    stores the attribute as float32, and so does fp32 MVN).
Bound (normalize_variance, var(x) >> eps)
    The int8 layer computes the moments of the codes exactly and rounds once to float32; the
    fp32 graph first rounds ``x = float32(q*s)`` (relative error 2^-24 per element), so
    ``|y_int8 - y_fp32| <= 2^-24 * (|y| + 4 * max|q| / std(q) * (1 + |y|)) + |y| * eps / (2 * var(x))``
    per element (derived; the first term is the final rounding, the second the input rounding
    propagated through mean and standard deviation, the last the eps difference). Without
    normalize_variance the difference is the input rounding only: ``|Δ| <= 2^-24 * (|y| + 2 *
    max|x|) + 2^-24 * |y|``.
Preconditions (else FP32, with the reason)
    - the input is dequantized low-precision data, by a Multiply only (a nonzero zero point
      declines: OpenVINO's condition);
    - the scale varies at most along the channel axis 1 and is nonzero;
    - if the reduction axes include the channel axis 1: they include every spatial axis
      (2 .. rank-1) and the scale is scalar-like (OpenVINO's condition);
    - a reduction group small enough for the exact int64 moments of Int8MVN.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Node, make_node
from ..int8.mvn import max_group_size
from . import dequantization
from .context import LptContext
from .convolution import dequantization_after


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return ctx.decline(node, "its input is not dequantized int8 data (no usable FakeQuantize before it)")
    if chain.subtract is not None and np.any(chain.zero_point != 0):
        return ctx.decline(node, "its input dequantization has a zero point (int8 MVN needs a scale-only "
                                 "dequantization)")
    shape = node.inputs[0].shape
    rank = len(shape)
    scale = chain.scale
    axis = dequantization.per_channel_axis(scale, rank) if scale.ndim <= rank else -1
    if axis not in (None, 1):
        return ctx.decline(node, f"the dequantization scale varies along axis {axis}, not per channel")
    if np.any(scale == 0):
        return ctx.decline(node, "a dequantization scale is zero")
    axes = sorted(a % rank for a in node.attrs["axes"])
    if 1 in axes:
        spatial = set(range(2, rank))
        if not spatial <= set(axes):
            return ctx.decline(node, "it reduces over the channel axis but not over every spatial axis")
        if not dequantization.is_scalar_like(scale):
            return ctx.decline(node, "it reduces over the channel axis with per-channel scales")
    n = math.prod(shape[a] for a in axes)
    if n > max_group_size(chain.data.dtype):
        return ctx.decline(node, f"a reduction group of {n} elements exceeds the exact int64 moments "
                                 f"of the int8 MVN")

    normalize_variance = node.attrs["normalize_variance"]
    int8 = make_node(
        "Int8MVN",
        [chain.data],
        {"axes": tuple(node.attrs["axes"]), "normalize_variance": normalize_variance,
         "eps": float(np.float32(node.attrs["eps"])), "eps_mode": node.attrs["eps_mode"],
         "post_ops": ()},
        node.name,
    )
    int8.rt_info.update(node.rt_info)
    int8.rt_info["layer_type"] = "MVN"
    if normalize_variance:
        moved = np.where(scale < 0, np.float32(-1), np.float32(1)).astype(np.float32)
    else:
        moved = scale.astype(np.float32)
    out = dequantization_after(int8, moved, f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True

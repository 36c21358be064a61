"""MatMul with constant quantized weights -> Int8MatMul (FullyConnected).

Pattern
    ``MatMul(Multiply(Subtract(Convert(q), za), sa), FakeQuantize(W_const), transpose_b=t)`` with
    2-D weights ``W``: ``[K, N]`` (``t`` false) or ``[N, K]`` (``t`` true), and data ``[..., K]``
    of rank >= 2.
Rewrite
    ``Int8MatMul(q, w_codes[N, K]; za, zw) -> Multiply(sa * sw[n])`` (scale along the last axis).
    The weights are stored ``[N, K]`` (FullyConnected layout) whatever ``transpose_b`` was.
Identity
    ``Σ_k (q[k] - za) * sa * (w[n, k] - zw[n]) * sw[n] = sa * sw[n] * Σ_k (q[k] - za)(w[n, k] - zw[n])``.
Preconditions (else FP32, with the reason)
    dequantized u8/i8 data accepted by port 0 (OpenVINO CPU: u8 and i8); ``transpose_a`` false;
    one activation scale and zero point for the whole tensor; integral zero point; weights a
    FakeQuantize on a 2-D constant with per-N (or per-tensor) ranges; accumulator bound in int32.
    Two activation inputs (no constant weights) stay FP32.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from ..int8.accumulate import fits_int32
from . import dequantization, weight_folding
from .context import LptContext
from .convolution import dequantization_after
from .quantization import integral_zero_point


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return ctx.decline(node, dequantization.not_dequantized_reason(node.inputs[0]))
    if chain.precision not in ctx.restrictions.allowed("MatMul", 0):
        return ctx.decline(node, f"MatMul port 0 does not accept {chain.precision} here")
    if node.attrs["transpose_a"]:
        return ctx.decline(node, "transpose_a is not supported by the int8 FullyConnected")
    if node.inputs[0].type.rank < 2:
        return ctx.decline(node, "the int8 FullyConnected needs data of rank >= 2")
    weight_node = node.inputs[1].node
    if weight_node.type != "FakeQuantize" or weight_node.inputs[0].node.type != "Constant":
        return ctx.decline(node, "its second input is not constant quantized weights")
    if weight_node.inputs[0].type.rank != 2:
        return ctx.decline(node, "the int8 FullyConnected needs 2-D weights")
    if not (dequantization.is_scalar_like(chain.scale) and dequantization.is_scalar_like(chain.zero_point)):
        return ctx.decline(node, "per-channel activation dequantization where the layer needs one per tensor")
    low, high = (0, 255) if chain.precision == "u8" else (-128, 127)
    za, reason = integral_zero_point(chain.zero_point.reshape(-1)[:1], low, high)
    if za is None:
        return ctx.decline(node, f"activation {reason}")
    transpose_b = node.attrs["transpose_b"]
    folded = weight_folding.fold(weight_node, axis=0 if transpose_b else 1)
    if isinstance(folded, str):
        return ctx.decline(node, folded)
    codes = folded.codes if transpose_b else folded.codes.T
    n, k = codes.shape
    zw_attr = () if not np.any(folded.zero_point) else tuple(int(v) for v in folded.zero_point)
    if not fits_int32(k, abs(int(za[0])), max(map(abs, zw_attr), default=0)):
        return ctx.decline(node, f"the accumulator of {k} products may exceed int32")
    weights = make_node("Constant", [], {"value": np.ascontiguousarray(codes)},
                        f"{node.name}/weights_i8").output(0)
    int8 = make_node(
        "Int8MatMul",
        [chain.data, weights],
        {"input_zero_point": (int(za[0]),), "weight_zero_point": zw_attr,
         "accumulation": ctx.accumulation, "post_ops": ()},
        node.name,
    )
    int8.rt_info.update(node.rt_info)
    int8.rt_info["layer_type"] = "FullyConnected"
    scale = np.float32(chain.scale.reshape(-1)[0]) * folded.scale.astype(np.float32)
    out = dequantization_after(int8, scale.reshape(n), f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True

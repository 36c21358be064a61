"""Convolution (and grouped/depthwise): dequantized activations x folded weights -> Int8Convolution.

Pattern
    ``Convolution(Multiply(Subtract(Convert(q), za), sa), FakeQuantize(W_const, ...))``
Rewrite
    ``Int8Convolution(q, w_codes; za, zw) -> Multiply(sa * sw[oc])``
    The Multiply is the dequantization moved after the layer; the cleanup later fuses it (with the
    bias Add, an activation and a requantizing FakeQuantize) into the layer's post-ops.
Identity
    ``conv((q - za) * sa, (w - zw) * sw)[o] = sa * sw[o] * Σ (q - za) * (w - zw)``: the scales
    factor out of the sum because ``sa`` is the same for every input channel of a group and ``sw``
    the same for every weight of an output channel. Padding: the fp32 convolution pads the
    dequantized input with 0.0, which is the code ``za``; the int8 layer pads with ``za``.
    ``sa * sw[o]`` is computed in float32 at compile time, the product with the accumulator at run
    time: the int8 result equals the fp32 convolution of the dequantized values up to float32
    rounding of the sum (none while |acc| < 2^24) and of the two products.
Preconditions (else the layer stays FP32, with the reason)
    - the activation is dequantized u8/i8 data whose precision port 0 accepts (OpenVINO CPU: u8);
    - ``sa`` per tensor, or, for a grouped convolution, equal within each group; ``sa`` may be
      negative;
    - the activation zero point is an integer inside the code range (per tensor or per channel);
    - the weights are a FakeQuantize on a constant that folds (see weight_folding);
    - the accumulator bound fits int32.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from ..int8.accumulate import fits_int32
from ..ops.convolution import resolve_pads
from . import dequantization, weight_folding
from .context import LptContext
from .quantization import integral_zero_point
from .restrictions import port_layer


def activation_scale_per_group(scale: np.ndarray, channels: int, group: int) -> np.ndarray | None:
    """The activation scale as one value per group, or None if it varies inside a group."""
    values = np.asarray(scale, np.float32).reshape(-1)
    if values.size not in (1, channels):
        return None
    per_group = np.broadcast_to(values, (channels,)).reshape(group, channels // group)
    if np.any(per_group != per_group[:, :1]):
        return None
    return per_group[:, 0].copy()


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return ctx.decline(node, dequantization.not_dequantized_reason(node.inputs[0]))
    group = node.attrs["group"]
    layer = port_layer("Convolution", group)
    if chain.precision not in ctx.restrictions.allowed(layer, 0):
        return ctx.decline(node, f"{layer} port 0 does not accept {chain.precision} here")
    n, channels, h, w = node.inputs[0].shape
    rank = 4
    for name, constant in (("scale", chain.scale), ("zero point", chain.zero_point)):
        axis = dequantization.per_channel_axis(constant, rank)
        if axis not in (None, 1):
            return ctx.decline(node, f"the activation {name} varies along axis {axis}, not per channel")
    scale_groups = activation_scale_per_group(chain.scale, channels, group)
    per_tensor = ctx.restrictions.per_tensor(layer, 0)
    if scale_groups is None or (per_tensor and not dequantization.is_scalar_like(chain.scale)):
        return ctx.decline(node, "per-channel activation scales where the layer needs one scale per "
                                 "tensor (or per group)")
    low, high = (0, 255) if chain.precision == "u8" else (-128, 127)
    zp = np.broadcast_to(chain.zero_point.reshape(-1), (channels,))
    za, reason = integral_zero_point(zp, low, high)
    if za is None:
        return ctx.decline(node, f"activation {reason}")
    folded = weight_folding.fold(node.inputs[1].node, axis=0)
    if isinstance(folded, str):
        return ctx.decline(node, folded)
    oc, cg, kh, kw = folded.codes.shape
    za_attr = (int(za[0]),) if np.all(za == za[0]) else tuple(int(v) for v in za)
    zw_attr = () if not np.any(folded.zero_point) else tuple(int(v) for v in folded.zero_point)
    if not fits_int32(cg * kh * kw, max(abs(v) for v in za_attr), max(map(abs, zw_attr), default=0)):
        return ctx.decline(node, f"the accumulator of {cg * kh * kw} products may exceed int32")

    pads = [resolve_pads(node.attrs["auto_pad"], size, k, s, d, b, e)
            for size, k, s, d, b, e in zip((h, w), (kh, kw), node.attrs["strides"],
                                           node.attrs["dilations"], node.attrs["pads_begin"],
                                           node.attrs["pads_end"])]
    weights = make_node("Constant", [], {"value": folded.codes}, f"{node.name}/weights_i8").output(0)
    int8 = make_node(
        "Int8Convolution",
        [chain.data, weights],
        {
            "strides": node.attrs["strides"], "dilations": node.attrs["dilations"],
            "pads_begin": tuple(p[0] for p in pads), "pads_end": tuple(p[1] for p in pads),
            "group": group, "input_zero_point": za_attr, "weight_zero_point": zw_attr,
            "accumulation": ctx.accumulation, "post_ops": (),
        },
        node.name,
    )
    int8.rt_info.update(node.rt_info)
    int8.rt_info["layer_type"] = "Convolution"
    ocg = oc // group
    scale = np.repeat(scale_groups.astype(np.float32), ocg) * folded.scale.astype(np.float32)
    out = dequantization_after(int8, scale.reshape(1, oc, 1, 1), f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True


def dequantization_after(node: Node, scale: np.ndarray, name: str):
    """``Multiply(scale)`` after an int8 layer whose float32 output is the accumulator."""
    constant = make_node("Constant", [], {"value": scale.astype(np.float32)}, f"{name}/scale").output(0)
    return make_node("Multiply", [node.output(0), constant], {}, f"{name}/multiply").output(0)

"""AvgPool: average the integer codes (Int8AvgPool) when an int8 layer follows.

OpenVINO's AvgPoolTransformation (``src/avg_pool.cpp``) with MarkupAvgPoolPrecisionPreserved.

Pattern
    ``AvgPool(Multiply(Subtract(Convert(q), zp), s))`` whose result reaches an int8 layer.
Rewrite
    ``Int8AvgPool(q; pad_value = zp) -> Convert -> Subtract(zp) -> Multiply(s)``: the average of
    the codes, rounded half to even to a code of q's type (see refint8.int8.avg_pool), with the
    same dequantization after it. ``auto_pad`` is resolved into explicit pads.
Identity, up to rounding
    With ``zp`` and ``s`` constant over every window (per tensor or per channel),
    ``avg(s * (q - zp)) = s * (avg(q) - zp)`` where a padded position counted by the divisor
    (``exclude_pad`` false, with pads; also the part of a ceil-rounded last window beyond the
    pads) is the float value 0, i.e. the code ``zp``: Int8AvgPool pads with ``pad_value = zp`` and
    uses the float AvgPool's divisor. Where padding does not count, ``pad_value`` is irrelevant
    (0), and a per-channel zero point is fine. The only change is that the average ``A`` of the
    codes is rounded to an integer code, so
    ``|s * (rint(A) - zp) - s * (A - zp)| <= |s| / 2``: at most half a code step of the average,
    reached exactly at ties (``A = k + 0.5``), which go to the even code (``rint``; e.g. averages
    0.5, 1.5, 2.5 give 0, 2, 2). Plus float32 rounding of the float average (an ulp).
OpenVINO's padding differs
    Its AvgPoolTransformation moves the Subtract after the AvgPool without looking at the
    padding, and the CPU's int8 kernel counts a padded position as code 0 (from oneDNN's source,
    see refint8.int8.avg_pool): with ``zp != 0`` and counted padding, OpenVINO's border outputs
    are not the FakeQuantize graph's. refint8 pads with ``zp`` and keeps the bound above.
When it applies (OpenVINO's MarkupAvgPoolPrecisionPreserved)
    AvgPool is precision-preserving only if an int8 layer follows: walking forward through
    precision-preserving layers (and further AvgPools), some consumer that is not a
    FakeQuantize accepts low precision on every input port (a Convolution, MatMul, Add, ...).
    Otherwise OpenVINO still moves the dequantization after the AvgPool, averages the codes in
    float (no rounding to a code: exact sums, one division) and dequantizes the average; refint8
    then leaves the AvgPool FP32 on its dequantized input and records why. The two agree up to
    float32 rounding (averaging ``s*(q - zp)`` rounds each product and sum, dequantizing the
    average rounds twice): a few ulp, which changes a following FakeQuantize's level only for a
    value within those ulp of a rounding tie (as the fused ranges of refint8.lpt.fuse_to_fake_quantize
    do).
Declines (FP32, with the reason)
    no int8 layer after it (above); ``s`` or ``zp`` varying inside a window (along batch or
    spatial axes); a zero point that is not an integer inside the code range (per tensor or per
    channel); a per-channel zero point where padding counts (Int8AvgPool has one pad value); a
    window lying entirely past the input where padding does not count (a ceil rounding with a
    large stride: the float average is NaN, -0.0 or +0.0 there, see refint8.ops.avg_pool; no
    code represents the first two, and Int8AvgPool rejects every such window).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, Output, make_node
from ..ops.avg_pool import avg_pool_geometry
from ..ops.convolution import input_error
from . import dequantization
from .context import LptContext
from .move import unchanged_if_not_varying
from .quantization import integral_zero_point
from .restrictions import PRECISION_PRESERVED, port_layer


def int8_layer_follows(ctx: LptContext, out: Output, precision: str) -> bool:
    """Whether ``out`` reaches, through precision-preserving layers and AvgPools, a consumer that
    is not a FakeQuantize and accepts low precision on all its ports (``precision`` on the port
    it reads ``out`` from)."""
    for consumer, port in ctx.consumers(out):
        if consumer.type in PRECISION_PRESERVED or consumer.type == "AvgPool":
            if int8_layer_follows(ctx, consumer.output(0), precision):
                return True
            continue
        if consumer.type == "FakeQuantize":
            continue
        layer = port_layer(consumer.type, consumer.attrs.get("group", 1))
        if precision not in ctx.restrictions.allowed(layer, port):
            continue
        if all(ctx.restrictions.allowed(layer, p) for p in range(len(consumer.inputs))):
            return True
    return False


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    if not int8_layer_follows(ctx, node.output(0), chain.precision):
        return ctx.decline(node, "no int8 layer follows it: OpenVINO does not mark it precision-preserved "
                                 "and computes the exact average in float (of the codes, then dequantized; "
                                 "this FP32 AvgPool averages the dequantized values: equal up to float32 "
                                 "rounding)")
    rank = node.inputs[0].type.rank
    keep = unchanged_if_not_varying({0, *range(2, rank)}, rank)
    for label, present, constant in (("zero point", chain.subtract, chain.zero_point),
                                     ("scale", chain.multiply, chain.scale)):
        if present is not None and keep(constant) is None:
            return ctx.decline(node, f"the dequantization {label} varies inside a pooling window "
                                     "(only per-tensor or per-channel constants average)")
    low, high = (0, 255) if chain.precision == "u8" else (-128, 127)
    zp, reason = integral_zero_point(chain.zero_point.reshape(-1), low, high)
    if zp is None:
        return ctx.decline(node, f"its input {reason}")

    a = node.attrs
    (pbh, pbw), (peh, pew), (_, _, oh, ow) = avg_pool_geometry(
        node.inputs[0].shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
        pads_end=a["pads_end"], exclude_pad=a["exclude_pad"], rounding_type=a["rounding_type"],
        auto_pad=a["auto_pad"], fail=input_error("avg_pool"),
    )
    _, _, h, w = node.inputs[0].shape
    padding_counts = not a["exclude_pad"] and any((pbh, pbw, peh, pew))
    if not padding_counts:
        for size, out_size, stride, pad in ((h, oh, a["strides"][0], pbh), (w, ow, a["strides"][1], pbw)):
            if (out_size - 1) * stride - pad >= size:
                return ctx.decline(node, "a pooling window lies entirely past the input (ceil "
                                         "rounding): its float average is NaN, -0.0 or +0.0 "
                                         "(refint8.ops.avg_pool), which no code represents")
    zp_flat = np.asarray(zp).reshape(-1)
    if padding_counts and np.any(zp_flat != zp_flat[0]):
        return ctx.decline(node, "per-channel zero points with counted padding (exclude_pad false): "
                                 "Int8AvgPool pads with one code for all channels")
    # The pad value matters only where padding counts; then the zero point is one integer.
    pad_value = int(zp_flat[0]) if padding_counts else 0
    pooled = make_node(
        "Int8AvgPool",
        [chain.data],
        {"kernel": a["kernel"], "strides": a["strides"], "pads_begin": (pbh, pbw),
         "pads_end": (peh, pew), "exclude_pad": a["exclude_pad"],
         "rounding_type": a["rounding_type"], "pad_value": pad_value},
        node.name,
    )
    pooled.rt_info.update(node.rt_info)
    pooled.rt_info["layer_type"] = "AvgPool"
    out = dequantization.build(pooled.output(0),
                               chain.zero_point if chain.subtract is not None else None,
                               chain.scale if chain.multiply is not None else None,
                               f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True

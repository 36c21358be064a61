"""Int8Convolution: u8/i8 activations x i8 weights, exact integer accumulation, float32 post-ops.

This is the int8 Convolution (and GroupConvolution, depthwise included) that LPT produces from
``FakeQuantize -> Convolution <- FakeQuantize(weights)``. It is the definition a backend's int8
convolution kernel must reproduce bit for bit.

Inputs
    data: u8 or i8, ``[N, C, H, W]`` activation codes ``q``.
    weights: i8 constant, ``[OC, C/group, KH, KW]`` weight codes ``w``.
Attributes
    strides, dilations, pads_begin, pads_end (2 each, explicit: LPT resolves auto_pad), group;
    input_zero_point ``za``: one integer, or one per input channel (C values);
    weight_zero_point ``zw``: empty (none), one integer, or one per output channel (OC values);
    accumulation: ``exact`` (default) or ``s16_pairs`` (see refint8.int8.accumulate);
    post_ops: the float32 tail (see refint8.int8.post_ops); the first is normally
    ``Multiply(s_a * s_w[oc])``, the dequantization LPT moved after the layer.
Computation
    1. Pad ``q`` spatially with the code ``za`` (per channel): a padded tap is the zero point, so it
       contributes exactly 0 to ``q - za``: the float value 0, as OpenVINO computes it. (Padding
       with code 0 would be wrong whenever ``za != 0``.)
    2. For every output position and output channel ``o`` of group ``g``::

           acc = Σ_{c in group g, ky, kx} (q[c, y*sy + ky*dy, x*sx + kx*dx] - za[c]) * (w[o, c, ky, kx] - zw[o])

       exact in integers (``exact`` mode), or with the raw product sum ``Σ q*w`` taken pair-wise
       saturated per kernel tap (``s16_pairs`` mode) and the zero-point terms added exactly.
    3. ``y = float32(acc)`` (round to nearest even; exact while |acc| < 2^24), then the post-ops.
Output
    float32 ``[N, OC, OH, OW]`` with ``OH = (H + pb + pe - ((KH-1)*dy + 1)) // sy + 1`` (same for
    W), or u8/i8 codes when the last post-op is a Quantize.
Errors
    data not u8/i8 or weights not i8; weights not a constant; channel mismatch; a zero point outside the code range; an
    accumulator bound ``K * (255 + |za|) * (128 + |zw|)`` above int32 (K = C/group * KH * KW):
    the layer is rejected at compile time instead of wrapping.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ..ops._base import Attr, Op
from . import post_ops as post
from .accumulate import ACCUMULATION_MODES, fits_int32, raw_product_sum


def int8_convolution(
    q: np.ndarray,
    w: np.ndarray,
    *,
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    pads_begin: tuple[int, int] = (0, 0),
    pads_end: tuple[int, int] = (0, 0),
    group: int = 1,
    input_zero_point: Any = 0,
    weight_zero_point: Any = (),
    accumulation: str = "exact",
    post_ops: tuple = (),
) -> np.ndarray:
    """The int8 convolution of the module docstring, on NumPy arrays."""
    acc = int8_convolution_accumulator(
        q, w, strides=strides, dilations=dilations, pads_begin=pads_begin, pads_end=pads_end,
        group=group, input_zero_point=input_zero_point, weight_zero_point=weight_zero_point,
        accumulation=accumulation,
    )
    return post.apply_post_ops(acc.astype(np.float32), post_ops)


def int8_convolution_accumulator(
    q: np.ndarray,
    w: np.ndarray,
    *,
    strides: tuple[int, int],
    dilations: tuple[int, int],
    pads_begin: tuple[int, int],
    pads_end: tuple[int, int],
    group: int,
    input_zero_point: Any,
    weight_zero_point: Any,
    accumulation: str,
) -> np.ndarray:
    """Steps 1-2 of the module docstring: the integer ``acc`` as int64 ``[N, OC, OH, OW]``."""
    n, c, h, wd = q.shape
    oc, cg, kh, kw = w.shape
    ocg = oc // group
    za = np.broadcast_to(np.asarray(input_zero_point, np.int64).reshape(-1), (c,))
    zw_raw = np.asarray(weight_zero_point, np.int64).reshape(-1)
    zw = np.broadcast_to(zw_raw, (oc,)) if zw_raw.size else np.zeros(oc, np.int64)
    (sy, sx), (dy, dx) = strides, dilations
    (pt, pl), (pb, pr) = pads_begin, pads_end
    oh = (h + pt + pb - ((kh - 1) * dy + 1)) // sy + 1
    ow = (wd + pl + pr - ((kw - 1) * dx + 1)) // sx + 1

    # 1. pad with the zero-point code of each channel
    padded = np.empty((n, c, h + pt + pb, wd + pl + pr), np.int64)
    padded[...] = za[None, :, None, None]
    padded[:, :, pt:pt + h, pl:pl + wd] = q
    grouped = padded.reshape(n, group, cg, *padded.shape[2:])
    weights = w.astype(np.int64).reshape(group, ocg, cg, kh, kw)

    # 2. Σ q*w per kernel tap (pairs saturate within a tap in s16 mode), then the exact zero-point terms
    raw = np.zeros((n, oh, ow, group, ocg), np.int64)
    window_sum = np.zeros((n, oh, ow, group, 1), np.int64)   # Σ q over each window, per group
    for ky in range(kh):
        for kx in range(kw):
            rows = slice(ky * dy, ky * dy + (oh - 1) * sy + 1, sy)
            cols = slice(kx * dx, kx * dx + (ow - 1) * sx + 1, sx)
            tap = grouped[:, :, :, rows, cols].transpose(0, 3, 4, 1, 2)     # [N, OH, OW, G, Cg]
            tap_weights = weights[:, :, :, ky, kx].transpose(0, 2, 1)      # [G, Cg, OCg]
            raw += raw_product_sum(tap, tap_weights, accumulation,
                                   signed_activations=q.dtype == np.int8)
            window_sum += tap.sum(axis=-1, keepdims=True)
    za_g = za.reshape(group, cg)
    sum_w = weights.sum(axis=(3, 4))                                     # [G, OCg, Cg]
    za_dot_w = np.einsum("goc,gc->go", sum_w, za_g)                       # Σ za * w
    za_sum = za_g.sum(axis=1, keepdims=True) * (kh * kw)                  # Σ za over the window
    zw_g = zw.reshape(group, ocg)
    acc = raw - za_dot_w - zw_g * window_sum + zw_g * za_sum
    return acc.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2)


class Int8Convolution(Op):
    type_name = "Int8Convolution"
    input_names = ("data", "weights")
    attributes = {
        "strides": Attr("ints", (1, 1)),
        "dilations": Attr("ints", (1, 1)),
        "pads_begin": Attr("ints", (0, 0)),
        "pads_end": Attr("ints", (0, 0)),
        "group": Attr("int", 1),
        "input_zero_point": Attr("ints", (0,)),
        "weight_zero_point": Attr("ints", ()),
        "accumulation": Attr("str", "exact", choices=ACCUMULATION_MODES),
        "post_ops": Attr("any", ()),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        a = ctx.attrs
        ctx.require_dtype(0, dtypes.U8, dtypes.I8, what="data")
        ctx.require_dtype(1, dtypes.I8, what="weights")
        if ctx.constant(1) is None:
            ctx.fail("weights must be a constant (backends pack them once at compile time)",
                     attribute="input[1]", value=ctx.inputs[1].name)
        ctx.require_rank(0, 4, what="data")
        ctx.require_rank(1, 4, what="weights")
        n, c, h, w = ctx.input_type(0).shape
        oc, cg, kh, kw = ctx.input_type(1).shape
        group = a["group"]
        for key in ("strides", "dilations", "pads_begin", "pads_end"):
            if len(a[key]) != 2:
                ctx.fail("needs 2 values (rank-4 data)", attribute=key, value=a[key])
        if min(a["strides"]) < 1 or min(a["dilations"]) < 1:
            ctx.fail("strides and dilations must be >= 1", attribute="strides",
                     value=(a["strides"], a["dilations"]))
        if min(a["pads_begin"] + a["pads_end"]) < 0:
            ctx.fail("pads must be >= 0", attribute="pads_begin", value=(a["pads_begin"], a["pads_end"]))
        if group < 1 or c != group * cg or oc % group:
            ctx.fail(f"data has {c} channels, weights {list(ctx.input_type(1).shape)}: need "
                     f"C == group * weights[1] and OC % group == 0", attribute="group", value=group)
        low, high = (0, 255) if ctx.input_type(0).dtype == dtypes.U8 else (-128, 127)
        za = a["input_zero_point"]
        if len(za) not in (1, c) or not all(low <= z <= high for z in za):
            ctx.fail(f"needs 1 or {c} values within the data's code range [{low}, {high}]",
                     attribute="input_zero_point", value=za)
        zw = a["weight_zero_point"]
        if len(zw) not in (0, 1, oc) or not all(-128 <= z <= 127 for z in zw):
            ctx.fail(f"needs 0, 1 or {oc} values within [-128, 127]", attribute="weight_zero_point", value=zw)
        terms = cg * kh * kw
        if not fits_int32(terms, max(map(abs, za)), max(map(abs, zw), default=0)):
            ctx.fail(f"the accumulator of {terms} products may exceed int32", attribute="weights",
                     value=list(ctx.input_type(1).shape))
        (sy, sx), (dy, dx) = a["strides"], a["dilations"]
        (pt, pl), (pb, pr) = a["pads_begin"], a["pads_end"]
        oh = (h + pt + pb - ((kh - 1) * dy + 1)) // sy + 1
        ow = (w + pl + pr - ((kw - 1) * dx + 1)) // sx + 1
        if oh < 1 or ow < 1:
            ctx.fail("the kernel does not fit the padded input", attribute="pads_begin", value=(oh, ow))
        shape = (n, oc, oh, ow)
        problem = post.check_post_ops(a["post_ops"], shape)
        if problem:
            ctx.fail(problem, attribute="post_ops", value=post.describe(a["post_ops"]))
        return [TensorType(post.output_dtype(a["post_ops"]), shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (int8_convolution(
            inputs[0], inputs[1], strides=attrs["strides"], dilations=attrs["dilations"],
            pads_begin=attrs["pads_begin"], pads_end=attrs["pads_end"], group=attrs["group"],
            input_zero_point=attrs["input_zero_point"], weight_zero_point=attrs["weight_zero_point"],
            accumulation=attrs["accumulation"], post_ops=attrs["post_ops"],
        ),)

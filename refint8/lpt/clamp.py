"""Clamp (ReLU6 and friends): move the scale after the Clamp and rescale its bounds.

OpenVINO's ClampTransformation (``src/clamp.cpp``).

Pattern
    ``Clamp(Multiply(Subtract(Convert(q), zp), s), lo, hi)`` with a scalar-like ``s`` (and a
    scalar-like ``zp`` if there is a Subtract).
Rewrite
    ``Convert(q) -> Subtract(zp) -> Clamp(lo', hi') -> Multiply(s)`` with
    ``lo' = lo / s``, ``hi' = hi / s`` for ``s > 0`` and ``lo' = hi / s``, ``hi' = lo / s`` for
    ``s < 0`` (the bounds swap), computed in float64 from the float32 scale; the Clamp op rounds
    them to float32. OpenVINO also moves a scalar Subtract after the Clamp and adds ``zp`` to both
    bounds instead; the two forms are equal in real numbers (and the same when ``zp`` is an integer
    and ``lo/s + zp`` rounds exactly), refint8 keeps the Subtract where it is, which is simpler.
Identity
    ``clamp(s * d, lo, hi) = s * clamp(d, lo/s, hi/s)`` for ``s > 0`` (``d = q - zp``): multiplying
    by a positive number keeps the order; for ``s < 0`` it reverses it, so the bounds swap.
    Exact in real numbers; in float32 the two sides are bit-identical for every ``d`` whose
    product ``s*d`` is not within a few ulps of a bound, and otherwise differ by at most
    ``2^-21 * max(|lo|, |hi|)`` (4 float32 ulps of the larger bound: the bound divided by ``s``,
    rounded, multiplied back, rounded, against a product compared with the rounded bound).
Not precision-preserving
    The Clamp now reads float values ``q - zp`` and the Multiply follows it: the result is float,
    and the layer after it sees no dequantization chain. OpenVINO behaves the same (observed: a
    Convolution after ``FakeQuantize -> ... -> Clamp`` ran ``brgconv_avx512_f32``). A layer after
    the Clamp therefore stays FP32 unless a new FakeQuantize requantizes; this module marks the
    Multiply so that such a layer's reason names the Clamp. The common int8 case is unaffected:
    ``Convolution -> bias -> Clamp -> FakeQuantize`` never reaches this module (the Clamp's input
    is the convolution's float output, not a dequantization chain) and the cleanup fuses the Clamp
    into the convolution's post-ops. After this rewrite the leftover ``Convert -> Subtract ->
    Clamp -> Multiply`` itself becomes one Dequantize layer with those post-ops.
    A chain without a Multiply has scale 1 (OpenVINO always creates the Multiply; refint8 omits a
    Multiply by 1): the Clamp then keeps its bounds and nothing follows it.
Declines (the Clamp keeps its input dequantization, with the reason)
    a Multiply or Subtract constant that is not scalar-like (per-channel bounds would be needed;
    OpenVINO issue #43136); a zero scale.
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, make_node
from . import dequantization
from .context import LptContext


def bounds_for_codes(low: float, high: float, scale: float) -> tuple[float, float]:
    """The Clamp bounds on ``q - zp`` equivalent to ``[low, high]`` on ``scale * (q - zp)``."""
    s = float(np.float32(scale))
    if s < 0:
        low, high = high, low
    return low / s, high / s


def transform(ctx: LptContext, node: Node) -> bool:
    chain = dequantization.match(node.inputs[0])
    if chain is None:
        return False
    if not dequantization.is_scalar_like(chain.scale):
        return ctx.decline(node, "per-channel dequantization scales before Clamp (the bounds would "
                                 "differ per channel)")
    if chain.subtract is not None and not dequantization.is_scalar_like(chain.zero_point):
        return ctx.decline(node, "a per-channel zero point before Clamp (OpenVINO moves only "
                                 "scalar-like zero points)")
    scale = float(chain.scale.reshape(-1)[0])
    if scale == 0:
        return ctx.decline(node, "a zero dequantization scale before Clamp")

    low, high = bounds_for_codes(node.attrs["min"], node.attrs["max"], scale)
    before = chain.subtract.output(0) if chain.subtract is not None else chain.convert.output(0)
    clamp = make_node("Clamp", [before], {"min": low, "max": high}, node.name)
    clamp.rt_info.update(node.rt_info)
    last = clamp
    if chain.multiply is not None:
        constant = make_node("Constant", [], {"value": np.asarray(scale, np.float32)},
                             f"{node.name}/dequantize/scale").output(0)
        last = make_node("Multiply", [clamp.output(0), constant], {}, f"{node.name}/dequantize/multiply")
    last.rt_info[dequantization.CHAIN_ENDED] = (
        f"the int8 chain ends at Clamp '{node.name}': a Clamp outputs float (its dequantization "
        "scale moves after it and nothing requantizes before this layer)"
    )
    ctx.replace(node.output(0), last.output(0))
    return True

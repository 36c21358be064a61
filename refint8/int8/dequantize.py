"""Dequantize: integer codes to float32, then the float32 post-ops (CPU layer type ``Dequantize``).

What a leftover dequantization chain ``Convert(f32) -> [Subtract(zp)] -> Multiply(scale)``
becomes when LPT could not move it into a consumer (before an fp32 op, at a model output): the
conversion plus post-ops ``Subtract(zp), Multiply(scale)``. With a final Quantize post-op it is a
requantization (codes in, codes out), e.g. a FakeQuantize whose input is already quantized.

Inputs
    data: u8, i8 or i32 codes ``q``, any shape.
Attributes
    post_ops: the float32 tail (refint8.int8.post_ops), operands broadcast to the data's shape
    without changing it (per channel: ``[1, C, 1, 1]`` for NCHW).
Computation (pinned)
    ``y = float32(q)`` (exact for u8/i8 and for ``|q| <= 2^24``; larger i32 codes round to the
    nearest float32, ties to even), then each post-op in order, each one IEEE float32 operation::

        y = post_ops(float32(q))         # typically Subtract(zp) then Multiply(scale)

    Note the order: ``(float32(q) - zp) * scale`` is two roundings and is NOT ``q*scale -
    zp*scale``; the Subtract comes first, as in LPT's dequantization chain.
Output
    float32, the data's shape; or u8/i8 codes when the last post-op is a Quantize.
Errors (GraphError naming node, attribute and value)
    data not u8/i8/i32; invalid post-ops (an operand that does not broadcast to the data,
    Quantize not last).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ..ops._base import Attr, Op
from . import post_ops as post


def dequantize(q: np.ndarray, *, post_ops: tuple = ()) -> np.ndarray:
    """``post_ops(float32(q))``, the module docstring on NumPy arrays."""
    return post.apply_post_ops(np.asarray(q).astype(np.float32), post_ops)


class Dequantize(Op):
    type_name = "Dequantize"
    input_names = ("data",)
    attributes = {
        "post_ops": Attr("any", ()),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.U8, dtypes.I8, dtypes.I32, what="data")
        shape = ctx.input_type(0).shape
        post_ops = ctx.attrs["post_ops"]
        problem = post.check_post_ops(post_ops, shape)
        if problem:
            ctx.fail(problem, attribute="post_ops", value=post.describe(post_ops))
        return [TensorType(post.output_dtype(post_ops), shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (dequantize(inputs[0], post_ops=attrs["post_ops"]),)

"""Int8Add and Int8Multiply: OpenVINO's two-branch int8 Eltwise (CPU layer type ``Eltwise``).

When both inputs of an Add or Multiply are dequantized low-precision tensors, LPT
(AddTransformation, MultiplyPartialTransformation) keeps ONE branch raw, the "empty" branch (its codes enter the
operation as they are), and folds every dequantization constant into the other, "full" branch and
into one Multiply after the operation. The int8 layer computes, per element, in float32.

Inputs
    full: u8 or i8 codes ``q1`` of the branch that keeps a (rewritten) dequantization.
    empty: u8 or i8 codes ``q2`` of the branch whose dequantization moved after the layer.
    The two shapes broadcast with NumPy rules; the output has the broadcast shape.
Attributes
    full_shift ``h``: float32 operand (a scalar or an array, e.g. per channel ``[1, C, 1, 1]``)
    subtracted from the full branch; default 0.
    full_scale ``r`` (Int8Add only): float32 operand multiplying the full branch; default 1.
    post_ops: the float32 tail (refint8.int8.post_ops); LPT puts the moved scale first.
    Operands must broadcast to the output shape without changing it (as post-op operands).

Int8Add
    For ``x1 = s1 * (q1 - sh1)`` and ``x2 = s2 * (q2 - sh2)`` (nonzero scales s, shifts sh)::

        s1*(q1 - sh1) + s2*(q2 - sh2)  =  s2 * ( (s1/s2) * (q1 - (sh1 + s2*sh2/s1)) + q2 )

    so LPT sets ``full_scale = s1/s2``, ``full_shift = sh1 + s2*sh2/s1`` and the first post-op
    ``Multiply(s2)``; the empty branch's shift moved into the full branch. Pinned order, each step
    ONE IEEE float32 operation (no FMA, no reassociation)::

        t = float32(q1) - h        # the code converted exactly, then one subtraction
        t = t * r
        t = t + float32(q2)
        y = post_ops(t)            # LPT: Multiply(s2) first

    Computing the constants ``s1/s2`` and ``sh1 + s2*sh2/s1`` is the lowering's job; this layer
    uses the float32 values it is given. The identity is exact in real arithmetic only: the result
    differs from the fp32 graph ``s1*(q1-sh1) + s2*(q2-sh2)`` by float32 rounding.

Int8Multiply
    For ``x1 = s1 * (q1 - sh1)`` and ``x2 = s2 * q2``::

        (s1*(q1 - sh1)) * (s2*q2)  =  (s1*s2) * ((q1 - sh1) * q2)

    The empty branch must have NO shift (MultiplyPartialTransformation requires it: unlike for
    Add, a shift of the empty branch cannot be folded into the other branch). LPT sets
    ``full_shift = sh1`` and the first post-op ``Multiply(s1*s2)``. Pinned order, each step one
    float32 operation::

        t = float32(q1) - h
        t = t * float32(q2)
        y = post_ops(t)            # LPT: Multiply(s1*s2) first

Output
    float32, the broadcast shape; or u8/i8 codes when the last post-op is a Quantize.
Errors (GraphError naming node, attribute and value)
    an input not u8/i8; shapes that do not broadcast; ``full_shift``/``full_scale`` not numeric or
    not broadcastable to the output; invalid post-ops.
Note
    OpenVINO's CPU plugin was observed to run ``FQ -> Add <- FQ -> FQ`` as one fp32 Subgraph, not
    in int8 (openvino-int8.md section 6); this layer is the int8 form LPT defines, used when the
    lowering chooses it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ..ops._base import Attr, Op, broadcast_shapes
from . import post_ops as post


def int8_add(
    q_full: np.ndarray,
    q_empty: np.ndarray,
    *,
    full_shift: Any = 0.0,
    full_scale: Any = 1.0,
    post_ops: tuple = (),
) -> np.ndarray:
    """Int8Add of the module docstring, on NumPy arrays (pinned float32 order)."""
    h = np.asarray(full_shift, dtype=np.float32)
    r = np.asarray(full_scale, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        t = q_full.astype(np.float32) - h
        t = t * r
        t = t + q_empty.astype(np.float32)
    return post.apply_post_ops(_f32(t), post_ops)


def int8_multiply(
    q_full: np.ndarray,
    q_empty: np.ndarray,
    *,
    full_shift: Any = 0.0,
    post_ops: tuple = (),
) -> np.ndarray:
    """Int8Multiply of the module docstring, on NumPy arrays (pinned float32 order)."""
    h = np.asarray(full_shift, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        t = q_full.astype(np.float32) - h
        t = t * q_empty.astype(np.float32)
    return post.apply_post_ops(_f32(t), post_ops)


def _f32(t: Any) -> np.ndarray:
    # NumPy turns a 0-d float32 result into a scalar; keep arrays.
    return np.asarray(t, dtype=np.float32)


def _check_operand(ctx: InferContext, name: str, out_shape: tuple[int, ...]) -> None:
    value = ctx.attrs[name]
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        ctx.fail("must be a float32 scalar or array", attribute=name, value=value)
    try:
        shape = np.broadcast_shapes(array.shape, out_shape)
    except ValueError:
        shape = None
    if shape != tuple(out_shape):
        ctx.fail(f"operand of shape {list(array.shape)} does not broadcast to the output "
                 f"{list(out_shape)}", attribute=name, value=value)


def _infer(ctx: InferContext, operands: tuple[str, ...]) -> list[TensorType]:
    ctx.require_dtype(0, dtypes.U8, dtypes.I8, what="full")
    ctx.require_dtype(1, dtypes.U8, dtypes.I8, what="empty")
    shape = broadcast_shapes(ctx, ctx.input_type(0).shape, ctx.input_type(1).shape)
    for name in operands:
        _check_operand(ctx, name, shape)
    post_ops = ctx.attrs["post_ops"]
    problem = post.check_post_ops(post_ops, shape)
    if problem:
        ctx.fail(problem, attribute="post_ops", value=post.describe(post_ops))
    return [TensorType(post.output_dtype(post_ops), shape)]


class Int8Add(Op):
    type_name = "Int8Add"
    input_names = ("full", "empty")
    attributes = {
        "full_shift": Attr("any", 0.0, doc="float32 operand subtracted from the full branch"),
        "full_scale": Attr("any", 1.0, doc="float32 operand multiplying the full branch"),
        "post_ops": Attr("any", ()),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        return _infer(ctx, ("full_shift", "full_scale"))

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (int8_add(inputs[0], inputs[1], full_shift=attrs["full_shift"],
                         full_scale=attrs["full_scale"], post_ops=attrs["post_ops"]),)


class Int8Multiply(Op):
    type_name = "Int8Multiply"
    input_names = ("full", "empty")
    attributes = {
        "full_shift": Attr("any", 0.0, doc="float32 operand subtracted from the full branch"),
        "post_ops": Attr("any", ()),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        return _infer(ctx, ("full_shift",))

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (int8_multiply(inputs[0], inputs[1], full_shift=attrs["full_shift"],
                              post_ops=attrs["post_ops"]),)

"""Concat-1: join tensors along one axis.

One or more inputs (variadic), attribute ``axis`` (negative counts from the end). Data-movement op:
dtype-generic over f32, u8, i8 and i32; all inputs have the same type, which is the output type,
and values are copied bit for bit. As the int8 semantics of a Concat layer this requires the inputs
to share one quantization (LPT aligns their FakeQuantize ranges before it lets int8 data through).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

DATA_TYPES = (dtypes.F32, dtypes.U8, dtypes.I8, dtypes.I32)


def concat(inputs: Sequence[Any], axis: int) -> np.ndarray:
    """Join ``inputs`` along ``axis``, in the order given.

    Arguments
        inputs: one or more arrays of the same rank r >= 1 and the same dtype (f32, u8, i8 or i32;
            any NumPy dtype works), with equal dimensions on every axis except ``axis``.
        axis: in ``[-r, r-1]``; negative counts from the end.
    Returns
        array of that dtype; its shape is the inputs' shape with dimension ``axis`` equal to the
        sum of theirs. Along ``axis`` the first input's slices come first, then the second's, ...
        A single input is returned unchanged (a copy).

    Example: shapes ``[2, 3]`` and ``[2, 1]`` on ``axis=-1`` give ``[2, 4]``, each row the first
    input's row followed by the second's.

    Errors (:class:`~refint8.errors.InputError`): no input, ranks or dtypes that differ, a rank-0
    input, an axis out of range, a dimension other than ``axis`` that differs.
    """
    arrays = [np.asarray(a) for a in inputs]
    try:
        concat_shape([a.shape for a in arrays], [a.dtype for a in arrays], axis)
    except ValueError as problem:
        raise InputError(f"refint8: concat: {problem}") from None
    return np.concatenate(arrays, axis=axis)


def concat_shape(shapes: Sequence[tuple[int, ...]], types: Sequence[np.dtype], axis: int) -> tuple[int, ...]:
    """The output shape; a ValueError says why the inputs cannot be joined on ``axis``."""
    if len(shapes) == 0:
        raise ValueError("needs at least one input")
    first, rank = tuple(shapes[0]), len(shapes[0])
    for i, (shape, dtype) in enumerate(zip(shapes, types)):
        if dtype != types[0]:
            raise ValueError(
                f"input {i} has element type {dtypes.type_name(dtype)}, input 0 has "
                f"{dtypes.type_name(types[0])}; all inputs must have the same type"
            )
        if len(shape) != rank:
            raise ValueError(f"input {i} has shape {list(shape)}, input 0 has {list(first)}; ranks differ")
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for rank {rank} (allowed: {-rank}..{rank - 1})")
    axis %= rank
    for i, shape in enumerate(shapes):
        for k in range(rank):
            if k != axis and shape[k] != first[k]:
                raise ValueError(
                    f"input {i} has shape {list(shape)}, input 0 has {list(first)}; they differ on "
                    f"axis {k}, only axis {axis} may differ"
                )
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]


class Concat(Op):
    type_name = "Concat"
    input_names = ()  # variadic: one or more inputs, see check_input_count
    attributes = {"axis": Attr("int", doc="axis to join on; negative counts from the end")}

    @classmethod
    def check_input_count(cls, ctx: InferContext) -> None:
        if len(ctx.inputs) < 1:
            ctx.fail("takes one or more inputs, got 0")

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        for i in range(len(ctx.inputs)):
            ctx.require_dtype(i, *DATA_TYPES, what=f"input {i}")
        types = ctx.input_types
        axis = ctx.attrs["axis"]
        first = types[0]
        for i, t in enumerate(types):
            if t.dtype != first.dtype or t.rank != first.rank:
                ctx.fail(
                    f"input {i} is {t}, input 0 is {first}; all inputs need the same element type "
                    "and rank", attribute=f"input[{i}]", value=ctx.inputs[i].name,
                )
        if not -first.rank <= axis < first.rank:
            ctx.fail(f"out of range for rank {first.rank} (input 0 is {first})", attribute="axis", value=axis)
        k_axis = axis % first.rank
        for i, t in enumerate(types):
            for k in range(first.rank):
                if k != k_axis and t.shape[k] != first.shape[k]:
                    ctx.fail(
                        f"input {i} has shape {list(t.shape)}, input 0 has {list(first.shape)}; "
                        f"they differ on axis {k}, only the concatenation axis {k_axis} may differ",
                        attribute="axis", value=axis,
                    )
        shape = concat_shape([t.shape for t in types], [t.dtype for t in types], axis)
        return [TensorType(first.dtype, shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (concat(inputs, attrs["axis"]),)

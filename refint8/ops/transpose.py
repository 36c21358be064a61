"""Transpose-1: permute the axes of a tensor.

The permutation is the attribute ``order`` (a list of ints; OpenVINO takes it as a constant second
input); empty means reverse all axes. Data-movement op: dtype-generic over f32, u8, i8 and i32,
output type = input type, values copied bit for bit; also the int8 semantics of the layer.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

DATA_TYPES = (dtypes.F32, dtypes.U8, dtypes.I8, dtypes.I32)


def permutation(rank: int, order: Sequence[int]) -> tuple[int, ...]:
    """The axis permutation for ``order`` (empty: reversed axes); a ValueError says why it is invalid."""
    if len(order) == 0:
        return tuple(reversed(range(rank)))
    order = tuple(int(o) for o in order)
    if len(order) != rank:
        raise ValueError(f"has {len(order)} entries but the input has rank {rank}")
    if sorted(order) != list(range(rank)):
        raise ValueError(
            f"is not a permutation of 0..{rank - 1} (each axis exactly once; negative axes "
            "are not accepted)"
        )
    return order


def transpose(x: Any, order: Sequence[int] = ()) -> np.ndarray:
    """Permute the axes of ``x``: output axis ``k`` is input axis ``order[k]``.

    Arguments
        x: array of rank r; f32, u8, i8 or i32 (any NumPy array works; the type is kept).
        order: a permutation of ``0 .. r-1`` (every axis exactly once, no negative values, as in
            OpenVINO, which rejects ``-1``); empty means ``[r-1, ..., 1, 0]``.
    Returns
        array of x's dtype (C-contiguous) with ``y.shape[k] = x.shape[order[k]]`` and
        ``y[i_0, ..., i_{r-1}] = x[j]`` where ``j[order[k]] = i_k``: ``np.transpose(x, order)``.

    Example: x of shape ``[2, 3, 4]`` with ``order=[2, 0, 1]`` gives shape ``[4, 2, 3]`` and
    ``y[k, i, j] = x[i, j, k]``. NCHW to NHWC is ``order=[0, 2, 3, 1]``.

    Errors (:class:`~refint8.errors.InputError`): ``order`` of the wrong length or not a permutation.
    """
    x = np.asarray(x)
    try:
        axes = permutation(x.ndim, order)
    except ValueError as problem:
        raise InputError(f"refint8: transpose: order {list(order)}: {problem}") from None
    return np.transpose(x, axes).copy(order="C")


class Transpose(Op):
    type_name = "Transpose"
    input_names = ("x",)
    attributes = {
        "order": Attr("ints", (), doc="permutation of the axes; empty reverses them"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, *DATA_TYPES, what="x")
        x = ctx.input_type(0)
        try:
            axes = permutation(x.rank, ctx.attrs["order"])
        except ValueError as problem:
            ctx.fail(f"{problem} (input shape {list(x.shape)})",
                     attribute="order", value=list(ctx.attrs["order"]))
        return [TensorType(x.dtype, tuple(x.shape[a] for a in axes))]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (transpose(inputs[0], attrs["order"]),)

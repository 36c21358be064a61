"""Unsqueeze-1: insert dimensions of size 1.

The axes are the attribute ``axes`` (a list of ints; OpenVINO takes them as a constant second
input), positions in the *output* shape. Data-movement op: dtype-generic over f32, u8, i8 and i32,
output type = input type, values unchanged; also the int8 semantics of the layer.

Deliberate difference: an axis given twice (``[0, 0]``, or ``[0, -3]`` for a rank-1 input) is an
error in refint8 (as in ONNX); OpenVINO 2026.4 silently inserts it once, so its output rank is
smaller than ``rank + len(axes)``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError, UnsupportedError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

DATA_TYPES = (dtypes.F32, dtypes.U8, dtypes.I8, dtypes.I32)


class DuplicateAxis(ValueError):
    """Two entries of ``axes`` name the same output position (OpenVINO would insert it once)."""


def unsqueezed_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """The output shape; a ValueError says why ``axes`` is invalid."""
    if len(axes) == 0:
        raise ValueError("must list at least one axis")
    out_rank = len(shape) + len(axes)
    inserted: dict[int, int] = {}  # output position -> the entry of axes that named it
    for axis in axes:
        axis = int(axis)
        if not -out_rank <= axis < out_rank:
            raise ValueError(
                f"axis {axis} is out of range for the output rank {out_rank} "
                f"(allowed: {-out_rank}..{out_rank - 1})"
            )
        position = axis % out_rank
        if position in inserted:
            raise DuplicateAxis(
                f"{inserted[position]} and {axis} both name output axis {position} (output rank "
                f"{out_rank}); each axis must be listed once (OpenVINO inserts it once; refint8 "
                "rejects it)"
            )
        inserted[position] = axis
    rest = iter(shape)
    return tuple(1 if i in inserted else next(rest) for i in range(out_rank))


def unsqueeze(x: Any, axes: Sequence[int]) -> np.ndarray:
    """Insert a dimension of size 1 at each position of ``axes`` in the output shape.

    Arguments
        x: array of rank r; f32, u8, i8 or i32 (any NumPy array works; the type is kept).
        axes: non-empty list of distinct output positions in ``[-(r+n), r+n-1]``, where
            ``n = len(axes)`` and ``r+n`` is the output rank; negative counts from the end of the
            output (``-1`` appends a last axis). Their order does not matter.
    Returns
        array of x's dtype and elements (same flat order) of rank ``r+n``: dimension 1 at the listed
        positions, x's dimensions in order at the others.

    Example: shape ``[2, 3]`` with ``axes=[0, 3]`` gives ``[1, 2, 3, 1]``; ``axes=[-1, 1]`` gives
    ``[2, 1, 3, 1]`` (output rank 4: -1 is position 3).

    Errors (:class:`~refint8.errors.InputError`): empty ``axes``, an axis out of range, the same
    position twice (OpenVINO inserts it once instead, see the module docstring). When a node is
    built the last is an ``UnsupportedError``, the others a ``GraphError``.
    """
    x = np.asarray(x)
    try:
        shape = unsqueezed_shape(x.shape, axes)
    except ValueError as problem:
        raise InputError(f"refint8: unsqueeze: axes {list(axes)}: {problem}") from None
    return x.reshape(shape)


class Unsqueeze(Op):
    type_name = "Unsqueeze"
    input_names = ("x",)
    attributes = {
        "axes": Attr("ints", doc="output positions of the new size-1 axes (negative allowed)"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, *DATA_TYPES, what="x")
        x = ctx.input_type(0)
        try:
            shape = unsqueezed_shape(x.shape, ctx.attrs["axes"])
        except DuplicateAxis as problem:
            raise UnsupportedError(f"{problem} (input shape {list(x.shape)})", node=ctx.name,
                                   op=ctx.op_type, attribute="axes", value=list(ctx.attrs["axes"])) from None
        except ValueError as problem:
            ctx.fail(f"{problem} (input shape {list(x.shape)})",
                     attribute="axes", value=list(ctx.attrs["axes"]))
        return [TensorType(x.dtype, shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (unsqueeze(inputs[0], attrs["axes"]),)

"""Reshape-1: the same elements, in the same (row-major) order, under a new shape.

The target shape is the attribute ``shape`` (a list of ints; OpenVINO takes it as a constant second
input). Data-movement op: dtype-generic over f32, u8, i8 and i32, output type = input type, values
copied bit for bit. It is therefore also the int8 semantics of a Reshape layer.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

DATA_TYPES = (dtypes.F32, dtypes.U8, dtypes.I8, dtypes.I32)


def target_shape(input_shape: Sequence[int], shape: Sequence[int], special_zero: bool) -> tuple[int, ...]:
    """Resolve the ``shape`` pattern against ``input_shape``; a ValueError says why it cannot."""
    input_shape = tuple(int(d) for d in input_shape)
    input_size = int(np.prod(input_shape, dtype=np.int64))
    resolved: list[int] = []
    inferred_at: int | None = None
    for index, d in enumerate(shape):
        d = int(d)
        if d == 0 and special_zero:
            if index >= len(input_shape):
                raise ValueError(
                    f"0 at index {index} copies input dimension {index} (special_zero), "
                    f"but the input shape {list(input_shape)} has rank {len(input_shape)}"
                )
            resolved.append(input_shape[index])
        elif d == -1:
            if inferred_at is not None:
                raise ValueError(f"more than one -1 (at indices {inferred_at} and {index})")
            inferred_at = index
            resolved.append(-1)
        elif d < -1:
            raise ValueError(f"{d} at index {index} is not a dimension (use >= 0, or -1 to infer one)")
        else:
            resolved.append(d)
    known = int(np.prod([d for d in resolved if d != -1], dtype=np.int64))
    if inferred_at is not None:
        if known == 0:
            raise ValueError("-1 cannot be inferred when another output dimension is 0")
        if input_size % known != 0:
            raise ValueError(
                f"input shape {list(input_shape)} has {input_size} elements, not a multiple of "
                f"{known}, the product of the other dimensions"
            )
        resolved[inferred_at] = input_size // known
    elif known != input_size:
        raise ValueError(
            f"resolves to {resolved} ({known} elements) but the input shape {list(input_shape)} "
            f"has {input_size} elements"
        )
    return tuple(resolved)


def reshape(x: Any, shape: Sequence[int], special_zero: bool = False) -> np.ndarray:
    """Return ``x``'s elements, in row-major (C) order, under the shape resolved from ``shape``.

    Arguments
        x: array of any shape; f32, u8, i8 or i32 (any NumPy array works; the type is kept).
        shape: the target pattern, a list of ints, each one of:
            * ``d >= 1``: that output dimension;
            * ``0``: with ``special_zero`` true, copy the input dimension at the same index
              (an error if the input has no dimension there); with ``special_zero`` false, a
              dimension of size 0 (so the element counts cannot match a non-empty input);
            * ``-1``: at most one; the dimension that makes the element counts equal
              (it must come out as a whole number, and no other dimension may be 0).
            An empty ``shape`` is a scalar (valid for a one-element input).
        special_zero: how ``0`` is read, see above.
    Returns
        array of the resolved shape and x's dtype, the same elements in the same flat order.

    Example: x of shape ``[2, 3, 4]``, ``shape=[0, -1]``, ``special_zero=True`` gives ``[2, 12]``;
    ``shape=[-1, 0]`` gives ``[8, 3]`` (the 0 copies input dimension 1); ``shape=[0, 0, 2, 2]``
    gives ``[2, 3, 2, 2]``; ``shape=[4, 0, 0]`` is an error (``[4, 3, 4]`` has 48 elements, not 24).

    Errors (:class:`~refint8.errors.InputError`): a value below -1, two -1, a special zero beyond
    the input rank, an element count that does not match.
    """
    x = np.asarray(x)
    try:
        resolved = target_shape(x.shape, shape, special_zero)
    except ValueError as problem:
        raise InputError(f"refint8: reshape: shape {list(shape)}: {problem}") from None
    return np.reshape(x, resolved, order="C")


class Reshape(Op):
    type_name = "Reshape"
    input_names = ("x",)
    attributes = {
        "shape": Attr("ints", doc="target shape pattern: d >= 1, 0 (see special_zero), one -1"),
        "special_zero": Attr("bool", False, doc="0 in shape copies the input dimension at its index"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, *DATA_TYPES, what="x")
        x = ctx.input_type(0)
        try:
            resolved = target_shape(x.shape, ctx.attrs["shape"], ctx.attrs["special_zero"])
        except ValueError as problem:
            ctx.fail(f"{problem} (special_zero={ctx.attrs['special_zero']})",
                     attribute="shape", value=list(ctx.attrs["shape"]))
        return [TensorType(x.dtype, resolved)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (reshape(inputs[0], attrs["shape"], attrs["special_zero"]),)

"""Squeeze-1: remove dimensions of size 1.

The axes are the attribute ``axes`` (a list of ints; OpenVINO takes them as an optional constant
second input). Data-movement op: dtype-generic over f32, u8, i8 and i32, output type = input type,
values unchanged; also the int8 semantics of the layer.

Deliberate difference: naming an axis whose dimension is not 1 is an error in refint8. OpenVINO
raised the same error before 2024.3; since 2024.3 its Squeeze-1 specification says such an axis is
ignored and the dimension kept (OpenVINO 2026.4 infers ``[1, 2, 1]`` with ``axes=[1]`` as
``[1, 2, 1]``). refint8 keeps the error because a request to squeeze a non-1 dimension is a bug in
the graph, and silently keeping it changes the output rank the graph's author expected.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError, UnsupportedError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

DATA_TYPES = (dtypes.F32, dtypes.U8, dtypes.I8, dtypes.I32)


class AxisNotOne(ValueError):
    """An axis to squeeze has a dimension other than 1 (OpenVINO >= 2024.3 would keep it)."""


def squeezed_axes(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """The sorted, non-negative axes to remove; a ValueError says why ``axes`` is invalid."""
    rank = len(shape)
    if len(axes) == 0:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    chosen = set()
    for axis in axes:
        axis = int(axis)
        if not -rank <= axis < rank:
            raise ValueError(f"axis {axis} is out of range for rank {rank} (allowed: {-rank}..{rank - 1})")
        axis %= rank
        if shape[axis] != 1:
            raise AxisNotOne(
                f"axis {axis} has dimension {shape[axis]} in shape {list(shape)}; only a dimension "
                "of 1 can be squeezed (OpenVINO >= 2024.3 keeps such a dimension; refint8 rejects it)"
            )
        chosen.add(axis)
    return tuple(sorted(chosen))


def squeeze(x: Any, axes: Sequence[int] = ()) -> np.ndarray:
    """Remove the size-1 dimensions of ``x`` listed in ``axes`` (all of them if ``axes`` is empty).

    Arguments
        x: array of rank r; f32, u8, i8 or i32 (any NumPy array works; the type is kept).
        axes: axes in ``[-r, r-1]`` (negative counts from the end: ``-1`` is the last axis); each
            must have dimension 1. An axis given twice (``[0, 0]`` or ``[0, -r]``) is removed once,
            as in OpenVINO. Empty: remove every dimension equal to 1.
    Returns
        array of x's dtype and elements (same flat order) whose shape is x's shape without those
        dimensions. Squeezing every dimension of a one-element tensor gives a scalar (shape ``[]``).

    Example: shape ``[1, 3, 1, 2]`` with ``axes=[0, -2]`` gives ``[3, 2]``; with ``axes=[]`` too.

    Errors (:class:`~refint8.errors.InputError`): an axis out of range, an axis whose dimension is
    not 1 (OpenVINO >= 2024.3 ignores such an axis instead, see the module docstring). When a
    node is built the first is a ``GraphError``, the second an ``UnsupportedError``.
    """
    x = np.asarray(x)
    try:
        remove = squeezed_axes(x.shape, axes)
    except ValueError as problem:
        raise InputError(f"refint8: squeeze: axes {list(axes)}: {problem}") from None
    return x.reshape([d for i, d in enumerate(x.shape) if i not in remove])


class Squeeze(Op):
    type_name = "Squeeze"
    input_names = ("x",)
    attributes = {
        "axes": Attr("ints", (), doc="axes of size 1 to remove (negative allowed); empty: all"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, *DATA_TYPES, what="x")
        x = ctx.input_type(0)
        try:
            remove = squeezed_axes(x.shape, ctx.attrs["axes"])
        except AxisNotOne as problem:
            raise UnsupportedError(str(problem), node=ctx.name, op=ctx.op_type, attribute="axes",
                                   value=list(ctx.attrs["axes"])) from None
        except ValueError as problem:
            ctx.fail(str(problem), attribute="axes", value=list(ctx.attrs["axes"]))
        return [TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in remove))]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (squeeze(inputs[0], attrs["axes"]),)

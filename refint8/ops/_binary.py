"""Shared machinery of the elementwise binary ops (Add, Subtract, Multiply, Maximum, Minimum).

Every such op takes two f32 tensors ``a`` and ``b`` and an attribute ``auto_broadcast``:

* ``"numpy"`` (the default): NumPy broadcasting. The shapes are aligned from the right; each pair of
  dimensions must be equal or one of them 1; the missing leading dimensions of the shorter shape
  count as 1. The result has the broadcast shape. Example: ``[2, 3]`` with ``[3]`` gives ``[2, 3]``,
  ``[2, 1]`` with ``[1, 3]`` gives ``[2, 3]``, ``[2, 3]`` with ``[2]`` is an error.
* ``"none"``: no broadcasting; ``a`` and ``b`` must have exactly the same shape.

The result is f32. Each op module only states its per-element formula; :class:`BinaryOp` holds the
shape and type inference and :func:`binary_operands` the checks of the public functions.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

AUTO_BROADCAST_MODES = ("numpy", "none")


def broadcast_problem(a: tuple[int, ...], b: tuple[int, ...], mode: str) -> str | None:
    """Why shapes ``a`` and ``b`` cannot be combined under ``mode`` (None if they can)."""
    if mode == "none":
        if tuple(a) != tuple(b):
            return f"shapes {list(a)} and {list(b)} must be equal (auto_broadcast none)"
        return None
    for da, db in zip(reversed(a), reversed(b)):
        if da != db and da != 1 and db != 1:
            return f"shapes {list(a)} and {list(b)} do not broadcast (numpy rules)"
    return None


def result_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The NumPy broadcast shape of two compatible shapes (the larger dimension of each pair)."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    return tuple(max(da, db) for da, db in zip(a, b))


def binary_operands(op: str, a: Any, b: Any, auto_broadcast: str) -> tuple[np.ndarray, np.ndarray]:
    """Check and prepare the operands of a public binary function.

    Both are converted to float32 (an f32 model; a float32 array is taken as is) and broadcast to
    the result shape. Raises :class:`~refint8.errors.InputError` for an unknown ``auto_broadcast``,
    a non-numeric operand or incompatible shapes.
    """
    if auto_broadcast not in AUTO_BROADCAST_MODES:
        raise InputError(
            f"refint8: {op}: auto_broadcast {auto_broadcast!r} is not supported; "
            f"supported: {', '.join(AUTO_BROADCAST_MODES)}"
        )
    arrays = []
    for value, name in ((a, "a"), (b, "b")):
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise InputError(f"refint8: {op}: {name} must be numeric, got dtype {array.dtype}")
        arrays.append(array.astype(np.float32, copy=False))
    problem = broadcast_problem(arrays[0].shape, arrays[1].shape, auto_broadcast)
    if problem:
        raise InputError(f"refint8: {op}: {problem}")
    shape = result_shape(arrays[0].shape, arrays[1].shape)
    return np.broadcast_to(arrays[0], shape), np.broadcast_to(arrays[1], shape)


class BinaryOp(Op):
    """Base of the elementwise binary ops: two f32 inputs, ``auto_broadcast``, one f32 output.

    A subclass sets ``type_name`` and ``function``, the public function
    ``function(a, b, auto_broadcast=...)`` of its module.
    """

    input_names = ("a", "b")
    attributes = {
        "auto_broadcast": Attr(
            "str", "numpy", choices=AUTO_BROADCAST_MODES,
            doc="numpy: NumPy broadcasting; none: the shapes must be equal",
        ),
    }
    function: ClassVar[Callable[..., np.ndarray]]

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="a")
        ctx.require_dtype(1, dtypes.F32, what="b")
        a, b = ctx.input_type(0).shape, ctx.input_type(1).shape
        mode = ctx.attrs["auto_broadcast"]
        problem = broadcast_problem(a, b, mode)
        if problem:
            ctx.fail(
                f"{problem} (inputs '{ctx.inputs[0].name}' and '{ctx.inputs[1].name}')",
                attribute="auto_broadcast", value=mode,
            )
        return [TensorType(dtypes.F32, result_shape(a, b))]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (cls.function(inputs[0], inputs[1], auto_broadcast=attrs["auto_broadcast"]),)

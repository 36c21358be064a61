"""Clamp-1: limit every element of an f32 tensor to ``[min, max]``.

Attributes ``min`` and ``max`` (numbers, ``min <= max``); ReLU6 is ``Clamp(0, 6)``. The bounds are
rounded to the nearest float32 first, then compared in float32, so the op is exact: every output
element is either x's element or one of the two float32 bounds.

NaN stays NaN, as in OpenVINO's reference kernel. OpenVINO's CPU plugin differs: it returns ``min``
for NaN (checked with OpenVINO 2026.4) and also turns ``-0.0`` into ``+0.0`` when ``min`` is 0.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op


def clamp(x: Any, min: float, max: float) -> np.ndarray:
    """``y = min(max(x, lo), hi)`` elementwise in float32, with ``lo, hi`` the float32 bounds.

    Arguments
        x: tensor, converted to float32 (a float32 array is used as is).
        min, max: the bounds, numbers with ``min <= max`` (so neither is NaN); ±inf allowed.
            ``lo = float32(min)``, ``hi = float32(max)``, rounded to nearest, ties to even
            (``0.1`` becomes ``0.100000001490116...``; beyond the float32 range, ±inf).
    Returns
        float32 array of x's shape.

    Per element::

        if   x < lo: y = lo
        elif x > hi: y = hi
        else:        y = x

    Consequences: NaN gives NaN (both comparisons are false); ``-inf`` gives ``lo``, ``+inf`` gives
    ``hi``; ``min == max`` gives that constant for every non-NaN x; ``-0.0`` with ``lo = 0.0`` stays
    ``-0.0`` (it is not below ``+0.0``).

    Errors (:class:`~refint8.errors.InputError`): ``min > max`` or a NaN bound.
    """
    if not min <= max:
        raise InputError(f"refint8: clamp: min ({min!r}) must be <= max ({max!r})")
    x = np.asarray(x).astype(np.float32, copy=False)
    with np.errstate(over="ignore"):
        lo, hi = np.float32(min), np.float32(max)
    y = np.where(x < lo, lo, np.where(x > hi, hi, x))
    return np.asarray(y, dtype=np.float32)


class Clamp(Op):
    type_name = "Clamp"
    input_names = ("x",)
    attributes = {
        "min": Attr("float", doc="lower bound, rounded to float32"),
        "max": Attr("float", doc="upper bound, rounded to float32; min <= max"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="x")
        low, high = ctx.attrs["min"], ctx.attrs["max"]
        if np.isnan(low):
            ctx.fail("must be a number, not NaN", attribute="min", value=low)
        if np.isnan(high):
            ctx.fail("must be a number, not NaN", attribute="max", value=high)
        if not low <= high:
            ctx.fail(f"must be <= max ({high!r})", attribute="min", value=low)
        return [ctx.input_type(0)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (clamp(inputs[0], attrs["min"], attrs["max"]),)

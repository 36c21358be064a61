"""Relu: rectified linear unit, elementwise.

Argument ``x``: tensor of any shape, f32, u8 or i8. Result: same type and shape, ``y = x`` where
``x > 0``, else 0. For f32: NaN stays NaN and ``-0.0`` gives ``+0.0``. On u8 it is the identity and
on i8 it is ``max(q, 0)``: that is the int8 ReLU once LPT has moved the dequantization after it
(allowed only without zero point and with scales >= 0, see ``refint8.lpt``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Op


def relu(x: np.ndarray) -> np.ndarray:
    """``y = x if x > 0 else 0`` elementwise in x's type; NaN stays NaN."""
    x = np.asarray(x)
    zero = x.dtype.type(0)
    if x.dtype.kind == "f":
        return np.where(x > 0, x, np.where(np.isnan(x), x, zero)).astype(x.dtype)
    return np.asarray(np.maximum(x, zero))  # a 0-d result stays an array


class Relu(Op):
    type_name = "Relu"
    input_names = ("x",)

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, dtypes.U8, dtypes.I8)
        return [ctx.input_type(0)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (relu(inputs[0]),)

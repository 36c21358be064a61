"""Shared machinery of the fp32-only elementwise activations (Exp, Sigmoid, Tanh).

Each takes one f32 tensor ``x`` and returns f32 of the same shape; the formula is evaluated in
float64 on the exactly widened input and rounded once to float32 (see each module). Each op module
states its formula in its public function; :class:`UnaryFloatOp` holds the inference and
:func:`in_float64` the widening and the single rounding.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Op


def in_float64(x: Any, formula: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``float32(formula(float64(float32(x))))``; a 0-d result stays an array."""
    wide = np.asarray(x).astype(np.float32, copy=False).astype(np.float64)
    with np.errstate(over="ignore"):
        return np.asarray(formula(wide), dtype=np.float32)


class UnaryFloatOp(Op):
    """Base of Exp, Sigmoid and Tanh: a subclass sets ``type_name`` and ``function``."""

    input_names = ("x",)
    function: ClassVar[Callable[[Any], np.ndarray]]

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="x")
        return [ctx.input_type(0)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (cls.function(inputs[0]),)

"""Sigmoid-1: the logistic function, elementwise.

fp32 only (no int8 path). Computed in float64 and rounded once to float32.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Op


def sigmoid(x: Any) -> np.ndarray:
    """``y = 1 / (1 + exp(-x))`` elementwise.

    Arguments
        x: tensor of any shape, converted to float32 (a float32 array is used as is).
    Returns
        float32 array of x's shape, values in ``[0, 1]``.

    Numerics: evaluated in float64 (x widened exactly) and rounded once to float32, nearest, ties to
    even. Hence ``sigmoid(0) = 0.5``; from about ``x = 17.33`` on the value rounds to ``1.0``; for
    very negative x the result is ``exp(x)`` to float64 precision, so it goes through the float32
    subnormals (``x = -87`` gives about ``1.6458e-38``) and is 0 below about ``-103.97``. In float64,
    ``exp(-x)`` overflows to ``+inf`` for ``x < -709.78``, which correctly gives 0.
    ``+inf`` gives 1, ``-inf`` gives 0, NaN gives NaN.

    OpenVINO 2026.4 agrees on the special cases above; elsewhere its reference kernel differs from
    this correctly rounded value by at most 2 ulp on normal results and its CPU plugin by about
    ``3e-7`` relative; the CPU plugin flushes subnormal results to 0.
    """
    x = np.asarray(x).astype(np.float32, copy=False)
    with np.errstate(over="ignore"):
        y = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    return np.asarray(y, dtype=np.float32)  # a 0-d result stays an array


class Sigmoid(Op):
    type_name = "Sigmoid"
    input_names = ("x",)

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="x")
        return [ctx.input_type(0)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (sigmoid(inputs[0]),)

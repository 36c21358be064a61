"""Sigmoid-1: the logistic function, elementwise.

fp32 only (no int8 path). Computed in float64 and rounded once to float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._unary import UnaryFloatOp, in_float64


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
    return in_float64(x, lambda v: 1.0 / (1.0 + np.exp(-v)))


class Sigmoid(UnaryFloatOp):
    type_name = "Sigmoid"
    function = staticmethod(sigmoid)

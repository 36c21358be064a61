"""Tanh-1: hyperbolic tangent, elementwise.

fp32 only (no int8 path). Computed in float64 and rounded once to float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._unary import UnaryFloatOp, in_float64


def tanh(x: Any) -> np.ndarray:
    """``y = tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))`` elementwise.

    Arguments
        x: tensor of any shape, converted to float32 (a float32 array is used as is).
    Returns
        float32 array of x's shape, values in ``[-1, 1]``.

    Numerics: ``np.tanh`` in float64 (x widened exactly), rounded once to float32, nearest, ties to
    even. It never overflows: ``tanh(±inf) = ±1``, and from about ``|x| = 9.011`` the value rounds to
    ``±1.0``. Odd: ``tanh(-x) = -tanh(x)``, ``tanh(-0.0) = -0.0``. NaN gives NaN.

    OpenVINO 2026.4 (reference kernel and CPU plugin, float32 arithmetic) differs from this
    correctly rounded value by at most 2 ulp.
    """
    return in_float64(x, np.tanh)


class Tanh(UnaryFloatOp):
    type_name = "Tanh"
    function = staticmethod(tanh)

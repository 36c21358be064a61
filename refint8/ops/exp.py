"""Exp-1: natural exponential, elementwise.

fp32 only (no int8 path). Computed in float64 and rounded once to float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._unary import UnaryFloatOp, in_float64


def exp(x: Any) -> np.ndarray:
    """``y = e^x`` elementwise.

    Arguments
        x: tensor of any shape, converted to float32 (a float32 array is used as is).
    Returns
        float32 array of x's shape.

    Numerics: ``np.exp`` in float64 (x widened exactly), rounded once to float32, nearest, ties to
    even. Overflow: the float32 result is ``+inf`` from about ``x > 88.7228`` (where ``e^x``
    exceeds the largest float32 after rounding). Underflow: below about ``x = -87.34`` the result
    is a float32 subnormal (``exp(-100)`` is about ``3.78e-44``), and 0 below about ``-103.97``.
    ``exp(+inf) = +inf``, ``exp(-inf) = 0``, ``exp(±0) = 1``, NaN gives NaN.

    OpenVINO 2026.4's reference kernel agrees on these cases and differs by at most 1 ulp
    elsewhere. Its CPU plugin differs by up to about 1e-5 relative on large results, flushes
    subnormal results to 0 and returns ``+inf`` for NaN.
    """
    return in_float64(x, np.exp)


class Exp(UnaryFloatOp):
    type_name = "Exp"
    function = staticmethod(exp)

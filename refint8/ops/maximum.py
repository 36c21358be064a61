"""Maximum-1: elementwise larger of two f32 tensors, with NumPy or no broadcasting.

Inputs and broadcasting as described in :mod:`refint8.ops._binary`.

NaN: refint8 propagates NaN (like ``np.maximum``). This is a deliberate choice, because OpenVINO
itself is not consistent: its reference kernel (``std::max``-style ``a < b ? b : a``) returns ``a``
whenever a comparison involves NaN, so ``max(NaN, 1) = NaN`` but ``max(1, NaN) = 1``, while its CPU
plugin (``maxps``: ``a > b ? a : b``) returns ``b``, so ``max(NaN, 1) = 1`` and
``max(1, NaN) = NaN`` (checked with OpenVINO 2026.4, ``op.evaluate`` and the CPU plugin with
``INFERENCE_PRECISION_HINT=f32``). Neither is symmetric; refint8 is. For ordered operands all three
agree except on the sign of a zero, see :func:`maximum`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._binary import BinaryOp, binary_operands


def maximum(a: Any, b: Any, auto_broadcast: str = "numpy") -> np.ndarray:
    """``y = max(a, b)`` elementwise on float32; NaN propagates.

    Arguments
        a, b: tensors, converted to float32 (a float32 array is used as is).
        auto_broadcast: ``"numpy"`` (NumPy broadcasting) or ``"none"`` (shapes must be equal).
    Returns
        float32 array of the broadcast shape; every element is one of the two operands, unchanged.

    Per element::

        if isnan(a):  y = a
        elif isnan(b): y = b
        elif a < b:   y = b
        else:         y = a

    So NaN in either operand gives NaN (both orders), ``max(x, -inf) = x``, ``max(x, +inf) = +inf``.
    Equal operands give ``a``; that matters only for zeros: ``max(-0.0, +0.0) = -0.0`` and
    ``max(+0.0, -0.0) = +0.0``, as in OpenVINO's reference kernel (its CPU plugin returns ``b``).

    Errors (:class:`~refint8.errors.InputError`): unknown ``auto_broadcast``, shapes that do not
    combine under it, a non-numeric operand.
    """
    a, b = binary_operands("maximum", a, b, auto_broadcast)
    y = np.where(a < b, b, a)
    y = np.where(np.isnan(b), b, y)
    y = np.where(np.isnan(a), a, y)
    return np.asarray(y, dtype=np.float32)


class Maximum(BinaryOp):
    type_name = "Maximum"
    function = staticmethod(maximum)

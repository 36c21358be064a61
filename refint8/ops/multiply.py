"""Multiply-1: elementwise product of two f32 tensors, ``y = a * b``, with NumPy or no broadcasting.

Inputs and broadcasting as described in :mod:`refint8.ops._binary`. Multiply by a per-channel
constant is also how a dequantization scale is applied (``(q - zero_point) * scale``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._binary import BinaryOp, binary_operands


def multiply(a: Any, b: Any, auto_broadcast: str = "numpy") -> np.ndarray:
    """``y = a * b`` elementwise, one IEEE float32 multiplication (round to nearest, ties to even).

    Arguments
        a, b: tensors, converted to float32 (a float32 array is used as is).
        auto_broadcast: ``"numpy"`` (NumPy broadcasting) or ``"none"`` (shapes must be equal).
    Returns
        float32 array of the broadcast shape.

    float32 arithmetic is the definition: no fused or wider product. Subnormals are kept (a product
    below the smallest subnormal rounds to ``±0.0``). IEEE special cases: NaN in either operand
    gives NaN; ``0 * inf`` is NaN; an overflowing product is ``±inf``; the sign of a zero result is
    the XOR of the operand signs (``-2 * 0 = -0.0``).

    Errors (:class:`~refint8.errors.InputError`): unknown ``auto_broadcast``, shapes that do not
    combine under it, a non-numeric operand.
    """
    a, b = binary_operands("multiply", a, b, auto_broadcast)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return np.asarray(a * b, dtype=np.float32)


class Multiply(BinaryOp):
    type_name = "Multiply"
    function = staticmethod(multiply)

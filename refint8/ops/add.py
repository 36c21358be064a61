"""Add-1: elementwise sum of two f32 tensors, ``y = a + b``, with NumPy or no broadcasting.

Inputs and broadcasting as described in :mod:`refint8.ops._binary`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._binary import BinaryOp, binary_operands


def add(a: Any, b: Any, auto_broadcast: str = "numpy") -> np.ndarray:
    """``y = a + b`` elementwise, one IEEE float32 addition (round to nearest, ties to even).

    Arguments
        a, b: tensors, converted to float32 (a float32 array is used as is).
        auto_broadcast: ``"numpy"`` (NumPy broadcasting) or ``"none"`` (shapes must be equal).
    Returns
        float32 array of the broadcast shape.

    float32 arithmetic is the definition: the sum is not computed in a wider type. Subnormal
    operands and results are kept (no flush to zero). IEEE special cases: NaN in either operand
    gives NaN; ``inf + -inf`` is NaN; an overflowing sum is ``±inf``; ``-0.0 + -0.0`` is ``-0.0`` and
    ``x + -x`` is ``+0.0``.

    Errors (:class:`~refint8.errors.InputError`): unknown ``auto_broadcast``, shapes that do not
    combine under it, a non-numeric operand.
    """
    a, b = binary_operands("add", a, b, auto_broadcast)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(a + b, dtype=np.float32)


class Add(BinaryOp):
    type_name = "Add"
    function = staticmethod(add)

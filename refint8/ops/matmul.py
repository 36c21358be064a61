"""MatMul-1: batched matrix product with optional transposes (also FullyConnected layers).

Shape rules are OpenVINO's MatMul-1 (rank-1 handling, NumPy broadcasting of batch dimensions); the
arithmetic is the real-number dot product computed in float64 and rounded once to float32.
"""

from __future__ import annotations

from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op


def matmul_shape(
    a_shape: Sequence[int], b_shape: Sequence[int], transpose_a: bool, transpose_b: bool, fail: Any
) -> tuple[int, ...]:
    """Output shape of MatMul-1, or ``fail(reason, input_index)`` naming both shapes.

    1. A rank-0 input is an error. ``transpose_a`` / ``transpose_b`` swap the last two dimensions
       of a rank >= 2 input and are ignored for a rank-1 input.
    2. A rank-1 ``a`` of shape ``[K]`` becomes ``[1, K]`` (a row); a rank-1 ``b`` of shape ``[K]``
       becomes ``[K, 1]`` (a column).
    3. Now ``a`` is ``[..., M, K]`` and ``b`` is ``[..., K2, N]``: ``K == K2`` is required, and the
       batch dimensions ``...`` broadcast by NumPy rules (aligned from the right, each pair equal or
       one of them 1, the shorter one padded with 1s on the left).
    4. Output ``[broadcast batch..., M, N]``, then the axis added in step 2 is removed again: the
       ``M`` axis if ``a`` was rank 1, the ``N`` axis if ``b`` was rank 1. Two rank-1 inputs give
       a scalar (shape ``[]``).
    """
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) == 0 or len(b_shape) == 0:
        fail(f"inputs must have rank >= 1, got shapes {list(a_shape)} and {list(b_shape)}",
             0 if len(a_shape) == 0 else 1)
    a2 = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b2 = b_shape + (1,) if len(b_shape) == 1 else b_shape
    if transpose_a and len(a_shape) >= 2:
        a2 = a2[:-2] + (a2[-1], a2[-2])
    if transpose_b and len(b_shape) >= 2:
        b2 = b2[:-2] + (b2[-1], b2[-2])
    if a2[-1] != b2[-2]:
        fail(
            f"inner dimensions do not match: a {list(a_shape)} (transpose_a={transpose_a}) has "
            f"K={a2[-1]}, b {list(b_shape)} (transpose_b={transpose_b}) has K={b2[-2]}",
            1,
        )
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        fail(f"batch dimensions of a {list(a_shape)} and b {list(b_shape)} do not broadcast "
             "(numpy rules)", 1)
    m = () if len(a_shape) == 1 else (a2[-2],)  # the axes added in step 2 are dropped again
    n = () if len(b_shape) == 1 else (b2[-1],)
    return batch + m + n


def matmul(
    a: np.ndarray, b: np.ndarray, *, transpose_a: bool = False, transpose_b: bool = False
) -> np.ndarray:
    """Matrix product ``op(a) @ op(b)`` over the last two axes, batched over the leading ones.

    Arguments
        a, b: f32 tensors of rank >= 1 (read as float32). ``op(t)`` swaps the last two axes of
            ``t`` when its transpose flag is set and ``t`` has rank >= 2; the flags are ignored for
            rank-1 inputs (OpenVINO MatMul-1).
    Returns
        float32, shape per :func:`matmul_shape`: a rank-1 ``a`` is treated as a row ``[1, K]`` and a
        rank-1 ``b`` as a column ``[K, 1]``, and those added axes are removed from the result;
        batch axes broadcast like NumPy. Two rank-1 inputs give their dot product as a rank-0
        array.

    ``y[..., m, n] = sum_k op(a)[..., m, k] * op(b)[..., k, n]``, products and sum in float64
    (summation order unspecified), rounded once to float32. NaN/inf propagate (``0 * inf`` is NaN).
    ``K = 0`` cannot occur (static shapes have dimensions >= 1).

    Errors (:class:`~refint8.errors.InputError`): rank 0, inner dimensions that differ (the message
    gives both shapes), batch dimensions that do not broadcast.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)

    def fail(reason: str, index: int) -> NoReturn:
        raise InputError(f"refint8: matmul: {reason}")

    out_shape = matmul_shape(a.shape, b.shape, transpose_a, transpose_b, fail)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    if a.ndim == 1:
        a64 = a64[None, :]
    elif transpose_a:
        a64 = np.swapaxes(a64, -1, -2)
    if b.ndim == 1:
        b64 = b64[:, None]
    elif transpose_b:
        b64 = np.swapaxes(b64, -1, -2)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.matmul(a64, b64)
    return y.reshape(out_shape).astype(np.float32)


class MatMul(Op):
    type_name = "MatMul"
    input_names = ("a", "b")
    attributes = {
        "transpose_a": Attr("bool", False, doc="swap the last two axes of a (ignored for rank 1)"),
        "transpose_b": Attr("bool", False, doc="swap the last two axes of b (ignored for rank 1)"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="a")
        ctx.require_dtype(1, dtypes.F32, what="b")

        def fail(reason: str, index: int) -> NoReturn:
            ctx.fail(reason, attribute=f"input[{index}]", value=ctx.inputs[index].name)

        out = matmul_shape(ctx.input_type(0).shape, ctx.input_type(1).shape,
                           ctx.attrs["transpose_a"], ctx.attrs["transpose_b"], fail)
        return [TensorType(dtypes.F32, out)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (matmul(inputs[0], inputs[1], transpose_a=attrs["transpose_a"],
                       transpose_b=attrs["transpose_b"]),)

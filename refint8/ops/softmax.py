"""Softmax-8: normalized exponentials along one axis.

Attribute ``axis`` (int, default 1, negative counts from the end; Softmax-1 is the non-negative
case). fp32 only: refint8 has no int8 Softmax; a quantized model dequantizes before it. Computed in
float64 and rounded once to float32.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op, normalize_axis


def softmax(x: Any, axis: int = 1) -> np.ndarray:
    """``y = exp(x - m) / sum(exp(x - m))`` along ``axis``, ``m`` the maximum along ``axis``.

    Arguments
        x: tensor of rank r >= 1, converted to float32 (a float32 array is used as is).
        axis: in ``[-r, r-1]``.
    Returns
        float32 array of x's shape.

    Numerics: x is widened to float64 (exact); ``m``, the differences, ``exp``, the sum and the
    quotient are float64; the quotient is rounded once to float32 (nearest, ties to even).
    Subtracting the maximum cannot change the exact result and keeps ``exp`` from overflowing:
    every ``exp(x - m)`` is in ``[0, 1]`` and the largest is 1, so the sum is in ``[1, n]``
    and finite inputs always give finite outputs in ``[0, 1]``, with no overflow for any magnitude
    (``[1000, 0, -1000]`` gives ``[1, 0, 0]``). Tiny results are rounded to float32 subnormals or 0.
    Each output is within half a float32 ulp (``2^-24`` relative) of the exact quotient, so the
    exact sum of a slice's float32 outputs is within about ``2^-24`` of 1 (plus ``2^-150`` per
    subnormal output); summing them in float32 adds that summation's own rounding.

    Non-finite inputs, per slice along ``axis`` (as OpenVINO's reference kernel; its CPU plugin
    gives ``[NaN, 0, 0]`` for the first two cases):

    * a NaN anywhere in the slice: the whole slice is NaN (``m`` is NaN);
    * a ``+inf``: the whole slice is NaN (``inf - inf``);
    * every element ``-inf``: the whole slice is NaN (``-inf - -inf``);
    * some ``-inf`` among finite values: those give 0, the rest as usual.

    OpenVINO's kernels compute in float32, so they differ from this correctly rounded result by a
    few ulp on large outputs and up to about ``2e-6`` relative (~30 ulp) on tiny ones (OpenVINO
    2026.4, reference and CPU plugin, inputs of magnitude ~10).

    Errors (:class:`~refint8.errors.InputError`): ``axis`` out of range (which includes rank 0).
    """
    x = np.asarray(x).astype(np.float32, copy=False)
    if not -x.ndim <= axis < x.ndim:
        raise InputError(f"refint8: softmax: axis {axis} is out of range for rank {x.ndim}")
    wide = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        m = np.max(wide, axis=axis, keepdims=True)  # NaN if the slice holds a NaN
        e = np.exp(wide - m)
        y = e / np.sum(e, axis=axis, keepdims=True)
    return y.astype(np.float32)


class Softmax(Op):
    type_name = "Softmax"
    input_names = ("x",)
    attributes = {"axis": Attr("int", 1, doc="axis to normalize along; negative counts from the end")}

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="x")
        x = ctx.input_type(0)
        normalize_axis(ctx, ctx.attrs["axis"], x.rank)
        return [x]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (softmax(inputs[0], attrs["axis"]),)

"""MVN-6: mean-variance normalization over a set of axes (here an attribute, not an input).

OpenVINO's MVN-6 takes the axes as a second (constant) input; refint8 stores them as the ``axes``
attribute. Arithmetic in float64, rounded once to float32.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

EPS_MODES = ("inside_sqrt", "outside_sqrt")


def mvn(
    x: np.ndarray,
    *,
    axes: Sequence[int],
    normalize_variance: bool = True,
    eps: float = 1e-9,
    eps_mode: str = "inside_sqrt",
) -> np.ndarray:
    """Subtract the mean over ``axes`` and, optionally, divide by the standard deviation.

    Arguments
        x: f32 tensor of any rank >= 1 (read as float32, computed in float64).
        axes: the reduction axes, each in ``[-rank, rank)`` (negative counts from the end), at
            least one, no axis twice.
        normalize_variance: divide by the standard deviation (else only subtract the mean).
        eps: added to the variance (``inside_sqrt``) or to the standard deviation
            (``outside_sqrt``); a finite number, first rounded to float32 (OpenVINO stores the
            attribute as a float32), then used in float64.
        eps_mode: ``inside_sqrt`` | ``outside_sqrt``.
    Returns
        float32, x's shape. With ``R`` the elements sharing all non-reduced coordinates
        (``|R|`` = product of the reduced dimensions)::

            mean = sum(x over R) / |R|
            var  = sum((x - mean)**2 over R) / |R|          (biased: divided by |R|, not |R| - 1)
            y = x - mean                                     if not normalize_variance
            y = (x - mean) / sqrt(var + eps)                 if inside_sqrt
            y = (x - mean) / (sqrt(var) + eps)               if outside_sqrt

        all in float64, the final ``y`` rounded once to float32. Consequences: a constant slice
        gives ``0 / sqrt(eps)`` = 0 (or NaN when ``eps == 0`` and normalize_variance, ``0/0``).
        A NaN in a slice makes the whole slice NaN; an inf makes the mean inf, so
        ``x - mean`` is NaN or -inf/+inf and, with normalize_variance, the whole slice is NaN.

    Errors (:class:`~refint8.errors.InputError`): an axis out of range or repeated, no axes, an
    unknown eps_mode.
    """
    x = np.asarray(x, dtype=np.float32)
    problem = axes_problem(axes, x.ndim)
    if problem:
        raise InputError(f"refint8: mvn: axes = {tuple(axes)!r}: {problem}")
    if eps_mode not in EPS_MODES:
        raise InputError(f"refint8: mvn: eps_mode = {eps_mode!r}: supported: {', '.join(EPS_MODES)}")
    red = tuple(sorted(a % x.ndim for a in axes))
    eps = float(np.float32(eps))
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        centered = x64 - x64.mean(axis=red, keepdims=True)
        if not normalize_variance:
            return centered.astype(np.float32)
        var = np.mean(centered * centered, axis=red, keepdims=True)
        if eps_mode == "inside_sqrt":
            y = centered / np.sqrt(var + eps)
        else:
            y = centered / (np.sqrt(var) + eps)
    return y.astype(np.float32)


def axes_problem(axes: Sequence[int], rank: int) -> str | None:
    """Why ``axes`` is not a valid reduction-axes list for ``rank`` (None if it is)."""
    if len(axes) == 0:
        return "at least one axis is needed"
    bad = [a for a in axes if not -rank <= a < rank]
    if bad:
        return f"axis {bad[0]} is out of range for rank {rank}"
    normalized = [a % rank for a in axes]
    if len(set(normalized)) != len(normalized):
        return "an axis is listed twice"
    return None


class MVN(Op):
    type_name = "MVN"
    input_names = ("data",)
    attributes = {
        "axes": Attr("ints", doc="reduction axes, in [-rank, rank), unique, at least one"),
        "normalize_variance": Attr("bool", True),
        "eps": Attr("float", 1e-9, doc="finite; added inside or outside the square root"),
        "eps_mode": Attr("str", "inside_sqrt", choices=EPS_MODES),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="data")
        x_type = ctx.input_type(0)
        if x_type.rank == 0:
            ctx.fail("data must have rank >= 1", attribute="input[0]", value=ctx.inputs[0].name)
        problem = axes_problem(ctx.attrs["axes"], x_type.rank)
        if problem:
            ctx.fail(problem, attribute="axes", value=ctx.attrs["axes"])
        if not np.isfinite(ctx.attrs["eps"]):
            ctx.fail("must be finite", attribute="eps", value=ctx.attrs["eps"])
        return [x_type]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (
            mvn(inputs[0], axes=attrs["axes"], normalize_variance=attrs["normalize_variance"],
                eps=attrs["eps"], eps_mode=attrs["eps_mode"]),
        )

"""Int8MVN: mean-variance normalization of u8/i8 codes (OpenVINO CPU layer type ``MVN``).

LPT's MVNTransformation (openvino-int8.md section 2.8) moves the dequantization of an MVN input
after the MVN: the input must be dequantized by a Multiply only (``x = s * q``, no zero-point
Subtract), and the MVN then reads the codes ``q``. MVN is shift-invariant and, with
``normalize_variance``, scale-invariant up to sign, so LPT replaces the scale ``s`` by ``sign(s)``
(+-1) when ``normalize_variance`` is true and keeps ``Multiply(s)`` after the layer when it is
false. The output is float32 (the precision of the dequantization); a following FakeQuantize
fuses as a Quantize post-op.

Inputs
    data: u8 or i8 codes ``q``, any rank >= 1.
Attributes
    axes: the reduction axes (each in ``[-rank, rank)``, unique, at least one), as fp32 MVN
    (refint8.ops.mvn); normalize_variance (bool, default true); eps (finite float, used as its
    float64 value); eps_mode ``inside_sqrt`` | ``outside_sqrt``; post_ops (refint8.int8.post_ops;
    LPT puts ``Multiply(sign(s))`` or ``Multiply(s)`` first).
Computation (pinned)
    For each reduction group (the ``n`` elements sharing all non-reduced coordinates; ``n`` = the
    product of the reduced dimensions)::

        S = Σ q,  Q = Σ q*q                              exact, int64
        mean = f64(S) / f64(n)                           one float64 division (f64(S) is exact)
        var  = f64(n*Q - S*S) / (f64(n) * f64(n))        numerator exact in int64, rounded once to
                                                         float64; f64(n)*f64(n) is exact (n^2 < 2^53)
        d    = f64(q) - mean                             one float64 subtraction per element
        y    = d / sqrt(var + eps)                       inside_sqrt    (float64 add, IEEE sqrt,
        y    = d / (sqrt(var) + eps)                     outside_sqrt    float64 division)
        y    = d                                         not normalize_variance
        out  = post_ops(float32(y))                      ONE rounding to float32, then post-ops

    ``var`` is the biased (population) variance, as fp32 MVN, but computed from exact integer
    moments: ``n*Q - S*S = n^2 * var`` exactly, so it is never negative and has no cancellation
    error. A constant group gives ``d = 0`` and, with ``eps > 0``, ``y = 0`` (``0/0 = NaN`` when
    ``eps == 0`` and normalize_variance; a NaN reaching a Quantize post-op is an error).
Overflow bound
    ``n*Q <= n^2 * m^2`` and ``S*S <= n^2 * m^2`` with ``m = 255`` (u8) or ``128`` (i8); the layer
    requires ``n^2 * m^2 <= 2^63 - 1``, i.e. ``n <= 11909805`` for u8 and ``n <= 23726566`` for
    i8, and is rejected at compile time otherwise (never wraps).
LPT and eps (why int8 MVN is not exactly the fp32 graph)
    For dequantized values ``x = s * q``: ``mean_x = s*mean``, ``var_x = s^2 * var``, so the fp32
    graph computes ``MVN(x) = sign(s) * d / sqrt(var + eps/s^2)`` (inside_sqrt) or ``sign(s) * d
    / (sqrt(var) + eps/|s|)`` (outside_sqrt), while this layer, times ``sign(s)``, uses ``eps``
    itself against the variance OF THE CODES. Equivalently, the int8 layer is fp32 MVN of ``x``
    with eps replaced by ``s^2 * eps`` (inside) or ``|s| * eps`` (outside). Quantization scales
    are small (|s| << 1), so int8 MVN damps much less: where ``var_x`` is comparable to eps (a
    near-constant group, or a model with a large eps) the fp32 graph shrinks the output towards
    0, the int8 layer normalizes it to unit variance. Where ``var_x >> eps`` the relative
    difference is about ``eps / (2 * var_x)`` (inside_sqrt). Without normalize_variance, eps plays
    no role: the layer followed by ``Multiply(s)`` is fp32 MVN of ``x`` up to float rounding.
Output
    float32, the data's shape; or u8/i8 codes when the last post-op is a Quantize.
Errors (GraphError naming node, attribute and value)
    data not u8/i8 or rank 0; bad axes; eps not finite; the overflow bound; invalid post-ops.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ..ops._base import Attr, Op
from ..ops.mvn import EPS_MODES, axes_problem
from . import post_ops as post

INT64_MAX = 2**63 - 1


def max_group_size(dtype: np.dtype) -> int:
    """The largest reduction group ``n`` with ``n^2 * m^2 <= 2^63 - 1`` (m = 255 u8, 128 i8)."""
    m = 255 if np.dtype(dtype) == dtypes.U8 else 128
    return math.isqrt(INT64_MAX // (m * m))


def int8_mvn(
    q: np.ndarray,
    *,
    axes: Sequence[int],
    normalize_variance: bool = True,
    eps: float = 1e-9,
    eps_mode: str = "inside_sqrt",
    post_ops: tuple = (),
) -> np.ndarray:
    """Int8MVN of the module docstring, on NumPy arrays."""
    reduced = tuple(sorted(a % q.ndim for a in axes))
    n = math.prod(q.shape[a] for a in reduced)
    q64 = q.astype(np.int64)
    s = q64.sum(axis=reduced, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = s.astype(np.float64) / np.float64(n)
        d = q64.astype(np.float64) - mean
        if not normalize_variance:
            y = d
        else:
            sq = (q64 * q64).sum(axis=reduced, keepdims=True)
            var = (n * sq - s * s).astype(np.float64) / (np.float64(n) * np.float64(n))
            if eps_mode == "inside_sqrt":
                y = d / np.sqrt(var + np.float64(eps))
            else:
                y = d / (np.sqrt(var) + np.float64(eps))
    return post.apply_post_ops(y.astype(np.float32), post_ops)


class Int8MVN(Op):
    type_name = "Int8MVN"
    input_names = ("data",)
    attributes = {
        "axes": Attr("ints", doc="reduction axes, in [-rank, rank), unique, at least one"),
        "normalize_variance": Attr("bool", True),
        "eps": Attr("float", 1e-9, doc="finite; added inside or outside the square root"),
        "eps_mode": Attr("str", "inside_sqrt", choices=EPS_MODES),
        "post_ops": Attr("any", ()),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        a = ctx.attrs
        ctx.require_dtype(0, dtypes.U8, dtypes.I8, what="data")
        x_type = ctx.input_type(0)
        if x_type.rank == 0:
            ctx.fail("data must have rank >= 1", attribute="input[0]", value=ctx.inputs[0].name)
        problem = axes_problem(a["axes"], x_type.rank)
        if problem:
            ctx.fail(problem, attribute="axes", value=a["axes"])
        if not np.isfinite(a["eps"]):
            ctx.fail("must be finite", attribute="eps", value=a["eps"])
        n = math.prod(x_type.shape[axis % x_type.rank] for axis in a["axes"])
        limit = max_group_size(x_type.dtype)
        if n > limit:
            ctx.fail(f"a reduction group of {n} elements may overflow the int64 moments "
                     f"n*Σq² - (Σq)² (at most {limit} for {dtypes.type_name(x_type.dtype)})",
                     attribute="axes", value=a["axes"])
        problem = post.check_post_ops(a["post_ops"], x_type.shape)
        if problem:
            ctx.fail(problem, attribute="post_ops", value=post.describe(a["post_ops"]))
        return [TensorType(post.output_dtype(a["post_ops"]), x_type.shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (int8_mvn(
            inputs[0], axes=attrs["axes"], normalize_variance=attrs["normalize_variance"],
            eps=attrs["eps"], eps_mode=attrs["eps_mode"], post_ops=attrs["post_ops"],
        ),)

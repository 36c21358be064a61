"""How each op's output is judged: ONE table, one row per op, with the reason for every tolerance.

Integer outputs (u8/i8/i32 codes) are always compared exactly, whatever the table says. Float
outputs are compared by the mode of the op's row:

``exact``
    Bit for bit: the same float32 value, including the sign of zero; any NaN matches any NaN. For
    every op whose float arithmetic the specification pins to a fixed order of IEEE float32 (or
    float64-then-one-rounding) operations: all int8 layers (their post-ops are pinned), FakeQuantize,
    the single-operation elementwise ops, data movement, Convert, MaxPool, nearest Interpolate.
``ulp``
    ``|got - ref| <= n * ulp(ref)`` (``ulp`` = spacing of float32 at ``|ref|``; ``+-inf`` counts as
    one ulp beyond ``+-FLT_MAX``), plus ``FLT_MIN`` absolute: results below the smallest normal may
    be flushed to zero. For transcendental functions the reference rounds correctly once; a libm or
    vectorised implementation is within a few ulp.
``bound``
    ``|got - ref| <= bound(node, inputs, ref)``, an elementwise error bound computed from the inputs
    by a function of this module (for reductions whose float32 summation order is unspecified: the
    classic ``(n + 2) * 2^-24 * sum|terms|`` bound of a float32 dot product, and its relatives).

In every mode the positions of NaN must agree, and an infinite reference value must be matched
exactly (same sign), except where a ``bound`` is +inf: there the float32 computation may overflow
in an intermediate step, and any value is accepted. Each row's ``reason`` is printed in the report
when that op fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from refint8.graph import Node
from refint8.ops import get_op

#: Unit roundoff of float32 (half an ulp of 1.0).
U = 2.0 ** -24
FLT_MIN = float(np.finfo(np.float32).tiny)      # smallest normal
FLT_TRUE_MIN = 2.0 ** -149                       # smallest subnormal

Bound = Callable[[Node, Sequence[np.ndarray], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Tolerance:
    mode: str                       # "exact" | "ulp" | "bound"
    reason: str
    ulps: float = 0.0               # for "ulp"
    bound: Bound | None = None      # for "bound"

    def describe(self) -> str:
        if self.mode == "ulp":
            return f"ulp<={self.ulps:g}"
        if self.mode == "bound":
            return f"bound:{self.bound.__name__}"
        return self.mode


# -- error bounds of the reductions ----------------------------------------------------------------
#
# Each returns the allowed |got - ref| per output element, or +inf where ANY float32 result is
# acceptable: where the float64 sum of the finite terms' magnitudes exceeds FLT_MAX, a float32
# accumulation may overflow in an intermediate sum (and give inf, or NaN from inf - inf) although
# the exact result is finite. Magnitudes are computed here in float64 from the finite inputs only
# (infinities and NaN are judged exactly: NaN positions and infinite results must match).

_FLT_MAX = float(np.finfo(np.float32).max)


def _finite_abs(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return np.where(np.isfinite(a), np.abs(a), 0.0)


def _overflow_guard(magnitude: np.ndarray, bound: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(magnitude * (1 + 2 ** -20) > _FLT_MAX, np.inf, bound)


def _reference(op_type: str, attrs, *inputs: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return get_op(op_type).compute(attrs, *inputs)[0].astype(np.float64)


def convolution_magnitude(node: Node, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum |x * w|`` of every output in float64 (padding contributes nothing)."""
    from refint8.ops.convolution import convolution_geometry, input_error

    a = node.attrs
    (pbh, pbw), (peh, pew), (n, oc, oh, ow) = convolution_geometry(
        x.shape, w.shape, strides=a["strides"], pads_begin=a["pads_begin"], pads_end=a["pads_end"],
        dilations=a["dilations"], auto_pad=a["auto_pad"], group=a["group"],
        fail=input_error("conformance"))
    xp = np.pad(x, ((0, 0), (0, 0), (pbh, peh), (pbw, pew)))
    group, icg, kh, kw = a["group"], w.shape[1], w.shape[2], w.shape[3]
    (sh, sw), (dh, dw) = a["strides"], a["dilations"]
    out = np.zeros((n, group, oc // group, oh, ow))
    weights = w.reshape(group, oc // group, icg, kh, kw)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky * dh: ky * dh + (oh - 1) * sh + 1: sh, kx * dw: kx * dw + (ow - 1) * sw + 1: sw]
            out += np.einsum("ngchw,goc->ngohw", patch.reshape(n, group, icg, oh, ow), weights[..., ky, kx])
    return out.reshape(n, oc, oh, ow)


def dot_convolution(node: Node, inputs: Sequence[np.ndarray], ref: np.ndarray) -> np.ndarray:
    """``(K + 2) * U * sum|x * w| + (K + 1) * FLT_TRUE_MIN``, ``K = IC/group * KH * KW``."""
    x, w = (_finite_abs(a) for a in inputs[:2])
    k = w.shape[1] * w.shape[2] * w.shape[3]
    magnitude = convolution_magnitude(node, x, w)
    return _overflow_guard(magnitude, (k + 2) * U * magnitude + (k + 1) * FLT_TRUE_MIN)


def dot_matmul(node: Node, inputs: Sequence[np.ndarray], ref: np.ndarray) -> np.ndarray:
    """``(K + 2) * U * sum|a * b| + (K + 1) * FLT_TRUE_MIN``."""
    a, b = (_finite_abs(v) for v in inputs[:2])
    if a.ndim >= 2 and node.attrs["transpose_a"]:
        a = np.swapaxes(a, -1, -2)
    if b.ndim >= 2 and node.attrs["transpose_b"]:
        b = np.swapaxes(b, -1, -2)
    k = a.shape[-1]
    magnitude = np.matmul(a, b)       # NumPy's rank-1 rules are MatMul-1's
    return _overflow_guard(magnitude, (k + 2) * U * magnitude + (k + 1) * FLT_TRUE_MIN)


def sum_avg_pool(node: Node, inputs: Sequence[np.ndarray], ref: np.ndarray) -> np.ndarray:
    """``(KH*KW + 2) * U * avg_pool(|x|) + ulp(ref)``: a float32 window sum, then one division."""
    kh, kw = node.attrs["kernel"]
    magnitude = np.abs(_reference("AvgPool", node.attrs, _finite_abs(inputs[0]).astype(np.float32)))
    return _overflow_guard(magnitude * kh * kw, (kh * kw + 2) * U * magnitude + _ulp(ref))


def mvn_bound(node: Node, inputs: Sequence[np.ndarray], ref: np.ndarray) -> np.ndarray:
    """Float32 mean and variance over ``n`` elements, then one normalisation, per element::

        4 (n + 4) U (M / s + |y| M^2 / s^2) + 4 ulp(y)     (normalize_variance)
        4 (n + 4) U M + 4 ulp(y)                             (otherwise)

    ``M`` = max |x| over the reduction group, ``s`` = the reference's denominator ``sqrt(var + eps)``
    (or ``sqrt(var) + eps``): the mean's error ``n U M`` divided by ``s``, and the variance's error
    ``n U M^2`` (cancellation in ``E[x^2] - mean^2``) relative to ``s^2``. Any value is accepted
    where ``n M^2`` overflows float32.
    """
    a = node.attrs
    x = np.asarray(inputs[0], np.float64)
    axes = tuple(sorted(ax % x.ndim for ax in a["axes"]))
    n = math.prod(x.shape[ax] for ax in axes)
    with np.errstate(all="ignore"):
        big = np.max(_finite_abs(x), axis=axes, keepdims=True)
        y = np.abs(ref)
        base = 4 * (n + 4) * U
        if not a["normalize_variance"]:
            bound = base * big + 4 * _ulp(ref)
            return _overflow_guard(np.broadcast_to(big * n, ref.shape), bound)
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        eps = float(np.float32(a["eps"]))
        s = np.sqrt(var + eps) if a["eps_mode"] == "inside_sqrt" else np.sqrt(var) + eps
        bound = base * (big / s + y * big * big / (s * s)) + 4 * _ulp(ref)
        return _overflow_guard(np.broadcast_to(big * big * n, ref.shape), bound)


def softmax_bound(node: Node, inputs: Sequence[np.ndarray], ref: np.ndarray) -> np.ndarray:
    """``(|x - max| + n + 8) * 2^-23 * |y| + FLT_MIN``: float32 ``x - max`` is rounded before
    ``exp`` (an absolute error ``|x - max| U`` becomes a relative error of the exponential), then a
    float32 sum of ``n`` terms and one division; tiny results may be flushed."""
    axis = node.attrs["axis"]
    x = inputs[0].astype(np.float64)
    n = x.shape[axis]
    with np.errstate(all="ignore"):
        spread = np.abs(x - np.max(x, axis=axis, keepdims=True))
        return (spread + n + 8) * 2.0 ** -23 * np.abs(ref) + FLT_MIN


def linear_interpolate_bound(node: Node, inputs: Sequence[np.ndarray], ref: np.ndarray) -> np.ndarray:
    """``(4 * 2^d + 4) * U * max|x| + ulp(ref)``: a float32 blend of ``2^d`` neighbours (d resized
    axes) with float32 weights, in an unspecified order."""
    x = inputs[0]
    d = sum(1 for a, b in zip(x.shape, ref.shape) if a != b) or 1
    big = float(np.max(_finite_abs(x))) if x.size else 0.0
    return _overflow_guard(np.full(ref.shape, big * 2 ** d), (4 * 2 ** d + 4) * U * big + _ulp(ref))


def _ulp(ref: np.ndarray) -> np.ndarray:
    r = np.abs(np.asarray(ref, np.float64))
    r = np.where(np.isfinite(r), np.minimum(r, float(np.finfo(np.float32).max)), 0.0)
    with np.errstate(all="ignore"):
        return np.spacing(r.astype(np.float32)).astype(np.float64)


# -- THE TABLE -------------------------------------------------------------------------------------

_PINNED = "pinned order of float32 operations in the specification: bit-exact"
_EXACT_INT8 = "int8 layer: exact integer accumulation and pinned float32 post-ops"
_MOVE = "data movement / comparisons only: no arithmetic"

TOLERANCES: dict[str, Tolerance] = {
    # int8 layers
    "Int8Convolution": Tolerance("exact", _EXACT_INT8),
    "Int8MatMul": Tolerance("exact", _EXACT_INT8),
    "Int8AvgPool": Tolerance("exact", "integer codes: exact integer average, rounded half to even"),
    "Int8Add": Tolerance("exact", "int8 Eltwise: pinned float32 order (t = q1 - h; t *= r; t += q2)"),
    "Int8Multiply": Tolerance("exact", "int8 Eltwise: pinned float32 order (t = q1 - h; t *= q2)"),
    "Int8MVN": Tolerance("exact", "int8 MVN: exact int64 moments, pinned float64 steps, one rounding"),
    "Dequantize": Tolerance("exact", "float32(q) then pinned float32 post-ops"),
    "FakeQuantize": Tolerance("exact", "OpenVINO reference FakeQuantize arithmetic, pinned float32 order"),
    # single IEEE float32 operations, comparisons, data movement
    "Add": Tolerance("exact", _PINNED),
    "Subtract": Tolerance("exact", _PINNED),
    "Multiply": Tolerance("exact", _PINNED),
    "Maximum": Tolerance("exact", _MOVE),
    "Minimum": Tolerance("exact", _MOVE),
    "Relu": Tolerance("exact", _MOVE),
    "Clamp": Tolerance("exact", _MOVE),
    "Convert": Tolerance("exact", "conversion rules are fully specified (nearest-even, trunc, wrap)"),
    "Reshape": Tolerance("exact", _MOVE),
    "Transpose": Tolerance("exact", _MOVE),
    "Squeeze": Tolerance("exact", _MOVE),
    "Unsqueeze": Tolerance("exact", _MOVE),
    "Concat": Tolerance("exact", _MOVE),
    "MaxPool": Tolerance("exact", _MOVE),
    "Interpolate:nearest": Tolerance("exact", "nearest: pinned float32 coordinates, element copies"),
    # reductions and transcendental functions
    "Convolution": Tolerance(
        "bound", "fp32 convolution: float32 accumulation in an unspecified order (the reference "
                 "sums in float64 and rounds once)", bound=dot_convolution),
    "MatMul": Tolerance(
        "bound", "fp32 MatMul: float32 accumulation in an unspecified order", bound=dot_matmul),
    "AvgPool": Tolerance(
        "bound", "window sum in float32 in an unspecified order, then one division",
        bound=sum_avg_pool),
    "MVN": Tolerance(
        "bound", "mean and variance reduced in float32 (cancellation in the variance)",
        bound=mvn_bound),
    "Softmax": Tolerance(
        "bound", "float32 x - max, exp and sum: error grows with |x - max| and the axis length",
        bound=softmax_bound),
    "Interpolate:linear": Tolerance(
        "bound", "float32 blend of the neighbours (the reference blends in float64)",
        bound=linear_interpolate_bound),
    "Interpolate:linear_onnx": Tolerance(
        "bound", "float32 blend of the neighbours (the reference blends in float64)",
        bound=linear_interpolate_bound),
    "Sigmoid": Tolerance("ulp", "exp-based, not correctly rounded in float32 kernels", ulps=8),
    "Tanh": Tolerance("ulp", "not correctly rounded in float32 kernels", ulps=8),
    "Exp": Tolerance("ulp", "libm / vectorised exp is within a few ulp, not correctly rounded",
                     ulps=8),
}


def tolerance_key(node: Node) -> str:
    """The row of :data:`TOLERANCES` that judges ``node``."""
    if node.type == "Interpolate":
        return f"Interpolate:{node.attrs['mode']}"
    return node.type


def tolerance_for(node: Node) -> Tolerance:
    key = tolerance_key(node)
    try:
        return TOLERANCES[key]
    except KeyError:
        raise KeyError(f"refint8-conformance: no tolerance row for {key!r}; add one to "
                       "refint8_conformance/tolerances.py") from None


def format_table() -> str:
    """The table as text (``refint8 conformance --tolerances``)."""
    width = max(map(len, TOLERANCES))
    mode_width = max(len(t.describe()) for t in TOLERANCES.values())
    lines = [f"{'op'.ljust(width)}  {'mode'.ljust(mode_width)}  reason"]
    for key, tol in TOLERANCES.items():
        lines.append(f"{key.ljust(width)}  {tol.describe().ljust(mode_width)}  {tol.reason}")
    return "\n".join(lines)

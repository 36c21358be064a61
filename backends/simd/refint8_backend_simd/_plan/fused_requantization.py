"""The fused requantization of a convolution's common chain (r8_conv.rq, rq_vector in r8simd_rq.h).

The chain the reference runs on each accumulator (an int32 ``acc``, first rounded to float32
``a``), in float32, each operation rounded to nearest::

    y = a*s + b                    Multiply, then Add (two roundings)
    R = ((y - il) / di) * steps    the Quantize's level (three more), di = ih - il
    code = ol if y <= il, oh if y > ih, else rint(R) + ol

The kernel computes instead ``x = min(steps, max(0, fma(a, A, B)))`` with ``A = f32(s*m)``,
``B = f32((b - il)*m)``, ``m = steps/di`` (exact products in float64 first, then rounded once),
and takes ``rint(x) + ol``. Both R and the fused value lie near the real value
``z = (a*s + b - il)*m``; where |z| <= Z = steps + 1 (elsewhere both are far past the clamps
and give the same end code), each float32 result of an operation whose exact result is X is
within u*|X| of it (u = 2^-24), so, to first order:

- the chain: u*m*(|a*s| + |a*s + b| + 3*|a*s + b - il|) <= u*(5Z + Wb + Wi), since
  m*|a*s| <= |z| + Wb and m*|a*s + b| <= |z| + Wi, with Wb = |b - il|*m and Wi = |il|*m;
- the fused value: |a*s*m|*rA + Wb*rB + u*|x| <= (Z + Wb)*rA + Wb*rB + u*Z, where rA and rB
  are the relative errors of A and B as float32 (measured, plus 2^-50 for the float64 steps).

Without a fused multiply-add (``contracted=False``: the 4- and 8-lane kernels compute
``fl(fl(a*A) + B)``), the product's own rounding adds at most u*|a*A| <= u*(Z + Wb) (the factor
1 + rA of A's error goes into the second-order terms).

E is their sum, times 1 + 2^-10 (the second-order terms), plus 2^-100 (results near the
subnormals). Where ``|x - rint(x)| < 0.5 - E``, R lies within E of x, so strictly within 0.5 of
rint(x): rint(R) = rint(x); at or below il, R <= 0 and x <= E; above ih, R >= steps and
x >= steps - E: the clamps give the reference's ol and oh. Lanes at least ``0.5 - E`` from their
integer (a midpoint's neighbourhood, about 4*E of them) are recomputed op by op. The limit is
``0.5 - max E`` over the layer's planes, rounded down to float32; the plan declines the fused
chain (the general epilogue runs) where it would fall below MIN_LIMIT or an operand is not
finite.
"""
from __future__ import annotations

import numpy as np

_U32 = 2.0 ** -24
_U64 = 2.0 ** -50

#: the fused chain is declined where its near-midpoint limit would fall below this (too many
#: lanes would be recomputed op by op)
MIN_LIMIT = 0.25


def fused_requantization(s: np.ndarray, b: np.ndarray, il: np.ndarray, di: np.ndarray,
                         steps: float, contracted: bool = True) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Per plane, the fused chain's A and B (float32) and the layer's near-midpoint limit, for
    the float32 operands s (Multiply), b (Add), il and di = ih - il (Quantize, di > 0) of each
    plane and the Quantize's ``steps`` (levels - 1); None where the fused chain is declined.
    ``contracted``: the kernel computes acc*A + B as one fused multiply-add (else a rounded
    product, then a rounded sum)."""
    f = [np.asarray(v, np.float32).astype(np.float64) for v in (s, b, il, di)]
    s64, b64, il64, di64 = f
    if not all(np.isfinite(v).all() for v in f) or not (di64 > 0).all():
        return None
    u, z = _U32, float(steps) + 1.0
    with np.errstate(all="ignore"):
        m = steps / di64
        a_exact, b_exact = s64 * m, (b64 - il64) * m
        a32, b32 = a_exact.astype(np.float32), b_exact.astype(np.float32)
        if not (np.isfinite(a32).all() and np.isfinite(b32).all()):
            return None

        def relative(rounded: np.ndarray, exact: np.ndarray) -> np.ndarray:
            error = np.abs(rounded.astype(np.float64) - exact) / np.abs(exact)
            return np.where(exact != 0, error, 0.0) + _U64

        wb, wi = np.abs(b64 - il64) * m, np.abs(il64) * m
        chain = u * (5 * z + wb + wi)
        fused = (z + wb) * relative(a32, a_exact) + wb * relative(b32, b_exact) + u * z
        if not contracted:
            fused = fused + u * (z + wb)
        e = (chain + fused) * (1.0 + 2.0 ** -10) + 2.0 ** -100
    limit = 0.5 - float(e.max())
    limit32 = np.float32(limit)
    if float(limit32) > limit:
        limit32 = np.nextafter(limit32, np.float32(0))
    if not np.isfinite(limit32) or limit32 < MIN_LIMIT:
        return None
    return a32, b32, float(limit32)

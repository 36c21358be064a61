"""Exact integer matrix products on floating-point BLAS.

The int8 layers need ``acc[r, m] = Σ_k b[r, k] * a[k, m]`` EXACTLY, where ``a`` are shifted
activation codes (``q - za``, integers, ``|a[k, :]| <= A[k]`` known from the code range) and ``b``
the shifted weight codes (``w - zw``, integer constants known at compile time). NumPy's integer
matmul does not use BLAS (about 25x slower), so the products are computed by float BLAS on the
integer values, and this module proves when that is exact.

Exactness argument (one output ``acc[r, m]``):
    A floating-point GEMM forms ``acc[r, m]`` from the terms ``b[r, k] * a[k, m]`` with products,
    additions and possibly FMAs, in an unspecified order and blocking. Whatever the order, every
    intermediate value is the exact sum of a SUBSET of the terms (as long as no operation has
    rounded so far), so its magnitude is at most ``S[r] = Σ_k A[k] * |b[r, k]|``. If ``S[r] <=
    2^24`` every intermediate is an integer of magnitude <= 2^24, which float32 represents
    exactly, so no operation rounds (induction over the operations) and the float32 result is the
    exact integer. In float64 the same holds with 2^53. (This assumes what OpenBLAS's sgemm and
    dgemm do: each output is a sum of the products ``b[r, k] * a[k, m]`` in the working
    precision, possibly fused; no Strassen-like recombination, no conversion to a narrower type.)

Plans, chosen per layer at compile time from the actual weights:
    * ``f32``: ``max_r S[r] <= 2^24``: one float32 GEMM, exact.
    * ``f32 chunked``: split ``k`` into consecutive chunks, each with ``max_r S_chunk[r] <= 2^24``
      (greedy). Each chunk's float32 GEMM is exact. With two chunks the float32 sum ``r0 + r1``
      is ONE correctly rounded addition of the exact values, i.e. ``float32(acc)``; with more,
      the chunk results are summed in float64 (exact: ``|acc| <= Σ_k 255*255 < 2^53`` for any
      realistic K) and rounded once to float32.
    * ``f64``: too many chunks: one float64 GEMM, exact since ``S[r] <= K * 255 * 255 < 2^53``
      for ``K < 1.3e11``, then rounded once to float32.

In every plan the float32 result equals ``float32(acc)`` (round to nearest even of the exact
integer), which is what the reference computes (int64 accumulation, then ``astype(float32)``).

Using the per-output-row L1 norm ``Σ_k |b[r, k]|`` instead of the worst case ``K * 128`` matters:
the worst case allows K <= 513 for u8 x s8, while real (per-channel symmetrically quantized)
weights average |w| ~ 30, so most layers of ResNet-50 need one or two float32 chunks.
"""

from __future__ import annotations

import numpy as np

from ._common import F32_EXACT_INT, F64_EXACT_INT

#: Above this many float32 chunks a single float64 GEMM is used instead.
MAX_F32_CHUNKS = 6


def plan_chunks(term_bounds: np.ndarray, limit: float = F32_EXACT_INT) -> list[tuple[int, int]]:
    """Consecutive ``[k0, k1)`` chunks of the columns of ``term_bounds`` (``A[k] * |b[r, k]|``,
    shape ``[R, K]``, non-negative) such that every row's sum over each chunk is <= ``limit``.

    Greedy: each chunk is as long as possible. Raises ValueError if a single term exceeds the
    limit (impossible for 8-bit codes: 255 * 255 < 2^24).
    """
    rows, k = term_bounds.shape
    if k == 0:
        return []
    if float(term_bounds.max(initial=0.0)) > limit:
        raise ValueError("a single product bound exceeds the exact range")
    cumulative = np.cumsum(term_bounds, axis=1)  # exact: integers < 2^53
    chunks = []
    start = 0
    while start < k:
        base = cumulative[:, start - 1] if start else np.zeros(rows)
        # for each row, how many further columns keep the chunk sum within the limit
        fits = (cumulative[:, start:] <= (base + limit)[:, None]).sum(axis=1)
        end = start + int(fits.min(initial=k - start))
        end = max(end, start + 1)
        chunks.append((start, end))
        start = end
    return chunks


class ExactGemm:
    """``out[..., r, m] = float32(Σ_k b[..., r, k] * a[..., k, m])`` exactly (see module docstring).

    ``weights``: integer-valued ``[R, K]`` or grouped ``[G, R, K]`` (any numeric dtype).
    ``activation_bound``: ``A[k]`` (``[K]``, or ``[G, K]`` for grouped weights), the largest
    ``|a[k, m]|`` the data can produce.
    ``side``: ``"left"`` computes ``b @ a`` (``a``: ``[K, M]``, out ``[R, M]``); ``"right"`` computes
    ``a @ b.T`` (``a``: ``[M, K]``, out ``[M, R]``; not grouped).
    ``plan`` forces ``"f64"`` (testing); by default the cheapest exact plan is chosen.
    """

    def __init__(self, weights: np.ndarray, activation_bound: np.ndarray, *, side: str = "left",
                 plan: str | None = None) -> None:
        w = np.asarray(weights, dtype=np.float64)
        grouped = w.ndim == 3
        w3 = w if grouped else w[None]
        bound = np.asarray(activation_bound, dtype=np.float64)
        bound3 = np.broadcast_to(bound if bound.ndim == 2 else bound[None], (w3.shape[0], w3.shape[2]))
        terms = np.abs(w3) * bound3[:, None, :]                      # [G, R, K]
        row_bounds = terms.sum(axis=2)                                # S[g, r]
        #: Largest possible |acc| over the outputs (for the post-ops' no-overflow proof).
        self.bound = float(row_bounds.max(initial=0.0))
        if self.bound > F64_EXACT_INT:
            raise ValueError("accumulator bound exceeds 2^53")
        k = w3.shape[2]
        chunks = plan_chunks(terms.reshape(-1, k)) if plan != "f64" else []
        if plan == "f64" or len(chunks) > MAX_F32_CHUNKS:
            self.plan = "f64"
            self.chunks = [(0, k)]
            self.dtype = np.dtype(np.float64)
        else:
            self.plan = "f32" if len(chunks) <= 1 else f"f32x{len(chunks)}"
            self.chunks = chunks or [(0, k)]
            self.dtype = np.dtype(np.float32)
        self.grouped = grouped
        if side not in ("left", "right") or (side == "right" and grouped):
            raise ValueError(f"bad side {side!r}")
        self.side = side
        parts = [np.ascontiguousarray(w3[:, :, k0:k1], dtype=self.dtype) for k0, k1 in self.chunks]
        if not grouped:
            parts = [p[0] for p in parts]
        if side == "right":
            parts = [np.ascontiguousarray(p.T) for p in parts]      # [K_chunk, R]
        self._weights = parts

    def _product(self, weight: np.ndarray, a: np.ndarray, k0: int, k1: int, out=None):
        if self.side == "left":
            part = a if (k0, k1) == (0, a.shape[-2]) else a[..., k0:k1, :]
            return np.matmul(weight, part, out=out)
        part = a if (k0, k1) == (0, a.shape[-1]) else a[:, k0:k1]
        return np.matmul(part, weight, out=out)

    def __call__(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``a`` in ``self.dtype`` (``[K, M]``, ``[G, K, M]`` or, side right, ``[M, K]``); ``out``:
        float32 of the result's shape. Returns ``out``."""
        weights, chunks = self._weights, self.chunks
        if self.plan == "f64":
            out[...] = self._product(weights[0], a, *chunks[0])         # exact, then one rounding
            return out
        if len(chunks) == 1:
            return self._product(weights[0], a, *chunks[0], out=out)    # exact
        if len(chunks) == 2:
            self._product(weights[0], a, *chunks[0], out=out)
            out += self._product(weights[1], a, *chunks[1])             # one rounding of exact values
            return out
        total = self._product(weights[0], a, *chunks[0]).astype(np.float64)
        for weight, chunk in zip(weights[1:], chunks[1:]):
            total += self._product(weight, a, *chunk)                   # exact in float64
        out[...] = total                                                # one rounding
        return out

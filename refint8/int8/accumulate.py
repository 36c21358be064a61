"""Integer dot products of int8 layers, in the two declared accumulation modes.

An int8 Convolution or FullyConnected multiplies u8/i8 activation codes ``q`` by i8 weight codes
``w`` and sums. With activation zero point ``za`` and weight zero point ``zw`` the layer's integer
result is::

    acc = Σ (q - za) * (w - zw)
        = Σ q*w  -  za * Σ w  -  zw * Σ q  +  K * za * zw          (K = number of terms)

Mode ``exact`` (the default; VNNI ``vpdpbusd`` and AMX ``tdpbusd`` compute it): ``Σ q*w`` is the
exact integer sum.

Mode ``s16_pairs`` (the non-VNNI path of oneDNN: ``vpmaddubsw`` then ``vpmaddwd``): the products
are grouped in PAIRS of consecutive input channels at the same kernel tap (for FullyConnected:
consecutive elements along K), each pair sum saturated to int16 before accumulation::

    Σ q*w  :=  Σ_taps Σ_j  sat16( u[2j]*w[2j] + u[2j+1]*w[2j+1] )

where ``sat16(v) = min(max(v, -32768), 32767)``, ``u`` are the activation codes as u8 (i8
activations are first shifted by +128, as oneDNN does for s8 x s8, and ``128 * Σ w`` is subtracted
exactly), and an odd channel count pads the last pair with a zero product. Only this raw product
sum saturates; the zero-point terms are exact. oneDNN's worked example: u = [255, 255], w = [127,
127] gives ``sat16(64770) = 32767`` instead of 64770.

Accumulator bound: ``|acc| <= K * 255 * 128`` (plus the zero-point terms); refint8 computes in
int64 and the layer checks at compile time that the bound fits int32 (K <= 65793 for za = zw = 0),
so the exact result is the int32 a VNNI/AMX kernel produces. A layer whose bound exceeds int32 is
rejected with an error, never wrapped silently.
"""

from __future__ import annotations

import numpy as np

ACCUMULATION_MODES = ("exact", "s16_pairs")
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MAX = 2**31 - 1


def raw_product_sum(q: np.ndarray, w: np.ndarray, mode: str, *, signed_activations: bool) -> np.ndarray:
    """``Σ_c q[..., g, c] * w[g, c, o]`` in ``mode``, as int64 ``[..., G, O]``.

    ``q``: activation codes ``[..., G, C]`` (u8 or i8 values in any integer dtype), channels last,
    ``G`` groups (1 for a plain convolution or FullyConnected).
    ``w``: weight codes ``[G, C, O]`` (i8 values).
    One call covers ONE kernel tap: pairs never straddle taps.
    """
    q64 = q.astype(np.int64)
    w64 = w.astype(np.int64)
    if mode == "exact":
        return (q64[..., None, :] @ w64)[..., 0, :]
    if mode != "s16_pairs":
        raise ValueError(f"unknown accumulation mode {mode!r}")
    if signed_activations:  # s8 x s8: shift activations to u8, compensate exactly
        shifted = raw_product_sum(q64 + 128, w64, mode, signed_activations=False)
        return shifted - 128 * w64.sum(axis=-2)
    if q64.shape[-1] % 2:  # odd channel count: the last pair has a zero partner
        q64 = np.concatenate([q64, np.zeros(q64.shape[:-1] + (1,), np.int64)], axis=-1)
        w64 = np.concatenate([w64, np.zeros(w64.shape[:-2] + (1, w64.shape[-1]), np.int64)], axis=-2)
    # Each product is at most 255 * 128 in magnitude and a pair sum at most 65280, so int32 holds
    # them; the pair tensor [..., G, C/2, O] is large, hence int32 and one pair axis at a time.
    q32, w32 = q64.astype(np.int32), w64.astype(np.int32)
    total = np.zeros(q64.shape[:-1] + (w64.shape[-1],), np.int64)
    for j in range(q64.shape[-1] // 2):
        pair = q32[..., 2 * j, None] * w32[:, 2 * j, :] + q32[..., 2 * j + 1, None] * w32[:, 2 * j + 1, :]
        total += np.clip(pair, INT16_MIN, INT16_MAX)
    return total


def accumulator_bound(terms: int, zero_point: int = 0, weight_zero_point: int = 0) -> int:
    """Largest possible |acc| for ``terms`` products of u8/i8 codes and i8 weights."""
    max_q = 255 + abs(zero_point)
    max_w = 128 + abs(weight_zero_point)
    return terms * max_q * max_w


def fits_int32(terms: int, zero_point: int = 0, weight_zero_point: int = 0) -> bool:
    return accumulator_bound(terms, zero_point, weight_zero_point) <= INT32_MAX

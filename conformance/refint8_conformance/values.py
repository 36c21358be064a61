"""Array contents for the strategies: integer codes and float32 data, by named pattern.

Hypothesis draws the *structure* of a case (shapes, attributes, which pattern, a seed); the
values themselves come from NumPy's generator seeded by that draw, so large arrays cost nothing
to generate and the shrunk counterexample is small in shape. Every pattern aims at a corner:

codes (u8/i8)
    ``uniform``; ``extremes`` (mostly the lowest and highest code); ``saturating`` (the highest code
    everywhere: with weights 127/-128 every s16 pair saturates); ``constant``; ``small`` (0..3);
    ``sparse`` (mostly one value).
weights (i8)
    ``uniform``; ``extremes`` (-128 and 127: pairs of same sign saturate s16); ``narrow``
    (-127..127, NNCF's grid); ``positive`` (127 everywhere); ``negative`` (-128 everywhere);
    ``small``; ``sparse``.
floats
    ``normal`` (with a random magnitude), ``uniform``, ``integers`` (integer-valued floats, e.g.
    dequantized codes), ``halves`` (k + 0.5), ``specials`` (NaN, +-inf, +-0, subnormals, +-FLT_MAX
    mixed into normal data), ``wide`` (magnitudes 2^-140 .. 2^120), ``constant``.
"""

from __future__ import annotations

import numpy as np

CODE_PATTERNS = ("uniform", "extremes", "saturating", "constant", "small", "sparse")
WEIGHT_PATTERNS = ("uniform", "extremes", "narrow", "positive", "negative", "small", "sparse")
FLOAT_PATTERNS = ("normal", "uniform", "integers", "halves", "specials", "wide", "constant")

F32 = np.float32
FLT_MAX = float(np.finfo(np.float32).max)
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, FLT_MAX,
                     -FLT_MAX, 1.0, -1.0, 0.5, -0.5], dtype=np.float32)


def code_range(dtype: np.dtype) -> tuple[int, int]:
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 0, 255
    if dtype == np.int8:
        return -128, 127
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def codes(rng: np.random.Generator, shape, dtype, pattern: str) -> np.ndarray:
    """Activation codes of ``dtype`` (u8/i8/i32) filling ``shape`` by ``pattern``."""
    lo, hi = code_range(dtype)
    shape = tuple(shape)
    if pattern == "uniform":
        out = rng.integers(lo, hi, shape, endpoint=True)
    elif pattern == "extremes":
        out = np.where(rng.random(shape) < 0.75, rng.choice([lo, hi], shape),
                       rng.integers(lo, hi, shape, endpoint=True))
    elif pattern == "saturating":
        top = hi if np.dtype(dtype) != np.int8 else rng.choice([hi, lo])
        out = np.where(rng.random(shape) < 0.9, top, rng.integers(lo, hi, shape, endpoint=True))
    elif pattern == "constant":
        out = np.full(shape, rng.integers(lo, hi, endpoint=True))
    elif pattern == "small":
        base = 0 if lo <= 0 <= hi else lo
        out = base + rng.integers(0, 3, shape, endpoint=True)
    elif pattern == "sparse":
        out = np.where(rng.random(shape) < 0.85, rng.integers(lo, hi, endpoint=True),
                       rng.integers(lo, hi, shape, endpoint=True))
    else:
        raise ValueError(pattern)
    return np.asarray(out).astype(dtype)


def weights(rng: np.random.Generator, shape, pattern: str) -> np.ndarray:
    """i8 weight codes by ``pattern``."""
    shape = tuple(shape)
    if pattern == "uniform":
        out = rng.integers(-128, 127, shape, endpoint=True)
    elif pattern == "extremes":
        out = np.where(rng.random(shape) < 0.8, rng.choice([-128, 127], shape),
                       rng.integers(-128, 127, shape, endpoint=True))
    elif pattern == "narrow":
        out = rng.integers(-127, 127, shape, endpoint=True)
    elif pattern == "positive":
        out = np.full(shape, 127)
    elif pattern == "negative":
        out = np.full(shape, -128)
    elif pattern == "small":
        out = rng.integers(-2, 2, shape, endpoint=True)
    elif pattern == "sparse":
        out = np.where(rng.random(shape) < 0.8, 0, rng.integers(-128, 127, shape, endpoint=True))
    else:
        raise ValueError(pattern)
    return np.asarray(out).astype(np.int8)


def floats(rng: np.random.Generator, shape, pattern: str, *, scale: float | None = None) -> np.ndarray:
    """float32 data by ``pattern``; ``scale`` sets the magnitude (random if None)."""
    shape = tuple(shape)
    if scale is None:
        scale = float(2.0 ** rng.integers(-8, 9))
    if pattern == "normal":
        out = rng.standard_normal(shape) * scale
    elif pattern == "uniform":
        out = rng.uniform(-scale, scale, shape)
    elif pattern == "integers":
        out = rng.integers(-128, 255, shape, endpoint=True).astype(np.float64)
    elif pattern == "halves":
        out = rng.integers(-64, 64, shape) + 0.5
    elif pattern == "specials":
        out = rng.standard_normal(shape) * scale
        mask = rng.random(shape) < 0.3
        out = np.where(mask, rng.choice(SPECIALS, shape), out)
    elif pattern == "wide":
        out = np.sign(rng.standard_normal(shape)) * 2.0 ** rng.uniform(-140, 120, shape)
    elif pattern == "constant":
        out = np.full(shape, rng.standard_normal() * scale)
    else:
        raise ValueError(pattern)
    with np.errstate(over="ignore"):
        return np.asarray(out).astype(np.float32)


def percentiles(values: np.ndarray, qs, axis: int | None = None) -> list[np.ndarray]:
    """Percentiles of the finite ``values`` (over everything, or per index of ``axis``)."""
    v = np.asarray(values, np.float64)
    if axis is None:
        finite = v[np.isfinite(v)]
        if finite.size == 0:
            finite = np.zeros(1)
        return [np.float64(np.percentile(finite, q)) for q in qs]
    moved = np.moveaxis(v, axis, 0).reshape(v.shape[axis], -1)
    result = [np.empty(moved.shape[0]) for _ in qs]
    for c, row in enumerate(moved):
        finite = row[np.isfinite(row)]
        if finite.size == 0:
            finite = np.zeros(1)
        for r, q in zip(result, qs):
            r[c] = np.percentile(finite, q)
    return result

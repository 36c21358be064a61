"""Comparing a backend's output with the reference: dtype, then shape, then values.

The order localises a failure (a wrong dtype makes every value look wrong). Integer outputs are
compared exactly; float outputs by the op's row of :mod:`refint8_conformance.tolerances`.
``Comparison.difference`` is the largest difference found (in codes for integers; absolute, with
the ulp count, for floats), whether or not it is within the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .tolerances import FLT_MIN, Tolerance

_FLT_MAX = float(np.finfo(np.float32).max)


@dataclass
class Comparison:
    ok: bool
    difference: float = 0.0         # largest |got - ref| (codes or float), 0 when identical
    ulps: float = 0.0               # the same in float32 ulps of the reference (floats only)
    message: str = ""               # why not ok, with the first offending element

    def describe_difference(self) -> str:
        if not self.difference:
            return "0"
        if self.ulps:
            return f"{self.difference:.3g} ({self.ulps:.3g} ulp)"
        return f"{self.difference:.6g}"


def _index(flat: int, shape: tuple[int, ...]) -> str:
    return str([int(i) for i in np.unravel_index(flat, shape)]) if shape else "[]"


def compare(got: object, ref: np.ndarray, tolerance: Tolerance, bound: np.ndarray | None = None,
            *, what: str = "output 0") -> Comparison:
    """Compare one output array ``got`` of the backend with ``ref`` of the reference."""
    if not isinstance(got, np.ndarray):
        return Comparison(False, float("inf"), message=f"{what}: expected a NumPy array, got "
                                                        f"{type(got).__name__}")
    if got.dtype != ref.dtype:
        return Comparison(False, float("inf"), message=f"{what}: dtype {got.dtype}, expected {ref.dtype}")
    if got.shape != ref.shape:
        return Comparison(False, float("inf"),
                          message=f"{what}: shape {list(got.shape)}, expected {list(ref.shape)}")
    if ref.size == 0:
        return Comparison(True)
    if ref.dtype.kind in "iub":
        diff = np.abs(got.astype(np.int64) - ref.astype(np.int64))
        worst = int(diff.max())
        if worst == 0:
            return Comparison(True)
        first = int(np.flatnonzero(diff.reshape(-1))[0])
        count = int(np.count_nonzero(diff))
        return Comparison(False, float(worst), message=(
            f"{what}: {count} of {ref.size} values differ (largest difference {worst}); first at "
            f"{_index(first, ref.shape)}: got {got.reshape(-1)[first]}, expected {ref.reshape(-1)[first]}"))
    return _compare_float(got, ref, tolerance, bound, what)


def _compare_float(got: np.ndarray, ref: np.ndarray, tolerance: Tolerance,
                   bound: np.ndarray | None, what: str) -> Comparison:
    g = got.astype(np.float64).reshape(-1)
    r = ref.astype(np.float64).reshape(-1)
    g_nan, r_nan = np.isnan(g), np.isnan(r)
    both = g_nan & r_nan
    finite = ~(g_nan | r_nan)
    with np.errstate(all="ignore"):
        diff = np.where(finite, np.abs(g - r), 0.0)
        diff = np.where(np.isnan(diff), np.inf, diff)          # inf - inf of the same sign is 0
        diff = np.where(finite & (g == r), 0.0, diff)
        ulp = np.spacing(np.minimum(np.abs(r), _FLT_MAX).astype(np.float32)).astype(np.float64)
        ulp_diff = _ulp_distance(g, r, ulp)
    finite_diff = diff[np.isfinite(diff)]
    largest = float(finite_diff.max()) if finite_diff.size else 0.0
    if np.isinf(diff).any():
        largest = float("inf")
    largest_ulps = float(np.nanmax(np.where(finite, ulp_diff, 0.0))) if g.size else 0.0

    bad = g_nan != r_nan
    reason = "NaN where the reference is not (or the reverse)"
    if tolerance.mode == "exact":
        same = (g == r) & (np.signbit(g) == np.signbit(r))
        bad |= finite & ~same
    else:
        r_inf = np.isinf(r)
        bad |= finite & r_inf & (g != r) & ~_inf_as_one_ulp(g, r, tolerance)
        check = finite & ~r_inf
        if tolerance.mode == "ulp":
            allowed = tolerance.ulps * ulp + FLT_MIN
            bad |= check & ~(ulp_diff <= tolerance.ulps) & ~(diff <= FLT_MIN)
        else:
            allowed = np.broadcast_to(np.asarray(bound, np.float64), ref.shape).reshape(-1)
            allowed = np.where(np.isnan(allowed), 0.0, allowed)
            bad |= check & ~(diff <= allowed)
            bad &= ~np.isposinf(allowed)        # possible float32 overflow: any value
    del both
    if not bad.any():
        return Comparison(True, largest, largest_ulps)
    first = int(np.flatnonzero(bad)[0])
    count = int(np.count_nonzero(bad))
    detail = f"got {got.reshape(-1)[first]}, expected {ref.reshape(-1)[first]}"
    if not (g_nan[first] != r_nan[first]):
        if tolerance.mode == "exact":
            reason = "not bit-identical" + (" (sign of zero)" if g[first] == r[first] else "")
        elif tolerance.mode == "ulp":
            reason = f"{ulp_diff[first]:.3g} ulp > {tolerance.ulps:g} ulp allowed"
        else:
            reason = f"|difference| {diff[first]:.3g} > bound {allowed[first]:.3g}"
    return Comparison(False, largest, largest_ulps, message=(
        f"{what}: {count} of {ref.size} values outside the tolerance ({tolerance.describe()}); "
        f"first at {_index(first, ref.shape)}: {detail}: {reason}"))


def _ulp_distance(g: np.ndarray, r: np.ndarray, ulp: np.ndarray) -> np.ndarray:
    """|g - r| in ulps of r; an infinity counts as one ulp beyond +-FLT_MAX."""
    top = 2.0 ** 128
    gg = np.where(np.isinf(g), np.sign(g) * top, g)
    rr = np.where(np.isinf(r), np.sign(r) * top, r)
    with np.errstate(all="ignore"):
        d = np.abs(gg - rr) / ulp
    return np.where(np.isnan(d), np.inf, d)


def _inf_as_one_ulp(g: np.ndarray, r: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """In ulp mode, an infinite reference matched by a finite value within n ulps of FLT_MAX."""
    if tolerance.mode != "ulp":
        return np.zeros(g.shape, bool)
    top = 2.0 ** 128
    ulp_top = 2.0 ** 104
    with np.errstate(all="ignore"):
        return np.isfinite(g) & (np.sign(g) == np.sign(r)) & (
            (top - np.abs(g)) / ulp_top <= tolerance.ulps)


def compare_outputs(got: Sequence[object], ref: Sequence[np.ndarray], tolerance: Tolerance,
                    bounds: Sequence[np.ndarray | None] | None = None) -> Comparison:
    """Compare every output; the first failing one decides, the largest difference is kept."""
    if isinstance(got, np.ndarray) or not isinstance(got, (list, tuple)):
        return Comparison(False, float("inf"), message=(
            f"kernel.run returned a {type(got).__name__}, expected a sequence of {len(ref)} array(s)"))
    if len(got) != len(ref):
        return Comparison(False, float("inf"), message=(
            f"kernel.run returned {len(got)} outputs, expected {len(ref)}"))
    worst = Comparison(True)
    for i, (g, r) in enumerate(zip(got, ref)):
        c = compare(g, r, tolerance, None if bounds is None else bounds[i], what=f"output {i}")
        if not c.ok:
            return c
        if c.difference > worst.difference:
            worst = c
    return worst

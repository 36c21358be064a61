"""Which integer type an activation FakeQuantize becomes, and its dequantization constants.

Follows OpenVINO's LPT (``LayerTransformation::getPrecisionDetails``,
``NetworkHelper::decomposeFakeQuantize``, ``DataPrecision::getMinValue/getMaxValue``).

Supported levels (``QUANTIZATION_LEVELS``): 256 and 255 (int8 and int8 narrow) and 16 and 15 (int4
and int4 narrow, carried in u8/i8 codes). Any other ``levels`` keeps the FakeQuantize in FP32.

Integer target range ``[min, max]`` of the codes:

=========  ===========  ===========
levels     u8           i8
=========  ===========  ===========
256        [0, 255]     [-128, 127]
255        [0, 255]     [-127, 127]
16         [0, 15]      [-8, 7]
15         [0, 15]      [-7, 7]
=========  ===========  ===========

(u8 with 255 levels spreads 255 levels over 256 codes: level k lands on code
``round_half_even(k * 255 / 254)``, which is not exact; OpenVINO does the same.)

Preferred precision of an output range ``[ol, oh]`` (per range element; values with
``|v| < 1e-6`` count as zero):

* signed interval (``ol <= -1e-6`` and ``oh > 0``): i8, without zero point if
  ``ol/oh`` equals ``-(L/2)/(L/2 - 1)`` for full-range levels (``-128/127`` for 256) or ``-1`` for
  narrow levels (255, 15), within 0.2 % relative; otherwise i8 with a zero point. A range ending
  at zero (``ol <= -1e-6``, ``|oh| < 1e-6``) is also signed, i8 with a zero point.
* otherwise u8, with a zero point iff ``|ol| >= 1e-6`` (so an all-negative range, ``oh <= -1e-6``,
  is u8 with a zero point: the signs of ``ol`` and ``oh`` agree, as in OpenVINO).

Dequantization of target ``[min, max]``: ``scale = (oh - ol) / (max - min)`` and
``zero_point = (min * oh - max * ol) / (oh - ol)``, evaluated in float64 and stored as float32, so
that ``(code - zero_point) * scale`` maps ``min`` to ``ol`` and ``max`` to ``oh``. ``ol == oh``
gives scale 1 and zero point ``min - ol``, so the code ``min`` maps to ``ol``: the callers give
such an element the code range ``[min, min]`` (a constant output). Scales are clamped in
magnitude to ``[1e-32, 1e32]`` as OpenVINO does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUANTIZATION_LEVELS = (256, 255, 16, 15)
_ZERO_THRESHOLD = 1e-6
_RATIO_TOLERANCE = 0.002


def integer_range(levels: int, precision: str) -> tuple[int, int]:
    """The code range ``[min, max]`` for ``levels`` in ``precision`` (``u8`` or ``i8``)."""
    if levels not in QUANTIZATION_LEVELS:
        raise ValueError(f"levels {levels} is not one of LPT's {QUANTIZATION_LEVELS}")
    if levels in (256, 255):
        return (0, 255) if precision == "u8" else ((-128, 127) if levels == 256 else (-127, 127))
    return (0, 15) if precision == "u8" else ((-8, 7) if levels == 16 else (-7, 7))


@dataclass(frozen=True)
class PrecisionDetails:
    """The precision an output range prefers and whether it needs a zero point there."""

    precision: str | None       # "u8", "i8" or None when channels disagree
    has_zero_point: bool


def precision_details(output_low: np.ndarray, output_high: np.ndarray, levels: int) -> PrecisionDetails:
    """OpenVINO's ``getPrecisionDetails`` over every element of the output range."""
    lows = np.asarray(output_low, np.float64).reshape(-1)
    highs = np.asarray(output_high, np.float64).reshape(-1)
    lows, highs = np.broadcast_arrays(lows, highs)
    full_range = levels in (256, 16)
    expected_ratio = -(levels / 2) / (levels / 2 - 1) if full_range else -1.0
    signed_votes, unsigned_votes, zero_point = 0, 0, False
    for lo, hi in zip(lows, highs):
        if abs(lo) < _ZERO_THRESHOLD and abs(hi) < _ZERO_THRESHOLD:
            continue
        if lo < 0 and abs(lo) >= _ZERO_THRESHOLD and (hi > 0 or abs(hi) < _ZERO_THRESHOLD):
            signed_votes += 1
            if abs(hi) < _ZERO_THRESHOLD:
                zero_point = True
            elif abs(lo / hi / expected_ratio - 1.0) > _RATIO_TOLERANCE:
                zero_point = True
        else:
            unsigned_votes += 1
            if abs(lo) >= _ZERO_THRESHOLD:
                zero_point = True
    if signed_votes and unsigned_votes:
        return PrecisionDetails(None, True)
    return PrecisionDetails("i8" if signed_votes else "u8", zero_point)


@dataclass(frozen=True)
class Dequantization:
    """``x_float = (code - zero_point) * scale`` with float32 constants."""

    scale: np.ndarray
    zero_point: np.ndarray

    @property
    def has_zero_point(self) -> bool:
        return bool(np.any(self.zero_point != 0))


def dequantization_for(output_low: np.ndarray, output_high: np.ndarray, code_min: int, code_max: int) -> Dequantization:
    """Scale and zero point that map codes ``[code_min, code_max]`` onto ``[ol, oh]`` (see module doc)."""
    lo = np.asarray(output_low, np.float64)
    hi = np.asarray(output_high, np.float64)
    lo, hi = np.broadcast_arrays(lo, hi)
    span = hi - lo
    degenerate = span == 0
    safe_span = np.where(degenerate, 1.0, span)
    scale = np.where(degenerate, 1.0, span / (code_max - code_min))
    zero_point = np.where(degenerate, code_min - lo, (code_min * hi - code_max * lo) / safe_span)
    zero_point = np.where(zero_point == 0, 0.0, zero_point)  # no -0.0
    magnitude = np.clip(np.abs(scale), 1e-32, 1e32)
    scale = np.sign(scale) * magnitude
    return Dequantization(scale.astype(np.float32), zero_point.astype(np.float32))


def integral_zero_point(zero_point: np.ndarray, code_min: int, code_max: int,
                        tolerance: float = 1e-3) -> tuple[np.ndarray | None, str]:
    """The zero point as integers, or ``None`` and the reason it cannot be one.

    A zero point is usable by an int8 layer when every element is within ``tolerance`` of an
    integer inside the code range. OpenVINO's CPU plugin silently rounds a clearly fractional zero
    point (observed: 100.18 ran as 100); refint8 keeps such a layer in FP32 instead, so the int8
    result never departs from the FakeQuantize graph by more than rounding.
    """
    values = np.asarray(zero_point, np.float64)
    rounded = np.rint(values)
    worst = float(np.max(np.abs(values - rounded))) if values.size else 0.0
    if worst > tolerance:
        bad = values.reshape(-1)[int(np.argmax(np.abs(values - rounded).reshape(-1)))]
        return None, f"zero point {bad:.6g} is not an integer (off by {worst:.3g})"
    if values.size and (rounded.min() < code_min or rounded.max() > code_max):
        bad = rounded.min() if rounded.min() < code_min else rounded.max()
        return None, f"zero point {bad:g} is outside the code range [{code_min}, {code_max}]"
    return rounded.astype(np.int64), ""

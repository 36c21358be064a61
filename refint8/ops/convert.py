"""Convert-1: elementwise conversion to ``destination_type`` (f32, u8, i8, i32 or i64).

OpenVINO's specification leaves float-to-integer conversion loosely stated ("3.141592 may be round
to 3") and out-of-range results undefined. refint8 defines them as OpenVINO 2026.4 computes them on
x86-64, where its reference kernel (``op.evaluate``, also used for constant folding) and its CPU
plugin (``INFERENCE_PRECISION_HINT=f32``) were observed to agree bit for bit for u8, i8 and i32 —
for a Convert alone and for one fused after Multiply/Add: truncation toward zero, then two's
complement wrap-around; no rounding to nearest and no saturation. See :func:`convert`.

The semantics of out-of-range float values come from the x86 conversion instruction (C++ leaves
them undefined); an OpenVINO build for another architecture may differ there (ARM's conversion
instruction saturates instead, for example). A graph that needs rounding and saturation to u8/i8
uses FakeQuantize, not Convert.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

DESTINATION_TYPES = ("f32", "u8", "i8", "i32", "i64")

#: Source element types: every element type a refint8 graph can carry.
SOURCE_TYPES = tuple(dtypes.ELEMENT_TYPES.values())


def convert(x: Any, destination_type: str) -> np.ndarray:
    """Convert every element of ``x`` to ``destination_type``; the shape is kept.

    Arguments
        x: array of element type f32, f16, u8, i8, i32, i64 or boolean.
        destination_type: ``"f32"``, ``"u8"``, ``"i8"``, ``"i32"`` or ``"i64"``.
    Returns
        array of that type and x's shape.

    Rules, by source and destination:

    * **to f32**: the nearest float32, ties to even. Exact for f32, f16, u8, i8, boolean and
      integers up to 2^24 in magnitude; ``16777217`` (i32) gives ``16777216.0``. f32 to f32 is the
      identity (NaN, ±inf and -0.0 kept).
    * **integer (or boolean) to integer**: two's complement wrap-around, i.e. the unique value of
      the destination type congruent to the source modulo 2^N (N = 8 or 32; to i64 every source
      value fits). ``300 -> u8`` is 44, ``-1 -> u8`` is 255, ``200 (u8) -> i8`` is -56,
      ``2^31 (i64) -> i32`` is ``-2^31``. false/true give 0/1.
    * **float to i32**: truncation toward zero (``trunc``): ``2.7 -> 2``, ``-2.7 -> -2``,
      ``0.5 -> 0``, ``-0.5 -> 0``. If the truncated value is outside ``[-2^31, 2^31 - 1]``, or x is NaN
      or ±inf, the result is ``-2^31`` (-2147483648, x86's "integer indefinite"), whatever the sign.
    * **float to u8 / i8**: first float to i32 as above, then wrap-around to 8 bits (keep the low
      8 bits). So ``255.9 -> u8`` is 255, ``256.0 -> u8`` is 0, ``300.0 -> u8`` is 44,
      ``-1.5 -> u8`` is 255, ``-129.0 -> i8`` is 127, ``128.0 -> i8`` is -128. NaN, ±inf and
      ``|x| >= 2^31`` give 0 (the low byte of -2^31; for ``|x| >= 2^31`` a float32 is also a
      multiple of 256).
    * **float to i64**: truncation toward zero; a truncated value outside ``[-2^63, 2^63 - 1]``,
      NaN and ±inf give ``-2^63``. This is OpenVINO's reference kernel. Its CPU plugin computes
      i64 as i32 and returns the float-to-i32 result instead (``1e10 -> -2147483648``); refint8
      follows the reference.

    Errors (:class:`~refint8.errors.InputError`): a destination type outside the list above, a
    source type refint8 does not carry.
    """
    if destination_type not in DESTINATION_TYPES:
        raise InputError(
            f"refint8: convert: destination_type {destination_type!r} is not supported; "
            f"supported: {', '.join(DESTINATION_TYPES)}"
        )
    x = np.asarray(x)
    if x.dtype not in SOURCE_TYPES:
        raise InputError(f"refint8: convert: source element type {x.dtype} is not supported")
    destination = dtypes.element_type(destination_type)
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)  # false -> 0, true -> 1, then the integer rules

    if destination == dtypes.F32:
        return x.astype(np.float32)  # IEEE conversion: nearest float32, ties to even

    if x.dtype.kind == "f":
        # Truncate through an intermediate integer type: i64 for an i64 destination, i32 otherwise.
        wide = dtypes.I64 if destination == dtypes.I64 else dtypes.I32
        values = _truncate_toward_zero(x, wide)
    else:
        values = x.astype(np.int64)  # every integer source value is exact in int64
    return np.asarray(_wrap(values, destination))  # a 0-d result stays an array


def _truncate_toward_zero(x: np.ndarray, wide: np.dtype) -> np.ndarray:
    """``trunc(x)`` as int64 if it fits ``wide``; otherwise (also NaN, ±inf) ``wide``'s minimum."""
    lowest = np.iinfo(wide).min  # -2^(N-1)
    t = np.trunc(x.astype(np.float64))  # exact for float32 and float16 values
    with np.errstate(invalid="ignore"):
        fits = (t >= lowest) & (t < -float(lowest))  # in [-2^(N-1), 2^(N-1)); False for NaN, ±inf
    exact = np.where(fits, t, 0.0).astype(np.int64)
    return np.where(fits, exact, np.int64(lowest))


def _wrap(values: np.ndarray, destination: np.dtype) -> np.ndarray:
    """Two's complement wrap-around of int64 ``values`` into ``destination`` (modulo 2^N)."""
    bits = destination.itemsize * 8
    if bits == 64:
        return values.astype(np.int64)
    low = values & np.int64((1 << bits) - 1)  # in [0, 2^N): the value modulo 2^N
    if np.iinfo(destination).min < 0:
        low = np.where(low >= (1 << (bits - 1)), low - (1 << bits), low)
    return low.astype(destination)


class Convert(Op):
    type_name = "Convert"
    input_names = ("x",)
    attributes = {
        "destination_type": Attr("str", choices=DESTINATION_TYPES, doc="element type of the result"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, *SOURCE_TYPES, what="x")
        destination = dtypes.element_type(ctx.attrs["destination_type"])
        return [TensorType(destination, ctx.input_type(0).shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (convert(inputs[0], attrs["destination_type"]),)

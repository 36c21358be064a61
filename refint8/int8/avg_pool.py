"""Int8AvgPool: average pooling of u8/i8 codes, rounded half to even to a code of the same type.

OpenVINO's CPU layer type ``Pooling`` (exec type ``AvgPool jit_avx512_I8``). LPT moves the
dequantization of the input after an AvgPool and, when a quantized consumer follows
(MarkupAvgPoolPrecisionPreserved), keeps the output in the input's precision: the average is
rounded to an integer code before the next int8 layer (openvino-int8.md section 2.5 [obs]:
"AvgPool in int8 rounds the average to an integer ... half-to-even").

Inputs
    data: u8 or i8 codes ``q``, ``[N, C, H, W]``.
Attributes
    kernel ``(KH, KW)``, strides, pads_begin, pads_end (explicit: LPT's graph carries resolved
    pads), exclude_pad, rounding_type ``floor`` | ``ceil``: as fp32 AvgPool; the window geometry,
    output size and checks are :func:`refint8.ops.avg_pool.avg_pool_geometry`'s.
    pad_value: the code that window positions outside the input hold (default 0), within the
    data's code range. It matters only for the include-padding divisor (below).
Computation (integers only)
    Per output position, over the window positions ``(ih, iw)`` of the fp32 op::

        S_in = Σ q[n, c, ih, iw] over the positions inside the input     (exact, int64)
        n_in = number of window positions inside the input

    * exclude-padding divisor (``exclude_pad`` true, or every pad zero: fp32 AvgPool's rule,
      which follows the CPU plugin): ``S = S_in``, ``D = n_in``;
    * include-padding divisor (``exclude_pad`` false and some pad nonzero): ``D = KH * KW`` and
      every position outside the input (padding, and the area a ceil-rounded last window reaches
      beyond pads_end) holds ``pad_value``: ``S = S_in + (KH*KW - n_in) * pad_value``.

    ``out = round_half_to_even(S / D)``, computed EXACTLY: with ``S = k*D + r`` (floor division,
    ``0 <= r < D``), ``out = k`` if ``2r < D``, ``k + 1`` if ``2r > D``, and the even one of ``k,
    k+1`` if ``2r == D``. The average of codes lies between the smallest and largest code, so
    ``out`` is always a valid code; no saturation happens. These divisors are fp32 AvgPool's
    ``D`` wherever a window overlaps the input (there ``D_h * D_w`` counts the positions inside).
Which pad_value
    ``pad_value = 0`` is what OpenVINO's CPU plugin computes (from the source of oneDNN's
    ``src/cpu/x64/jit_uni_i8i8_pooling.cpp``, not observed): the int8 kernel sums only the
    positions inside the input, so a padded position counts as the code 0, and divides by the whole
    kernel. LPT's AvgPoolTransformation moves a zero-point Subtract after the AvgPool without
    checking the padding, so with ``zp != 0`` OpenVINO's int8 result is NOT the fp32 graph, whose
    padding is the value 0, i.e. the code ``zp``: ``pad_value = zp`` gives the fp32 graph's
    average. The lowering chooses; both agree when the exclude-padding divisor applies or
    ``zp = 0``.
Why exact rounding equals OpenVINO's float rounding (for realistic windows)
    oneDNN's int8 kernel computes ``rint(float32(S) * float32(1/D))``: the int32 sum, one float32
    product with the float32 reciprocal (an FMA with 0: one rounding), then round to nearest even
    (``cvtps2dq``) and a saturating store. ``float32(S)`` is exact (``|S| <= 255*D < 2^24``); the
    reciprocal and the product each round with relative error at most ``2^-24``, so the product
    is within ``|S/D| * (2^-23 + 2^-48) < 3.1e-5`` of ``S/D`` (``|S/D| <= 255``). When ``S/D``
    is not a tie its distance to the nearest half-integer is at least ``1/(2D)``, more than that
    error for every ``D < 16000``, so both round the same way. At an exact tie (``D`` even,
    ``S/D = k + 1/2``) the product can land just off the tie. Checked over every possible sum of
    u8 and i8 codes (spec_tests/int8/test_int8_avg_pool.py): the two agree for every ``D <= 64``
    except ``D = 14, 26, 28, 30, 52, 56, 60``; e.g. ``D = 14, S = 91``: 6.5 exactly -> 6 here,
    ``91 * float32(1/14)`` = 6.5000005 -> 7 in oneDNN. Realistic windows are exact: 2x2 (4), 3x3
    (9; exclude-pad borders 4, 6), 5x5 (25; borders 9 to 20), global 7x7 (49). A 2x7 window (14)
    or a 7x7 exclude-pad window clipped to 4x7 or 5x6 (28, 30) can differ from OpenVINO by one
    code at such ties; refint8 defines the exact result.
Output
    The data's element type (u8 or i8), ``[N, C, OH, OW]``.
Errors (GraphError naming node, attribute and value)
    data not u8/i8 or not rank 4; pad_value outside the code range; the fp32 AvgPool geometry
    errors (bad kernel/strides/pads, exclude_pad with a pad >= kernel); a window with no input
    position under the exclude-padding divisor (a ceil-rounded window past the input end: ``D <=
    0``, where fp32 AvgPool returns NaN or 0; no code can represent it).
"""

from __future__ import annotations

from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ..ops._base import Attr, Op
from ..ops.avg_pool import avg_pool_geometry, window_counts
from ..ops.convolution import input_error, tap_range
from ..ops.max_pool import ROUNDING_TYPES


def int8_avg_pool(
    q: np.ndarray,
    *,
    kernel: Sequence[int],
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    exclude_pad: bool = False,
    rounding_type: str = "floor",
    pad_value: int = 0,
) -> np.ndarray:
    """Int8AvgPool of the module docstring, on NumPy arrays (u8/i8 in, same type out)."""
    (pbh, pbw), (peh, pew), (n, c, oh, ow) = avg_pool_geometry(
        q.shape, kernel=kernel, strides=strides, pads_begin=pads_begin, pads_end=pads_end,
        exclude_pad=exclude_pad, rounding_type=rounding_type, auto_pad="explicit",
        fail=input_error("int8_avg_pool"),
    )
    _, _, h, w = q.shape
    kh, kw = kernel
    sh, sw = strides
    q64 = q.astype(np.int64)
    s_in = np.zeros((n, c, oh, ow), np.int64)          # Σ codes inside the input
    for i in range(kh):
        r_lo, r_hi, r_in = tap_range(h, oh, sh, i - pbh)
        for j in range(kw):
            c_lo, c_hi, c_in = tap_range(w, ow, sw, j - pbw)
            if r_lo == r_hi or c_lo == c_hi:
                continue
            s_in[:, :, r_lo:r_hi, c_lo:c_hi] += q64[
                :, :, r_in:r_in + (r_hi - r_lo - 1) * sh + 1:sh, c_in:c_in + (c_hi - c_lo - 1) * sw + 1:sw
            ]
    # window positions inside the input: (rows inside) x (columns inside)
    n_in = np.outer(inside_counts(h, oh, kh, sh, pbh), inside_counts(w, ow, kw, sw, pbw))
    if exclude_pad or not any((pbh, pbw, peh, pew)):
        if (n_in == 0).any():
            raise input_error("int8_avg_pool")(
                "a ceil-rounded window lies entirely outside the input", "rounding_type", rounding_type)
        total, divisor = s_in, n_in
    else:
        total, divisor = s_in + (kh * kw - n_in) * pad_value, np.int64(kh * kw)
    return round_half_even_quotient(total, divisor).astype(q.dtype)


def round_half_even_quotient(total: np.ndarray, divisor: Any) -> np.ndarray:
    """``round_half_to_even(total / divisor)`` exactly, for integer arrays and ``divisor > 0``."""
    quotient, remainder = np.divmod(total, divisor)     # floor division: 0 <= remainder < divisor
    twice = 2 * remainder
    round_up = (twice > divisor) | ((twice == divisor) & (quotient % 2 == 1))
    return quotient + round_up


def inside_counts(in_size: int, out_size: int, kernel: int, stride: int, pad_begin: int) -> np.ndarray:
    """Per output position along one axis: how many of the window's ``kernel`` taps read the input
    (0 for a window entirely past the input)."""
    return np.maximum(window_counts(in_size, out_size, kernel, stride, pad_begin), 0)


class Int8AvgPool(Op):
    type_name = "Int8AvgPool"
    input_names = ("data",)
    attributes = {
        "kernel": Attr("ints", doc="(KH, KW), each >= 1"),
        "strides": Attr("ints", (1, 1), doc="(sH, sW), each >= 1"),
        "pads_begin": Attr("ints", (0, 0), doc="(top, left), each >= 0"),
        "pads_end": Attr("ints", (0, 0), doc="(bottom, right), each >= 0"),
        "exclude_pad": Attr("bool", False, doc="OpenVINO's exclude-pad"),
        "rounding_type": Attr("str", "floor", choices=ROUNDING_TYPES),
        "pad_value": Attr("int", 0, doc="the code outside the input (include-padding divisor)"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.U8, dtypes.I8, what="data")
        ctx.require_rank(0, 4, what="data (NCHW)")
        a = ctx.attrs
        x_type = ctx.input_type(0)

        def fail(reason: str, attribute: str, value: Any) -> NoReturn:
            ctx.fail(reason, attribute=attribute, value=value)

        (pbh, pbw), (peh, pew), out = avg_pool_geometry(
            x_type.shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
            pads_end=a["pads_end"], exclude_pad=a["exclude_pad"], rounding_type=a["rounding_type"],
            auto_pad="explicit", fail=fail,
        )
        low, high = (0, 255) if x_type.dtype == dtypes.U8 else (-128, 127)
        if not low <= a["pad_value"] <= high:
            ctx.fail(f"must be a code of the data's type, within [{low}, {high}]",
                     attribute="pad_value", value=a["pad_value"])
        if a["exclude_pad"] or not any((pbh, pbw, peh, pew)):
            _, _, h, w = x_type.shape
            (kh, kw), (sh, sw) = a["kernel"], a["strides"]
            rows_in, cols_in = inside_counts(h, out[2], kh, sh, pbh), inside_counts(w, out[3], kw, sw, pbw)
            if (rows_in == 0).any() or (cols_in == 0).any():
                ctx.fail("a ceil-rounded window lies entirely outside the input: its average "
                         "has no input position to divide by (fp32 AvgPool gives NaN or 0) and no "
                         "int8 code represents it", attribute="rounding_type", value=a["rounding_type"])
        return [TensorType(x_type.dtype, out)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (int8_avg_pool(
            inputs[0], kernel=attrs["kernel"], strides=attrs["strides"],
            pads_begin=attrs["pads_begin"], pads_end=attrs["pads_end"],
            exclude_pad=attrs["exclude_pad"], rounding_type=attrs["rounding_type"],
            pad_value=attrs["pad_value"],
        ),)

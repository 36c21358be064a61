"""MaxPool-1: maximum over sliding 2-D windows of NCHW data; dtype-generic (f32, u8, i8).

The window geometry (auto_pad, rounding_type, output size) is shared with AvgPool-1 and follows
OpenVINO's pooling shape inference; :func:`pool_geometry` computes it. The values follow OpenVINO
(CPU plugin and reference kernel alike): the running maximum starts at the lowest finite value of
the element type and only real input elements can raise it, so padding never wins, NaN is skipped
and ``-inf`` becomes ``-FLT_MAX`` (see :func:`max_pool`). Checked against OpenVINO 2026.4 (CPU plugin
on random shapes, pads, strides, rounding types, auto_pads, f32 with NaN/-inf, u8, i8; reference
kernel on f32). Where a padded value of ``-inf`` would be the natural choice, OpenVINO uses the
lowest finite value, and so does refint8.
"""

from __future__ import annotations

from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Attr, Op
from .convolution import AUTO_PADS, Fail, input_error, resolve_pads, tap_range

ROUNDING_TYPES = ("floor", "ceil")


def pool_geometry(
    x_shape: Sequence[int],
    *,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads_begin: Sequence[int],
    pads_end: Sequence[int],
    rounding_type: str,
    auto_pad: str,
    fail: Fail,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """Check a pooling node; return ``(pads_begin, pads_end, output_shape)`` after auto_pad.

    Per spatial axis (input size ``in``, kernel ``k``, stride ``s``):

    1. pads ``(pb, pe)``: ``explicit`` takes pads_*, ``valid`` uses ``(0, 0)``, ``same_upper`` /
       ``same_lower`` use ``total = max((ceil(in/s) - 1) * s + k - in, 0)`` split as in
       Convolution (odd extra one at the end for same_upper, at the beginning for same_lower).
    2. ``k <= in + pb + pe`` (the kernel must fit in the padded input), else an error.
    3. ``out = floor((in + pb + pe - k) / s) + 1`` for ``rounding_type="floor"``,
       ``out = ceil((in + pb + pe - k) / s) + 1`` for ``"ceil"``, for every auto_pad.

    MaxPool-1 and AvgPool-1 do *not* drop a last ceil-mode window that starts in the padding or
    beyond it (that rule belongs to ``ceil_torch`` of MaxPool-14/AvgPool-14; OpenVINO 2026.4 shape
    inference keeps the window, checked). Such a window may even lie entirely outside the input.
    """
    if len(x_shape) != 4:
        fail(f"data must be rank 4 (NCHW), got shape {list(x_shape)}", "input[0]", list(x_shape))
    if auto_pad not in AUTO_PADS:
        fail(f"unsupported value; supported: {', '.join(AUTO_PADS)}", "auto_pad", auto_pad)
    if rounding_type not in ROUNDING_TYPES:
        fail(f"unsupported value; supported: {', '.join(ROUNDING_TYPES)}", "rounding_type",
             rounding_type)
    for name, value, least in (("kernel", kernel, 1), ("strides", strides, 1),
                               ("pads_begin", pads_begin, 0), ("pads_end", pads_end, 0)):
        if len(value) != 2:
            fail(f"needs 2 entries (one per spatial axis H, W), got {len(value)}", name, tuple(value))
        if any(v < least for v in value):
            fail(f"every entry must be >= {least}", name, tuple(value))
    n, c, h, w = x_shape
    pb, pe, out = [], [], []
    for axis, size in enumerate((h, w)):
        k, s = kernel[axis], strides[axis]
        b, e = resolve_pads(auto_pad, size, k, s, 1, pads_begin[axis], pads_end[axis])
        span = size + b + e - k
        if span < 0:
            fail(
                f"kernel {k} is larger than the padded input along {'HW'[axis]} "
                f"({size} + {b} + {e} = {size + b + e})",
                "kernel", tuple(kernel),
            )
        o = (-(-span // s) if rounding_type == "ceil" else span // s) + 1
        pb.append(b)
        pe.append(e)
        out.append(o)
    return (pb[0], pb[1]), (pe[0], pe[1]), (n, c, out[0], out[1])


def lowest(dtype: np.dtype) -> Any:
    """The lowest finite value of ``dtype``: ``-FLT_MAX`` for f32, -128 for i8, 0 for u8."""
    dtype = np.dtype(dtype)
    return (np.finfo(dtype).min if dtype.kind == "f" else np.iinfo(dtype).min)


def max_pool(
    x: np.ndarray,
    *,
    kernel: Sequence[int],
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    rounding_type: str = "floor",
    auto_pad: str = "explicit",
) -> np.ndarray:
    """Maximum over ``kernel``-sized windows of NCHW data, per channel.

    Arguments
        x: ``[N, C, H, W]``, f32, u8 or i8. The result has x's element type.
        kernel ``(KH, KW)`` >= 1, strides ``(sH, sW)`` >= 1, pads_begin / pads_end >= 0 (two
            entries each), rounding_type ``floor`` | ``ceil``, auto_pad ``explicit`` |
            ``same_upper`` | ``same_lower`` | ``valid``: output size and padding as in
            :func:`pool_geometry`.
    Returns
        ``[N, C, OH, OW]``, x's dtype. With ``pbH, pbW`` the begin pads::

            y[n, c, oh, ow] = max( LOWEST, max{ x[n, c, ih, iw] :
                                                 ih = oh*sH + kh - pbH, iw = ow*sW + kw - pbW,
                                                 0 <= kh < KH, 0 <= kw < KW,
                                                 (ih, iw) inside the input, x not NaN } )

        ``LOWEST`` is the lowest finite value of the type (:func:`lowest`: ``-FLT_MAX`` =
        ``-3.4028235e38`` for f32, -128 for i8, 0 for u8); the maximum of an empty set is
        ``LOWEST``. Consequences, all matching OpenVINO (CPU plugin and reference kernel):

        * padding (pads_begin/pads_end and the extra area a ceil-rounded last window reaches) never
          wins; a window lying entirely outside the input gives ``LOWEST``;
        * f32 NaN inputs are ignored (a window of only NaN gives ``-FLT_MAX``); ``+inf`` wins;
          ``-inf`` never beats ``LOWEST``, so a window of only ``-inf`` gives ``-FLT_MAX``.

        Exact: no arithmetic, only comparisons.

    Errors (:class:`~refint8.errors.InputError`, naming attribute and value): rank other than 4,
    lists without exactly 2 entries, kernel/strides < 1, negative pads, a kernel larger than the
    padded input, an unknown rounding_type or auto_pad.
    """
    x = np.asarray(x)
    (pbh, pbw), _, (n, c, oh, ow) = pool_geometry(
        x.shape, kernel=kernel, strides=strides, pads_begin=pads_begin, pads_end=pads_end,
        rounding_type=rounding_type, auto_pad=auto_pad, fail=input_error("max_pool"),
    )
    _, _, h, w = x.shape
    sh, sw = strides
    y = np.full((n, c, oh, ow), lowest(x.dtype), dtype=x.dtype)
    for i in range(kernel[0]):
        r_lo, r_hi, r_in = tap_range(h, oh, sh, i - pbh)
        if r_lo == r_hi:
            continue
        for j in range(kernel[1]):
            c_lo, c_hi, c_in = tap_range(w, ow, sw, j - pbw)
            if c_lo == c_hi:
                continue
            tap = x[:, :, r_in : r_in + (r_hi - r_lo - 1) * sh + 1 : sh,
                    c_in : c_in + (c_hi - c_lo - 1) * sw + 1 : sw]
            view = y[:, :, r_lo:r_hi, c_lo:c_hi]
            np.fmax(view, tap, out=view)  # fmax: a NaN loses against any number
    return y


class MaxPool(Op):
    type_name = "MaxPool"
    input_names = ("data",)
    attributes = {
        "kernel": Attr("ints", doc="(KH, KW), each >= 1"),
        "strides": Attr("ints", (1, 1), doc="(sH, sW), each >= 1"),
        "pads_begin": Attr("ints", (0, 0), doc="(top, left), each >= 0; ignored unless explicit"),
        "pads_end": Attr("ints", (0, 0), doc="(bottom, right), each >= 0; ignored unless explicit"),
        "rounding_type": Attr("str", "floor", choices=ROUNDING_TYPES),
        "auto_pad": Attr("str", "explicit", choices=AUTO_PADS),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, dtypes.U8, dtypes.I8, what="data")
        ctx.require_rank(0, 4, what="data (NCHW)")
        a = ctx.attrs

        def fail(reason: str, attribute: str, value: Any) -> NoReturn:
            ctx.fail(reason, attribute=attribute, value=value)

        _, _, out = pool_geometry(
            ctx.input_type(0).shape, kernel=a["kernel"], strides=a["strides"],
            pads_begin=a["pads_begin"], pads_end=a["pads_end"], rounding_type=a["rounding_type"],
            auto_pad=a["auto_pad"], fail=fail,
        )
        return [TensorType(ctx.input_type(0).dtype, out)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (
            max_pool(
                inputs[0], kernel=attrs["kernel"], strides=attrs["strides"],
                pads_begin=attrs["pads_begin"], pads_end=attrs["pads_end"],
                rounding_type=attrs["rounding_type"], auto_pad=attrs["auto_pad"],
            ),
        )

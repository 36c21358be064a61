"""AvgPool-1: mean over sliding 2-D windows of NCHW f32 data.

Window geometry (auto_pad, rounding_type, output size) is MaxPool's, see
:func:`refint8.ops.max_pool.pool_geometry`. What the divisor counts is the subtle part; refint8
follows OpenVINO's CPU plugin exactly (see :func:`avg_pool`, checked on OpenVINO 2026.4 with random
shapes, pads, strides, both rounding types, every auto_pad and both exclude_pad values).
"""

from __future__ import annotations

from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Attr, Op
from .convolution import AUTO_PADS, Fail, input_error, tap_range
from .max_pool import ROUNDING_TYPES, pool_geometry


def avg_pool_geometry(
    x_shape: Sequence[int],
    *,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads_begin: Sequence[int],
    pads_end: Sequence[int],
    exclude_pad: bool,
    rounding_type: str,
    auto_pad: str,
    fail: Fail,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """:func:`pool_geometry` plus AvgPool-1's own check: with ``exclude_pad``, every pad < kernel."""
    pb, pe, out = pool_geometry(
        x_shape, kernel=kernel, strides=strides, pads_begin=pads_begin, pads_end=pads_end,
        rounding_type=rounding_type, auto_pad=auto_pad, fail=fail,
    )
    if exclude_pad:
        for axis in range(2):
            if not (kernel[axis] > pb[axis] and kernel[axis] > pe[axis]):
                fail(
                    f"with exclude_pad a window could lie entirely in the padding along "
                    f"{'HW'[axis]}: pads {pb[axis]}/{pe[axis]} must be smaller than kernel "
                    f"{kernel[axis]} (OpenVINO rejects this too)",
                    "pads_begin" if pb[axis] >= kernel[axis] else "pads_end",
                    pb if pb[axis] >= kernel[axis] else pe,
                )
    return pb, pe, out


def avg_pool(
    x: np.ndarray,
    *,
    kernel: Sequence[int],
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    exclude_pad: bool = False,
    rounding_type: str = "floor",
    auto_pad: str = "explicit",
) -> np.ndarray:
    """Mean over ``kernel``-sized windows of NCHW data, per channel.

    Arguments
        x: ``[N, C, H, W]``, read as float32.
        kernel, strides, pads_begin, pads_end, rounding_type, auto_pad: as MaxPool
            (:func:`refint8.ops.max_pool.pool_geometry`); ``pbH, pbW, peH, peW`` below are the pads
            after auto_pad is resolved.
        exclude_pad: OpenVINO's ``exclude-pad``. With ``True``, each pad must be smaller than the
            kernel along its axis (OpenVINO's AvgPool-1 check), else an error.
    Returns
        float32 ``[N, C, OH, OW]``::

            S = sum of x[n, c, ih, iw] over the window positions inside the input
                (ih = oh*sH + kh - pbH, iw = ow*sW + kw - pbW, 0 <= kh < KH, 0 <= kw < KW)
            y[n, c, oh, ow] = S / D

        The divisor ``D`` (OpenVINO CPU plugin semantics, verified on OpenVINO 2026.4). With the
        window's first row ``start_h = oh*sH - pbH`` and first column ``start_w = ow*sW - pbW``::

            D_h = min(start_h + KH, H) - max(start_h, 0)      (likewise D_w with W, KW)

        which is the number of window rows inside the input whenever the window overlaps it.

        * ``exclude_pad=True``: ``D = D_h * D_w``, the number of window positions inside the
          input; padding and the area a ceil rounding adds beyond pads_end never count.
        * ``exclude_pad=False`` and some pad (begin or end, either axis, after auto_pad) is
          nonzero: ``D = KH * KW``, the whole kernel, always, including the positions a ceil
          rounding adds beyond ``pads_end`` (they count as zeros): oneDNN's
          ``pooling_avg_include_padding``, and the rule of OpenVINO's reference kernel too.
        * ``exclude_pad=False`` and all pads zero (including ``valid``): as ``exclude_pad=True``
          (the CPU plugin then picks oneDNN's exclude-padding algorithm), so only a ceil-rounded
          last window, which overhangs the input end, has ``D < KH * KW``.

        A ceil-rounded last window can lie entirely past the input (MaxPool-1/AvgPool-1 keep such
        windows; there is no ``ceil_torch`` rule), e.g. ``H=5, KH=1, sH=3``: windows start at 0, 3
        and 6. Its sum is ``S = +0.0`` and the formula above gives ``D_h <= 0``, so ``y = S / D``
        is NaN (``D = 0``), ``-0.0`` (``D < 0``) or ``+0.0`` (``D > 0``: ``D_h`` and ``D_w`` both
        negative), exactly what the CPU plugin returns (OpenVINO's reference kernel returns 0).

        ``S`` is computed in float64 (order unspecified) and ``S / D`` is rounded once to float32.
        NaN and inf propagate through the sum. OpenVINO sums in float32, so it can differ in the
        last bits: the mean of ``[2**24, 1, 1, 0]`` is 4194304.5 here and 4194304 on its CPU
        plugin.

    Errors (:class:`~refint8.errors.InputError`): as MaxPool, plus ``exclude_pad`` with a pad >=
    the kernel.
    """
    x = np.asarray(x, dtype=np.float32)
    (pbh, pbw), (peh, pew), (n, c, oh, ow) = avg_pool_geometry(
        x.shape, kernel=kernel, strides=strides, pads_begin=pads_begin, pads_end=pads_end,
        exclude_pad=exclude_pad, rounding_type=rounding_type, auto_pad=auto_pad,
        fail=input_error("avg_pool"),
    )
    _, _, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    x64 = x.astype(np.float64)
    total = np.zeros((n, c, oh, ow), dtype=np.float64)
    for i in range(kh):
        r_lo, r_hi, r_in = tap_range(h, oh, sh, i - pbh)
        if r_lo == r_hi:
            continue
        for j in range(kw):
            c_lo, c_hi, c_in = tap_range(w, ow, sw, j - pbw)
            if c_lo == c_hi:
                continue
            total[:, :, r_lo:r_hi, c_lo:c_hi] += x64[
                :, :, r_in : r_in + (r_hi - r_lo - 1) * sh + 1 : sh,
                c_in : c_in + (c_hi - c_lo - 1) * sw + 1 : sw,
            ]
    divisor = divisor_table((h, w), (oh, ow), kernel, strides, (pbh, pbw), (peh, pew), exclude_pad)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / divisor).astype(np.float32)


def window_counts(size: int, out_size: int, kernel: int, stride: int, pad_begin: int) -> np.ndarray:
    """Signed per-axis count of each window's positions inside the input (oneDNN's formula).

    ``min(start + kernel, size) - max(start, 0)`` for the window starting at
    ``start = o * stride - pad_begin``: the number of positions inside the input when the window
    overlaps it, and ``<= 0`` when it lies entirely past the end.
    """
    start = np.arange(out_size) * stride - pad_begin
    return np.minimum(start + kernel, size) - np.maximum(start, 0)


def divisor_table(
    size: tuple[int, int],
    out_size: tuple[int, int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads_begin: tuple[int, int],
    pads_end: tuple[int, int],
    exclude_pad: bool,
) -> np.ndarray:
    """``D`` of every output position (float64 ``[OH, OW]``), with pads already resolved.

    ``D_h * D_w`` (signed :func:`window_counts`) when ``exclude_pad`` or no pad at all, else
    ``KH * KW`` everywhere: the divisor rule of :func:`avg_pool`.
    """
    (h, w), (oh, ow), (kh, kw), (sh, sw) = size, out_size, kernel, strides
    if exclude_pad or not any((*pads_begin, *pads_end)):
        return np.outer(window_counts(h, oh, kh, sh, pads_begin[0]),
                        window_counts(w, ow, kw, sw, pads_begin[1])).astype(np.float64)
    return np.full((oh, ow), float(kh * kw))


class AvgPool(Op):
    type_name = "AvgPool"
    input_names = ("data",)
    attributes = {
        "kernel": Attr("ints", doc="(KH, KW), each >= 1"),
        "strides": Attr("ints", (1, 1), doc="(sH, sW), each >= 1"),
        "pads_begin": Attr("ints", (0, 0), doc="(top, left), each >= 0; ignored unless explicit"),
        "pads_end": Attr("ints", (0, 0), doc="(bottom, right), each >= 0; ignored unless explicit"),
        "exclude_pad": Attr("bool", False, doc="OpenVINO's exclude-pad"),
        "rounding_type": Attr("str", "floor", choices=ROUNDING_TYPES),
        "auto_pad": Attr("str", "explicit", choices=AUTO_PADS),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="data")
        ctx.require_rank(0, 4, what="data (NCHW)")
        a = ctx.attrs

        def fail(reason: str, attribute: str, value: Any) -> NoReturn:
            ctx.fail(reason, attribute=attribute, value=value)

        _, _, out = avg_pool_geometry(
            ctx.input_type(0).shape, kernel=a["kernel"], strides=a["strides"],
            pads_begin=a["pads_begin"], pads_end=a["pads_end"], exclude_pad=a["exclude_pad"],
            rounding_type=a["rounding_type"], auto_pad=a["auto_pad"], fail=fail,
        )
        return [TensorType(dtypes.F32, out)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (
            avg_pool(
                inputs[0], kernel=attrs["kernel"], strides=attrs["strides"],
                pads_begin=attrs["pads_begin"], pads_end=attrs["pads_end"],
                exclude_pad=attrs["exclude_pad"], rounding_type=attrs["rounding_type"],
                auto_pad=attrs["auto_pad"],
            ),
        )

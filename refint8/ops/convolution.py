"""Convolution-1: 2-D convolution of NCHW data, grouped when ``group`` > 1.

refint8's ``Convolution`` covers OpenVINO's ``Convolution`` (``group`` = 1) and ``GroupConvolution``
(``group`` > 1; OpenVINO's filters ``[G, OC/G, IC/G, KH, KW]`` are reshaped to
``[OC, IC/G, KH, KW]``, see :func:`refint8.opset.group_convolution`). Depthwise convolution is
``group == IC``.

The geometry (auto_pad, output size) follows OpenVINO's shape inference (checked against OpenVINO
2026.4, Convolution and GroupConvolution on the CPU plugin); products and sums are computed in
float64 and rounded once to float32 (OpenVINO accumulates in float32, so it may differ in the last
bits). The helpers
:func:`resolve_pads` and :func:`tap_range` are shared with the pooling ops.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NoReturn, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

#: ``fail(reason, attribute, value)``: how a geometry check reports a problem (never returns).
Fail = Callable[[str, str, Any], NoReturn]

AUTO_PADS = ("explicit", "same_upper", "same_lower", "valid")


def resolve_pads(
    auto_pad: str, size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int
) -> tuple[int, int]:
    """The (begin, end) padding of one spatial axis, as OpenVINO resolves ``auto_pad``.

    * ``explicit``: the given ``pad_begin``, ``pad_end``.
    * ``valid``: no padding, ``(0, 0)``.
    * ``same_upper`` / ``same_lower``: total padding
      ``P = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)``;
      ``same_upper`` puts ``P // 2`` at the beginning and the rest (the odd extra one) at the end,
      ``same_lower`` puts the odd extra one at the beginning.
    """
    if auto_pad == "explicit":
        return pad_begin, pad_end
    if auto_pad == "valid":
        return 0, 0
    dilated = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + dilated - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if auto_pad == "same_upper" else (large, small)


def tap_range(in_size: int, out_size: int, stride: int, offset: int) -> tuple[int, int, int]:
    """Which outputs a kernel tap reaches inside the input, along one axis.

    Output position ``o`` reads input position ``i = o * stride + offset`` (``offset`` is
    ``tap * dilation - pad_begin``). Returns ``(lo, hi, i_lo)``: outputs ``lo <= o < hi`` read a
    real input position, the first of them ``i_lo``; the others read padding (or the area beyond
    it). ``lo == hi`` when the tap never hits the input.
    """
    lo = max(0, -(offset // stride))  # ceil(-offset / stride)
    hi = min(out_size, (in_size - 1 - offset) // stride + 1)
    if hi <= lo:
        return 0, 0, 0
    return lo, hi, lo * stride + offset


def _check_pair(fail: Fail, name: str, value: Sequence[int], least: int) -> None:
    if len(value) != 2:
        fail(f"needs 2 entries (one per spatial axis H, W), got {len(value)}", name, tuple(value))
    if any(v < least for v in value):
        fail(f"every entry must be >= {least}", name, tuple(value))


def convolution_geometry(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    *,
    strides: Sequence[int],
    pads_begin: Sequence[int],
    pads_end: Sequence[int],
    dilations: Sequence[int],
    auto_pad: str,
    group: int,
    fail: Fail,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """Check the shapes and attributes; return ``(pads_begin, pads_end, output_shape)``."""
    if len(x_shape) != 4:
        fail(f"data must be rank 4 (NCHW), got shape {list(x_shape)}", "input[0]", list(x_shape))
    if len(w_shape) != 4:
        fail(f"filters must be rank 4 [OC, IC/group, KH, KW], got shape {list(w_shape)}",
             "input[1]", list(w_shape))
    if auto_pad not in AUTO_PADS:
        fail(f"unsupported value; supported: {', '.join(AUTO_PADS)}", "auto_pad", auto_pad)
    _check_pair(fail, "strides", strides, 1)
    _check_pair(fail, "dilations", dilations, 1)
    _check_pair(fail, "pads_begin", pads_begin, 0)
    _check_pair(fail, "pads_end", pads_end, 0)
    if group < 1:
        fail("must be >= 1", "group", group)
    n, c, h, w = x_shape
    oc, icg, kh, kw = w_shape
    if kh < 1 or kw < 1 or oc < 1 or icg < 1:
        fail(f"filters have an empty dimension: shape {list(w_shape)}", "input[1]", list(w_shape))
    if c != group * icg:
        fail(
            f"mismatched channels: data has {c} input channels but filters {list(w_shape)} with "
            f"group={group} expect group * filters.shape[1] = {group * icg}",
            "group", group,
        )
    if oc % group:
        fail(f"output channels {oc} (filters shape {list(w_shape)}) are not divisible by group",
             "group", group)
    pb, pe, out = [], [], []
    for axis, (size, k) in enumerate(((h, kh), (w, kw))):
        b, e = resolve_pads(auto_pad, size, k, strides[axis], dilations[axis],
                            pads_begin[axis], pads_end[axis])
        dilated = (k - 1) * dilations[axis] + 1
        o = (size + b + e - dilated) // strides[axis] + 1
        if o < 1:
            fail(
                f"output size along {'HW'[axis]} would be {o}: input {size} + pads {b}+{e} is "
                f"smaller than the dilated kernel {dilated}",
                "pads_begin" if auto_pad == "explicit" else "auto_pad",
                tuple(pads_begin) if auto_pad == "explicit" else auto_pad,
            )
        pb.append(b)
        pe.append(e)
        out.append(o)
    return (pb[0], pb[1]), (pe[0], pe[1]), (n, oc, out[0], out[1])


def input_error(function: str) -> Fail:
    """A ``fail`` callback that raises :class:`InputError` for the public function ``function``."""

    def fail(reason: str, attribute: str, value: Any) -> NoReturn:
        raise InputError(f"refint8: {function}: {attribute} = {value!r}: {reason}")

    return fail


def convolution(
    x: np.ndarray,
    w: np.ndarray,
    *,
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    dilations: Sequence[int] = (1, 1),
    auto_pad: str = "explicit",
    group: int = 1,
) -> np.ndarray:
    """2-D (grouped) convolution: cross-correlation of NCHW data with ``[OC, IC/group, KH, KW]`` filters.

    Arguments
        x: data ``[N, IC, H, W]``; w: filters ``[OC, IC/group, KH, KW]``. Both are read as float32
            (an f32 model), then widened to float64.
        strides ``(sH, sW)`` >= 1, dilations ``(dH, dW)`` >= 1, pads_begin ``(pbH, pbW)`` >= 0,
            pads_end ``(peH, peW)`` >= 0: two entries each.
        auto_pad: ``explicit`` (use pads_*), ``valid`` (no padding), ``same_upper`` /
            ``same_lower`` (pads_* ignored; see :func:`resolve_pads`: total padding
            ``max((ceil(in/s) - 1) * s + (k - 1) * d + 1 - in, 0)``, the odd extra one at the end
            for same_upper, at the beginning for same_lower; the output size is then ``ceil(in/s)``).
        group: >= 1; ``IC == group * w.shape[1]`` and ``OC % group == 0``. Input channels
            ``[g*ICg, (g+1)*ICg)`` feed output channels ``[g*OCg, (g+1)*OCg)`` (``ICg = IC/group``,
            ``OCg = OC/group``). ``group == IC`` is a depthwise convolution.
    Returns
        float32 ``[N, OC, OH, OW]`` with ``OH = floor((H + pbH + peH - ((KH - 1) * dH + 1)) / sH) + 1``
        (same for W), which must be >= 1.

    Formula, for output channel ``o`` in group ``g = o // OCg``::

        y[n, o, oh, ow] = sum over c < ICg, kh < KH, kw < KW of
                          x[n, g*ICg + c, oh*sH + kh*dH - pbH, ow*sW + kw*dW - pbW] * w[o, c, kh, kw]

    where terms whose input position falls outside ``[0, H) x [0, W)`` (padding) are left out of
    the sum (they are not multiplied by zero, so an inf or NaN weight over padding adds nothing).
    Products and the sum are computed in float64 (summation order unspecified) and the result is
    rounded once to float32; NaN and inf propagate as in IEEE arithmetic (inf - inf gives NaN).
    There is no bias input: a bias is a following ``Add``.

    Errors (:class:`~refint8.errors.InputError`, naming the attribute and value): wrong rank,
    mismatched channels, ``OC % group != 0``, strides/dilations < 1, negative pads, a stride, pad
    or dilation list without exactly 2 entries, an output size < 1.
    """
    x = np.asarray(x, dtype=np.float32)
    w = np.asarray(w, dtype=np.float32)
    (pbh, pbw), _, (n, oc, oh, ow) = convolution_geometry(
        x.shape, w.shape, strides=strides, pads_begin=pads_begin, pads_end=pads_end,
        dilations=dilations, auto_pad=auto_pad, group=group, fail=input_error("convolution"),
    )
    _, icg, kh, kw = w.shape
    ocg = oc // group

    xt = x.astype(np.float64).transpose(0, 2, 3, 1)  # NHWC view: channels last for the matmuls
    # filters per tap: [KH, KW, group, ICg, OCg]
    wt = w.astype(np.float64).reshape(group, ocg, icg, kh, kw).transpose(3, 4, 0, 2, 1)
    acc = np.zeros((n, oh, ow, group, ocg), dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf propagate silently
        _accumulate_taps(acc, xt, wt, strides, dilations, (pbh, pbw))
    return acc.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2).astype(np.float32)


def _accumulate_taps(acc: np.ndarray, xt: np.ndarray, wt: np.ndarray, strides: Sequence[int],
                     dilations: Sequence[int], pads_begin: Sequence[int]) -> None:
    """``acc[n, oh, ow, g, o] += sum over taps and channels``: one matrix product per kernel tap.

    ``xt`` is the data as NHWC float64, ``wt`` the filters as ``[KH, KW, group, ICg, OCg]``. For
    each tap only the output rectangle whose input position lies inside the data is updated.
    """
    n, oh, ow, group, ocg = acc.shape
    _, h, wd, _ = xt.shape
    kh, kw, _, icg, _ = wt.shape
    sh, sw = strides
    dh, dw = dilations
    pbh, pbw = pads_begin
    for i in range(kh):
        r_lo, r_hi, r_in = tap_range(h, oh, sh, i * dh - pbh)
        if r_lo == r_hi:
            continue
        for j in range(kw):
            c_lo, c_hi, c_in = tap_range(wd, ow, sw, j * dw - pbw)
            if c_lo == c_hi:
                continue
            rows, cols = r_hi - r_lo, c_hi - c_lo
            patch = xt[:, r_in : r_in + (rows - 1) * sh + 1 : sh, c_in : c_in + (cols - 1) * sw + 1 : sw, :]
            patch = np.ascontiguousarray(patch).reshape(n * rows * cols, group, icg)
            tap = wt[i, j]  # [group, ICg, OCg]
            if group == 1:
                contrib = (patch[:, 0, :] @ tap[0])[:, None, :]
            elif icg == 1:  # depthwise-like: one input channel per group
                contrib = patch * tap[:, 0, :][None]
            else:  # one matrix product per group, batched over the group axis
                contrib = np.matmul(patch.transpose(1, 0, 2), tap).transpose(1, 0, 2)
            acc[:, r_lo:r_hi, c_lo:c_hi] += contrib.reshape(n, rows, cols, group, ocg)


class Convolution(Op):
    type_name = "Convolution"
    input_names = ("data", "filters")
    attributes = {
        "strides": Attr("ints", (1, 1), doc="(sH, sW), each >= 1"),
        "pads_begin": Attr("ints", (0, 0), doc="(top, left), each >= 0; ignored unless explicit"),
        "pads_end": Attr("ints", (0, 0), doc="(bottom, right), each >= 0; ignored unless explicit"),
        "dilations": Attr("ints", (1, 1), doc="(dH, dW), each >= 1"),
        "auto_pad": Attr("str", "explicit", choices=AUTO_PADS),
        "group": Attr("int", 1, doc=">= 1; IC == group * filters.shape[1]"),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        ctx.require_dtype(0, dtypes.F32, what="data")
        ctx.require_dtype(1, dtypes.F32, what="filters")
        ctx.require_rank(0, 4, what="data (NCHW)")
        ctx.require_rank(1, 4, what="filters [OC, IC/group, KH, KW]")
        a = ctx.attrs

        def fail(reason: str, attribute: str, value: Any) -> NoReturn:
            ctx.fail(reason, attribute=attribute, value=value)

        _, _, out = convolution_geometry(
            ctx.input_type(0).shape, ctx.input_type(1).shape, strides=a["strides"],
            pads_begin=a["pads_begin"], pads_end=a["pads_end"], dilations=a["dilations"],
            auto_pad=a["auto_pad"], group=a["group"], fail=fail,
        )
        return [TensorType(dtypes.F32, out)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (
            convolution(
                inputs[0], inputs[1], strides=attrs["strides"], pads_begin=attrs["pads_begin"],
                pads_end=attrs["pads_end"], dilations=attrs["dilations"],
                auto_pad=attrs["auto_pad"], group=attrs["group"],
            ),
        )

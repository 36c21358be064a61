"""Interpolate-11: resize a tensor along some axes, nearest or (bi)linear.

Semantics of OpenVINO's Interpolate-11 with zero pads and ``antialias=false``, as the CPU plugin
computes them (checked against OpenVINO 2026.4). Output sizes and source coordinates are computed
in float32 exactly as OpenVINO does, because they decide which input elements are read; the
linear blend itself is computed in float64 and rounded once to float32. Nearest mode is
dtype-generic (f32, u8, i8): it only copies elements.
"""

from __future__ import annotations

from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

MODES = ("nearest", "linear_onnx", "linear")
SHAPE_CALCULATION_MODES = ("sizes", "scales")
COORDINATE_MODES = (
    "half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")

#: OpenVINO adds this float32 epsilon to a scale before scaling a dimension (``dim::scale``).
SCALE_EPSILON = np.float32(1e-6)


def interpolate_geometry(
    x_shape: Sequence[int],
    *,
    shape_calculation_mode: str,
    sizes: Sequence[int] | None,
    scales: Sequence[float] | None,
    axes: Sequence[int] | None,
    fail: Any,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[np.float32, ...]]:
    """Check sizes/scales/axes; return ``(axes, output_shape, scales)``.

    ``axes`` come back normalized to ``[0, rank)``; ``scales`` has one float32 scale per axis of
    ``axes``: the given scale (rounded to float32) in ``scales`` mode, ``float32(out) /
    float32(in)`` (a float32 division) in ``sizes`` mode. Output size along an interpolated axis:

    * ``sizes`` mode: the given size.
    * ``scales`` mode, scale ``s`` rounded to float32: ``in`` if ``s == 1``, else
      ``trunc(float32(in) * (s + 1e-6))`` with float32 arithmetic (``s + 1e-6`` is rounded to
      float32, then the product is rounded to float32, then truncated toward zero). OpenVINO's
      epsilon matters e.g. for ``in=30, s=2.1``: ``float32(2.1) = 2.0999999`` and
      ``30 * 2.0999999`` truncates to 62, but ``30 * float32(2.1 + 1e-6) = 63.000027`` gives 63.

    ``fail(reason, attribute, value)`` reports a problem: a mode without its sizes/scales or with
    both, a count that differs from the number of axes, an axis out of range or repeated, a size
    < 1, a scale that is not finite and > 0, an output size < 1.
    """
    rank = len(x_shape)
    if rank == 0:
        fail("data must have rank >= 1", "input[0]", list(x_shape))
    if axes is None:
        axes = tuple(range(rank))
    else:
        for a in axes:
            if not -rank <= a < rank:
                fail(f"axis {a} is out of range for rank {rank}", "axes", tuple(axes))
        axes = tuple(a % rank for a in axes)
        if len(set(axes)) != len(axes):
            fail("an axis is listed twice", "axes", axes)
    out = list(x_shape)
    f32_scales: list[np.float32] = []
    if shape_calculation_mode == "sizes":
        if sizes is None:
            fail("shape_calculation_mode is 'sizes' but no sizes are given", "sizes", None)
        if scales is not None:
            fail("shape_calculation_mode is 'sizes'; give sizes only, not scales", "scales",
                 tuple(scales))
        if len(sizes) != len(axes):
            fail(f"needs one entry per axis ({len(axes)} axes: {list(axes)}), got {len(sizes)}",
                 "sizes", tuple(sizes))
        for axis, size in zip(axes, sizes):
            if size < 1:
                fail("every size must be >= 1", "sizes", tuple(sizes))
            out[axis] = int(size)
            f32_scales.append(np.float32(size) / np.float32(x_shape[axis]))
    elif shape_calculation_mode == "scales":
        if scales is None:
            fail("shape_calculation_mode is 'scales' but no scales are given", "scales", None)
        if sizes is not None:
            fail("shape_calculation_mode is 'scales'; give scales only, not sizes", "sizes",
                 tuple(sizes))
        if len(scales) != len(axes):
            fail(f"needs one entry per axis ({len(axes)} axes: {list(axes)}), got {len(scales)}",
                 "scales", tuple(scales))
        for axis, scale in zip(axes, scales):
            s = np.float32(scale)
            if not (np.isfinite(s) and s > 0):
                fail("every scale must be finite and > 0 (as a float32)", "scales", tuple(scales))
            if s != np.float32(1):
                scaled = np.float32(x_shape[axis]) * np.float32(s + SCALE_EPSILON)
                if not scaled < 2**31:
                    fail(f"scale {float(s)!r} gives an output size too large for input size "
                         f"{x_shape[axis]} along axis {axis}", "scales", tuple(scales))
                size = int(scaled)
                if size < 1:
                    fail(f"scale {float(s)!r} gives output size {size} for input size "
                         f"{x_shape[axis]} along axis {axis}", "scales", tuple(scales))
                out[axis] = size
            f32_scales.append(s)
    else:
        fail(f"unsupported value; supported: {', '.join(SHAPE_CALCULATION_MODES)}",
             "shape_calculation_mode", shape_calculation_mode)
    return axes, tuple(out), tuple(f32_scales)


def source_coordinates(
    out_size: int, in_size: int, scale: np.float32, coordinate_transformation_mode: str
) -> np.ndarray:
    """float32 source coordinate of every output position ``o`` along one axis.

    Identity (``o``) when ``scale == 1`` or ``in_size == out_size``; otherwise, in float32
    arithmetic (``s`` = the float32 scale, each operation rounded to float32)::

        half_pixel            (o + 0.5) / s - 0.5
        pytorch_half_pixel    (o + 0.5) / s - 0.5  if out_size > 1, else 0
        asymmetric            o / s
        tf_half_pixel_for_nn  (o + 0.5) / s
        align_corners         o * (float32(in_size - 1) / float32(out_size - 1))  if out_size > 1, else 0
    """
    o = np.arange(out_size, dtype=np.float32)
    s = np.float32(scale)
    if s == np.float32(1) or in_size == out_size:
        return o
    half = np.float32(0.5)
    mode = coordinate_transformation_mode
    if mode == "half_pixel" or (mode == "pytorch_half_pixel" and out_size > 1):
        return (o + half) / s - half
    if mode == "pytorch_half_pixel" or (mode == "align_corners" and out_size == 1):
        return np.zeros(out_size, dtype=np.float32)
    if mode == "asymmetric":
        return o / s
    if mode == "tf_half_pixel_for_nn":
        return (o + half) / s
    if mode == "align_corners":
        return o * (np.float32(in_size - 1) / np.float32(out_size - 1))
    raise InputError(f"refint8: interpolate: unknown coordinate_transformation_mode {mode!r}")


def nearest_indices(coords: np.ndarray, in_size: int, scale: np.float32, nearest_mode: str) -> np.ndarray:
    """Input index read by each output position in nearest mode.

    With ``c`` the float32 coordinate (exact in float64)::

        round_prefer_floor  nearest integer, a tie (c = k + 0.5) goes to k
        round_prefer_ceil   nearest integer, a tie goes to k + 1  (C's round(), half away from 0)
        floor               floor(c)
        ceil                ceil(c)
        simple              ceil(c) if scale < 1 (downsampling), else trunc(c)

    then clamped to ``[0, in_size - 1]``. (Negative coordinates all clamp to 0 whatever the
    rounding, so the tie rules only matter for ``c >= 0``.)
    """
    c = coords.astype(np.float64)
    if nearest_mode == "round_prefer_floor":
        idx = np.where(c - np.floor(c) == 0.5, np.floor(c), np.sign(c) * np.floor(np.abs(c) + 0.5))
    elif nearest_mode == "round_prefer_ceil":
        idx = np.sign(c) * np.floor(np.abs(c) + 0.5)
    elif nearest_mode == "floor":
        idx = np.floor(c)
    elif nearest_mode == "ceil":
        idx = np.ceil(c)
    elif nearest_mode == "simple":
        idx = np.ceil(c) if scale < np.float32(1) else np.trunc(c)
    else:
        raise InputError(f"refint8: interpolate: unknown nearest_mode {nearest_mode!r}")
    return np.clip(idx, 0, in_size - 1).astype(np.int64)


def linear_taps(coords: np.ndarray, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, w0, w1)`` of linear_onnx along one axis: ``y = w0 * x[i0] + w1 * x[i1]``.

    ``c`` = the float32 coordinate clamped to ``[0, in_size - 1]``; ``i0 = floor(c)``,
    ``i1 = min(i0 + 1, in_size - 1)``, ``w1 = c - i0``, ``w0 = i1 - c`` (exact in float64);
    where ``i0 == i1`` (the last element, or ``in_size == 1``) both weights are 0.5.
    """
    c = np.clip(coords, np.float32(0), np.float32(in_size - 1)).astype(np.float64)
    i0 = np.minimum(np.floor(c).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = np.abs(c - i0)
    w0 = np.abs(c - i1)
    same = i0 == i1
    w0[same] = 0.5
    w1[same] = 0.5
    return i0, i1, w0, w1


def interpolate(
    x: np.ndarray,
    *,
    mode: str = "nearest",
    shape_calculation_mode: str = "sizes",
    sizes: Sequence[int] | None = None,
    scales: Sequence[float] | None = None,
    axes: Sequence[int] | None = None,
    coordinate_transformation_mode: str = "half_pixel",
    nearest_mode: str = "round_prefer_floor",
) -> np.ndarray:
    """Resize ``x`` along ``axes`` to ``sizes`` or by ``scales`` (Interpolate-11, no pads, no antialias).

    Arguments
        x: tensor of rank >= 1. ``nearest``: f32, u8 or i8 (result in x's type). ``linear_onnx`` /
            ``linear``: read as float32.
        mode: ``nearest`` | ``linear_onnx`` | ``linear``. ``linear`` (OpenVINO's own triangle
            filter) with ``antialias=false`` gives the same values as ``linear_onnx`` on OpenVINO's
            CPU plugin and in its reference kernel for every coordinate mode (checked, differences
            only in float32 rounding), so refint8 defines it as ``linear_onnx``.
        shape_calculation_mode: ``sizes`` (give ``sizes``) or ``scales`` (give ``scales``); the
            other one must be absent.
        sizes / scales: one entry per axis of ``axes``; output sizes and float32 scales per
            :func:`interpolate_geometry` (scales mode: ``trunc(float32(in) * (s + 1e-6))``, or ``in``
            when ``s == 1``).
        axes: the axes to resize, each in ``[-rank, rank)``, unique; default: all axes. Other axes
            keep their size.
        coordinate_transformation_mode: see :func:`source_coordinates` (computed in float32 with
            the float32 scale: the given scale in scales mode, ``float32(out)/float32(in)`` in
            sizes mode; identity on an axis whose size does not change).
        nearest_mode: see :func:`nearest_indices` (nearest mode only).
    Returns
        The resized tensor. Nearest: ``y[o_0, ..., o_r] = x[idx_0(o_0), ..., idx_r(o_r)]`` with
        per-axis indices from :func:`nearest_indices` (identity on other axes); exact copies, so
        NaN and -0.0 are preserved. Linear: separable (multi)linear blend
        ``y[o] = sum over corners of prod_axes(w) * x[corner]`` with the per-axis taps of
        :func:`linear_taps`, computed in float64 and rounded once to float32 (a zero weight times
        NaN or inf is NaN, as in OpenVINO).

    Deliberate differences from OpenVINO: an output size of 0 is an error here (OpenVINO produces
    an empty tensor); sizes/scales must have exactly one entry per axis (OpenVINO ignores extra
    entries); any set of axes is accepted, while OpenVINO's CPU plugin refuses some (resizing the
    batch axis of a 4-D tensor, four resized axes of a 5-D tensor) and its reference kernel
    rejects or differs on some linear_onnx axis sets. Where the CPU plugin accepts a case (checked
    for ranks 2 to 4, all modes, both shape calculation modes, f32/u8/i8) its results equal these:
    nearest exactly, linear up to float32 rounding.

    Errors (:class:`~refint8.errors.InputError`): see :func:`interpolate_geometry`, plus an unknown
    mode, coordinate_transformation_mode or nearest_mode.
    """
    x = np.asarray(x)
    if mode not in MODES:
        raise InputError(f"refint8: interpolate: mode = {mode!r}: supported: {', '.join(MODES)}")
    if coordinate_transformation_mode not in COORDINATE_MODES:
        raise InputError(
            f"refint8: interpolate: coordinate_transformation_mode = "
            f"{coordinate_transformation_mode!r}: supported: {', '.join(COORDINATE_MODES)}"
        )

    def fail(reason: str, attribute: str, value: Any) -> NoReturn:
        raise InputError(f"refint8: interpolate: {attribute} = {value!r}: {reason}")

    axes_n, out_shape, f32_scales = interpolate_geometry(
        x.shape, shape_calculation_mode=shape_calculation_mode, sizes=sizes, scales=scales,
        axes=axes, fail=fail,
    )
    if mode == "nearest":
        y = x
        for axis, scale in zip(axes_n, f32_scales):
            coords = source_coordinates(out_shape[axis], x.shape[axis], scale,
                                        coordinate_transformation_mode)
            y = np.take(y, nearest_indices(coords, x.shape[axis], scale, nearest_mode), axis=axis)
        return np.array(y, dtype=x.dtype, copy=True)
    y = x.astype(np.float32).astype(np.float64)
    for axis, scale in zip(axes_n, f32_scales):
        coords = source_coordinates(out_shape[axis], x.shape[axis], scale,
                                    coordinate_transformation_mode)
        i0, i1, w0, w1 = linear_taps(coords, x.shape[axis])
        shape = [1] * y.ndim
        shape[axis] = -1
        with np.errstate(invalid="ignore", over="ignore"):
            y = (np.take(y, i0, axis=axis) * w0.reshape(shape)
                 + np.take(y, i1, axis=axis) * w1.reshape(shape))
    return y.astype(np.float32)


class Interpolate(Op):
    type_name = "Interpolate"
    input_names = ("data",)
    attributes = {
        "mode": Attr("str", "nearest", choices=MODES),
        "shape_calculation_mode": Attr("str", "sizes", choices=SHAPE_CALCULATION_MODES),
        "sizes": Attr("ints", None, doc="output sizes, one per axis (sizes mode)"),
        "scales": Attr("floats", None, doc="scales, one per axis (scales mode)"),
        "axes": Attr("ints", None, doc="axes to resize; default: all"),
        "coordinate_transformation_mode": Attr("str", "half_pixel", choices=COORDINATE_MODES),
        "nearest_mode": Attr("str", "round_prefer_floor", choices=NEAREST_MODES),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        a = ctx.attrs
        if a["mode"] == "nearest":
            ctx.require_dtype(0, dtypes.F32, dtypes.U8, dtypes.I8, what="data")
        else:
            ctx.require_dtype(0, dtypes.F32, what=f"data of {a['mode']} mode")

        def fail(reason: str, attribute: str, value: Any) -> NoReturn:
            ctx.fail(reason, attribute=attribute, value=value)

        _, out, _ = interpolate_geometry(
            ctx.input_type(0).shape, shape_calculation_mode=a["shape_calculation_mode"],
            sizes=a["sizes"], scales=a["scales"], axes=a["axes"], fail=fail,
        )
        return [TensorType(ctx.input_type(0).dtype, out)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (
            interpolate(
                inputs[0], mode=attrs["mode"],
                shape_calculation_mode=attrs["shape_calculation_mode"], sizes=attrs["sizes"],
                scales=attrs["scales"], axes=attrs["axes"],
                coordinate_transformation_mode=attrs["coordinate_transformation_mode"],
                nearest_mode=attrs["nearest_mode"],
            ),
        )

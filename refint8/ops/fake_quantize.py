"""FakeQuantize-1: quantize to ``levels`` evenly spaced values and map them onto an output range.

This is the arithmetic of OpenVINO's reference kernel (``ov::reference::fake_quantize``), bit for
bit, in float32. It is also the requantization primitive of every int8 layer of refint8.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..graph import InferContext, TensorType
from ._base import Attr, Op

_RANGE_NAMES = ("input_low", "input_high", "output_low", "output_high")


def fake_quantize(
    x: Any,
    input_low: Any,
    input_high: Any,
    output_low: Any,
    output_high: Any,
    levels: int,
    auto_broadcast: str = "numpy",
) -> np.ndarray:
    """Quantize ``x`` to ``levels`` steps of ``[input_low, input_high]``, output on ``[output_low, output_high]``.

    Arguments
        x: data, any shape. All five tensors are converted to float32 first (an f32 model).
        input_low, input_high, output_low, output_high (il, ih, ol, oh): range tensors.
            With ``auto_broadcast="numpy"`` each is aligned to ``x`` from the right; each of its
            dimensions must equal x's or be 1, and dimensions beyond x's rank must be 1 (OpenVINO
            accepts such a higher-rank range and keeps x's shape). With ``"none"`` each must have
            exactly x's shape.
        levels: number of quantization levels, an integer >= 2.
    Returns
        float32 array of x's shape.

    Per element, all arithmetic in float32, in exactly this order::

        if   x <= min(il, ih):  y = ol
        elif x >  max(il, ih):  y = oh
        else:
            q = round_half_to_even(((x - il) / (ih - il)) * (levels - 1))
            y = ((q / (levels - 1)) * (oh - ol)) + ol

    ``levels - 1`` is the float32 value of the integer. Rounding is to nearest with ties to the even
    integer (``nearbyint`` under the default rounding mode; ``np.rint``). Consequences:

    * ``x == il`` gives ``ol``; ``x == ih`` takes the formula with ``q = levels - 1``, which equals
      ``oh`` up to float32 rounding of ``(oh - ol) + ol``.
    * ``-inf`` gives ``ol``, ``+inf`` gives ``oh``.
    * NaN gives NaN (both comparisons are false and the formula propagates NaN). OpenVINO's CPU
      plugin departs from its reference here (its fused kernels return ``ol`` or ``oh``).
    * ``il == ih`` is a step function: ``ol`` for ``x <= il``, ``oh`` above.
    * ``il > ih`` maps in reverse: inside ``(ih, il]`` the fraction ``(x - il)/(ih - il)`` runs
      from 1 down to 0, so larger x give smaller levels.
    * ``ol > oh`` gives a decreasing output map; ``ol == oh`` a constant.
    * ``min`` and ``max`` are C++'s ``std::min``/``std::max``: ``min(il, ih)`` is ``ih if ih < il
      else il`` and ``max(il, ih)`` is ``ih if il < ih else il``. This matters only for a NaN bound:
      a NaN ``il`` gives NaN everywhere, but a NaN ``ih`` (with ``il`` not NaN) gives a step at
      ``il`` (``ol`` for ``x <= il``, ``oh`` above, NaN for NaN x).

    Errors (:class:`~refint8.errors.InputError`): ``levels`` not an integer >= 2, a range that does
    not broadcast to x as above, ``auto_broadcast`` other than ``numpy``/``none``.
    """
    if isinstance(levels, (bool, np.bool_)) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise InputError(f"refint8: fake_quantize: levels must be an integer >= 2, got {levels!r}")
    if auto_broadcast not in ("numpy", "none"):
        raise InputError(
            f"refint8: fake_quantize: auto_broadcast {auto_broadcast!r} is not supported; "
            "supported: numpy, none"
        )
    x = _as_f32(x, "x")
    il, ih, ol, oh = (
        _aligned_range(_as_f32(r, name), x.shape, name, auto_broadcast)
        for r, name in zip((input_low, input_high, output_low, output_high), _RANGE_NAMES)
    )
    steps = np.float32(levels - 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.rint(((x - il) / (ih - il)) * steps)
        y = ((q / steps) * (oh - ol)) + ol
    # C++ std::min / std::max (not IEEE minimum / maximum): they differ only when a bound is NaN.
    below = x <= np.where(ih < il, ih, il)
    above = x > np.where(il < ih, ih, il)
    y = np.where(below, ol, np.where(above, oh, y))
    return np.broadcast_to(y, x.shape).astype(np.float32, copy=True)


def _as_f32(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise InputError(f"refint8: fake_quantize: {name} must be numeric, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def range_broadcast_error(range_shape: tuple[int, ...], x_shape: tuple[int, ...], mode: str) -> str | None:
    """Why a range of ``range_shape`` cannot apply to data of ``x_shape`` (None if it can)."""
    if mode == "none":
        if tuple(range_shape) != tuple(x_shape):
            return f"shape {list(range_shape)} must equal the data shape {list(x_shape)} (auto_broadcast none)"
        return None
    extra = len(range_shape) - len(x_shape)
    if extra > 0 and any(d != 1 for d in range_shape[:extra]):
        return f"shape {list(range_shape)} has more dimensions than the data {list(x_shape)} and they are not 1"
    tail = range_shape[max(extra, 0):]
    for r, d in zip(reversed(tail), reversed(x_shape)):
        if r not in (1, d):
            return f"shape {list(range_shape)} does not broadcast to the data shape {list(x_shape)}"
    return None


def _aligned_range(r: np.ndarray, x_shape: tuple[int, ...], name: str, mode: str) -> np.ndarray:
    problem = range_broadcast_error(r.shape, x_shape, mode)
    if problem:
        raise InputError(f"refint8: fake_quantize: {name}: {problem}")
    extra = r.ndim - len(x_shape)
    if extra > 0:
        r = r.reshape(r.shape[extra:])
    return r


class FakeQuantize(Op):
    type_name = "FakeQuantize"
    input_names = ("X", *_RANGE_NAMES)
    attributes = {
        "levels": Attr("int", doc="number of quantization levels, >= 2"),
        "auto_broadcast": Attr("str", "numpy", choices=("numpy", "none")),
        # Set by the FakeQuantize decomposition of LPT: the low-precision FQ emits the integer
        # codes (rounded half to even and saturated) in this element type instead of f32.
        "output_type": Attr("str", "f32", choices=("f32", "u8", "i8")),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        levels = ctx.attrs["levels"]
        if levels < 2:
            ctx.fail("levels must be >= 2", attribute="levels", value=levels)
        # X may be u8/i8: a requantizing FakeQuantize whose dequantization LPT folded into its
        # ranges reads the integer codes directly (as float32 values).
        ctx.require_dtype(0, dtypes.F32, dtypes.U8, dtypes.I8, what="X")
        for i in range(1, 5):
            ctx.require_dtype(i, dtypes.F32, what=cls.input_names[i])
        x_shape = ctx.input_type(0).shape
        for i, name in enumerate(_RANGE_NAMES, start=1):
            problem = range_broadcast_error(ctx.input_type(i).shape, x_shape, ctx.attrs["auto_broadcast"])
            if problem:
                ctx.fail(problem, attribute=name, value=ctx.inputs[i].name)
        return [TensorType(dtypes.element_type(ctx.attrs["output_type"]), x_shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        y = fake_quantize(*inputs, levels=attrs["levels"], auto_broadcast=attrs["auto_broadcast"])
        out_type = attrs["output_type"]
        if out_type == "f32":
            return (y,)
        return (to_integer_codes(y, dtypes.element_type(out_type)),)


def to_integer_codes(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert FakeQuantize output to integer codes: round half to even, saturate, cast.

    Used where LPT gave a FakeQuantize an integer output range ([0, 255] for u8, [-128, 127] or
    [-127, 127] for i8): the float output is then an integer up to float32 rounding of the
    ``q / (levels-1) * (oh-ol) + ol`` chain, and this returns that integer. NaN is an error here
    (:class:`~refint8.errors.InputError`): integer codes cannot represent it, and OpenVINO's CPU
    kernels would silently turn it into ``ol`` or ``oh``.
    """
    if np.isnan(y).any():
        raise InputError("refint8: NaN reached a quantizing FakeQuantize (integer output); "
                         "int8 codes cannot represent NaN")
    info = np.iinfo(dtype)
    return np.clip(np.rint(y), info.min, info.max).astype(dtype)

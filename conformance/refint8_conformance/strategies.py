"""Hypothesis strategies: one per kernel unit, each producing :class:`~.cases.Case` objects.

They are written to reach the corners a backend gets wrong (openvino-int8.md section 5):

* channel counts from {1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65} (odd counts leave a lone s16
  pair; 16/32/64 +- 1 straddle SIMD widths), strides, pads, dilations, groups and depthwise;
* zero points at the extremes of their code range (0/255, -128/127) and per channel;
* activations 255 with weights 127 / -128 (s16 pair saturation in ``s16_pairs`` mode);
* requantization ranges chosen FROM THE ACCUMULATOR STATISTICS: the reference computes the
  layer's float result first, the Quantize post-op's range is set between percentiles of it,
  so most outputs are not saturated (the runner asserts fewer than half are) and some are;
* exact rounding ties: in ``ties`` mode the dequantization scale is a power of two and the
  requantization range is exactly ``levels - 1`` wide starting at an integer, so many values land
  exactly on ``k + 0.5`` levels;
* per-channel scales tiny (2^-130), huge (2^100), negative and mixed; degenerate (il == ih) and
  inverted (il > ih) FakeQuantize ranges, ol > oh, NaN and +-inf inputs; shapes of size 1.

Every strategy returns a case whose ``note`` names the corner choices, shown with a counterexample.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8.int8 import post_ops as post
from refint8.int8.convolution import int8_convolution_accumulator
from refint8.int8.eltwise import int8_add, int8_multiply
from refint8.int8.matmul import int8_matmul_accumulator
from refint8.int8.mvn import int8_mvn
from refint8.errors import GraphError
from refint8.ops.convolution import AUTO_PADS

from . import values as V
from .cases import Case

CHANNELS = (1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65)
#: Spatial sizes: small first (Hypothesis shrinks towards them), and past SIMD row blocks of 8/16.
SPATIAL = (1, 2, 3, 4, 5, 7, 8, 9, 16, 17)
#: Patterns of dot-product operands, weighted towards the s16 pair saturation corner (255 x 127).
ACTIVATION_PATTERNS = V.CODE_PATTERNS + ("saturating", "extremes")
DOT_WEIGHT_PATTERNS = V.WEIGHT_PATTERNS + ("extremes", "extremes")
F32 = np.float32


def channels() -> st.SearchStrategy[int]:
    return st.sampled_from(CHANNELS)


def pick(rng: np.random.Generator, options) -> st.SearchStrategy:
    """``sampled_from(options)`` in an order shuffled by the case's own generator.

    Hypothesis strongly prefers the first option of a ``sampled_from`` (its "simplest" choice:
    measured, the first of 11 options came up in 70% of examples). For a corner choice (a data
    pattern, a range kind, a rounding mode) that would starve the others, so each example
    permutes the options with its seeded generator: Hypothesis still makes (and shrinks) the
    choice, and every option is equally likely over examples.
    """
    options = list(options)
    return st.sampled_from([options[i] for i in rng.permutation(len(options))])


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


def _rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(seeds()))


def _f32(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def is_valid(case: Case) -> bool:
    """Whether the specification builds ``case``'s node (every kernel strategy is filtered by it)."""
    try:
        case.node()
    except GraphError:
        return False
    return True


def valid(case: Case) -> Case:
    """Reject (Hypothesis ``assume``) a drawn case whose node the specification refuses to build.

    The strategies construct valid geometry directly; this is the safety net for rare
    combinations (e.g. a ceil-rounded window entirely past the input, which Int8AvgPool rejects).
    """
    try:
        case.node()
    except GraphError:
        assume(False)
    return case


# -- the float32 tail of int8 layers (post-ops), from the layer's own statistics ------------------

#: (element type, levels, output_low, output_high) of a requantization.
QUANTIZE_TARGETS = {
    "u8": [(256, 0.0, 255.0), (256, 0.0, 255.0), (16, 0.0, 15.0), (296, -20.0, 275.0)],
    "i8": [(256, -128.0, 127.0), (255, -127.0, 127.0), (256, -128.0, 127.0), (301, -150.0, 150.0)],
}


def draw_tail(draw, rng: np.random.Generator, y0: np.ndarray, axis: int | None, *,
              prefix: tuple = (), multiply: bool = True) -> tuple[tuple, tuple[int, int], str]:
    """Draw post-ops for a layer whose float32 result before post-ops is ``y0``.

    ``axis`` is the channel axis of the output (per-channel operands have its length there), or
    None. Returns ``(post_ops, (saturated, total), note)``; ``saturated`` counts the values beyond
    the final Quantize's input range.
    """
    ops: list = list(prefix)
    y = post.apply_post_ops(y0.astype(np.float32), ops)
    ndim = y.ndim
    n_ch = y.shape[axis] if (axis is not None and ndim) else 1
    per_channel = n_ch > 1 and draw(pick(rng, (False, True)))
    mode = draw(pick(rng, ["ties", "requantize", "float"]))
    if mode == "ties" and not multiply:    # ties need the power-of-two scale of the Multiply
        mode = "requantize"
    notes = [mode, "per-channel" if per_channel else "per-tensor"]

    def operand(values) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if not per_channel:
            return _f32(values.reshape(-1)[0])
        shape = [1] * ndim
        shape[axis] = n_ch
        return _f32(values.reshape(shape))

    def stats(qs):
        return V.percentiles(y, qs, axis if per_channel else None)

    element_type = draw(pick(rng, ["u8", "i8"]))
    levels, out_lo, out_hi = draw(pick(rng, QUANTIZE_TARGETS[element_type]))
    width = levels - 1
    count = n_ch if per_channel else 1
    # ties mode: the range starts near the `anchor` percentile and, the scale being chosen from the
    # spread between the anchor percentiles, covers up to the (100 - anchor) percentile: at most
    # 2 * anchor % of the values saturate.
    anchor = draw(pick(rng, [0, 5, 10]))

    # 1. dequantization scale (the Multiply LPT moved after the layer)
    exponent = None
    if multiply:
        if mode == "ties":
            lo, hi = stats([anchor, 100 - anchor])
            spread = np.maximum(np.asarray(hi) - np.asarray(lo), 1.0)
            exponent = np.maximum(1, np.ceil(np.log2(spread / (0.8 * width)))).astype(np.int64)
            exponent = np.broadcast_to(exponent, (count,)).copy()
            sign = np.where(rng.random(count) < 0.15, -1.0, 1.0)
            scale = sign * np.exp2(-exponent.astype(np.float64))
            notes.append("scale=2^-e")
        else:
            kind = draw(pick(rng, ["typical", "typical", "tiny", "huge", "mixed", "negative"]))
            notes.append(f"scale={kind}")
            typical = np.exp2(rng.uniform(-14, -4, count))
            if kind == "typical":
                scale = typical
            elif kind == "tiny":
                scale = np.exp2(rng.uniform(-135, -100, count))
            elif kind == "huge":
                scale = np.exp2(rng.uniform(60, 100, count))
            elif kind == "mixed":
                scale = np.where(rng.random(count) < 0.5, np.exp2(rng.uniform(-130, -100, count)),
                                 np.where(rng.random(count) < 0.5, typical,
                                          np.exp2(rng.uniform(60, 100, count))))
            else:
                scale = typical * rng.choice([-1.0, 1.0], count)
        op = post.Multiply(operand(scale))
        ops.append(op)
        with np.errstate(all="ignore"):
            y = op.apply(y)

    # 2. bias (Add) or a shift (Subtract)
    if draw(pick(rng, (True, True, True, False))):
        if exponent is not None:
            grid = np.exp2(-exponent.astype(np.float64))
            bias = rng.integers(-6, 6, count, endpoint=True) * grid
        else:
            magnitude = np.abs(np.asarray(stats([90])[0]) - np.asarray(stats([10])[0])) + 1e-30
            bias = rng.standard_normal(count) * np.broadcast_to(magnitude, (count,))
        cls = post.Add if draw(st.integers(0, 4)) else post.Subtract
        op = cls(operand(bias))
        ops.append(op)
        notes.append(cls.__name__.lower())
        with np.errstate(all="ignore"):
            y = op.apply(y)

    # 3. activation
    activation = draw(pick(rng, [None, None, "relu", "clamp"]))
    if activation == "relu":
        ops.append(post.Relu())
        y = post.Relu().apply(y)
        notes.append("relu")
    elif activation == "clamp":
        lo, hi = V.percentiles(y, [5, 95])
        op = post.Clamp(float(F32(lo)), float(F32(max(hi, lo))))
        ops.append(op)
        y = op.apply(y)
        notes.append("clamp")

    # 4. requantization (or a float FakeQuantize, or nothing)
    saturated = 0
    total = 0
    if mode == "float":
        if draw(pick(rng, (False, True))):
            lo, hi = stats([2, 98])
            hi = np.maximum(hi, np.asarray(lo) + np.abs(np.asarray(lo)) * 1e-3 + 1e-30)
            op = post.FakeQuantize(operand(lo), operand(hi), operand(lo), operand(hi),
                                   draw(pick(rng, [256, 255, 16])))
            ops.append(op)
            notes.append("FakeQuantize")
        return tuple(ops), (0, 0), ", ".join(notes)
    if mode == "ties":
        lo, = stats([anchor])
        il = np.floor(np.asarray(lo, np.float64)) - 1
        if exponent is not None:
            # Values are on the grid 2^-e. Shift il by a multiple of 2^-e so that the most frequent
            # residue class of the values lands exactly on a tie: (y - il) * 2^e = 2^(e-1) mod 2^e.
            il = np.broadcast_to(il, (count,)).astype(np.float64).copy()
            moved = np.moveaxis(np.asarray(y, np.float64), axis, 0).reshape(n_ch, -1) \
                if per_channel else np.asarray(y, np.float64).reshape(1, -1)
            for ch in range(count):
                grid = float(2 ** int(exponent[ch]))
                row = moved[ch][np.isfinite(moved[ch])] * grid
                if row.size:
                    residues, counts = np.unique(np.mod(row, grid), return_counts=True)
                    target = (residues[np.argmax(counts)] - grid / 2) % grid
                    il[ch] += target / grid
        ih = il + width
    else:
        p_lo = draw(pick(rng, [0.5, 2.0, 5.0, 10.0]))       # at most 25% saturated
        p_hi = draw(pick(rng, [85.0, 90.0, 95.0, 97.0]))
        lo, hi = stats([p_lo, p_hi])
        lo = np.asarray(lo, np.float64)
        hi = np.asarray(hi, np.float64)
        il = lo
        ih = np.where(hi > lo, hi, lo + np.maximum(np.abs(lo) * 0.25, 1e-30))
    il32, ih32 = operand(il), operand(ih)
    op = post.Quantize(il32, ih32, operand(np.full(count, out_lo)), operand(np.full(count, out_hi)),
                       levels, element_type)
    ops.append(op)
    notes.append(f"Quantize({element_type}, {levels}, [{out_lo:g}, {out_hi:g}])")
    with np.errstate(invalid="ignore"):
        low = np.minimum(il32, ih32)
        high = np.maximum(il32, ih32)
        saturated = int(np.count_nonzero((y < low) | (y > high)))
    total = int(y.size)
    return tuple(ops), (saturated, total), ", ".join(notes)


def zero_point(draw, rng, dtype, count: int, *, allow_per_channel: bool = True) -> tuple[int, ...]:
    lo, hi = V.code_range(dtype)
    kind = draw(pick(rng, ["zero", "low", "high", "mid", "random", "per-channel"]))
    if kind == "per-channel" and not (allow_per_channel and count > 1):
        kind = "high"
    if kind == "zero":
        return (0,)
    if kind == "low":
        return (lo,)
    if kind == "high":
        return (hi,)
    if kind == "mid":
        return ((lo + hi + 1) // 2,)
    if kind == "random":
        return (int(rng.integers(lo, hi, endpoint=True)),)
    return tuple(int(v) for v in rng.choice([lo, hi, int(rng.integers(lo, hi, endpoint=True))], count))


def weight_zero_point(draw, rng, count: int) -> tuple[int, ...]:
    kind = draw(pick(rng, ["none", "none", "zero", "low", "high", "random", "per-channel"]))
    return {"none": (), "zero": (0,), "low": (-128,), "high": (127,),
            "random": (int(rng.integers(-128, 127, endpoint=True)),)}.get(kind) or tuple(
        int(v) for v in rng.integers(-128, 127, count, endpoint=True))


# -- int8 layers -------------------------------------------------------------------------------------


def conv_geometry(draw, rng, c: int) -> dict[str, Any]:
    n = draw(st.integers(1, 2))
    structure = draw(pick(rng, ["plain", "plain", "depthwise", "grouped"]))
    if structure == "depthwise":
        group = c
        oc = c * draw(st.sampled_from([1, 1, 2]))
    elif structure == "grouped":
        divisors = [d for d in range(2, c + 1) if c % d == 0 and d != c] or [1]
        group = draw(st.sampled_from(divisors))
        oc = group * draw(st.integers(1, 3))
    else:
        group = 1
        oc = draw(channels())
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dy, dx = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = [draw(st.sampled_from([0, 0, 1, 2])) for _ in range(4)]
    h, w = draw(st.sampled_from(SPATIAL)), draw(st.sampled_from(SPATIAL))
    h = max(h, (kh - 1) * dy + 1 - pads[0] - pads[2])
    w = max(w, (kw - 1) * dx + 1 - pads[1] - pads[3])
    return dict(n=n, c=c, oc=oc, group=group, kernel=(kh, kw), strides=(sy, sx),
                dilations=(dy, dx), pads_begin=(pads[0], pads[1]), pads_end=(pads[2], pads[3]),
                h=h, w=w, structure=structure)


@st.composite
def int8_convolution(draw, dtype: np.dtype, accumulation: str) -> Case:
    rng = _rng(draw)
    g = conv_geometry(draw, rng, draw(channels()))
    c, oc, group = g["c"], g["oc"], g["group"]
    kh, kw = g["kernel"]
    q = V.codes(rng, (g["n"], c, g["h"], g["w"]), dtype, draw(pick(rng, ACTIVATION_PATTERNS)))
    wpattern = draw(pick(rng, DOT_WEIGHT_PATTERNS))
    w = V.weights(rng, (oc, c // group, kh, kw), wpattern)
    za = zero_point(draw, rng, dtype, c)
    zw = weight_zero_point(draw, rng, oc)
    attrs = dict(strides=g["strides"], dilations=g["dilations"], pads_begin=g["pads_begin"],
                 pads_end=g["pads_end"], group=group, input_zero_point=za, weight_zero_point=zw,
                 accumulation=accumulation)
    acc = int8_convolution_accumulator(q, w, **attrs)
    tail, saturation, note = draw_tail(draw, rng, acc.astype(np.float32), 1)
    attrs["post_ops"] = tail
    return Case("Int8Convolution", attrs, [q, w], (False, True), saturation=saturation,
                note=f"{g['structure']}, za={_short(za)}, zw={_short(zw)}, weights={wpattern}; {note}")


def _short(values) -> str:
    values = tuple(values)
    if len(values) <= 2:
        return str(list(values))
    return f"[{values[0]}, {values[1]}, ... {len(values)} values]"


@st.composite
def int8_matmul(draw, dtype: np.dtype, accumulation: str) -> Case:
    rng = _rng(draw)
    k = draw(channels())
    # square weights (N == K) a quarter of the time: a transposed weight layout keeps the shapes there
    n_out = k if draw(pick(rng, (False, False, False, True))) else draw(channels())
    batch = draw(st.sampled_from([(), (1,), (3,), (7,), (2, 3), (1, 5), (16,), (33,), (2, 17)]))
    q = V.codes(rng, (*batch, k), dtype, draw(pick(rng, ACTIVATION_PATTERNS)))
    wpattern = draw(pick(rng, DOT_WEIGHT_PATTERNS))
    w = V.weights(rng, (n_out, k), wpattern)
    za = zero_point(draw, rng, dtype, 1, allow_per_channel=False)
    zw = weight_zero_point(draw, rng, n_out)
    attrs = dict(input_zero_point=za, weight_zero_point=zw, accumulation=accumulation)
    acc = int8_matmul_accumulator(q, w, **attrs)
    tail, saturation, note = draw_tail(draw, rng, acc.astype(np.float32), acc.ndim - 1)
    attrs["post_ops"] = tail
    return Case("Int8MatMul", attrs, [q, w], (False, True), saturation=saturation,
                note=f"K={k}, za={list(za)}, zw={_short(zw)}, weights={wpattern}; {note}")


@st.composite
def broadcast_pair(draw, max_dims: int = 4) -> tuple[tuple[int, ...], tuple[int, ...]]:
    kind = draw(st.sampled_from(["same", "per-channel", "scalar-like", "random"]))
    base = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 4, 7, 16, 17]), min_size=1, max_size=max_dims)))
    if kind == "same":
        return base, base
    if kind == "per-channel" and len(base) >= 2:
        other = tuple(d if i == 1 else 1 for i, d in enumerate(base))
        return (base, other) if draw(st.booleans()) else (other, base)
    if kind == "scalar-like":
        return base, (1,) * draw(st.integers(1, len(base)))
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=max_dims,
                                                    max_side=6))
    return tuple(shapes.input_shapes[0]), tuple(shapes.input_shapes[1])


@st.composite
def int8_eltwise(draw, op: str) -> Case:
    rng = _rng(draw)
    shape_a, shape_b = draw(broadcast_pair())
    da = np.dtype(draw(pick(rng, ["uint8", "int8"])))
    db = np.dtype(draw(pick(rng, ["uint8", "int8"])))
    q1 = V.codes(rng, shape_a, da, draw(pick(rng, V.CODE_PATTERNS)))
    q2 = V.codes(rng, shape_b, db, draw(pick(rng, V.CODE_PATTERNS)))
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    last = out_shape[-1]
    integral = draw(pick(rng, (False, True)))

    def operand(kind: str, draw_value: Callable[[int], np.ndarray]) -> Any:
        if kind == "scalar":
            return float(draw_value(1)[0])
        return _f32(draw_value(last))

    shift_kind = draw(pick(rng, ["scalar", "per-channel"]))
    if integral:
        shift = operand(shift_kind, lambda n: rng.integers(-128, 255, n, endpoint=True).astype(float))
    else:
        shift = operand(shift_kind, lambda n: rng.uniform(-200, 200, n))
    attrs: dict[str, Any] = {"full_shift": shift}
    if op == "Int8Add":
        scale_kind = draw(pick(rng, ["scalar", "per-channel"]))
        if integral:
            attrs["full_scale"] = operand(scale_kind, lambda n: rng.choice([-2.0, 0.5, 1.0, 2.0, 4.0], n))
        else:
            attrs["full_scale"] = operand(scale_kind, lambda n: np.exp2(rng.uniform(-6, 6, n))
                                          * rng.choice([-1.0, 1.0], n))
        y0 = int8_add(q1, q2, full_shift=attrs["full_shift"], full_scale=attrs["full_scale"])
    else:
        y0 = int8_multiply(q1, q2, full_shift=attrs["full_shift"])
    tail, saturation, note = draw_tail(draw, rng, np.asarray(y0, np.float32), len(out_shape) - 1)
    attrs["post_ops"] = tail
    return Case(op, attrs, [q1, q2], saturation=saturation,
                note=f"{'integral' if integral else 'fractional'} shift/scale; {note}")


def reduction_axes(draw, rank: int) -> tuple[int, ...]:
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    return tuple(a - rank if draw(st.booleans()) else a for a in axes)


@st.composite
def int8_mvn_case(draw) -> Case:
    rng = _rng(draw)
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5, 8, 16, 17]), min_size=1, max_size=4)))
    dtype = np.dtype(draw(pick(rng, ["uint8", "int8"])))
    q = V.codes(rng, shape, dtype, draw(pick(rng, V.CODE_PATTERNS)))
    attrs = dict(axes=reduction_axes(draw, len(shape)), normalize_variance=draw(pick(rng, (False, True, True))),
                 eps=draw(pick(rng, [1e-9, 1e-5, 1e-3, 1.0, 1.0, 1e-30, 0.0])),
                 eps_mode=draw(pick(rng, ["inside_sqrt", "outside_sqrt"])))
    y0 = int8_mvn(q, **attrs)
    prefix = (post.Multiply(_f32(draw(pick(rng, [1.0, -1.0, 0.0123, -3.5])))),)
    tail, saturation, note = draw_tail(draw, rng, y0, 1 if len(shape) >= 2 else None,
                                       prefix=prefix, multiply=False)
    attrs["post_ops"] = tail
    return Case("Int8MVN", attrs, [q], saturation=saturation, note=note)


@st.composite
def dequantize_case(draw) -> Case:
    rng = _rng(draw)
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 4, 15, 16, 17]), min_size=1, max_size=4)))
    dtype = np.dtype(draw(pick(rng, ["uint8", "int8", "int32"])))
    if dtype == np.int32:
        big = draw(pick(rng, [2**8, 2**24, 2**31 - 1]))
        q = rng.integers(-big, big, shape, endpoint=False).astype(np.int32)
    else:
        q = V.codes(rng, shape, dtype, draw(pick(rng, V.CODE_PATTERNS)))
    axis = 1 if len(shape) >= 2 else None
    zp_kind = draw(pick(rng, ["none", "scalar", "per-channel"]))
    prefix: tuple = ()
    if zp_kind == "scalar":
        prefix = (post.Subtract(_f32(rng.integers(-128, 255, endpoint=True))),)
    elif zp_kind == "per-channel" and axis is not None:
        s = [1] * len(shape)
        s[1] = shape[1]
        prefix = (post.Subtract(_f32(rng.integers(-128, 255, shape[1], endpoint=True)).reshape(s)),)
    tail, saturation, note = draw_tail(draw, rng, q.astype(np.float32), axis, prefix=prefix)
    return Case("Dequantize", {"post_ops": tail}, [q], saturation=saturation,
                note=f"{dtypes_name(dtype)}, zp={zp_kind}; {note}")


def dtypes_name(dtype) -> str:
    from refint8 import dtypes
    return dtypes.type_name(np.dtype(dtype))


# -- FakeQuantize ---------------------------------------------------------------------------------------

FQ_LEVELS = (256, 255, 2, 3, 5, 15, 16, 17, 65536)


def _range_shape(draw, x_shape: tuple[int, ...], granularity: str) -> tuple[int, ...]:
    rank = len(x_shape)
    if granularity == "per-channel" and rank >= 2:
        return tuple(d if i == 1 else 1 for i, d in enumerate(x_shape))
    if granularity == "lower-rank" and rank >= 2:
        return tuple(x_shape[1:2]) + (1,) * (rank - 2)
    if granularity == "per-element":
        return x_shape
    if granularity == "higher-rank":
        return (1,) + tuple(1 for _ in x_shape)
    if granularity == "last-axis" and rank >= 1:
        return (x_shape[-1],)
    return ()


@st.composite
def fake_quantize_case(draw, kind: str) -> Case:
    """``kind``: ``f32`` (f32 -> f32), ``quantize`` (f32 -> u8/i8 codes), ``requantize`` (codes in)."""
    rng = _rng(draw)
    rank = draw(st.integers(0 if kind == "f32" else 1, 4))
    x_shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 4, 16, 17]), min_size=rank, max_size=rank)))
    if int(np.prod(x_shape, dtype=np.int64)) < 16 and rank and draw(pick(rng, (False, True, True))):
        x_shape = x_shape[:-1] + (x_shape[-1] * 16,)   # enough elements to meet ties and boundaries
    granularity = draw(pick(rng, ["scalar", "per-channel", "lower-rank", "per-element",
                                        "higher-rank", "last-axis", "mixed"]))
    auto_broadcast = "numpy"
    if kind == "f32" and granularity == "per-element" and draw(pick(rng, (True, False, False, False))):
        auto_broadcast = "none"
    shapes = [_range_shape(draw, x_shape, draw(pick(rng, ["scalar", "per-channel", "per-element",
                                                                "last-axis"])))
              if granularity == "mixed" else _range_shape(draw, x_shape, granularity) for _ in range(4)]
    if auto_broadcast == "none":
        shapes = [x_shape] * 4
    size = [int(np.prod(s, dtype=np.int64)) for s in shapes]

    notes = [kind, granularity]
    output_type = "f32"
    if kind == "quantize" or (kind == "requantize" and draw(pick(rng, (True, True, False)))):
        output_type = draw(pick(rng, ["u8", "i8"]))
    if output_type != "f32":
        levels, out_lo, out_hi = draw(pick(rng, QUANTIZE_TARGETS[output_type]))
    else:
        levels = draw(pick(rng, FQ_LEVELS + (256, 255, 256)))
    width = levels - 1
    range_kind = draw(pick(rng, ["normal", "normal", "normal", "ties", "ties", "ties",
                                       "degenerate", "inverted", "ol>oh", "ol==oh", "nan-bound"]
                                      if output_type == "f32" else
                                      ["normal", "normal", "ties", "ties", "ties", "degenerate",
                                       "inverted"]))
    notes.append(f"levels={levels}, range={range_kind}")
    if kind == "requantize":
        x_dtype = np.dtype(draw(pick(rng, ["uint8", "int8"])))
        code_lo, code_hi = V.code_range(x_dtype)
        center, span = (code_lo + code_hi) / 2, (code_hi - code_lo)
    else:
        center = float(rng.standard_normal() * 2.0 ** rng.integers(-6, 7))
        span = float(2.0 ** rng.integers(-6, 8))

    def ranges() -> list[np.ndarray]:
        if range_kind == "ties":
            step = float(2.0 ** rng.integers(-3, 2)) if kind != "requantize" else 1.0
            offset = 0.5 if kind == "requantize" else 0.0
            base = np.floor(center - width * step / 2) + offset
            il = np.full(size[0], base) + (rng.integers(-3, 3, size[0]) if kind == "requantize" else 0)
            ih = il + width * step
            return [il, np.broadcast_to(ih[:1] if size[1] != size[0] else ih, (size[1],)),
                    None, None]
        lo = center - span * rng.uniform(0.2, 0.6, size[0])
        hi_base = center + span * rng.uniform(0.2, 0.6, size[1])
        if range_kind == "degenerate":
            hi_base = np.broadcast_to(lo[:1], (size[1],)) if size[1] != size[0] else lo.copy()
        elif range_kind == "inverted":
            lo, hi_base = center + span * rng.uniform(0.2, 0.6, size[0]), center - span * rng.uniform(
                0.2, 0.6, size[1])
        elif range_kind == "nan-bound":
            target = rng.integers(0, 2)
            if target == 0:
                lo = lo.copy()
                lo[rng.integers(0, size[0])] = np.nan
            else:
                hi_base = hi_base.copy()
                hi_base[rng.integers(0, size[1])] = np.nan
        return [lo, hi_base, None, None]

    il, ih, _, _ = ranges()
    if output_type != "f32":
        ol = np.full(size[2], out_lo)
        oh = np.full(size[3], out_hi)
        notes.append(f"-> {output_type} [{out_lo:g}, {out_hi:g}]")
    else:
        ol = rng.uniform(-2, 2, size[2]) * 2.0 ** rng.integers(-4, 5)
        oh = ol[:1] + rng.uniform(0.1, 4, size[3]) if size[2] != size[3] else ol + rng.uniform(0.1, 4, size[3])
        if range_kind == "ol>oh":
            ol, oh = (oh[:1] if size[2] != size[3] else oh), (ol[:1] if size[2] != size[3] else ol)
            ol = np.broadcast_to(ol, (size[2],))
            oh = np.broadcast_to(oh, (size[3],))
        elif range_kind == "ol==oh":
            oh = np.broadcast_to(ol[:1], (size[3],)) if size[2] != size[3] else ol.copy()
    il32, ih32, ol32, oh32 = (_f32(np.asarray(v, np.float64)).reshape(s)
                              for v, s in zip((il, ih, ol, oh), shapes))

    def fit(r: np.ndarray) -> np.ndarray:  # a higher-rank range drops its leading 1s against x
        return r.reshape(r.shape[r.ndim - len(x_shape):]) if r.ndim > len(x_shape) else r

    # data: values around the range, its boundaries, exact ties, specials
    if kind == "requantize":
        x = V.codes(rng, x_shape, x_dtype, draw(pick(rng, V.CODE_PATTERNS)))
    else:
        low = np.broadcast_to(np.fmin(fit(il32), fit(ih32)), x_shape).astype(np.float64)
        high = np.broadcast_to(np.fmax(fit(il32), fit(ih32)), x_shape).astype(np.float64)
        sel = rng.random(x_shape)
        width_x = np.where(high > low, high - low, 1.0)
        inside = low + rng.uniform(0.0, 1.0, x_shape) * width_x
        outside = np.where(rng.random(x_shape) < 0.5, low - rng.uniform(0, 0.5, x_shape) * width_x,
                           high + rng.uniform(0, 0.5, x_shape) * width_x)
        step = width_x / width
        tie = low + (rng.integers(0, max(width, 1), x_shape) + 0.5) * step
        x = np.where(sel < 0.35, inside, np.where(sel < 0.7, tie, outside))
        x = np.where(sel > 0.9, np.where(rng.random(x_shape) < 0.5, low, high), x)
        specials = draw(pick(rng, ["none", "none", "nan-inf"] if output_type == "f32"
                             else ["none"] * 7 + ["inf", "inf", "nan"]))
        if specials != "none":
            pool = {"nan-inf": [np.nan, np.inf, -np.inf, 0.0, -0.0], "inf": [np.inf, -np.inf],
                    "nan": [np.nan]}[specials]
            x = np.where(rng.random(x_shape) < 0.2, rng.choice(pool, x_shape), x)
            notes.append(specials)
        with np.errstate(all="ignore"):
            x = _f32(x)
    attrs = {"levels": levels, "auto_broadcast": auto_broadcast, "output_type": output_type}
    return Case("FakeQuantize", attrs, [x, il32, ih32, ol32, oh32], (False, True, True, True, True),
                note=", ".join(notes))


# -- fp32 ops ---------------------------------------------------------------------------------------------


def float_array(draw, rng, shape, patterns=V.FLOAT_PATTERNS, *, scale=None) -> tuple[np.ndarray, str]:
    pattern = draw(pick(rng, patterns))
    return V.floats(rng, shape, pattern, scale=scale), pattern


def small_shape(draw, min_rank=0, max_rank=4, sides=(1, 2, 3, 4, 5, 16, 17)) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.sampled_from(sides), min_size=min_rank, max_size=max_rank)))


@st.composite
def unary_case(draw, op: str, attrs_fn: Callable | None = None) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw)
    x, pattern = float_array(draw, rng, shape)
    attrs = attrs_fn(draw, rng) if attrs_fn else {}
    return Case(op, attrs, [x], note=pattern)


def clamp_attrs(draw, rng) -> dict[str, Any]:
    kind = draw(pick(rng, ["relu6", "random", "equal", "infinite", "zero"]))
    if kind == "relu6":
        return {"min": 0.0, "max": 6.0}
    if kind == "equal":
        v = float(rng.standard_normal())
        return {"min": v, "max": v}
    if kind == "infinite":
        return {"min": -math.inf, "max": float(rng.standard_normal())}
    if kind == "zero":
        return {"min": -0.0, "max": 0.0}
    a, b = sorted(rng.standard_normal(2) * 2)
    return {"min": float(a), "max": float(b)}


@st.composite
def binary_case(draw, op: str) -> Case:
    rng = _rng(draw)
    mode = draw(pick(rng, ["numpy", "numpy", "none"]))
    if mode == "none":
        a_shape = b_shape = small_shape(draw)
    else:
        a_shape, b_shape = draw(broadcast_pair())
    a, pa = float_array(draw, rng, a_shape)
    b, pb = float_array(draw, rng, b_shape)
    if draw(pick(rng, (True, False, False, False))):       # signed zeros against each other (Maximum/Minimum rules)
        zeros = np.array([0.0, -0.0], np.float32)
        a = np.where(rng.random(a_shape) < 0.5, rng.choice(zeros, a_shape), a).astype(np.float32)
        b = np.where(rng.random(b_shape) < 0.5, rng.choice(zeros, b_shape), b).astype(np.float32)
    return Case(op, {"auto_broadcast": mode}, [a, b], note=f"{pa} x {pb}")


@st.composite
def convert_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw)
    dest = draw(pick(rng, ["f32", "u8", "i8", "i32", "i64"]))
    if low_precision:
        src = np.dtype(draw(pick(rng, ["uint8", "int8"])))
        x = V.codes(rng, shape, src, draw(pick(rng, V.CODE_PATTERNS)))
    else:
        src = draw(pick(rng, ["float32", "float32", "float16", "int32", "int64", "bool"]))
        if src in ("float32", "float16"):
            pool = np.array([0.5, -0.5, 1.5, 2.5, -2.7, 255.9, 256.0, 300.0, -1.5, -129.0, 128.0,
                             2.0**31, -2.0**31, 2.0**31 + 256, 1e10, -1e10, 2.0**63, np.nan, np.inf,
                             -np.inf, -0.0, 16777217.0])
            x = np.where(rng.random(shape) < 0.5, rng.choice(pool, shape),
                         rng.standard_normal(shape) * 2.0 ** rng.integers(0, 40))
            with np.errstate(over="ignore"):
                x = x.astype(src)
        elif src == "int32":
            x = rng.integers(-2**31, 2**31, shape).astype(np.int32)
        elif src == "int64":
            x = rng.integers(-2**62, 2**62, shape).astype(np.int64)
        else:
            x = rng.random(shape) < 0.5
    return Case("Convert", {"destination_type": dest}, [x], note=f"{dtypes_name(x.dtype)} -> {dest}")


@st.composite
def convolution_case(draw) -> Case:
    rng = _rng(draw)
    g = conv_geometry(draw, rng, draw(channels()))
    auto_pad = draw(pick(rng, AUTO_PADS))
    x, pattern = float_array(draw, rng, (g["n"], g["c"], g["h"], g["w"]),
                             ("normal", "normal", "uniform", "integers", "specials", "wide"))
    w, wpattern = float_array(draw, rng, (g["oc"], g["c"] // g["group"], *g["kernel"]),
                              ("normal", "normal", "uniform", "integers", "specials"))
    attrs = dict(strides=g["strides"], pads_begin=g["pads_begin"], pads_end=g["pads_end"],
                 dilations=g["dilations"], auto_pad=auto_pad, group=g["group"])
    return Case("Convolution", attrs, [x, w], (False, True),
                note=f"{g['structure']}, {auto_pad}, x={pattern}, w={wpattern}")


@st.composite
def matmul_case(draw) -> Case:
    rng = _rng(draw)
    k = draw(channels())
    m, n = draw(st.sampled_from([1, 2, 5, 16, 17])), draw(st.sampled_from([1, 3, 16, 33]))
    rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch_a = tuple(draw(st.sampled_from([1, 2, 3])) for _ in range(max(rank_a - 2, 0)))
    batch_b = tuple(draw(st.sampled_from([1, 2, 3])) for _ in range(max(rank_b - 2, 0)))
    # make the batch dimensions broadcastable: where both have a dimension, one of them is 1 or equal
    common = min(len(batch_a), len(batch_b))
    batch_b = list(batch_b)
    for i in range(1, common + 1):
        if batch_a[-i] != batch_b[-i] and batch_a[-i] != 1:
            batch_b[-i] = 1 if draw(st.booleans()) else batch_a[-i]
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a_shape = (k,) if rank_a == 1 else (*batch_a, *((k, m) if ta else (m, k)))
    b_shape = (k,) if rank_b == 1 else (*batch_b, *((n, k) if tb else (k, n)))
    a, pa = float_array(draw, rng, a_shape, ("normal", "uniform", "integers", "specials", "wide"))
    b, pb = float_array(draw, rng, b_shape, ("normal", "uniform", "integers", "specials"))
    return Case("MatMul", {"transpose_a": ta, "transpose_b": tb}, [a, b], (False, True),
                note=f"K={k}, a={pa}, b={pb}")


def pool_geometry(draw, rng, *, exclude_pad: bool | None = None) -> dict[str, Any]:
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads_begin = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pads_end = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    attrs = dict(kernel=kernel, strides=strides, pads_begin=pads_begin, pads_end=pads_end,
                 rounding_type=draw(pick(rng, ["floor", "ceil"])),
                 auto_pad=draw(pick(rng, AUTO_PADS)))
    if exclude_pad is not None:
        attrs["exclude_pad"] = draw(pick(rng, (False, True)))
        if attrs["exclude_pad"]:  # every pad must be smaller than the kernel
            attrs["pads_begin"] = tuple(min(p, k - 1) for p, k in zip(pads_begin, kernel))
            attrs["pads_end"] = tuple(min(p, k - 1) for p, k in zip(pads_end, kernel))
    return attrs


@st.composite
def pool_case(draw, op: str, dtype: str) -> Case:
    rng = _rng(draw)
    attrs = pool_geometry(draw, rng, exclude_pad=True if op == "AvgPool" else None)
    c = draw(st.sampled_from([1, 3, 16, 17]))
    h, w = draw(st.sampled_from(SPATIAL)), draw(st.sampled_from(SPATIAL))
    kh, kw = attrs["kernel"]
    h, w = max(h, kh), max(w, kw)
    shape = (draw(st.integers(1, 2)), c, h, w)
    if dtype == "f32":
        patterns = ("integers", "integers", "halves", "normal", "specials", "wide") if op == "AvgPool" \
            else ("normal", "integers", "specials", "wide", "constant")
        x, pattern = float_array(draw, rng, shape, patterns)
    else:
        pattern = draw(pick(rng, V.CODE_PATTERNS))
        x = V.codes(rng, shape, np.dtype(draw(pick(rng, ["uint8", "int8"]))), pattern)
    return Case(op, attrs, [x], note=f"{pattern}, {attrs['auto_pad']}, {attrs['rounding_type']}")


@st.composite
def int8_avg_pool_case(draw) -> Case:
    """u8/i8 codes; 2x2 windows make exact ties (S/D = k + 1/2) frequent; pad_value extremes."""
    rng = _rng(draw)
    attrs = pool_geometry(draw, rng, exclude_pad=True)
    attrs.pop("auto_pad")
    kh, kw = attrs["kernel"]
    if draw(pick(rng, (False, True))):
        attrs["kernel"] = (2, 2)
        kh = kw = 2
        attrs["pads_begin"] = tuple(min(p, 1) for p in attrs["pads_begin"])
        attrs["pads_end"] = tuple(min(p, 1) for p in attrs["pads_end"])
    dtype = np.dtype(draw(pick(rng, ["uint8", "int8"])))
    lo, hi = V.code_range(dtype)
    attrs["pad_value"] = int(draw(pick(rng, [0, lo, hi, int(rng.integers(lo, hi, endpoint=True))])))
    c = draw(st.sampled_from([1, 3, 16, 17]))
    h, w = max(draw(st.sampled_from(SPATIAL)), kh), max(draw(st.sampled_from(SPATIAL)), kw)
    pattern = draw(pick(rng, V.CODE_PATTERNS))
    q = V.codes(rng, (draw(st.integers(1, 2)), c, h, w), dtype, pattern)
    return valid(Case("Int8AvgPool", attrs, [q], note=f"{pattern}, kernel {attrs['kernel']}, "
                                                         f"pad_value {attrs['pad_value']}"))


def _data(draw, rng, shape, dtype_choice: str) -> tuple[np.ndarray, str]:
    if dtype_choice == "f32":
        return float_array(draw, rng, shape, ("normal", "specials", "integers"))
    if dtype_choice == "i32":
        return rng.integers(-2**31, 2**31, shape).astype(np.int32), "i32"
    dtype = np.dtype(draw(pick(rng, ["uint8", "int8"])))
    pattern = draw(pick(rng, V.CODE_PATTERNS))
    return V.codes(rng, shape, dtype, pattern), pattern


def _pick_dtype(draw, low_precision: bool) -> str:
    return "codes" if low_precision else draw(st.sampled_from(["f32", "f32", "i32"]))


@st.composite
def relu_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw)
    if low_precision:
        x, pattern = _data(draw, rng, shape, "codes")
    else:
        x, pattern = float_array(draw, rng, shape)
        if draw(pick(rng, (True, False, False))):     # signed zeros (Relu(-0.0) is +0.0)
            zeros = np.array([0.0, -0.0], np.float32)
            x = np.where(rng.random(shape) < 0.3, rng.choice(zeros, shape), x).astype(np.float32)
            pattern += " with +-0"
    return Case("Relu", {}, [x], note=pattern)


@st.composite
def reshape_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw, 0, 4, sides=(1, 2, 3, 4, 6))
    x, pattern = _data(draw, rng, shape, _pick_dtype(draw, low_precision))
    total = int(np.prod(shape, dtype=np.int64))
    target: list[int] = []
    remaining = total
    for _ in range(draw(st.integers(0, 4))):
        divisors = [d for d in range(1, remaining + 1) if remaining % d == 0]
        d = draw(st.sampled_from(divisors))
        target.append(d)
        remaining //= d
    if remaining != 1 or not target:
        target.append(remaining)
    special_zero = draw(st.booleans())
    if special_zero:
        for i in range(min(len(target), len(shape))):
            if target[i] == shape[i] and draw(st.booleans()):
                target[i] = 0
    if draw(st.booleans()):
        candidates = [i for i, d in enumerate(target) if d != 0]
        if candidates:
            target[draw(st.sampled_from(candidates))] = -1
    return Case("Reshape", {"shape": tuple(target), "special_zero": special_zero}, [x], note=pattern)


@st.composite
def transpose_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw, 0, 4)
    x, pattern = _data(draw, rng, shape, _pick_dtype(draw, low_precision))
    order = () if draw(st.integers(0, 4)) == 0 else tuple(draw(st.permutations(range(len(shape)))))
    return Case("Transpose", {"order": order}, [x], note=pattern)


@st.composite
def squeeze_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw, 1, 5, sides=(1, 1, 2, 3))
    x, pattern = _data(draw, rng, shape, _pick_dtype(draw, low_precision))
    ones = [i for i, d in enumerate(shape) if d == 1]
    axes: tuple[int, ...] = ()
    if ones and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(ones), min_size=1, unique=True))
        axes = tuple(a - len(shape) if draw(st.booleans()) else a for a in chosen)
    return Case("Squeeze", {"axes": axes}, [x], note=pattern)


@st.composite
def unsqueeze_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw, 0, 3)
    x, pattern = _data(draw, rng, shape, _pick_dtype(draw, low_precision))
    count = draw(st.integers(1, 2))
    out_rank = len(shape) + count
    positions = draw(st.lists(st.integers(0, out_rank - 1), min_size=count, max_size=count, unique=True))
    axes = tuple(p - out_rank if draw(st.booleans()) else p for p in positions)
    return Case("Unsqueeze", {"axes": axes}, [x], note=pattern)


@st.composite
def concat_case(draw, low_precision: bool) -> Case:
    rng = _rng(draw)
    shape = list(small_shape(draw, 1, 4, sides=(1, 2, 3, 4, 16)))
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    count = draw(st.integers(1, 4))
    choice = _pick_dtype(draw, low_precision)
    inputs = []
    dtype = None
    for _ in range(count):
        s = list(shape)
        s[axis % rank] = draw(st.sampled_from([1, 2, 3, 17]))
        x, _ = _data(draw, rng, s, choice)
        if dtype is not None:
            x = x.astype(dtype)
        dtype = x.dtype
        inputs.append(x)
    return Case("Concat", {"axis": axis}, inputs, note=f"{count} inputs, axis {axis}")


@st.composite
def interpolate_case(draw, kind: str) -> Case:
    """``kind``: ``nearest-f32``, ``nearest-codes`` or ``linear``."""
    rng = _rng(draw)
    shape = small_shape(draw, 1, 4, sides=(1, 2, 3, 4, 5, 7))
    rank = len(shape)
    axes_list = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=min(rank, 2), unique=True))
    axes = tuple(axes_list) if draw(st.integers(0, 3)) else None
    resized = axes if axes is not None else tuple(range(rank))
    mode = "nearest" if kind.startswith("nearest") else draw(pick(rng, ["linear", "linear_onnx"]))
    calc = draw(pick(rng, ["sizes", "scales"]))
    attrs: dict[str, Any] = {"mode": mode, "shape_calculation_mode": calc, "axes": axes,
                             "coordinate_transformation_mode": draw(pick(rng, 
                                 ["half_pixel", "pytorch_half_pixel", "asymmetric",
                                  "tf_half_pixel_for_nn", "align_corners"])),
                             # the two tie rules twice: they differ only on exact k + 0.5 coordinates
                             "nearest_mode": draw(pick(rng, 
                                 ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple",
                                  "round_prefer_floor", "round_prefer_ceil"]))}
    if calc == "sizes":
        attrs["sizes"] = tuple(draw(st.integers(1, 9)) for _ in resized)
    else:
        scales = []
        for a in resized:
            choices = [s for s in (0.5, 0.75, 1.0, 1.5, 2.0, 2.1, 3.0, 0.34) if int(
                np.float32(shape[a]) * np.float32(np.float32(s) + np.float32(1e-6))) >= 1 or s == 1.0]
            scales.append(draw(st.sampled_from(choices)))
        attrs["scales"] = tuple(scales)
    if kind == "nearest-codes":
        x, pattern = _data(draw, rng, shape, "codes")
    else:
        x, pattern = float_array(draw, rng, shape, ("normal", "integers", "specials") if kind ==
                                 "nearest-f32" else ("normal", "uniform", "integers"))
    return Case("Interpolate", attrs, [x], note=f"{mode}, {calc}, {pattern}")


@st.composite
def mvn_case(draw) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw, 1, 4, sides=(1, 2, 3, 5, 8, 16, 17))
    rank = len(shape)
    offset = float(draw(pick(rng, [0.0, 0.0, 1.0, 100.0]))) * float(rng.standard_normal())
    eps = draw(pick(rng, [1e-9, 1e-5, 1e-3, 1.0]))
    # data spread ~ sqrt(eps) a third of the time: only there eps_mode (inside/outside sqrt) shows
    # beyond the tolerance (elsewhere eps or the variance dominates both forms)
    spread = draw(pick(rng, ["random", "random", "sqrt(eps)"]))
    x, pattern = float_array(draw, rng, shape, ("normal", "normal", "uniform", "integers", "specials"),
                             scale=float(np.sqrt(eps)) if spread == "sqrt(eps)" else None)
    with np.errstate(over="ignore", invalid="ignore"):
        x = (x + np.float32(offset)).astype(np.float32)
    attrs = dict(axes=reduction_axes(draw, rank), normalize_variance=draw(pick(rng, (False, True, True))),
                 eps=eps, eps_mode=draw(pick(rng, ["inside_sqrt", "outside_sqrt"])))
    return Case("MVN", attrs, [x], note=f"{pattern}, spread {spread}, offset {offset:.3g}")


@st.composite
def softmax_case(draw) -> Case:
    rng = _rng(draw)
    shape = small_shape(draw, 1, 4)
    x, pattern = float_array(draw, rng, shape, ("normal", "normal", "uniform", "specials", "constant"),
                             scale=float(draw(pick(rng, [1.0, 4.0, 30.0]))))
    return Case("Softmax", {"axis": draw(st.integers(-len(shape), len(shape) - 1))}, [x], note=pattern)

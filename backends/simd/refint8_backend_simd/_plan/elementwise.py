"""Elementwise plans: Int8Add, Int8Multiply, Dequantize and FakeQuantize as one C kernel."""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from refint8.errors import InputError

from .common import (LANES, MULTIPLY_QUANTIZE_FIELDS, NAN_MESSAGE, VARIANTS, CCall, Keep, Reused, plane_values,
                     requantization_fields, round_up, scalar_operand)
from .exhaustive import prove_without_check
from .post_ops import build_posts


_IN_TYPES = {np.dtype(np.float32): 0, np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int32): 3}


def _elementwise_bound(kind: int, node: Any, shift: Any, scale: Any) -> float | None:
    """A bound on the magnitude of what enters an elementwise layer's post-ops (None: unknown).

    Integer inputs are bounded by their type (|u8|, |i8| <= 255, |i32| <= 2^31); Int8Add gives
    ``(float32(q1) - h) * r + float32(q2)``, Int8Multiply ``(float32(q1) - h) * float32(q2)``.
    """
    limits = {np.dtype(np.uint8): 255.0, np.dtype(np.int8): 128.0, np.dtype(np.int32): 2.0 ** 31}
    inputs = [limits.get(np.dtype(i.dtype)) for i in node.inputs[:2 if kind else 1]]
    if any(b is None for b in inputs):
        return None
    if not kind:
        return inputs[0]
    h = float(np.max(np.abs(np.asarray(shift, np.float64))))
    r = float(np.max(np.abs(np.asarray(scale, np.float64))))
    if not (np.isfinite(h) and np.isfinite(r)):
        return None
    slack = 1.0 + 2.0 ** -20
    t = (inputs[0] + h) * slack
    return ((t * r) * slack + inputs[1]) * slack if kind == 1 else t * inputs[1] * slack


#: the unit roundoff of float32 (round to nearest) and a relative bound for a few float64 steps
_U32 = 2.0 ** -24
_U64 = 2.0 ** -50
#: folding is declined where the chain's near-midpoint limit would drop below this (too many
#: vectors would be recomputed)
FOLD_MIN_LIMIT = 0.25


def _corners(lo_hi_a: tuple[float, float], lo_hi_b: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The four (a, b) corners of the code ranges, as float64 columns (one row per corner)."""
    a, b = np.meshgrid(np.array(lo_hi_a), np.array(lo_hi_b))
    return a.reshape(-1, 1), b.reshape(-1, 1)


def fold_fields(kind: int, fields: np.ndarray, a_range: tuple[float, float], b_range: tuple[float, float],
                steps: float) -> np.ndarray:
    """Per plane, elt_rq_folded's A, B, C and limit (r8_elt.rq fields 10-13) for r8_elt.rq's
    fields 0-9 (h, r, s, il, m, ...) of an Int8Add (kind 1) or a Dequantize/FakeQuantize of codes
    (kind 0) on codes a (and b) in the given ranges; limit 0 (not folded) for Int8Multiply, where
    an operand is not finite, or where the limit would fall below FOLD_MIN_LIMIT.

    The chain the kernel otherwise runs, in float32, each operation rounded to nearest:
    kind 1: d = a - h, p = d*r, e = p + b, y = e*s, w = y - il, v = w*m; kind 0: y = a*s, w, v.
    The folded value: v' = fma(a, A, fma(b, B, C)) with A = f32(r*s*m), B = f32(s*m),
    C = f32(-(h*r*s + il)*m) (kind 0: A = f32(s*m), B = 0, C = f32(-il*m)), exact products in
    float64 first. Both differ from the real V = ((a - h)*r + b)*s*m - il*m by bounded amounts:
    each float32 result x^ of an operation whose exact operands' result is X lies within
    u*|x^| <= u*(|X| + err) of it (u = 2^-24), errors carried forward through each operation, with
    |X| at its largest over the corners of the code ranges (every intermediate is affine in a and
    b); the folded constants add |a|*|A - rsm| + |b|*|B - sm| + |C - C_exact|. E = the sum of the
    two bounds (times 1 + 2^-10, plus 2^-100 for results near the subnormals), and the limit is the
    chain's (0.5 - steps*2^-21, rq_limit) less E, rounded down to float32. Kernel side:
    elt_rq_folded in r8simd_elt.h."""
    out = np.zeros((len(fields), 4), np.float64)
    if kind not in (0, 1):
        return out.astype(np.float32)
    f = fields.astype(np.float64)
    h, r, s, il, m = (f[:, k] for k in range(5))
    if not kind:
        h, r, b_range = np.zeros_like(h), np.ones_like(r), (0.0, 0.0)
    a, b = _corners(a_range, b_range)                                   # [4, 1] against [planes]
    u = _U32
    with np.errstate(all="ignore"):
        # the chain, op by op: err_x bounds |x^ - X|
        D = np.abs(a - h).max(axis=0)
        P = np.abs((a - h) * r).max(axis=0)
        Ee = np.abs((a - h) * r + b).max(axis=0)
        Y = np.abs(((a - h) * r + b) * s).max(axis=0)
        W = np.abs(((a - h) * r + b) * s - il).max(axis=0)
        V = np.abs((((a - h) * r + b) * s - il) * m).max(axis=0)
        if kind:
            err_d = u * D
            err_p = np.abs(r) * err_d + u * (P + np.abs(r) * err_d)
            err_e = err_p + u * (Ee + err_p)
        else:
            err_e = np.zeros_like(D)                                    # y = a*s: a exact
        err_y = np.abs(s) * err_e + u * (Y + np.abs(s) * err_e)
        err_w = err_y + u * (W + err_y)
        err_v = np.abs(m) * err_w + u * (V + np.abs(m) * err_w)
        # the folded value
        A64, B64 = r * s * m, (s * m if kind else np.zeros_like(s))
        C64 = -(h * r * s + il) * m
        A, B, C = (x.astype(np.float32).astype(np.float64) for x in (A64, B64, C64))
        err_constants = (np.abs(a).max() * (np.abs(A - A64) + _U64 * np.abs(A64))
                         + np.abs(b).max() * (np.abs(B - B64) + _U64 * np.abs(B64))
                         + np.abs(C - C64) + _U64 * (np.abs(h * r * s * m) + np.abs(il * m)))
        T = np.abs(b * B + C).max(axis=0)
        err_t = u * T
        err_fold = err_constants + err_t + u * (np.abs(a * A + b * B + C).max(axis=0) + err_t)
        E = (err_v + err_fold) * (1.0 + 2.0 ** -10) + 2.0 ** -100
        limit = np.float64(np.float32(0.5) - np.float32(steps) * np.float32(2.0 ** -21)) - E
        limit32 = limit.astype(np.float32)
        limit32 = np.where(limit32.astype(np.float64) > limit, np.nextafter(limit32, np.float32(0)), limit32)
    usable = np.isfinite(f[:, :5]).all(axis=1) & np.isfinite(E) & (limit32 >= FOLD_MIN_LIMIT)
    usable &= np.isfinite(A) & np.isfinite(B) & np.isfinite(C)
    out[:, 0], out[:, 1], out[:, 2] = np.where(usable, A, 0), np.where(usable, B, 0), np.where(usable, C, 0)
    out[:, 3] = np.where(usable, limit32, 0)
    return out.astype(np.float32)


def saturating(folded: np.ndarray, fields: np.ndarray, steps: float) -> np.ndarray:
    """Per plane, r8_elt.rq field 14: 1 where the folded chain (limit > 0) with ol 0 and 256 levels
    keeps |a*A + b*B + C| below 2^30 for every pair of codes (|a|, |b| <= 255), so that its level
    rint(u) converts without overflow and the stores' saturation to 0 .. 255 gives the clamp's codes
    (r8simd_elt.h elt_rq_folded_levels), else 0. (A usable limit already bounds u far lower:
    the chain's float32 error at 2^30 would be about 64; the bound is checked all the same.)"""
    a, b, c, limit = (folded[:, k].astype(np.float64) for k in range(4))
    with np.errstate(all="ignore"):
        small = 255.0 * (np.abs(a) + np.abs(b)) + np.abs(c) < 2.0**30
    return ((steps == 255) & (limit > 0) & (fields[:, 5] == 0) & small).astype(np.float32)


def elementwise_struct(keep: Keep, ffi: Any, node: Any, kind: int, shift: Any, scale: Any,
                       post_ops: Sequence[Any], fill: Any, planes: int, plane: int, threads: int) -> Any:
    """The r8_elt struct of an elementwise node (kind 0 Dequantize/FakeQuantize, 1 Int8Add,
    2 Int8Multiply), its operands laid out by ``fill(operand_struct, array)``."""
    p = ffi.new("r8_elt *")
    keep.objects.append(p)
    p.kind = kind
    p.in0_type = _IN_TYPES[np.dtype(node.inputs[0].dtype)]
    p.in1_type = _IN_TYPES[np.dtype(node.inputs[1].dtype)] if kind else 0
    p.planes, p.plane = planes, plane
    fill(p.h, shift)
    fill(p.r, scale)
    bound = _elementwise_bound(kind, node, shift, scale)
    p.post, p.npost, p.out_type = build_posts(keep, ffi, post_ops, fill, node.output_types[0].dtype,
                                              input_bound=bound)
    p.threads = threads
    return p


#: r8_post types (r8simd_api.h): the reciprocal Quantize onto an integer grid
_RECIPROCAL_QUANTIZE = 8


def _quantizes_floats(p: Any) -> bool:
    """Whether r8_elt p is a FakeQuantize of float32 onto codes that elt_quantize_f32 runs: kind
    0 on a float32 input viewed as one plane, its one post-op a reciprocal Quantize whose operands
    are single values, stored as codes (u8 or i8) in range (out_type bit 2)."""
    if p.kind != 0 or p.in0_type != 0 or p.planes != 1 or p.npost != 1:
        return False
    post = p.post[0]
    scalar = all(post.a[k].s_outer == 0 and post.a[k].s_inner == 0 and post.a[k].step == 0 for k in range(7))
    return post.type == _RECIPROCAL_QUANTIZE and scalar and p.out_type & 3 in (1, 2) and bool(p.out_type & 4)


def _all_scalar(operands: Sequence[Any], post_ops: Sequence[Any]) -> bool:
    """Whether every operand of the layer's step and of its post-ops is a single value."""
    arrays = list(operands)
    for op in post_ops:
        arrays += [getattr(op, name) for name in ("operand", "input_low", "input_high", "output_low",
                                                  "output_high") if hasattr(op, name)]
    return all(np.size(a) == 1 for a in arrays)


class ElementwisePlan(Reused):
    """Int8Add, Int8Multiply, Dequantize and FakeQuantize (constant ranges) as one C kernel.

    The output is viewed as ``[planes][plane]`` (``planes = N*C`` for rank >= 3 with an operand
    that is not one value, else 1: the kernel resolves operands per plane, which costs as much as
    the arithmetic on planes of a few elements, as after a global pooling); an operand constant
    over a plane is a per-plane table, any other a full table.
    """

    takes_all_inputs = True   # run(inputs), not run(first input)

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, kind: int,
                 shift: Any, scale: Any, post_ops: Sequence[Any], threads: int) -> None:
        _, vl, _, suffix = VARIANTS[variant]
        out_type = node.output_types[0]
        shape = out_type.shape
        self.out_shape, self.out_dtype = shape, out_type.dtype
        self.vl = vl
        size = int(np.prod(shape, dtype=np.int64))
        if len(shape) >= 3 and not _all_scalar([shift, scale], post_ops):
            planes, plane = shape[0] * shape[1], size // max(shape[0] * shape[1], 1)
        else:
            planes, plane = 1, size
        self.planes, self.plane = planes, plane
        self.ppad = round_up(max(plane, 1), 4 * vl)
        keep = Keep(ffi)
        self.keep = keep
        self.params = elementwise_struct(keep, ffi, node, kind, shift, scale, post_ops, self._fill_operand,
                                         planes, plane, threads)
        self.function = getattr(lib, f"r8_elt_{suffix}")
        if vl == 16:
            table = self._requantization_table(ffi, self.params, planes)
            if table is not None:
                prove_without_check(ffi, self.function, self.params, table, node)
                self.params.rq = keep.ptr("float *", table)
            self.params.quantize_f32 = int(self.params.rq == ffi.NULL and _quantizes_floats(self.params))
        self.binary = kind != 0
        self.lock = threading.Lock()
        self.ffi = ffi
        self.size = size

    @property
    def requantizes(self) -> bool:
        """Whether the kernel runs the requantization chain on codes (r8_elt.rq, elt_rq)."""
        return self.params.rq != self.ffi.NULL

    @staticmethod
    def _requantization_table(ffi: Any, p: Any, planes: int) -> np.ndarray | None:
        """The rows of r8_elt.rq (r8simd_elt.h elt_rq, every AVX-512 build, AMX's included)
        where both inputs are codes, h and r are constant over each plane and the post-ops are
        exactly Multiply, reciprocal Quantize with such operands, stored as they are: with each
        plane's folded chain (fold_fields) and field 15 at 0 (the check kept;
        exhaustive.prove_without_check may set it); else None."""
        if p.in0_type not in (1, 2) or (p.kind and p.in1_type not in (1, 2)):
            return None
        step = [plane_values(ffi, p.h, planes), plane_values(ffi, p.r, planes)]
        table = requantization_fields(ffi, p.post, p.npost, p.out_type, planes, (0, 8),
                                      MULTIPLY_QUANTIZE_FIELDS)
        if table is None or step[0] is None or step[1] is None:
            return None
        fields = np.column_stack([step[0], step[1], table]).astype(np.float32)
        codes = {1: (0.0, 255.0), 2: (-128.0, 127.0)}
        steps = float(p.post[p.npost - 1].steps)
        folded = fold_fields(p.kind, fields, codes[p.in0_type], codes.get(p.in1_type, (0.0, 0.0)), steps)
        unproven = np.zeros((len(fields), 1))
        return np.column_stack([fields, folded, saturating(folded, fields, steps), unproven]).astype(np.float32)

    def _fill_operand(self, struct: Any, operand: Any) -> None:
        a = np.asarray(operand, np.float32)
        if a.size == 1:
            scalar_operand(self.keep, struct, a.reshape(()))
            return
        shape = self.out_shape
        if a.ndim > len(shape):
            a = a.reshape(a.shape[a.ndim - len(shape):])
        aligned = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
        if self.planes > 1 and all(d == 1 for d in aligned.shape[2:]):
            values = np.broadcast_to(aligned.reshape(aligned.shape[:2]), shape[:2]).reshape(-1, 1)
            struct.data = self.keep.ptr("float *", np.repeat(values, LANES, axis=1))
            struct.s_outer, struct.s_inner, struct.step = LANES, 0, 0
            return
        table = np.zeros((self.planes, self.ppad), np.float32)
        table[:, :self.plane] = np.broadcast_to(aligned, shape).reshape(self.planes, self.plane)
        struct.data = self.keep.ptr("float *", table)
        struct.s_outer, struct.s_inner, struct.step = self.ppad, 1, self.vl

    def run(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        self.check_alone()
        ffi = self.ffi
        x0 = np.ascontiguousarray(inputs[0])
        x1 = np.ascontiguousarray(inputs[1]) if self.binary else x0
        if not self.size:
            return np.empty(self.out_shape, self.out_dtype)
        with self.lock:
            out = self.output()
            nan = self.function(self.params, ffi.from_buffer(x0), ffi.from_buffer(x1), ffi.from_buffer(out))
        if nan:
            raise InputError(NAN_MESSAGE)
        return out

    def c_call(self) -> CCall | None:
        return (CCall((0, 1)) if self.binary else CCall((0, 0))) if self.size else None

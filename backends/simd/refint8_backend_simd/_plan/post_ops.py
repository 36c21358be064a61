"""Post-op tables: refint8.int8.post_ops chains as the C kernels' r8_post arrays, with the exact
shortcuts each proven where it is decided."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from refint8.int8 import post_ops as post

from .common import Keep, scalar_operand

_POST_TYPES = {post.Multiply: 0, post.Add: 1, post.Subtract: 2, post.Relu: 3, post.Clamp: 4,
               post.FakeQuantize: 5, post.Quantize: 6}
_OUT_TYPES = {np.dtype(np.float32): 0, np.dtype(np.uint8): 1, np.dtype(np.int8): 2}


class _OperandTables:
    """Turns post-op operands (arrays broadcasting to the output) into C operand descriptors."""

    def __init__(self, keep: Keep, fill: Any) -> None:
        self.keep = keep
        self.fill = fill   # fill(operand_struct, float32 array broadcastable to the output)

    def scalar(self, struct: Any, value: float) -> None:
        scalar_operand(self.keep, struct, value)


def _fq_operands(op: post.FakeQuantize) -> list[np.ndarray]:
    """il, ih - il, ol, oh - ol, oh, min(il, ih), max(il, ih): float32, as refint8.fake_quantize."""
    il, ih, ol, oh = (np.asarray(a, np.float32) for a in
                      (op.input_low, op.input_high, op.output_low, op.output_high))
    with np.errstate(all="ignore"):
        di = ih - il
        do = oh - ol
    lo = np.where(ih < il, ih, il).astype(np.float32)
    hi = np.where(il < ih, ih, il).astype(np.float32)
    return [il, di, ol, do, oh, lo, hi]


def _integer_grid(operands: list[np.ndarray], steps: np.float32) -> bool:
    """Whether a Quantize may use the integer-grid form of its formula branch (C post type 7).

    The reference computes ``c = rint(fl(fl(fl(q / s) * (oh - ol)) + ol))`` for an integer level
    ``q`` with ``|q| <= s``. If ``oh - ol == s <= 255`` (as float32) and ``ol`` is an integer with
    ``|ol| <= 255``, then ``|fl(fl(q/s)*s) - q| <= 255 * 2^-23`` and the final sum is within
    ``255 * 2^-23 + 511 * 2^-24 < 1e-4`` of the integer ``q + ol``, so ``c == q + ol`` exactly:
    the second division, multiplication and the round trip can be skipped without changing a bit.
    The selections (``ol`` below, ``oh`` above) and the NaN check are unchanged.
    """
    _, _, ol, do, _, _, _ = operands
    if steps > 255:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(do == steps) and np.all(np.isfinite(ol)) and np.all(np.abs(ol) <= 255)
                    and np.all(np.rint(ol) == ol))


def _reciprocal(operands: list[np.ndarray], steps: np.float32) -> np.ndarray | None:
    """``steps / (ih - il)`` as float32 if a grid Quantize may use it (C post type 8), else None.

    Type 8 computes ``c = min(steps, max(0, fl(fl(x - il) * m)))`` with ``m = fl(steps / (ih - il))``
    instead of the reference's ``t = fl(fl(fl(x - il) / (ih - il)) * steps)``. With ``ih - il > 0``
    finite and ``m`` a finite normal number, where ``il < x <= ih`` we have ``0 <= fl(x - il) <= ih - il``
    (rounding is monotone), so both are within ``2u·steps`` of the exact ``(x - il)·steps/(ih - il)``
    (u = 2^-24) and ``|c - t| <= 4u·steps``; above ``ih`` both round to ``steps``, at or below ``il``
    both to 0 (the reference's selections give ``oh = ol + steps`` and ``ol`` there). So
    ``rint(c) == rint(t)`` whenever ``c`` is farther than ``8u·steps`` from a midpoint, which the
    kernel checks per lane, recomputing the rare near-midpoint groups with the division.
    """
    il, di, _, _, _, _, _ = operands
    with np.errstate(all="ignore"):
        if not (np.all(np.isfinite(il)) and np.all(np.isfinite(di)) and np.all(di > 0)):
            return None
        m = (np.float64(steps) / di.astype(np.float64)).astype(np.float32)
        if not (np.all(np.isfinite(m)) and np.all(m >= np.finfo(np.float32).tiny)):
            return None
    return m


#: the integer codes of each output dtype
_CODE_RANGE = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127)}


def _relu_is_redundant(post_ops: Sequence[Any], index: int) -> bool:
    """Whether the Relu at ``index`` may be skipped: the next op is a (Fake)Quantize whose
    ``min(il, ih) >= 0`` everywhere. Relu maps y <= 0 to +0 and keeps y > 0 and NaN; every y <= 0
    and +0 are then both ``<= min(il, ih)``, which the FakeQuantize maps to ``ol`` alike."""
    if index + 1 >= len(post_ops) or not isinstance(post_ops[index + 1], post.FakeQuantize):
        return False
    lo = _fq_operands(post_ops[index + 1])[5]
    with np.errstate(invalid="ignore"):
        return bool(np.all(lo >= 0))


def _finite_bound(post_ops: Sequence[Any], bound: float) -> float | None:
    """A bound on ``|y|`` after ``post_ops`` (before a final Quantize) for inputs ``|y| <= bound``, or
    None when inf or NaN cannot be ruled out. Each step bounds one float32 operation with margin:
    ``|y * a| <= B·max|a|``, ``|y ± a| <= B + max|a|``, Relu keeps B, Clamp gives ``max(|lo|, |hi|)``."""
    slack = 1.0 + 2.0 ** -20
    for op in post_ops:
        if isinstance(op, post.FakeQuantize):
            return bound if op is post_ops[-1] else None
        if isinstance(op, (post.Multiply, post.Add, post.Subtract)):
            a = np.abs(np.asarray(op.operand, np.float64))
            if a.size and not np.all(np.isfinite(a)):
                return None
            top = float(a.max()) if a.size else 0.0
            bound = bound * top * slack if isinstance(op, post.Multiply) else (bound + top) * slack
        elif isinstance(op, post.Clamp):
            bound = min(bound, max(abs(float(op.low)), abs(float(op.high))))
        if not bound < 1e38:
            return None
    return bound


def build_posts(keep: Keep, ffi: Any, post_ops: Sequence[Any], fill: Any,
                out_dtype: Any, input_bound: float | None = None) -> tuple[Any, int, int]:
    """The C post-op table of ``post_ops`` and the kernel's ``out_type`` (r8simd_post.h store_result).

    ``input_bound``: a bound on the magnitude of the values entering the post-ops (the int32
    accumulators of a convolution or matmul), None if they may be anything (float32 inputs).

    Exact shortcuts (each proven where it is decided): a Relu right before a FakeQuantize whose
    range starts at or above 0 is dropped; a grid Quantize (type 7) uses the reciprocal (type 8)
    when it may; when the last op is a grid Quantize whose output range lies inside the output
    dtype's codes, the stores skip the final round and clamp (out_type bit 2: the values are already
    integers in range, or NaN); and when no NaN can reach the Quantize (finite inputs and operands
    that cannot overflow to inf), the NaN count is skipped too (bit 3).
    """
    ops = [op for i, op in enumerate(post_ops)
           if not (isinstance(op, post.Relu) and _relu_is_redundant(post_ops, i))]
    count = len(ops)
    structs = ffi.new("r8_post[]", max(count, 1))
    keep.objects.append(structs)
    tables = _OperandTables(keep, fill)
    out_dtype = np.dtype(out_dtype)
    out_type = _OUT_TYPES[out_dtype]
    for i, op in enumerate(ops):
        s = structs[i]
        s.type = _POST_TYPES[type(op)]
        s.steps = 0.0
        if isinstance(op, (post.Multiply, post.Add, post.Subtract)):
            fill(s.a[0], op.operand)
        elif isinstance(op, post.Clamp):
            tables.scalar(s.a[0], np.float32(op.low))
            tables.scalar(s.a[1], np.float32(op.high))
        elif isinstance(op, post.FakeQuantize):
            s.steps = float(np.float32(op.levels - 1))
            operands = _fq_operands(op)
            if isinstance(op, post.Quantize) and _integer_grid(operands, np.float32(op.levels - 1)):
                s.type = 7
                m = _reciprocal(operands, np.float32(op.levels - 1))
                if m is not None:
                    s.type = 8
                    operands[3] = m      # a[3] (oh - ol == steps) is not read by type 7 or 8
                low, high = _CODE_RANGE[out_dtype]
                if i == count - 1 and np.min(operands[2]) >= low and np.max(operands[4]) <= high:
                    out_type |= 4
                    if input_bound is not None and _finite_bound(ops, input_bound) is not None:
                        out_type |= 8
            for k, array in enumerate(operands):
                fill(s.a[k], array)
    return structs, count, out_type

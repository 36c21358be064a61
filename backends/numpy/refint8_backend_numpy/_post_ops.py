"""Compiled post-op chains, bit-identical to ``refint8.int8.post_ops.apply_post_ops``.

The reference applies each post-op as one float32 NumPy operation on a fresh array. Here each
post-op becomes an in-place operation on a float32 work buffer, with its operands padded to the
output rank once (and sliced per block when a layer processes its output in blocks). Per element
the float32 operations and their order are the reference's, so the results are identical; the
only rewrites are the ones proved below.

``Relu``: ``y = max(y, 0) + 0.0``. NumPy's ``maximum`` propagates NaN, and returns either zero for
``max(-0.0, 0.0)``; adding ``+0.0`` turns ``-0.0`` into ``+0.0`` (IEEE: ``-0 + +0 = +0`` when
rounding to nearest) and leaves every other value (NaN included) unchanged. The reference gives
``+0.0`` for ``y <= 0`` and keeps NaN: same bits.

``Clamp``: the reference's own comparisons, ``lo if y < lo, hi if y > hi, else y`` (not
``minimum(maximum(y, lo), hi)``: NumPy's ``maximum(+0.0, -0.0)`` is ``-0.0``, where the reference
keeps ``+0.0``, which is not below ``lo = -0.0``).

``FakeQuantize`` (float32 output): the reference's formula step by step; the constants
``ih - il``, ``oh - ol``, ``min(il, ih)``, ``max(il, ih)`` are computed once with the same float32
operations.

``Quantize`` (integer codes), fast path when every range value is finite, ``il < ih`` and the
code table passes the checks below. With ``x' = clip(x, il, ih)``::

    q    = rint(((x' - il) / (ih - il)) * (levels - 1))     the reference's float32 operations
    code = TABLE[q],  TABLE[j] = sat(rint(((j / (levels-1)) * (oh - ol)) + ol))   for j = 0..levels-1

Proof, for non-NaN x: inside ``[il, ih]`` the clip is the identity and ``q`` is the reference's
``q``; every float32 operation is monotone, so ``0 <= x' - il <= ih - il`` gives ``q`` an integer
in ``[0, levels-1]``, and the reference's code is ``sat(rint(y(q)))`` = ``TABLE[q]`` (same float32
operations, evaluated at compile time for every possible ``q``). Below ``il`` (and at ``il``) the
reference gives ``sat(rint(ol))``; here ``x' = il`` so ``q = 0`` and ``TABLE[0]`` — checked equal
at compile time. Above ``ih`` the reference gives ``sat(rint(oh))``; here ``x' = ih`` so
``q = rint(1 * (levels-1)) = levels-1`` and ``TABLE[levels-1]`` — checked equal at compile time
(else the generic path is used). When ``TABLE[j] = j + offset`` (u8 [0, 255] with 256 levels,
i8 [-128, 127], ...) the lookup is an exact float32 addition of a small integer and a cast.

A ``Relu`` right before such a Quantize with ``il >= 0`` is skipped: for non-NaN ``y``,
``clip(max(y, 0), il, ih) = clip(y, il, ih)`` when ``il >= 0``, and NaN stays NaN either way.

NaN: the reference raises InputError when a Quantize sees NaN. The check costs a pass, so it is
skipped when the chain provably cannot produce NaN: the caller gives a bound on ``|y|`` at the
input of the chain (for an int8 layer, its accumulator bound), each step's bound is propagated
(with a float32 rounding factor), and if every operand is finite and every bound stays below
``FLT_MAX / 4`` no operation can overflow to inf, so no NaN (``inf - inf``, ``0 * inf``,
``0 / 0``) can arise from a finite input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

import numpy as np

from refint8 import dtypes
from refint8.errors import InputError
from refint8.int8 import post_ops as ref

from ._common import F32_MAX, block_operand, left_pad

NAN_MESSAGE = ("refint8: NaN reached a quantizing FakeQuantize (integer output); "
               "int8 codes cannot represent NaN")
_SAFE = F32_MAX / 4
_ROUND = 1.0 + 2.0**-22


def _max_abs(array: np.ndarray) -> float:
    if array.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        value = float(np.max(np.abs(array.astype(np.float64))))
    return value if np.isfinite(value) else float("inf")


class _Step(ABC):
    """One compiled post-op. ``operands`` are padded to the output rank; ``bind`` slices them."""

    operands: tuple[np.ndarray, ...] = ()

    @abstractmethod
    def bind(self, index: Sequence[Any]) -> Callable[[np.ndarray], np.ndarray]:
        """The in-place step for the output block ``index``."""


class _Arith(_Step):
    def __init__(self, ufunc: np.ufunc, operand: np.ndarray) -> None:
        self.ufunc = ufunc
        self.operands = (operand,)

    def bind(self, index):
        ufunc = self.ufunc
        c = block_operand(self.operands[0], index)
        if c.size == 1:
            c = c.reshape(()).astype(np.float32)[()]    # a float32 scalar: same float32 operation

        def run(y, out=None):
            ufunc(y, c, out=y)
            return y
        return run


class _Relu(_Step):
    def bind(self, index):
        zero = np.float32(0.0)

        def run(y, out=None):
            np.maximum(y, zero, out=y)
            np.add(y, zero, out=y)                       # -0.0 -> +0.0, nothing else changes
            return y
        return run


class _Clamp(_Step):
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = np.float32(low), np.float32(high)

    def bind(self, index):
        low, high = self.low, self.high

        def run(y, out=None):
            return np.where(y < low, low, np.where(y > high, high, y))   # the reference's comparisons
        return run


class _FakeQuantize(_Step):
    """FakeQuantize with float32 output (``codes=None``) or the generic Quantize path."""

    def __init__(self, op: ref.FakeQuantize, rank: int, codes: np.dtype | None) -> None:
        il, ih, ol, oh = (left_pad(np.asarray(a, np.float32), rank) for a in
                          (op.input_low, op.input_high, op.output_low, op.output_high))
        with np.errstate(over="ignore", invalid="ignore"):
            low = np.where(ih < il, ih, il)             # std::min
            high = np.where(il < ih, ih, il)            # std::max
            in_range = ih - il
            out_range = oh - ol
        self.steps = np.float32(op.levels - 1)
        self.codes = codes
        self.operands = (il, in_range, ol, out_range, oh, low, high)

    def bind(self, index):
        il, in_range, ol, out_range, oh, low, high = (block_operand(a, index) for a in self.operands)
        steps, codes = self.steps, self.codes
        info = np.iinfo(codes) if codes is not None else None

        def run(y, out=None):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                below = y <= low
                above = y > high
                t = np.asarray(np.subtract(y, il, dtype=np.float32))   # 0-d stays an array
                np.divide(t, in_range, out=t)
                np.multiply(t, steps, out=t)
                np.rint(t, out=t)
                np.divide(t, steps, out=t)
                np.multiply(t, out_range, out=t)
                np.add(t, ol, out=t)
                t = np.asarray(t, np.float32)
                np.copyto(t, np.broadcast_to(oh, t.shape), where=above)
                np.copyto(t, np.broadcast_to(ol, t.shape), where=below)
            if codes is None:
                return t
            if np.isnan(t).any():
                raise InputError(NAN_MESSAGE)
            np.rint(t, out=t)
            np.clip(t, info.min, info.max, out=t)
            return _cast(t, codes, out)
        return run


class _FastQuantize(_Step):
    """The table-lookup Quantize of the module docstring."""

    def __init__(self, il, ih, in_range, steps, codes, check_nan: bool, offset=None, table=None) -> None:
        self.operands = (il, ih, in_range)
        self.steps = steps            # float32 levels - 1
        self.codes = codes
        self.check_nan = check_nan
        self.offset = offset          # float32 scalar: code = q + offset, or None
        self.table = table            # a _Table when the codes are not q + offset

    def bind(self, index):
        il, ih, in_range = (block_operand(a, index) for a in self.operands)
        codes, offset, check_nan, steps = self.codes, self.offset, self.check_nan, self.steps
        lookup = self.table.bind(index) if self.table is not None else None
        il_zero = not il.any()

        def run(y, out=None):
            if check_nan and np.isnan(y).any():
                raise InputError(NAN_MESSAGE)
            np.clip(y, il, ih, out=y)
            if not il_zero:
                np.subtract(y, il, out=y)
            np.divide(y, in_range, out=y)
            np.multiply(y, steps, out=y)
            np.rint(y, out=y)                                      # q, an integer in [0, levels-1]
            if lookup is not None:
                result = lookup(y)
                if out is not None:
                    out[...] = result
                    return out
                return result
            if offset == -128 and codes == np.int8:
                # q in [0, 255] as u8, then q - 128 as i8 is q XOR 0x80 (two's complement)
                result = out if out is not None else np.empty(y.shape, np.int8)
                bits = result.view(np.uint8)
                np.copyto(bits, y, casting="unsafe")
                np.bitwise_xor(bits, np.uint8(0x80), out=bits)
                return result
            if offset:
                np.add(y, offset, out=y)                           # exact: small integers
            return _cast(y, codes, out)
        return run


def _cast(y: np.ndarray, codes: np.dtype, out: np.ndarray | None) -> np.ndarray:
    """``y`` (integral float32 values within the code range) as ``codes``, into ``out`` if given."""
    if out is None:
        return y.astype(codes)
    np.copyto(out, y, casting="unsafe")
    return out


class _Table:
    """A per-position code table ``[*S, levels]`` (S broadcastable to the output) for lookups."""

    def __init__(self, codes: np.ndarray, rank: int) -> None:
        self.codes = codes                                  # [*S, L], S padded to rank
        self.levels = codes.shape[-1]
        shape = codes.shape[:-1]
        self.base = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape) * self.levels

    def bind(self, index) -> Callable[[np.ndarray], np.ndarray]:
        flat = self.codes.reshape(-1)
        base = block_operand(self.base, index)              # first entry of each position's table

        def lookup(q: np.ndarray) -> np.ndarray:
            idx = q.astype(np.intp)
            idx += base
            return flat[idx]
        return lookup


def _fast_quantize(op: ref.Quantize, rank: int, check_nan: bool) -> _FastQuantize | None:
    """A _FastQuantize for ``op`` if its conditions hold (module docstring), else None."""
    il, ih, ol, oh = (left_pad(np.asarray(a, np.float32), rank) for a in
                      (op.input_low, op.input_high, op.output_low, op.output_high))
    ranges = (il, ih, ol, oh)
    if not all(np.isfinite(a).all() and _max_abs(a) < _SAFE for a in ranges):
        return None
    if not np.all(il < ih):
        return None
    codes = dtypes.element_type(op.element_type)
    info = np.iinfo(codes)
    steps = np.float32(op.levels - 1)
    shape = np.broadcast_shapes(ol.shape, oh.shape)
    olb, ohb = np.broadcast_to(ol, shape)[..., None], np.broadcast_to(oh, shape)[..., None]
    j = np.arange(op.levels, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        y = ((j / steps) * (ohb - olb)) + olb                       # the reference's float32 ops
        table = np.clip(np.rint(y), info.min, info.max)              # [*S, levels], float32 codes
        code_ol = np.clip(np.rint(olb[..., 0]), info.min, info.max)
        code_oh = np.clip(np.rint(ohb[..., 0]), info.min, info.max)
    if not (np.array_equal(table[..., 0], code_ol) and np.array_equal(table[..., -1], code_oh)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        in_range = ih - il
    if not (np.isfinite(in_range).all() and np.all(in_range > 0)):
        return None
    offsets = table - j
    offset = offsets.reshape(-1)[0]
    if np.all(offsets == offset):
        return _FastQuantize(il, ih, in_range, steps, codes, check_nan, offset=np.float32(offset))
    return _FastQuantize(il, ih, in_range, steps, codes, check_nan,
                         table=_Table(table.astype(codes), rank))


class _PositiveZero(_Step):
    """``y + 0.0``: turns ``-0.0`` into ``+0.0`` and changes nothing else."""

    def bind(self, index):
        zero = np.float32(0.0)

        def run(y, out=None):
            np.add(y, zero, out=y)
            return y
        return run


def zero_sign_matters(post_ops: Sequence[Any]) -> bool:
    """Whether the result of ``post_ops`` can depend on the sign of a zero input.

    A float GEMM on integer values may return ``-0.0`` where the exact integer accumulator is 0
    (a sum of products like ``-1 * 0``), while the reference converts the integer 0 to ``+0.0``.
    The difference vanishes at the first post-op that maps both zeros to the same value: an Add or
    Subtract of nonzero operands (``±0 + c = c``), Relu (both give ``+0.0``), a Quantize (integer
    codes have no signed zero). Multiply keeps it; Clamp and a float FakeQuantize are treated
    conservatively as keeping it; so does the end of the chain.
    """
    for op in post_ops:
        if isinstance(op, ref.Multiply):
            continue
        if isinstance(op, (ref.Add, ref.Subtract)):
            operand = np.asarray(op.operand)
            if np.all(operand != 0) and np.isfinite(operand).all():
                return False
            continue
        if isinstance(op, (ref.Relu, ref.Quantize)):
            return False
        return True
    return True


class PostOpChain:
    """``post_ops`` compiled for an output of ``out_shape``.

    ``input_bound``: a bound on ``|y|`` of the float32 values the chain receives (None: unknown,
    NaN possible). ``signed_zero_input``: the input may hold ``-0.0`` where the reference has
    ``+0.0`` (a float GEMM standing for an integer accumulator); a ``+0.0`` pass is added first
    unless the chain makes the sign irrelevant (:func:`zero_sign_matters`).
    ``bind(index)`` returns ``run(y) -> result`` for the block ``output[index]``
    (``index`` = () for the whole output): ``y`` is a float32 work array of that block's shape,
    modified in place; the result is float32 (possibly ``y`` itself) or the integer codes.
    """

    def __init__(self, post_ops: Sequence[Any], out_shape: Sequence[int], input_bound: float | None,
                 *, signed_zero_input: bool = False) -> None:
        rank = len(out_shape)
        self.out_dtype = ref.output_dtype(post_ops)
        steps: list[_Step] = []
        # ``bound`` bounds |y| after each step while ``maybe_nan`` is False. ``maybe_nan`` becomes
        # True (and stays so until a Quantize, which checks) as soon as a value might overflow
        # to inf or an operand is not finite: from then on inf - inf, 0 * inf could give NaN.
        maybe_nan = input_bound is None or not input_bound < _SAFE
        bound = 0.0 if maybe_nan else float(input_bound)
        for op in post_ops:
            if isinstance(op, (ref.Multiply, ref.Add, ref.Subtract)):
                operand = left_pad(np.asarray(op.operand, np.float32), rank)
                ufunc = {ref.Multiply: np.multiply, ref.Add: np.add, ref.Subtract: np.subtract}[type(op)]
                steps.append(_Arith(ufunc, operand))
                c = _max_abs(operand)
                bound = bound * c * _ROUND if ufunc is np.multiply else (bound + c) * _ROUND
            elif isinstance(op, ref.Relu):
                steps.append(_Relu())
            elif isinstance(op, ref.Clamp):
                steps.append(_Clamp(op.low, op.high))
                bound = max(bound, abs(float(np.float32(op.low))), abs(float(np.float32(op.high))))
            elif isinstance(op, ref.Quantize):
                fast = _fast_quantize(op, rank, check_nan=maybe_nan)
                if fast is None:
                    steps.append(_FakeQuantize(op, rank, dtypes.element_type(op.element_type)))
                else:
                    if steps and isinstance(steps[-1], _Relu) and np.all(fast.operands[0] >= 0):
                        steps.pop()                                   # subsumed by the clip
                    steps.append(fast)
                maybe_nan, bound = False, 256.0                       # codes (NaN raised)
            elif isinstance(op, ref.FakeQuantize):
                steps.append(_FakeQuantize(op, rank, None))
                ranges = [np.asarray(a, np.float32) for a in
                          (op.input_low, op.input_high, op.output_low, op.output_high)]
                # finite ranges map finite inputs to finite outputs (0/0 only at x == il == ih,
                # where the "below" selection replaces the formula)
                if all(np.isfinite(r).all() and _max_abs(r) < _SAFE for r in ranges):
                    bound = 4.0 * max(_max_abs(r) for r in ranges[2:]) + 1.0
                else:
                    maybe_nan = True
            else:
                raise TypeError(f"unknown post-op {op!r}")
            if not bound < _SAFE:                                     # also catches NaN, inf
                maybe_nan = True
            if maybe_nan:
                bound = 0.0   # irrelevant until a Quantize resets it
        if signed_zero_input and zero_sign_matters(post_ops):
            steps.insert(0, _PositiveZero())
        self.steps = steps
        self.rank = rank

    def bind(self, index: Sequence[Any] = ()) -> Callable[..., np.ndarray]:
        """``run(y, out=None) -> result`` for the block ``output[index]``; with ``out`` (an array of
        the result's type and shape) the result is written there (and ``out`` returned)."""
        index = tuple(index) + (slice(None),) * (self.rank - len(index))
        runs = [step.bind(index) for step in self.steps]
        *body, last = runs or [lambda y, out=None: y]

        def run(y, out=None):
            with np.errstate(over="ignore", invalid="ignore"):
                for step in body:
                    y = step(y)
                y = last(y, out)
            if out is not None and y is not out:
                out[...] = y
                return out
            return y
        return run

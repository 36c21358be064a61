"""Post-operations: the float32 tail every int8 layer applies to its integer result.

An int8 layer (Int8Convolution, Int8MatMul, Int8Add, ...) first computes an exact integer (or a
float built from integers, see each layer), converts it to float32, then applies its post-ops in
order. Each post-op is ONE float32 operation per element (FakeQuantize is its own pinned sequence),
so the evaluation order is fixed and another implementation can match it bit for bit. In C this
means: no FMA contraction (``-ffp-contract=off``), no reassociation, IEEE float32 throughout.

Post-ops, applied to ``y`` (float32, the layer's output shape):

=====================  =======================================================================
``Multiply(c)``        ``y = y * c``        (c: float32, broadcast to y; per-channel scales)
``Add(c)``             ``y = y + c``        (bias, or a moved dequantization shift)
``Subtract(c)``        ``y = y - c``
``Relu()``             ``y = y if y > 0 else 0``   (NaN stays NaN)
``Clamp(lo, hi)``      ``y = lo if y < lo, hi if y > hi, else y`` (lo, hi float32)
``FakeQuantize(...)``  refint8.fake_quantize(y, il, ih, ol, oh, levels), float32 result
``Quantize(...)``      FakeQuantize as above, then round half to even and saturate to u8/i8;
                       must be the last post-op: the layer then outputs integer codes
=====================  =======================================================================

The operand ``c`` of Multiply/Add/Subtract and the ranges of (Fake)Quantize are float32 arrays
shaped to broadcast against the output without changing its shape: a scalar, or per channel
``[1, C, 1, 1]`` for NCHW outputs, ``[1, N]``/``[N]`` along the last axis for FullyConnected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from .. import dtypes
from ..errors import InputError
from ..ops.clamp import clamp
from ..ops.fake_quantize import fake_quantize, to_integer_codes


def _f32(value: object) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Multiply:
    operand: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "operand", _f32(self.operand))

    def apply(self, y: np.ndarray) -> np.ndarray:
        return y * self.operand


@dataclass(frozen=True, eq=False)
class Add:
    operand: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "operand", _f32(self.operand))

    def apply(self, y: np.ndarray) -> np.ndarray:
        return y + self.operand


@dataclass(frozen=True, eq=False)
class Subtract:
    operand: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "operand", _f32(self.operand))

    def apply(self, y: np.ndarray) -> np.ndarray:
        return y - self.operand


@dataclass(frozen=True)
class Relu:
    def apply(self, y: np.ndarray) -> np.ndarray:
        return np.where(y > 0, y, np.where(np.isnan(y), y, np.float32(0)))


@dataclass(frozen=True)
class Clamp:
    """``lo if y < lo, hi if y > hi, else y``: exactly refint8.ops.clamp (NaN stays NaN, -0.0 stays
    -0.0 with lo = 0.0), not ``min(max(y, lo), hi)``, whose signed-zero result varies by library."""

    low: float
    high: float

    def apply(self, y: np.ndarray) -> np.ndarray:
        return clamp(y, self.low, self.high)


@dataclass(frozen=True, eq=False)
class FakeQuantize:
    input_low: np.ndarray
    input_high: np.ndarray
    output_low: np.ndarray
    output_high: np.ndarray
    levels: int

    def __post_init__(self) -> None:
        for name in ("input_low", "input_high", "output_low", "output_high"):
            object.__setattr__(self, name, _f32(getattr(self, name)))

    def apply(self, y: np.ndarray) -> np.ndarray:
        return fake_quantize(y, self.input_low, self.input_high, self.output_low,
                             self.output_high, self.levels)


@dataclass(frozen=True, eq=False)
class Quantize(FakeQuantize):
    """FakeQuantize onto an integer output range, then integer codes of ``element_type``."""

    element_type: str = "u8"

    def apply(self, y: np.ndarray) -> np.ndarray:
        return to_integer_codes(super().apply(y), dtypes.element_type(self.element_type))


PostOp = Union[Multiply, Add, Subtract, Relu, Clamp, FakeQuantize, Quantize]


def output_dtype(post_ops: Sequence[PostOp]) -> np.dtype:
    """float32, or the integer type of a final Quantize."""
    if post_ops and isinstance(post_ops[-1], Quantize):
        return dtypes.element_type(post_ops[-1].element_type)
    return dtypes.F32


def check_post_ops(post_ops: Sequence[PostOp], output_shape: tuple[int, ...]) -> str | None:
    """Why ``post_ops`` are invalid for an output of ``output_shape`` (None if they are valid)."""
    if not isinstance(post_ops, (list, tuple)):
        return f"must be a list or tuple of post-ops, got {type(post_ops).__name__}"
    for position, op in enumerate(post_ops):
        if not isinstance(op, (Multiply, Add, Subtract, Relu, Clamp, FakeQuantize)):
            return f"post-op {position} is a {type(op).__name__}, not a post-op of refint8.int8.post_ops"
        if isinstance(op, Quantize) and position != len(post_ops) - 1:
            return f"post-op {position} (Quantize) must be the last post-op"
        operands = []
        if isinstance(op, (Multiply, Add, Subtract)):
            operands = [op.operand]
        elif isinstance(op, FakeQuantize):
            operands = [op.input_low, op.input_high, op.output_low, op.output_high]
        for operand in operands:
            try:
                shape = np.broadcast_shapes(operand.shape, output_shape)
            except ValueError:
                shape = None
            if shape != tuple(output_shape):
                return (f"post-op {position} ({type(op).__name__}) operand of shape "
                        f"{list(operand.shape)} does not broadcast to the output {list(output_shape)}")
    return None


def apply_post_ops(y: np.ndarray, post_ops: Sequence[PostOp]) -> np.ndarray:
    """Apply ``post_ops`` in order to the float32 array ``y``."""
    if y.dtype != np.float32:
        raise InputError(f"refint8: post-ops apply to float32, got {y.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        for op in post_ops:
            y = op.apply(y)
    return y


def describe(post_ops: Sequence[PostOp]) -> str:
    """A one-line description, e.g. ``Multiply[64] -> Add[64] -> Relu -> Quantize(u8, 256)``."""
    parts = []
    for op in post_ops:
        name = type(op).__name__
        if isinstance(op, (Multiply, Add, Subtract)):
            parts.append(f"{name}{list(op.operand.shape)}")
        elif isinstance(op, Clamp):
            parts.append(f"Clamp({op.low:g}, {op.high:g})")
        elif isinstance(op, Quantize):
            parts.append(f"Quantize({op.element_type}, {op.levels})")
        elif isinstance(op, FakeQuantize):
            parts.append(f"FakeQuantize({op.levels})")
        else:
            parts.append(name)
    return " -> ".join(parts) or "(none)"

"""Small shared helpers: constant inputs, scratch buffers, float32 facts."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from refint8.graph import Node

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)

#: Every integer of magnitude <= 2^24 is exactly representable in float32 (24-bit significand).
F32_EXACT_INT = float(2**24)
#: Every integer of magnitude <= 2^53 is exactly representable in float64.
F64_EXACT_INT = float(2**53)
#: Largest finite float32.
F32_MAX = float(np.finfo(np.float32).max)


def constant_input(node: Node, index: int) -> np.ndarray | None:
    """The value of input ``index`` if a ``Constant`` node produces it, else ``None``."""
    if index >= len(node.inputs):
        return None
    return node.inputs[index].node.constant_value()


def input_shape(node: Node, index: int = 0) -> tuple[int, ...]:
    return tuple(node.inputs[index].shape)


def input_dtype(node: Node, index: int = 0) -> np.dtype:
    return np.dtype(node.inputs[index].dtype)


def output_type(node: Node, index: int = 0):
    return node.output_types[index]


def f32_array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def left_pad(array: np.ndarray, rank: int) -> np.ndarray:
    """``array`` reshaped to ``rank`` dimensions by adding leading 1s (dropping leading 1s if longer)."""
    if array.ndim < rank:
        return array.reshape((1,) * (rank - array.ndim) + array.shape)
    if array.ndim > rank:
        return array.reshape(array.shape[array.ndim - rank:])
    return array


def block_operand(operand: np.ndarray, index: Sequence[Any]) -> np.ndarray:
    """The part of a broadcast operand (already padded to the output rank) that a block sees.

    ``index`` selects a block of the output along its leading axes (ints or slices). Axes where
    the operand has size 1 are broadcast: they are kept (slice) or dropped (int) without
    selecting, so the result broadcasts against ``output[index]`` exactly as ``operand`` against
    ``output``.
    """
    selection = []
    for axis, item in enumerate(index):
        if operand.shape[axis] == 1:
            selection.append(0 if isinstance(item, (int, np.integer)) else slice(None))
        else:
            selection.append(item)
    return operand[tuple(selection)]


class BufferPool:
    """Reusable scratch arrays of one shape and dtype (zero-filled when first created).

    ``take``/``give`` are list pops and appends (atomic in CPython), so a kernel stays usable
    from several threads: each concurrent call simply gets its own buffer.
    """

    def __init__(self, shape: Sequence[int], dtype: Any) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._free: list[np.ndarray] = []

    def take(self) -> np.ndarray:
        try:
            return self._free.pop()
        except IndexError:
            return np.zeros(self.shape, self.dtype)

    def give(self, buffer: np.ndarray) -> None:
        self._free.append(buffer)

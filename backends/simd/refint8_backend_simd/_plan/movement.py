"""Data-movement plans: Concat and nearest Interpolate as C copies (``r8_generic.c``), Reshape,
Squeeze, Unsqueeze and Transpose in NumPy (a view, or one transposing copy; inside a sequence a
small Reshape is a C copy instead). All exact by construction: they only move elements."""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from .common import CCall, Keep, Reused

#: execType prefix of kernels with no ISA-specific code
GENERIC = "simd_any"


class ConcatPlan(Reused):
    """Concat along ``axis``: per outer index (the dimensions before the axis) each input's
    contiguous block, in input order."""

    implementation = GENERIC
    takes_all_inputs = True

    def __init__(self, ffi: Any, lib: Any, node: Any, threads: int) -> None:
        out_type = node.output_types[0]
        self.out_shape, self.out_dtype = out_type.shape, out_type.dtype
        rank = len(self.out_shape)
        axis = node.attrs["axis"] % rank
        itemsize = np.dtype(self.out_dtype).itemsize
        self.keep = Keep(ffi)
        p = ffi.new("r8_concat_args *")
        self.keep.objects.append(p)
        p.outer = int(np.prod(self.out_shape[:axis], dtype=np.int64))
        p.ninputs = len(node.inputs)
        blocks = [int(np.prod(i.shape[axis:], dtype=np.int64)) * itemsize for i in node.inputs]
        p.block = self.keep.ptr("long long *", np.array(blocks, np.int64))
        p.threads = threads
        self.params, self.function, self.ffi = p, lib.r8_concat, ffi
        self.pointers = ffi.new("void *[]", len(node.inputs))
        self.lock = threading.Lock()

    def run(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        arrays = [np.ascontiguousarray(x) for x in inputs]
        ffi = self.ffi
        with self.lock:
            out = self.output()
            buffers = [ffi.from_buffer(a) for a in arrays]
            for i, b in enumerate(buffers):
                self.pointers[i] = b
            self.function(self.params, self.pointers, ffi.from_buffer(out))
        return out


class ResizePlan(Reused):
    """Nearest Interpolate over the last two axes (any dtype of 1 or 4 bytes): the source row and
    column of every output row and column, computed once by the specification's own geometry
    (``refint8.ops.interpolate``), then a C gather."""

    implementation = GENERIC

    def __init__(self, ffi: Any, lib: Any, node: Any, rows: np.ndarray, cols: np.ndarray,
                 threads: int) -> None:
        out_type = node.output_types[0]
        self.out_shape, self.out_dtype = out_type.shape, out_type.dtype
        in_shape = node.inputs[0].shape
        self.keep = Keep(ffi)
        p = ffi.new("r8_resize_args *")
        self.keep.objects.append(p)
        p.planes = int(np.prod(in_shape[:-2], dtype=np.int64))
        p.H, p.W = in_shape[-2], in_shape[-1]
        p.OH, p.OW = self.out_shape[-2], self.out_shape[-1]
        p.row = self.keep.ptr("int *", rows.astype(np.int32))
        p.col = self.keep.ptr("int *", cols.astype(np.int32))
        p.size = np.dtype(self.out_dtype).itemsize
        p.threads = threads
        self.params, self.function, self.ffi = p, lib.r8_resize_nearest, ffi
        self.lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_kernel(x)

    def c_call(self) -> CCall:
        return CCall((0,))


def nearest_tables(node: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(source rows, source columns) of a nearest Interpolate that resizes only the last two axes,
    from the specification's geometry; None for any other Interpolate."""
    from refint8.ops import interpolate as spec

    a = node.attrs
    x_shape = tuple(node.inputs[0].shape)
    if a["mode"] != "nearest" or len(x_shape) < 2 or np.dtype(node.inputs[0].dtype).itemsize not in (1, 4):
        return None

    def fail(reason: str, attribute: str, value: Any):
        raise ValueError(f"{attribute}={value!r}: {reason}")

    axes, out_shape, scales = spec.interpolate_geometry(
        x_shape, shape_calculation_mode=a["shape_calculation_mode"], sizes=a["sizes"],
        scales=a["scales"], axes=a["axes"], fail=fail)
    rank = len(x_shape)
    tables = {rank - 2: np.arange(x_shape[-2]), rank - 1: np.arange(x_shape[-1])}
    for axis, scale in zip(axes, scales):
        if axis < rank - 2:
            if out_shape[axis] != x_shape[axis]:
                return None
            continue
        coords = spec.source_coordinates(out_shape[axis], x_shape[axis], scale,
                                         a["coordinate_transformation_mode"])
        tables[axis] = spec.nearest_indices(coords, x_shape[axis], scale, a["nearest_mode"])
    return tables[rank - 2], tables[rank - 1]


#: the largest Reshape a sequence runs as a C copy (r8_copy). Between C steps, a step from Python
#: costs 40-90 us an inference (MobileNetV2's and ResNet-50's Flatten, the interpreter's caches
#: cold after the kernels, plus a second r8_run_steps call), about what memcpy takes for 1 MiB;
#: up to a quarter of that, the copy always costs less.
RESHAPE_COPY_BYTES = 1 << 18


class ReshapePlan(Reused):
    """Reshape, Squeeze, Unsqueeze: the same elements under the output shape. ``run`` returns a
    view; in a sequence, a tensor of at most RESHAPE_COPY_BYTES is copied by ``r8_copy`` into the
    sequence's buffer, so the run of C steps goes on through it."""

    implementation = GENERIC

    def __init__(self, ffi: Any, lib: Any, node: Any) -> None:
        out_type = node.output_types[0]
        self.shape = self.out_shape = tuple(out_type.shape)
        self.out_dtype = out_type.dtype
        self.bytes = int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.out_dtype).itemsize
        self.params = ffi.new("r8_copy_args *", {"bytes": self.bytes})
        self.function, self.ffi, self.lock = lib.r8_copy, ffi, threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.reshape(x, self.shape)

    def c_call(self) -> CCall | None:
        return CCall((0,)) if self.bytes <= RESHAPE_COPY_BYTES else None


class TransposePlan:
    """Transpose: one copy in the permuted order."""

    implementation = GENERIC

    def __init__(self, node: Any) -> None:
        from refint8.ops.transpose import permutation

        self.axes = permutation(len(node.inputs[0].shape), node.attrs["order"])

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.transpose(x, self.axes).copy(order="C")

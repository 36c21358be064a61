"""Int8MVN: the normalization in C (``r8_generic.c r8_mvn_normalize``: exact integer moments, then
the specification's float64 steps, rounded once to float32), then the post-ops as the elementwise
kernel of the variant (a float32 input, kind 0)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

from .common import aligned
from .elementwise import ElementwisePlan


def trailing_groups(node: Any) -> tuple[int, int] | None:
    """(groups, n) when the reduction axes are the last ones (each group n consecutive codes),
    else None."""
    shape = tuple(node.inputs[0].shape)
    rank = len(shape)
    axes = sorted(axis % rank for axis in node.attrs["axes"])
    if axes != list(range(rank - len(axes), rank)):
        return None
    n = int(np.prod(shape[rank - len(axes):], dtype=np.int64))
    return int(np.prod(shape, dtype=np.int64)) // max(n, 1), n


class MVNPlan:
    """Int8MVN over trailing axes: r8_mvn_normalize into a float32 buffer, then its post-ops."""

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, groups: int, n: int,
                 threads: int) -> None:
        a = node.attrs
        p = ffi.new("r8_mvn_args *")
        p.groups, p.n = groups, n
        p.in_signed = int(np.dtype(node.inputs[0].dtype) == np.int8)
        p.normalize = int(bool(a["normalize_variance"]))
        p.inside = int(a["eps_mode"] == "inside_sqrt")
        p.eps = float(np.float64(a["eps"]))
        p.threads = threads
        self.params, self.ffi, self.function = p, ffi, lib.r8_mvn_normalize
        self.shape = tuple(node.inputs[0].shape)
        self.normalized = aligned(groups * n * 4).view(np.float32).reshape(self.shape)
        # the post-op stage sees the MVN node with one float32 input
        as_float = SimpleNamespace(inputs=[SimpleNamespace(dtype=np.dtype(np.float32), shape=self.shape)],
                                   output_types=node.output_types)
        self.post = ElementwisePlan(ffi, lib, variant, as_float, 0, 0.0, 1.0, a["post_ops"], threads)
        self.lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        with self.lock:
            self.function(self.params, self.ffi.from_buffer(x),
                          self.ffi.cast("float *", self.ffi.from_buffer(self.normalized)))
            return self.post.run([self.normalized])

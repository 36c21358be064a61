"""Pooling plans: MaxPool on codes and AvgPool on float32."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from refint8.errors import InputError

from .common import VARIANTS, CCall, Reused, aligned, round_up


class _PoolPlan(Reused):
    """What MaxPool and AvgPool plans share: the window geometry (from the reference's own
    geometry function, with its errors), the C struct's common fields, and the run wrapper."""

    op_name = ""
    kernel_name = ""
    generic = False     # one C function for every variant (r8_generic.c), not one per ISA

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, threads: int, struct: str,
                 geometry: Any, extra_attrs: tuple[str, ...] = ()) -> None:
        a = node.attrs
        x_shape = node.inputs[0].type.shape

        def fail(reason: str, attribute: str, value: Any):
            raise InputError(f"refint8: {self.op_name}: {attribute}={value!r}: {reason}")

        (pt, pl), (pb, pr), (n, c, oh, ow) = geometry(
            x_shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
            pads_end=a["pads_end"], rounding_type=a["rounding_type"], auto_pad=a.get("auto_pad", "explicit"),
            fail=fail, **{k: a[k] for k in extra_attrs})
        _, _, self.h, self.w = x_shape
        self.oh, self.ow = oh, ow
        self.pads = (pt, pl), (pb, pr)
        (self.kh, self.kw), (self.sy, self.sx) = a["kernel"], a["strides"]
        p = self.params = ffi.new(struct)
        self.keep: list[Any] = [p]
        p.planes, p.H, p.W, p.OH, p.OW = n * c, self.h, self.w, oh, ow
        p.kh, p.kw, p.sy, p.sx, p.pt, p.pl = self.kh, self.kw, self.sy, self.sx, pt, pl
        p.threads = threads
        self.out_shape, self.out_dtype = node.output_types[0].shape, node.output_types[0].dtype
        self.function = getattr(lib, self.kernel_name if self.generic else f"{self.kernel_name}_{VARIANTS[variant][3]}")
        self.lock = threading.Lock()
        self.ffi = ffi

    def _call(self, x: np.ndarray, out: np.ndarray) -> None:
        self.function(self.params, self.ffi.from_buffer(x), self.ffi.from_buffer(out))

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        if not int(np.prod(self.out_shape)):
            return np.empty(self.out_shape, self.out_dtype)
        with self.lock:
            out = self.output()
            self._call(x, out)
        return out

    def c_call(self) -> CCall | None:
        return CCall((0,)) if int(np.prod(self.out_shape)) else None


class MaxPoolPlan(_PoolPlan):
    """MaxPool on u8/i8 codes (comparisons only: exact)."""

    op_name, kernel_name = "MaxPool", "r8_maxpool"

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, threads: int) -> None:
        from refint8.ops.max_pool import pool_geometry

        super().__init__(ffi, lib, variant, node, threads, "r8_pool *", pool_geometry)
        p, vl = self.params, VARIANTS[variant][1]
        (pt, pl), (pb, pr) = self.pads
        hp = max(self.h + pt + pb, (self.oh - 1) * self.sy + self.kh, pt + self.h)
        wp = max(self.w + pl + pr, (self.ow - 1) * self.sx + self.kw, pl + self.w)
        p.in_signed = int(node.inputs[0].dtype == np.int8)
        p.Hp, p.Wp = hp, wp
        wpad = round_up(wp + 2 * vl * 4, 64)           # a padded row plus two vectors of slack
        per_thread = (hp + 1) * wpad + self.kh * wpad + 2 * wpad
        self.scratch = aligned(per_thread * max(threads, 1))
        p.scratch = ffi.cast("void *", ffi.from_buffer(self.scratch))


# -- AvgPool ---------------------------------------------------------------------------------------


class AvgPoolPlan(_PoolPlan):
    """AvgPool on float32: float64 window sums in the reference's tap order, its divisor table."""

    op_name, kernel_name = "AvgPool", "r8_avgpool"

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, threads: int) -> None:
        from refint8.ops.avg_pool import avg_pool_geometry, divisor_table

        super().__init__(ffi, lib, variant, node, threads, "r8_avgpool *", avg_pool_geometry,
                         extra_attrs=("exclude_pad",))
        # the divisor exactly as refint8.ops.avg_pool computes it
        (pt, pl), (pb, pr) = self.pads
        divisor = divisor_table((self.h, self.w), (self.oh, self.ow), (self.kh, self.kw),
                                (self.sy, self.sx), (pt, pl), (pb, pr), node.attrs["exclude_pad"])
        self.divisor = np.ascontiguousarray(divisor, np.float64)
        self.keep.append(self.divisor)
        self.params.div = ffi.cast("double *", ffi.from_buffer(self.divisor))

    def _call(self, x: np.ndarray, out: np.ndarray) -> None:
        x = np.ascontiguousarray(x, np.float32)
        self.function(self.params, self.ffi.cast("float *", self.ffi.from_buffer(x)),
                      self.ffi.cast("float *", self.ffi.from_buffer(out)))


class Int8AvgPoolPlan(_PoolPlan):
    """Int8AvgPool on u8/i8 codes: integer window sums, exact rounding half to even of S / D, with
    the divisor D and the include-padding term of every output from the specification's counts."""

    op_name, kernel_name, generic = "Int8AvgPool", "r8_avgpool_codes", True
    implementation = "simd_any"

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, threads: int) -> None:
        from refint8.int8.avg_pool import inside_counts
        from refint8.ops.avg_pool import avg_pool_geometry

        super().__init__(ffi, lib, variant, node, threads, "r8_avgpool_codes_args *", avg_pool_geometry,
                         extra_attrs=("exclude_pad",))
        a = node.attrs
        (pt, pl), (pb, pr) = self.pads
        n_in = np.outer(inside_counts(self.h, self.oh, self.kh, self.sy, pt),
                        inside_counts(self.w, self.ow, self.kw, self.sx, pl)).astype(np.int64)
        window = self.kh * self.kw
        if a["exclude_pad"] or not any((pt, pl, pb, pr)):
            divisor, extra = n_in, np.zeros_like(n_in)
        else:
            divisor = np.full_like(n_in, window)
            extra = (window - n_in) * int(a["pad_value"])
        self.divisor = np.ascontiguousarray(divisor.reshape(-1), np.int64)
        self.extra = np.ascontiguousarray(extra.reshape(-1), np.int64)
        self.keep += [self.divisor, self.extra]
        p = self.params
        p.in_signed = int(node.inputs[0].dtype == np.int8)
        p.div = ffi.cast("long long *", ffi.from_buffer(self.divisor))
        p.extra = ffi.cast("long long *", ffi.from_buffer(self.extra))


class ReluCodesPlan(Reused):
    """Relu on u8/i8 codes: max(q, 0)."""

    implementation = "simd_any"

    def __init__(self, ffi: Any, lib: Any, node: Any) -> None:
        out_type = node.output_types[0]
        self.out_shape, self.out_dtype = out_type.shape, out_type.dtype
        self.size = int(np.prod(self.out_shape, dtype=np.int64))
        self.signed = int(np.dtype(self.out_dtype) == np.int8)
        self.ffi, self.function = ffi, lib.r8_relu_codes
        self.lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        with self.lock:
            out = self.output()
            if self.size:
                self.function(self.size, self.signed, self.ffi.from_buffer(x), self.ffi.from_buffer(out))
        return out

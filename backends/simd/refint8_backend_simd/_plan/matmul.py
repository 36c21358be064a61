"""Int8MatMul (FullyConnected) plans: weights packed in feature vectors, zero-point terms."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .common import MM_NR, VARIANTS, CCall, Keep, Reused, aligned, ceil_div, round_up, scalar_operand, wrap32
from .post_ops import build_posts


class MatMulPlan(Reused):
    """The packed, ready-to-run form of one Int8MatMul node for one variant."""

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, weights: np.ndarray,
                 threads: int) -> None:
        _, vl, mode, suffix = VARIANTS[variant]
        if variant in ("amx", "amx_emu"):
            suffix = "avx512_vnni" if variant == "amx_emu" else "amx"
        attrs = node.attrs
        data_type = node.inputs[0].type
        out_type = node.output_types[0]
        n_out, k = weights.shape
        m = int(np.prod(data_type.shape[:-1], dtype=np.int64))
        signed = data_type.dtype == np.int8
        self.out_dtype = out_type.dtype
        self.out_shape = out_type.shape
        self.m, self.n = m, n_out
        za = int(np.asarray(attrs["input_zero_point"], np.int64).reshape(-1)[0])
        zw_raw = np.asarray(attrs["weight_zero_point"], np.int64).reshape(-1)
        zw = np.broadcast_to(zw_raw, (n_out,)) if zw_raw.size else np.zeros(n_out, np.int64)
        has_zw = bool(np.any(zw != 0))
        nbw = MM_NR * vl
        npad = round_up(n_out, nbw)
        self.npad = npad
        self.vl = vl
        kp = 4 if mode == 0 else 2
        kk = ceil_div(k, kp)
        w64 = weights.astype(np.int64)

        keep = Keep(ffi)
        self.keep = keep
        p = ffi.new("r8_mm *")
        keep.objects.append(p)
        self.params = p
        comp = np.zeros(npad, np.int64)
        zw_pad = np.zeros(npad, np.int64)
        zw_pad[:n_out] = zw
        if mode == 0:
            zap = za + (128 if signed else 0)
            comp[:n_out] = k * zap * zw - zap * w64.sum(axis=1)
            full = np.zeros((npad, kk * 4), np.int8)
            full[:n_out, :k] = w64
            packed = full.reshape(npad // nbw, nbw, kk, 4).transpose(0, 2, 1, 3)
        else:
            full = np.zeros((npad, kk * 2), np.int16)
            full[:n_out, :k] = w64 - zw.reshape(-1, 1)
            packed = full.reshape(npad // nbw, nbw, kk, 2).transpose(0, 2, 1, 3)
        packed = np.ascontiguousarray(packed).reshape(-1)
        packed_buffer = aligned(packed.nbytes)
        packed_buffer[:] = packed.view(np.uint8)
        p.M, p.K, p.N = m, k, n_out
        p.in_signed = int(signed)
        p.mode = mode
        p.za = za
        p.kk = kk
        p.nr = MM_NR
        p.npad = npad
        p.w = keep.ptr("void *", packed_buffer)
        self.weights = (p.w, packed.nbytes)
        p.comp = keep.ptr("int *", wrap32(comp))
        if mode == 0 and has_zw:
            p.zw = keep.ptr("int *", wrap32(zw_pad))
            self.rowsum = np.zeros(max(m, 1), np.int32)
            p.rowsum = keep.ptr("int *", self.rowsum)
        else:
            p.zw = ffi.NULL
            p.rowsum = ffi.NULL
        p.post, p.npost, p.out_type = build_posts(keep, ffi, attrs["post_ops"], self._fill_operand,
                                                  out_type.dtype, input_bound=2.0 ** 31)
        p.threads = threads
        self.scratch = aligned(max(m, 1) * kk * 4)
        p.scratch = keep.ptr("void *", self.scratch)
        self.function = getattr(lib, f"r8_mm_{suffix}")
        self.lock = threading.Lock()
        self.ffi = ffi

    def _fill_operand(self, struct: Any, operand: np.ndarray) -> None:
        """Along the features (padded to whole vectors), per row only if it varies by row."""
        a = np.asarray(operand, np.float32)
        if a.size == 1:
            scalar_operand(self.keep, struct, a.reshape(()))
            return
        shape = self.out_shape
        aligned = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
        if all(d == 1 for d in aligned.shape[:-1]):
            table = np.zeros(self.npad, np.float32)
            table[:self.n] = np.broadcast_to(aligned.reshape(-1), (self.n,))
            struct.s_outer = 0
        else:
            table = np.zeros((self.m, self.npad), np.float32)
            table[:, :self.n] = np.broadcast_to(aligned, shape).reshape(self.m, self.n)
            struct.s_outer = self.npad
        struct.data = self.keep.ptr("float *", table)
        struct.s_inner, struct.step = 1, self.vl

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.m == 0:
            return np.empty(self.out_shape, self.out_dtype)
        return self.run_kernel(x)

    def c_call(self) -> CCall | None:
        return CCall((0,)) if self.m else None

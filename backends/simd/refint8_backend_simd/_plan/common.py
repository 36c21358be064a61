"""What every plan shares: the variants, buffer helpers, output reuse, and the keep-alive of
C struct pointers."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from refint8.errors import BackendError, InputError

#: variant name -> (feature bit, vector lanes, accumulation mode, C suffix)
VARIANTS: dict[str, tuple[int, int, int, str]] = {
    "sse42": (1, 4, 1, "sse42"),
    "avx2": (2, 8, 1, "avx2"),
    "avx512": (4, 16, 1, "avx512"),
    "avx512_vnni": (8, 16, 0, "avx512_vnni"),
    "amx": (16, 16, 0, "amx"),
    "amx_emu": (8, 16, 0, "amx_emu"),  # AMX kernels with emulated tile instructions (tests)
    # refint8's s16_pairs accumulation (pmaddubsw pair saturation), for nodes that declare it
    "sse42_pairs": (1, 4, 0, "sse42_pairs"),
    "avx2_pairs": (2, 8, 0, "avx2_pairs"),
    "avx512_pairs": (4, 16, 0, "avx512_pairs"),
}
CONV_NR = 6          # output channels per register block (r8simd_kernels.h CONV_NR)
CONV_MR = 4          # vectors per register block of the 16-lane variants (r8simd_kernels.h CONV_MR)
TAIL_CELLS = 8 * CONV_NR   # the weight cells conv_tail reads at a time (r8simd_conv.h TAIL_CELLS)
CODE_RING = 2 * CONV_NR    # planes of a thread's ring of codes (r8simd_conv.h CODE_RING)
MM_NR = 4            # vectors of output features per matmul block (MM_NR)
AMX_OC_BLOCK = 32    # output channels per AMX block (2 A tiles)
DW_SLACK = 64        # int32 after each thread's depthwise planes (r8simd_dw.h DW_SLACK)
#: run one-channel-per-group convolutions on r8_dw/r8_dwb (False: the general kernel; A/B timing,
#: read when a plan is built: set ``_plan.common.DEPTHWISE_KERNEL``)
DEPTHWISE_KERNEL = True
OC_BLOCK = 64        # output channels per weight block of r8simd_conv_oc.h (OC_BLOCK)
#: where the avx512_vnni variant runs a convolution with output channels across the lanes
#: (r8simd_conv_oc.h): "auto" (convolution.channels_across_lanes), "always" or "never" where it
#: can (tests, A/B timing; read when a plan is built)
CHANNELS_ACROSS_LANES = "auto"
#: where a depthwise layer that r8_dwc can run (r8simd_dwc.h, 4-channel cells) runs on it rather
#: than r8_dwb: "auto" (convolution.cell_depthwise), "always" or "never" (tests, A/B timing; read
#: when a plan is built)
CELL_DEPTHWISE = "auto"

MAX_POST_OPS = 16    # post-ops per layer the C kernels hold (r8simd_post.h R8_MAX_POST)

NAN_MESSAGE = ("refint8: NaN reached a quantizing FakeQuantize (integer output); "
               "int8 codes cannot represent NaN")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_up(a: int, b: int) -> int:
    return ceil_div(a, b) * b


def aligned(nbytes: int, align: int = 64) -> np.ndarray:
    """A zeroed uint8 buffer of ``nbytes`` whose data pointer is ``align``-aligned."""
    raw = np.zeros(nbytes + align, np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset:offset + nbytes]


def wrap32(values: np.ndarray) -> np.ndarray:
    """int64 -> int32 modulo 2^32 (the C kernels add these to int32 accumulators)."""
    return (np.asarray(values, np.int64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


_ARENA = threading.local()


def scratch_pointer(ffi: Any, nbytes: int) -> Any:
    """A 64-byte-aligned buffer of at least ``nbytes``, one per Python thread, lent to every plan
    that runs in that thread (Reused.scratch_bytes). The layers of a model run one after another,
    so they share one buffer that stays in cache, where a buffer per plan, untouched since the
    previous inference, comes from memory on every call (and a model holds them all). End to end,
    alternating processes: medians 1 % (ResNet-50) and 6 % (MobileNetV2) lower, the best runs
    alike. Grows to the largest request; kernels write their scratch before they read it."""
    if getattr(_ARENA, "nbytes", -1) < nbytes:
        _ARENA.buffer = aligned(max(nbytes, 2 * getattr(_ARENA, "nbytes", 0)))
        _ARENA.nbytes = _ARENA.buffer.nbytes
        _ARENA.source = ffi.from_buffer(_ARENA.buffer)
        _ARENA.pointer = ffi.cast("void *", _ARENA.source)
    return _ARENA.pointer


@dataclass(frozen=True)
class CCall:
    """How a plan's ``run`` is one call of its C function on ``(params, inputs..., out)``.

    ``inputs``: the step inputs the function reads, in argument order (an index may repeat: a
    unary elementwise kernel reads its input twice). ``consumer``: an ``r8_conv`` with a fused
    consumer, whose second input goes into ``params.elt_other`` (the function takes one input).
    """

    inputs: tuple[int, ...]
    consumer: bool = False


class Reused:
    """What every plan runs with: its C function, struct and lock, and an output buffer reused
    across runs, but only when nobody else holds the previous one.

    A node's output of the previous inference is referenced by nothing but this object once the
    runtime's inference has returned (its slots are gone), so it can be overwritten; an output the
    caller kept (a model output, or any view of it) has more references and a fresh array is
    allocated instead. Reuse avoids the page faults of a fresh large allocation per layer.
    """

    out_shape: tuple
    out_dtype: np.dtype
    function: Any        # the C kernel of the plan's variant
    params: Any          # its cffi struct
    ffi: Any
    lock: Any            # one run at a time per plan (the struct is shared)
    scratch_bytes = 0    # the scratch it borrows from its thread's arena for each call (scratch_pointer)
    #: the packed weights the kernel reads first, (pointer, bytes), for the step before it in a
    #: sequence to prefetch (r8_conv.pf_next); None: no weights worth it
    weights: tuple[Any, int] | None = None
    #: set where a sequence keeps the plan's input or output in 4-channel cells (_plan/layout.py):
    #: the struct then describes that layout, and the plan runs only inside the sequence
    in_sequence_layout = False
    _out: np.ndarray | None = None

    def c_call(self) -> CCall | None:
        """How ``run`` is one call of the C function, for a sequence (_plan/sequence.py); ``None``
        where it does more (the default)."""
        return None

    def lend_scratch(self) -> None:
        """Point the struct's scratch at the calling thread's arena (under the plan's lock)."""
        if self.scratch_bytes:
            self.params.scratch = scratch_pointer(self.ffi, self.scratch_bytes)

    def check_alone(self) -> None:
        """Refuse to run outside the sequence that set the plan's layout (in_sequence_layout)."""
        if self.in_sequence_layout:
            raise BackendError(f"{self.function.__name__}: this plan reads or stores 4-channel cells "
                               "for the sequence that holds it and runs only inside it")

    def output(self) -> np.ndarray:
        out = self._out
        # references: self._out, the local name, getrefcount's argument
        if out is None or sys.getrefcount(out) != 3:
            out = self._out = np.empty(self.out_shape, self.out_dtype)
        return out

    def run_kernel(self, x: np.ndarray) -> np.ndarray:
        """The plan's C kernel on one input, into the reused output; a NaN that reached a quantizing
        FakeQuantize (the kernel's return value counts them) is an InputError, as in the reference."""
        self.check_alone()
        x = np.ascontiguousarray(x)
        with self.lock:
            out = self.output()
            self.lend_scratch()
            nan = self.function(self.params, self.ffi.from_buffer(x), self.ffi.from_buffer(out))
        if nan:
            raise InputError(NAN_MESSAGE)
        return out


class Keep:
    """Holds the NumPy arrays and cffi objects a C struct points to."""

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi
        self.objects: list[Any] = []

    def ptr(self, ctype: str, array: np.ndarray) -> Any:
        array = np.ascontiguousarray(array)
        self.objects.append(array)
        buffer = self.ffi.from_buffer(array)
        self.objects.append(buffer)
        return self.ffi.cast(ctype, buffer)


LANES = 16   # widest vector: a replicated value serves every variant


def scalar_operand(keep: Keep, struct: Any, value: Any) -> None:
    """One value for every lane, vector and output: LANES copies, all strides 0."""
    struct.data = keep.ptr("float *", np.full(LANES, value, np.float32))
    struct.s_outer, struct.s_inner, struct.step = 0, 0, 0


def plane_values(ffi: Any, operand: Any, planes: int) -> np.ndarray | None:
    """The value of a C operand (r8_operand) on each of ``planes`` output planes, or None if it
    varies within a plane (read back from its table: the values the kernels use)."""
    if operand.step != 0 or operand.s_inner != 0:
        return None
    stride = operand.s_outer
    values = np.frombuffer(ffi.buffer(operand.data, 4 * ((planes - 1) * stride + 1)), np.float32)
    return values[::stride].copy() if stride else np.repeat(values[:1], planes)


#: the Multiply, reciprocal Quantize chain's operands in r8_elt.rq's order after h and r ((post-op
#: index, operand index) pairs): s, il, m, ol, ih - il, oh, lo, hi
MULTIPLY_QUANTIZE_FIELDS = ((0, 0), (1, 0), (1, 3), (1, 2), (1, 1), (1, 4), (1, 5), (1, 6))


def requantization_fields(ffi: Any, post: Any, npost: int, out_type: int, planes: int,
                          types: tuple[int, ...], fields: tuple[tuple[int, int], ...]) -> np.ndarray | None:
    """Per plane, the operands ``fields`` ((post-op index, operand index) pairs) of a C post-op
    table whose types are exactly ``types`` and whose results are stored as they are (out_type
    bits 2 and 3: codes in range, never NaN), as a [planes, len(fields)] float32 table; None if the
    table is another chain or an operand varies within a plane."""
    if tuple(post[i].type for i in range(npost)) != types or out_type & 12 != 12:
        return None
    columns = [plane_values(ffi, post[op].a[k], planes) for op, k in fields]
    if any(column is None for column in columns):
        return None
    return np.stack(columns, axis=1)

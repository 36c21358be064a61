"""Compile-time planning of the simd kernels: layouts, packed weights, zero-point terms, post-op tables.

Everything here runs once per node in ``Backend.kernel``; the C kernels (``src/``) only run. The
layouts are described in ``src/r8simd_api.h``; this module is where they are built, with NumPy.

Exactness, in short (the integers are exact, so ``float32(acc)`` is the reference's):

* mode 0 (``avx512_vnni``, ``amx``): activations become u8 codes ``q' = q + s`` (``s = 128`` for i8
  data, else 0) and padding holds ``za' = za + s``, so ``q' - za' = q - za`` everywhere, including
  padded taps. ``vpdpbusd``/``tdpbsud`` compute ``raw = Σ q'·w`` exactly in int32 (``|raw| <= K·255·128``,
  which the layer's compile-time bound keeps inside int32), and
  ``acc = raw + comp[o] - zw[o]·S(v)`` with ``comp[o] = zw[o]·KH·KW·Σ_c za'_c - Σ_c za'_c·Σ_taps w[o,c]``
  and ``S(v) = Σ q'`` over the window, which is ``Σ (q' - za')(w - zw)`` expanded. All of it is
  int32 arithmetic modulo 2^32 whose true value fits int32, so wrapping cannot change it.
* mode 1 (``sse42``, ``avx2``, ``avx512``): activations are widened to s16 ``q - za`` (padding 0),
  weights to s16 ``w - zw``; ``pmaddwd`` adds two products of magnitude <= 255·255 into int32
  exactly, so ``acc = Σ (q - za)(w - zw)`` directly, with no compensation and no saturation.
* ``s16_pairs`` nodes (``*_pairs`` kernels): mode 0's layout and terms, but ``raw`` sums
  ``sat16(u[2j]·w[2j] + u[2j+1]·w[2j+1])`` (``pmaddubsw``) over consecutive channel pairs of one
  tap (a 4-byte cell holds two pairs; an odd channel count leaves a zero-weight partner). With
  ``u = q + 128`` for i8 data this is refint8.int8.accumulate's definition, and the compensation
  ``- za'·Σw - zw·S' + K·za'·zw`` on shifted values equals the reference's
  ``- 128·Σw - za·Σw - zw·S + K·za·zw`` (the shift cancels: it is linear).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from refint8.errors import InputError
from refint8.int8 import post_ops as post

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
MM_NR = 4            # vectors of output features per matmul block (MM_NR)
AMX_OC_BLOCK = 32    # output channels per AMX block (2 A tiles)
DW_SLACK = 64        # int32 after each thread's depthwise planes (r8simd_kernels.h DW_SLACK)
DEPTHWISE_KERNEL = True   # run one-channel-per-group convolutions on r8_dw (False: the general kernel; A/B timing)

_POST_TYPES = {post.Multiply: 0, post.Add: 1, post.Subtract: 2, post.Relu: 3, post.Clamp: 4,
               post.FakeQuantize: 5, post.Quantize: 6}
_OUT_TYPES = {np.dtype(np.float32): 0, np.dtype(np.uint8): 1, np.dtype(np.int8): 2}

NAN_MESSAGE = ("refint8: NaN reached a quantizing FakeQuantize (integer output); "
               "int8 codes cannot represent NaN")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(a: int, b: int) -> int:
    return _ceil_div(a, b) * b


def _aligned(nbytes: int, align: int = 64) -> np.ndarray:
    """A zeroed uint8 buffer of ``nbytes`` whose data pointer is ``align``-aligned."""
    raw = np.zeros(nbytes + align, np.uint8)
    offset = (-raw.ctypes.data) % align
    return raw[offset:offset + nbytes]


def _wrap32(values: np.ndarray) -> np.ndarray:
    """int64 -> int32 modulo 2^32 (the C kernels add these to int32 accumulators)."""
    return (np.asarray(values, np.int64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


class _Reused:
    """Output buffers reused across runs, but only when nobody else holds the previous one.

    A node's output of the previous inference is referenced by nothing but this object once the
    runtime's inference has returned (its slots are gone), so it can be overwritten; an output the
    caller kept (a model output, or any view of it) has more references and a fresh array is
    allocated instead. Reuse avoids the page faults of a fresh large allocation per layer.
    """

    out_shape: tuple
    out_dtype: np.dtype
    _out: np.ndarray | None = None

    def output(self) -> np.ndarray:
        out = self._out
        # references: self._out, the local name, getrefcount's argument
        if out is None or sys.getrefcount(out) != 3:
            out = self._out = np.empty(self.out_shape, self.out_dtype)
        return out


class _Keep:
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


# -- post-op tables --------------------------------------------------------------------------------


_LANES = 16   # widest vector: a replicated value serves every variant


def _scalar_operand(keep: _Keep, struct: Any, value: Any) -> None:
    """One value for every lane, vector and output: _LANES copies, all strides 0."""
    struct.data = keep.ptr("float *", np.full(_LANES, value, np.float32))
    struct.s_outer, struct.s_inner, struct.step = 0, 0, 0


class _OperandTables:
    """Turns post-op operands (arrays broadcasting to the output) into C operand descriptors."""

    def __init__(self, keep: _Keep, fill: Any) -> None:
        self.keep = keep
        self.fill = fill   # fill(operand_struct, float32 array broadcastable to the output)

    def scalar(self, struct: Any, value: float) -> None:
        _scalar_operand(self.keep, struct, value)


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


def build_posts(keep: _Keep, ffi: Any, post_ops: Sequence[Any], fill: Any,
                out_dtype: Any, input_bound: float | None = None) -> tuple[Any, int, int]:
    """The C post-op table of ``post_ops`` and the kernel's ``out_type`` (r8simd_kernels.h store_result).

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


# -- Int8Convolution -------------------------------------------------------------------------------


@dataclass
class ConvGeometry:
    n: int
    c: int
    h: int
    w: int
    oc: int
    oh: int
    ow: int
    group: int
    cg: int
    ocg: int
    kh: int
    kw: int
    sy: int
    sx: int
    dy: int
    dx: int
    pt: int
    pl: int
    hp: int
    wp: int
    wq: int


_VBMI = 32   # r8_cpu_features bit: AVX-512 VBMI (vpermb)


def _byte_depthwise_fits(variant: str, lib: Any, geo: "ConvGeometry", has_zw: bool) -> bool:
    """Whether a depthwise node can run r8_dwb: a VNNI build on a CPU with VBMI, no weight zero
    points, and the 4 bytes of every lane's cell inside one 64-byte load (15*sx + 3*dx <= 63)."""
    return (variant in ("avx512_vnni", "amx", "amx_emu") and bool(lib.r8_cpu_features() & _VBMI)
            and not has_zw and 15 * geo.sx + 3 * geo.dx <= 63)


class ConvPlan(_Reused):
    """The packed, ready-to-run form of one Int8Convolution node for one variant."""

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, weights: np.ndarray,
                 threads: int) -> None:
        _, vl, mode, suffix = VARIANTS[variant]
        amx = variant in ("amx", "amx_emu")
        attrs = node.attrs
        data_type = node.inputs[0].type
        out_type = node.output_types[0]
        n, c, h, w = data_type.shape
        oc, cg, kh, kw = weights.shape
        _, _, oh, ow = out_type.shape
        group = attrs["group"]
        ocg = oc // group
        (sy, sx), (dy, dx) = attrs["strides"], attrs["dilations"]
        (pt, pl), (pb, pr) = attrs["pads_begin"], attrs["pads_end"]
        hp, wp = h + pt + pb, w + pl + pr
        wq = _ceil_div(wp, sx)
        geo = ConvGeometry(n, c, h, w, oc, oh, ow, group, cg, ocg, kh, kw, sy, sx, dy, dx, pt, pl,
                           hp, wp, wq)
        self.geometry = geo
        signed = data_type.dtype == np.int8
        self.out_dtype = out_type.dtype
        self.out_shape = out_type.shape

        # taps and phases
        phases: list[tuple[int, int]] = []
        tap_phase, tap_off = [], []
        for ky in range(kh):
            for kx in range(kw):
                ph = ((ky * dy) % sy, (kx * dx) % sx)
                if ph not in phases:
                    phases.append(ph)
                tap_phase.append(phases.index(ph))
                tap_off.append((ky * dy // sy) * wq + kx * dx // sx)
        ntaps = kh * kw

        # virtual positions and their output mapping
        nvirt = oh * wq
        nvec = _ceil_div(nvirt, vl)
        nvec_alloc = _round_up(nvec, 2) if amx else nvec
        plane_pos = _round_up(nvec_alloc * vl + max(tap_off), 16)
        v = np.arange(nvec * vl)
        oy, ox = v // wq, v % wq
        valid = (ox < ow) & (oy < oh)
        bits = (valid.reshape(nvec, vl) << np.arange(vl)).sum(axis=1).astype(np.uint32)
        flat = np.where(valid, oy * ow + ox, 0).reshape(nvec, vl)
        first = np.argmax(valid.reshape(nvec, vl), axis=1)
        vstart = np.where(bits != 0, flat[np.arange(nvec), first], 0).astype(np.int32)
        nvpad = _round_up((nvec_alloc + 4) * vl, 16)    # + room for a whole epilogue block
        self._valid_index = (v[valid], (oy * ow + ox)[valid])   # virtual -> output, for spatial tables

        # zero points
        za = np.broadcast_to(np.asarray(attrs["input_zero_point"], np.int64).reshape(-1), (c,))
        zw_raw = np.asarray(attrs["weight_zero_point"], np.int64).reshape(-1)
        zw = np.broadcast_to(zw_raw, (oc,)) if zw_raw.size else np.zeros(oc, np.int64)
        has_zw = bool(np.any(zw != 0))
        w64 = weights.astype(np.int64).reshape(group, ocg, cg, kh, kw)

        keep = _Keep(ffi)
        self.keep = keep
        p = ffi.new("r8_conv *")
        keep.objects.append(p)
        self.params = p
        kp = 4 if mode == 0 else 2
        ck = _ceil_div(cg, kp)
        kc = 0
        if amx:
            kc = min(ck, 16)
            ck = _round_up(ck, kc)
        cpad = ck * kp

        if mode == 0:
            shift = 128 if signed else 0
            zap = za + shift
            pad = zap
            sum_w = w64.sum(axis=(3, 4))                                   # [G, OCg, Cg]
            za_g = zap.reshape(group, cg)
            comp = (zw.reshape(group, ocg) * (kh * kw) * za_g.sum(axis=1, keepdims=True)
                    - np.einsum("goc,gc->go", sum_w, za_g)).reshape(oc)
            wpad = np.zeros((group, ocg, cpad, kh, kw), np.int64)
            wpad[:, :, :cg] = w64
            if amx:
                nob = _ceil_div(ocg, AMX_OC_BLOCK)
                full = np.zeros((group, nob * AMX_OC_BLOCK, cpad, kh, kw), np.int8)
                full[:, :ocg] = wpad
                packed = full.reshape(group, nob, AMX_OC_BLOCK, ck // kc, kc * 4, kh, kw)
                packed = packed.transpose(0, 1, 5, 6, 3, 2, 4)       # [G, nob, kh, kw, nch, 32, kc*4]
            else:
                nob = _ceil_div(ocg, CONV_NR)
                full = np.zeros((group, nob * CONV_NR, cpad, kh, kw), np.int8)
                full[:, :ocg] = wpad
                packed = full.reshape(group, nob, CONV_NR, ck, 4, kh, kw)
                packed = packed.transpose(0, 1, 5, 6, 3, 2, 4)       # [G, nob, kh, kw, ck, NR, 4]
            packed = np.ascontiguousarray(packed).reshape(-1)
            if has_zw:
                cells = (np.arange(cpad).reshape(ck, 4) < cg).astype(np.uint8)   # [ck, 4] ones
                ones = np.broadcast_to(cells, (group, ntaps, ck, 4)).copy().view(np.int32)
                p.ones = keep.ptr("void *", ones)
                p.zw = keep.ptr("int *", _wrap32(zw))
                self.wsum = _aligned(group * nvpad * 4).view(np.int32)
                p.wsum = keep.ptr("int *", self.wsum)
        else:
            pad = za
            comp = np.zeros(oc, np.int64)
            wz = (w64 - zw.reshape(group, ocg, 1, 1, 1))                      # s16 range
            nob = _ceil_div(ocg, CONV_NR)
            full = np.zeros((group, nob * CONV_NR, cpad, kh, kw), np.int16)
            full[:, :ocg, :cg] = wz
            packed = full.reshape(group, nob, CONV_NR, ck, 2, kh, kw).transpose(0, 1, 5, 6, 3, 2, 4)
            packed = np.ascontiguousarray(packed).reshape(-1)
        if not has_zw or mode == 1:
            p.zw = ffi.NULL
            p.ones = ffi.NULL
            p.wsum = ffi.NULL

        p.N, p.C, p.H, p.W = n, c, h, w
        p.OC, p.OH, p.OW = oc, oh, ow
        p.G, p.Cg, p.OCg = group, cg, ocg
        p.in_signed = int(signed)
        p.mode = mode
        p.pt, p.pl, p.sy, p.sx = pt, pl, sy, sx
        p.Hp, p.Wp, p.Wq = hp, wp, wq
        p.nphase = len(phases)
        p.phase_ry = keep.ptr("int *", np.array([r for r, _ in phases], np.int32))
        p.phase_rx = keep.ptr("int *", np.array([r for _, r in phases], np.int32))
        p.ck = ck
        p.kc = kc
        p.plane_pos = plane_pos
        p.ntaps = ntaps
        p.tap_phase = keep.ptr("int *", np.array(tap_phase, np.int32))
        p.tap_off = keep.ptr("int *", np.array(tap_off, np.int32))
        p.nvec = nvec
        p.nvpad = nvpad
        p.vmask = keep.ptr("unsigned *", bits)
        p.vstart = keep.ptr("int *", vstart)
        p.nr = AMX_OC_BLOCK if amx else CONV_NR
        packed_buffer = _aligned(packed.nbytes)
        packed_buffer[:] = packed.view(np.uint8)
        p.w = keep.ptr("void *", packed_buffer)
        p.comp = keep.ptr("int *", _wrap32(comp))
        p.pad = keep.ptr("int *", np.asarray(pad, np.int32))
        self.nvpad = nvpad
        self.vl = vl
        p.post, p.npost, p.out_type = build_posts(keep, ffi, attrs["post_ops"], self._fill_operand,
                                                  out_type.dtype, input_bound=2.0 ** 31)
        p.threads = threads
        self.scratch = _aligned(group * len(phases) * ck * plane_pos * 4)
        self.function = getattr(lib, f"r8_conv_{suffix}")
        self.depthwise = DEPTHWISE_KERNEL and cg == 1 and not variant.endswith("_pairs")
        if self.depthwise:
            # r8simd_kernels.h r8_dw: one channel's planes of s16 pair cells (q - za) per thread;
            # taps paired into items (same phase, plane offsets off and off + 1), weights
            # (w - zw) as s16 pairs [OC][item]; acc = sum (q - za)*(w - zw); comp 0, no window sums.
            wz = w64.reshape(oc, ntaps) - zw.reshape(oc, 1)                 # |wz| <= 255
            where = {(tap_phase[t], tap_off[t]): t for t in range(ntaps)}
            items, used = [], set()
            for t in sorted(range(ntaps), key=lambda t: (tap_phase[t], tap_off[t])):
                if t in used:
                    continue
                used.add(t)
                mate = where.get((tap_phase[t], tap_off[t] + 1))
                if mate is not None and mate not in used:
                    used.add(mate)
                items.append((tap_phase[t], tap_off[t], t, mate))
            wpair = np.zeros((oc, len(items)), np.int64)
            for i, (_, _, t, mate) in enumerate(items):
                wpair[:, i] = wz[:, t] & 0xFFFF
                if mate is not None:
                    wpair[:, i] |= (wz[:, mate] & 0xFFFF) << 16
            self._dw_weights = np.ascontiguousarray(wpair.astype(np.uint32).view(np.int32))
            p.w = keep.ptr("void *", self._dw_weights)
            p.ntaps = len(items)
            p.tap_phase = keep.ptr("int *", np.array([i[0] for i in items], np.int32))
            p.tap_off = keep.ptr("int *", np.array([i[1] for i in items], np.int32))
            p.comp = keep.ptr("int *", np.zeros(oc, np.int32))
            p.zw = ffi.NULL
            p.ones = ffi.NULL
            p.wsum = ffi.NULL
            p.pad = keep.ptr("int *", np.asarray(za, np.int32))
            self.scratch = _aligned(max(threads, 1) * (len(phases) * plane_pos + DW_SLACK) * 4)
            self.function = getattr(lib, f"r8_dw_{suffix}")
            if _byte_depthwise_fits(variant, lib, geo, has_zw):
                self._plan_byte_depthwise(lib, p, keep, geo, w64, za + (128 if signed else 0), nvec, vl,
                                          threads, suffix)
        p.scratch = keep.ptr("void *", self.scratch)
        self.lock = threading.Lock()
        self.ffi = ffi

    def _plan_byte_depthwise(self, lib: Any, p: Any, keep: _Keep, geo: ConvGeometry, w64: np.ndarray,
                             zap: np.ndarray, nvec: int, vl: int, threads: int, suffix: str) -> None:
        """r8simd_kernels.h r8_dwb: byte planes per row phase, taps of a kernel row in cells of 4."""
        wb = geo.sx * geo.wq
        row_phases: list[int] = []
        cells, weights = [], []
        w = w64.reshape(geo.oc, geo.kh, geo.kw)
        for ky in range(geo.kh):
            ph = ky * geo.dy % geo.sy
            if ph not in row_phases:
                row_phases.append(ph)
            for j in range(_ceil_div(geo.kw, 4)):
                cells.append((row_phases.index(ph), (ky * geo.dy // geo.sy) * wb + 4 * j * geo.dx))
                cell = np.zeros((geo.oc, 4), np.int8)
                taps = w[:, ky, 4 * j:4 * j + 4]
                cell[:, :taps.shape[1]] = taps
                weights.append(cell)
        self._dwb_weights = np.ascontiguousarray(np.stack(weights, axis=1)).view(np.int32).reshape(geo.oc, -1)
        max_off = max(off for _, off in cells)
        rows = _ceil_div(geo.sx * nvec * vl + max_off + 64, wb)
        plane_pos = rows * wb
        lane, t = np.divmod(np.arange(64), 4)
        self._dwb_perm = (geo.sx * lane + t * geo.dx).astype(np.uint8)
        channel = np.arange(geo.oc) // geo.ocg
        comp = -zap[channel] * w.reshape(geo.oc, -1).sum(axis=1)
        p.w = keep.ptr("void *", self._dwb_weights)
        p.perm = keep.ptr("void *", self._dwb_perm)
        p.nphase = len(row_phases)
        p.phase_ry = keep.ptr("int *", np.array(row_phases, np.int32))
        p.ntaps = len(cells)
        p.tap_phase = keep.ptr("int *", np.array([c for c, _ in cells], np.int32))
        p.tap_off = keep.ptr("int *", np.array([o for _, o in cells], np.int32))
        p.plane_pos = plane_pos
        p.comp = keep.ptr("int *", _wrap32(comp))
        p.pad = keep.ptr("int *", np.asarray(zap, np.int32))
        self.scratch = _aligned(max(threads, 1) * (len(row_phases) * plane_pos + 64))
        self.function = getattr(lib, f"r8_dwb_{suffix}")

    def _fill_operand(self, struct: Any, operand: np.ndarray) -> None:
        """Per (n, oc) scalars if the operand is constant over the plane, else a virtual-layout plane."""
        g = self.geometry
        shape = (g.n, g.oc, g.oh, g.ow)
        a = np.asarray(operand, np.float32)
        a4 = a.reshape((1,) * (4 - a.ndim) + a.shape)
        if a4.size == 1:
            _scalar_operand(self.keep, struct, a4.reshape(()))
        elif a4.shape[2] == 1 and a4.shape[3] == 1:
            values = np.broadcast_to(a4[:, :, 0, 0], shape[:2]).reshape(-1, 1)
            table = np.repeat(values, _LANES, axis=1)            # [N*OC, lanes]
            struct.data = self.keep.ptr("float *", table)
            struct.s_outer, struct.s_inner, struct.step = _LANES, 0, 0
        else:
            full = np.broadcast_to(a4, shape).reshape(g.n * g.oc, g.oh * g.ow)
            table = np.zeros((g.n * g.oc, self.nvpad), np.float32)
            virtual, output = self._valid_index
            table[:, virtual] = full[:, output]
            struct.data = self.keep.ptr("float *", table)
            struct.s_outer, struct.s_inner, struct.step = self.nvpad, 1, self.vl

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        ffi = self.ffi
        with self.lock:
            out = self.output()
            nan = self.function(self.params, ffi.from_buffer(x), ffi.from_buffer(out))
        if nan:
            raise InputError(NAN_MESSAGE)
        return out


# -- Int8MatMul ------------------------------------------------------------------------------------


class MatMulPlan(_Reused):
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
        npad = _round_up(n_out, nbw)
        self.npad = npad
        self.vl = vl
        kp = 4 if mode == 0 else 2
        kk = _ceil_div(k, kp)
        w64 = weights.astype(np.int64)

        keep = _Keep(ffi)
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
        packed_buffer = _aligned(packed.nbytes)
        packed_buffer[:] = packed.view(np.uint8)
        p.M, p.K, p.N = m, k, n_out
        p.in_signed = int(signed)
        p.mode = mode
        p.za = za
        p.kk = kk
        p.nr = MM_NR
        p.npad = npad
        p.w = keep.ptr("void *", packed_buffer)
        p.comp = keep.ptr("int *", _wrap32(comp))
        if mode == 0 and has_zw:
            p.zw = keep.ptr("int *", _wrap32(zw_pad))
            self.rowsum = np.zeros(max(m, 1), np.int32)
            p.rowsum = keep.ptr("int *", self.rowsum)
        else:
            p.zw = ffi.NULL
            p.rowsum = ffi.NULL
        p.post, p.npost, p.out_type = build_posts(keep, ffi, attrs["post_ops"], self._fill_operand,
                                                  out_type.dtype, input_bound=2.0 ** 31)
        p.threads = threads
        self.scratch = _aligned(max(m, 1) * kk * 4)
        p.scratch = keep.ptr("void *", self.scratch)
        self.function = getattr(lib, f"r8_mm_{suffix}")
        self.lock = threading.Lock()
        self.ffi = ffi

    def _fill_operand(self, struct: Any, operand: np.ndarray) -> None:
        """Along the features (padded to whole vectors), per row only if it varies by row."""
        a = np.asarray(operand, np.float32)
        if a.size == 1:
            _scalar_operand(self.keep, struct, a.reshape(()))
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
        x = np.ascontiguousarray(x)
        if self.m == 0:
            return np.empty(self.out_shape, self.out_dtype)
        ffi = self.ffi
        with self.lock:
            out = self.output()
            nan = self.function(self.params, ffi.from_buffer(x), ffi.from_buffer(out))
        if nan:
            raise InputError(NAN_MESSAGE)
        return out


# -- elementwise layers ----------------------------------------------------------------------------

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


class ElementwisePlan(_Reused):
    """Int8Add, Int8Multiply, Dequantize and FakeQuantize (constant ranges) as one C kernel.

    The output is viewed as ``[planes][plane]`` (``planes = N*C`` for rank >= 3, else 1); an
    operand constant over a plane is a per-plane table, any other a full table.
    """

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, kind: int,
                 shift: Any, scale: Any, post_ops: Sequence[Any], threads: int) -> None:
        _, vl, _, suffix = VARIANTS[variant]
        out_type = node.output_types[0]
        shape = out_type.shape
        self.out_shape, self.out_dtype = shape, out_type.dtype
        self.vl = vl
        size = int(np.prod(shape, dtype=np.int64))
        if len(shape) >= 3:
            planes, plane = shape[0] * shape[1], size // max(shape[0] * shape[1], 1)
        else:
            planes, plane = 1, size
        self.planes, self.plane = planes, plane
        self.ppad = _round_up(max(plane, 1), 4 * vl)
        keep = _Keep(ffi)
        self.keep = keep
        p = ffi.new("r8_elt *")
        keep.objects.append(p)
        self.params = p
        p.kind = kind
        p.in0_type = _IN_TYPES[np.dtype(node.inputs[0].dtype)]
        p.in1_type = _IN_TYPES[np.dtype(node.inputs[1].dtype)] if kind else 0
        p.planes, p.plane = planes, plane
        self._fill_operand(p.h, shift)
        self._fill_operand(p.r, scale)
        bound = _elementwise_bound(kind, node, shift, scale)
        p.post, p.npost, p.out_type = build_posts(keep, ffi, post_ops, self._fill_operand, out_type.dtype,
                                                  input_bound=bound)
        p.threads = threads
        self.function = getattr(lib, f"r8_elt_{suffix}")
        self.binary = kind != 0
        self.lock = threading.Lock()
        self.ffi = ffi
        self.size = size

    def _fill_operand(self, struct: Any, operand: Any) -> None:
        a = np.asarray(operand, np.float32)
        if a.size == 1:
            _scalar_operand(self.keep, struct, a.reshape(()))
            return
        shape = self.out_shape
        if a.ndim > len(shape):
            a = a.reshape(a.shape[a.ndim - len(shape):])
        aligned = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
        if self.planes > 1 and all(d == 1 for d in aligned.shape[2:]):
            values = np.broadcast_to(aligned.reshape(aligned.shape[:2]), shape[:2]).reshape(-1, 1)
            struct.data = self.keep.ptr("float *", np.repeat(values, _LANES, axis=1))
            struct.s_outer, struct.s_inner, struct.step = _LANES, 0, 0
            return
        table = np.zeros((self.planes, self.ppad), np.float32)
        table[:, :self.plane] = np.broadcast_to(aligned, shape).reshape(self.planes, self.plane)
        struct.data = self.keep.ptr("float *", table)
        struct.s_outer, struct.s_inner, struct.step = self.ppad, 1, self.vl

    def run(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
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


class _PoolPlan(_Reused):
    """What MaxPool and AvgPool plans share: the window geometry (from the reference's own
    geometry function, with its errors), the C struct's common fields, and the run wrapper."""

    op_name = ""
    kernel_name = ""

    def __init__(self, ffi: Any, lib: Any, variant: str, node: Any, threads: int, struct: str,
                 geometry: Any, extra_attrs: tuple[str, ...] = ()) -> None:
        a = node.attrs
        x_shape = node.inputs[0].type.shape

        def fail(reason: str, attribute: str, value: Any):
            raise InputError(f"refint8: {self.op_name}: {attribute}={value!r}: {reason}")

        (pt, pl), (pb, pr), (n, c, oh, ow) = geometry(
            x_shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
            pads_end=a["pads_end"], rounding_type=a["rounding_type"], auto_pad=a["auto_pad"],
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
        self.function = getattr(lib, f"{self.kernel_name}_{VARIANTS[variant][3]}")
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
        wpad = _round_up(wp + 2 * vl * 4, 64)           # a padded row plus two vectors of slack
        per_thread = (hp + 1) * wpad + self.kh * wpad + 2 * wpad
        self.scratch = _aligned(per_thread * max(threads, 1))
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

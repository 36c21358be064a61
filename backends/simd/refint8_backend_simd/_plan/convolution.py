"""Int8Convolution plans: phase-plane geometry, packed weights, zero-point terms (general, depthwise,
byte-plane and cell depthwise kernels)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import common
from .common import (AMX_OC_BLOCK, CONV_MR, CONV_NR, DW_SLACK, LANES, OC_BLOCK, TAIL_CELLS, VARIANTS, CCall, Keep, Reused,
                     aligned, ceil_div, requantization_fields, round_up, scalar_operand, wrap32)
from .post_ops import build_posts
from .fused_requantization import fused_requantization
from . import threshold_proof


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
_VBMI2 = 64  # r8_cpu_features bit: AVX-512 VBMI2 (vpexpandb)
_AMD = 128   # r8_cpu_features bit: an AMD CPU (r8_conv.rq_interleave)
#: the fewest input-channel steps (taps x 4-channel cells) a tile of the position kernel needs to
#: interleave its requantization on AMD (r8_conv.rq_interleave): fewer steps leave it 6 vectors a
#: step or more, which no longer hide behind the dot products (Zen 4: MobileNetV2's 16- and
#: 24-channel 1x1 layers 0.78x and 0.87x the time with each tile requantized from its
#: accumulators, its 3x3 stem 0.95x; ResNet-50's layers, 16 steps and more, 1.01-1.10x)
RQ_INTERLEAVE_MIN_STEPS = 16
#: the same on a plane whose last vector is a tail (conv_tail): MobileNetV2's 14x14 expansions
#: (16 and 24 steps, 3 tiles and a tail a block) took 0.90-0.94x the time with each tile
#: requantized from its accumulators (in the model, 1 thread, Zen 4); its layers of 48 steps and
#: more, and ResNet-50's 14x14 and 7x7 ones (64 and more), within 1 % either way. (Without a tail
#: the few-step layers keep the interleaving: ResNet-50's 64x56x56 -> 256 ones, fused with their
#: residual add, 1.09-1.11x the time from the accumulators.)
RQ_INTERLEAVE_MIN_STEPS_WITH_TAIL = 32
#: the variants with the fused chain's evaluation (r8_rq_fused_codes), whose depthwise kernels read
#: r8_conv.rq_proven
_FUSED_CODES = ("avx512", "avx512_vnni", "amx", "amx_emu")
#: the position kernels with rq_consume and the direct tiles (r8simd_conv.h; not AMX's blocks)
_POSITION_KERNELS = ("r8_conv_avx512", "r8_conv_avx512_vnni")


def _code_blocks(geo: "ConvGeometry", wb: int, plane_pos: int) -> np.ndarray:
    """r8_dwb's byte plane at stride 1 as 64-byte blocks: bit i of block b is set where byte 64b + i
    holds an input code (row yq is input row yq - pt, columns pl .. pl + W - 1), for the plane and
    its 64 bytes of slack."""
    index = np.arange((plane_pos + 64 + 63) // 64 * 64)
    row, col = index // wb, index % wb
    code = (index < plane_pos) & (row >= geo.pt) & (row < geo.pt + geo.h) & (col >= geo.pl) & (col < geo.pl + geo.w)
    bits = code.reshape(-1, 64).astype(np.uint64) << np.arange(64, dtype=np.uint64)
    return np.bitwise_or.reduce(bits, axis=1).astype(np.uint64)


def _byte_kernels_run(variant: str, lib: Any, has_zw: bool) -> bool:
    """Whether the byte depthwise kernels (r8_dwb, r8_dwc) can run a node: a VNNI build on a CPU
    with VBMI (vpermb), and no weight zero points."""
    return variant in ("avx512_vnni", "amx", "amx_emu") and bool(lib.r8_cpu_features() & _VBMI) and not has_zw


def _byte_depthwise_fits(variant: str, lib: Any, geo: "ConvGeometry", has_zw: bool) -> bool:
    """Whether a depthwise node can run r8_dwb: _byte_kernels_run, and the 4 bytes of every lane's
    cell inside one 64-byte load (15*sx + 3*dx <= 63)."""
    return _byte_kernels_run(variant, lib, has_zw) and 15 * geo.sx + 3 * geo.dx <= 63


def _cell_depthwise_fits(variant: str, lib: Any, geo: "ConvGeometry", has_zw: bool) -> bool:
    """Whether a depthwise node can run r8_dwc (r8simd_dwc.h): _byte_kernels_run, one output
    channel a group, whole cells of 4 channels, and each lane's 4 taps inside its 64-byte load of
    16 cells (3*(sx + dx) <= 15). (It also needs the fused requantization, r8_conv.rq: the
    caller's.)"""
    return (_byte_kernels_run(variant, lib, has_zw) and geo.ocg == 1 and geo.c % 4 == 0
            and 3 * (geo.sx + geo.dx) <= 15)


def cell_depthwise() -> bool:
    """Whether r8_dwc runs a depthwise layer it can run (``common.CELL_DEPTHWISE`` "auto"): every
    one. In the model its cells feed the projections, which read them as their planes, and its
    pack reads the expand layers' NCHW codes (or cells). Measured on Zen 4 against r8_dwb, 1
    thread, MobileNetV2 (each layer's minimum over 120 inferences): the stride-1 layers 0.57-0.88x
    the time (session 31); the two stride-2 ones on 112x112 and 56x56 inputs 0.96x and 0.98x,
    their projections 0.81x and 0.88x (session 32, with the pack's blocks expanded: until then
    those two took 1.11-1.13x and the rule left them to r8_dwb). Alone, NCHW in and out (the pack
    interleaves 4 channel planes, the stores split each vector in 4), r8_dwc takes longer on large
    planes (144x56x56: 1.09x r8_dwb's time; 96x112x112 at stride 2: 1.15x). ("always" is the
    same; "never" leaves every layer to r8_dwb.)"""
    return common.CELL_DEPTHWISE != "never"


def channels_across_lanes(geo: ConvGeometry) -> bool:
    """Whether the kernel with output channels across the lanes (r8simd_conv_oc.h) runs this
    convolution, where the variant offers it (``common.CHANNELS_ACROSS_LANES`` "auto"). It computes
    real output positions only, but its epilogue runs after the sums instead of interleaved with
    them and a last block of fewer than 64 channels idles lanes. So: each output sums at least 512
    products, at most 1/8 of the blocks' channel lanes idle, and the plane has at most 64 positions
    (where 16 positions a vector waste the most lanes: a 7x7 plane is 49 outputs in 64 lanes, or 56
    virtual positions with the padding columns), or up to 196 (784 with more than one tap) where
    each output sums at least 1024 products. Measured against the position kernel, 1 thread:
    ResNet-50's 7x7 layers 0.79-0.95x the time, 14x14 layers with 1024+ products 0.82-0.98x, 28x28
    3x3 layers 0.97x; declined: its 56x56 3x3 layers 1.04x, 1x1 layers of 64-512 input channels on
    14x14-56x56 planes 1.05-1.41x, MobileNetV2's 7x7 layers of 160-320 input channels 1.03-1.18x and
    its 160-channel outputs (a block of 32: 1.09x)."""
    if common.CHANNELS_ACROSS_LANES != "auto":
        return common.CHANNELS_ACROSS_LANES == "always"
    positions, products = geo.oh * geo.ow, geo.cg * geo.kh * geo.kw
    lanes = ceil_div(geo.ocg, OC_BLOCK) * OC_BLOCK
    if products < 512 or 8 * (lanes - geo.ocg) > lanes:
        return False
    return positions <= 64 or (products >= 1024 and positions <= (784 if geo.kh * geo.kw > 1 else 196))


def _real_tap_ranges(outputs: int, k: int, stride: int, dilation: int, pad: int, size: int) -> np.ndarray:
    """For each output row (or column) o, the kernel rows (columns) whose input o*stride +
    t*dilation - pad is a real one, first | end << 16 (a contiguous range; 0 where none is)."""
    out = np.zeros(outputs, np.int32)
    for o in range(outputs):
        real = [t for t in range(k) if 0 <= o * stride + t * dilation - pad < size]
        if real:
            out[o] = real[0] | (real[-1] + 1) << 16
    return out


def virtual_row_width(w: int, pl: int, pr: int, kw: int, sx: int, dx: int, depthwise: bool, vl: int) -> int:
    """Wq, the positions per row of a phase plane (r8simd_api.h): ceil(Wp / sx), except at
    horizontal stride 1 with 0 < pr <= pl and pr <= (kw - 1)*dx, where each row's pr right padding
    columns are left out (Wq = pl + W): a tap that reads past a row's end reads the next row's
    left padding, the same pad code (a column pr - 1 or less past Wq is column pr - 1 or less of
    the next row, inside its pl pads; past the last row, the planes' rows of pads), and a row
    still holds every output column (OW = Wp - (kw - 1)*dx <= Wq). One virtual column fewer per
    row for 3x3 pad 1: ResNet-50's 28x28 3x3 layers 4 % faster, its 14x14 ones 2 % (14 vectors ->
    13 and a one-position tail), MobileNetV2's depthwise layers 4-5 % on 112x112 to 28x28 and 7x7
    planes; not for the depthwise kernels where a padded row is whole vectors (Wp % VL == 0, the
    14x14 planes at 16 lanes: 3-5 % slower with a column fewer)."""
    wp = w + pl + pr
    if sx == 1 and 0 < pr <= pl and pr <= (kw - 1) * dx and not (depthwise and wp % vl == 0):
        return pl + w
    return ceil_div(wp, sx)


#: positions per chunk of r8_conv.im2col's packing (r8_amx.c: AMX_CHV vectors of 16)
IM2COL_CHUNK = 512


def _im2col_fits(geo: ConvGeometry, amx: bool, depthwise: bool, has_zw: bool) -> bool:
    """Whether AMX runs the layer on unfolded windows (r8_conv.im2col, r8_amx.c amx_im2col_item):
    one group of at most 4 input channels (one channel cell: the phase planes would give each tile
    product 4 of its 64 products; ResNet-50's and MobileNetV2's stems), a window of more than one
    tap, horizontal dilation 1 (a cell's codes are consecutive columns), horizontal stride at most 4
    (the pack's 64-byte window) and no weight zero points (no window sums for these rows)."""
    return (amx and not depthwise and geo.group == 1 and geo.cg <= 4 and geo.kh * geo.kw > 1
            and geo.dx == 1 and geo.sx <= 4 and not has_zw)


def _im2col_rows(geo: ConvGeometry) -> int:
    """r8_conv.im2col's rows: (input channel, kernel row, group of 4 kernel columns)."""
    return geo.cg * geo.kh * ceil_div(geo.kw, 4)


def _im2col_weights(geo: ConvGeometry, w64: np.ndarray) -> np.ndarray:
    """The weights in im2col's row order, as a 1x1 layer's [1][OC][rows*4][1][1]: row
    (c*kh + ky)*ceil(kw/4) + gx, byte j = w[oc][c][ky][4*gx + j] (0 past kw)."""
    ngx = ceil_div(geo.kw, 4)
    padded = np.zeros((1, geo.ocg, geo.cg, geo.kh, ngx * 4), np.int64)
    padded[..., :geo.kw] = w64
    return padded.reshape(1, geo.ocg, _im2col_rows(geo) * 4, 1, 1)


def _position_weights(geo: ConvGeometry, w64: np.ndarray, zw: np.ndarray, mode: int, amx: bool,
                      ck: int, kc: int) -> np.ndarray:
    """The general kernels' packed weights, flat: [G][OCg/6][kh][kw][ck][6][4] int8 (mode 0),
    [G][OCg/6][kh][kw][ck][6][2] int16 w - zw (mode 1, exact s16), AMX's A tiles
    [G][OCg/32][kh][kw][ck/kc][32][kc*4]; channels past Cg and output channels past OCg are 0."""
    group, ocg, cg, kh, kw = geo.group, geo.ocg, geo.cg, geo.kh, geo.kw
    if mode == 1:
        nob = ceil_div(ocg, CONV_NR)
        full = np.zeros((group, nob * CONV_NR, ck * 2, kh, kw), np.int16)
        full[:, :ocg, :cg] = w64 - zw.reshape(group, ocg, 1, 1, 1)           # s16 range
        packed = full.reshape(group, nob, CONV_NR, ck, 2, kh, kw).transpose(0, 1, 5, 6, 3, 2, 4)
    elif amx:
        nob = ceil_div(ocg, AMX_OC_BLOCK)
        full = np.zeros((group, nob * AMX_OC_BLOCK, ck * 4, kh, kw), np.int8)
        full[:, :ocg, :cg] = w64
        packed = full.reshape(group, nob, AMX_OC_BLOCK, ck // kc, kc * 4, kh, kw).transpose(0, 1, 5, 6, 3, 2, 4)
    else:
        nob = ceil_div(ocg, CONV_NR)
        full = np.zeros((group, nob * CONV_NR, ck * 4, kh, kw), np.int8)
        full[:, :ocg, :cg] = w64
        packed = full.reshape(group, nob, CONV_NR, ck, 4, kh, kw).transpose(0, 1, 5, 6, 3, 2, 4)
    return np.ascontiguousarray(packed).reshape(-1)


def _tap_pairs(tap_phase: list[int], tap_off: list[int]) -> list[tuple[int, int | None]]:
    """The taps in (phase, plane offset) order, each with its mate, the tap of its phase at plane
    offset off + 1 (None: none), a mate leaving the list: one s16 pair cell at position v then holds
    both taps' values (r8_dw's items, _lone_pairs' cells of a lone channel)."""
    where = {(tap_phase[t], tap_off[t]): t for t in range(len(tap_phase))}
    pairs, used = [], set()
    for t in sorted(range(len(tap_phase)), key=lambda t: (tap_phase[t], tap_off[t])):
        if t in used:
            continue
        mate = where.get((tap_phase[t], tap_off[t] + 1))   # later in the order: never used before
        used.update((t,) if mate is None else (t, mate))
        pairs.append((t, mate))
    return pairs


def _lone_pairs(tap_phase: list[int], tap_off: list[int], ck: int) -> list[tuple[int, int, tuple]] | None:
    """The kernel's taps where the last of the ck s16 cells holds one channel (Cg odd;
    r8_conv.pack_ck): (kernel phase, plane offset, what the cell's two weights are) with kernel
    phase = phase*ck + cell. Every tap reads each full cell (weights ("cell", tap, c): channels 2c,
    2c + 1); the lone channel's taps go in pairs of one phase at plane offsets off and off + 1
    (_tap_pairs), whose values the paired cell holds at one position (weights ("lone", tap, mate or
    None)). None where no two taps pair (nothing saved). A 3-channel 7x7 stride-2 stem reads 77
    cells a position instead of 98, a 3x3 one 15 instead of 18."""
    ntaps = len(tap_phase)
    taps = [(tap_phase[t] * ck + c, tap_off[t], ("cell", t, c)) for t in range(ntaps) for c in range(ck - 1)]
    taps += [(tap_phase[t] * ck + ck - 1, tap_off[t], ("lone", t, mate))
             for t, mate in _tap_pairs(tap_phase, tap_off)]
    return taps if len(taps) < ntaps * ck else None


def _lone_pair_weights(geo: ConvGeometry, wz: np.ndarray, taps: list[tuple[int, int, tuple]]) -> np.ndarray:
    """The position kernel's weights for _lone_pairs' taps, flat: [G][OCg/6][tap][1][6][2] int16
    (w - zw: wz, [G, OCg, Cg, kh, kw]); output channels past OCg are 0."""
    group, ocg, cg = geo.group, geo.ocg, geo.cg
    by_tap = wz.reshape(group, ocg, cg, geo.kh * geo.kw)
    nob = ceil_div(ocg, CONV_NR)
    full = np.zeros((group, nob * CONV_NR, len(taps), 2), np.int16)
    for i, (_, _, (kind, t, other)) in enumerate(taps):
        if kind == "cell":
            full[:, :ocg, i, 0], full[:, :ocg, i, 1] = by_tap[:, :, 2 * other, t], by_tap[:, :, 2 * other + 1, t]
        else:
            full[:, :ocg, i, 0] = by_tap[:, :, cg - 1, t]
            if other is not None:
                full[:, :ocg, i, 1] = by_tap[:, :, cg - 1, other]
    packed = full.reshape(group, nob, CONV_NR, len(taps), 2).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(packed).reshape(-1)


class ConvPlan(Reused):
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
        depthwise = common.DEPTHWISE_KERNEL and cg == 1 and not variant.endswith("_pairs")
        wq = virtual_row_width(w, pl, pr, kw, sx, dx, depthwise, vl)
        geo = ConvGeometry(n, c, h, w, oc, oh, ow, group, cg, ocg, kh, kw, sy, sx, dy, dx, pt, pl,
                           hp, wp, wq)
        zw_raw = np.asarray(attrs["weight_zero_point"], np.int64).reshape(-1)
        self.im2col = _im2col_fits(geo, amx, depthwise, bool(np.any(zw_raw != 0)))
        if self.im2col:   # virtual positions are the output positions
            wq = ow
            geo = replace(geo, wq=wq)
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
        if self.im2col:   # one tap: the unfolded windows
            phases, tap_phase, tap_off, ntaps = [(0, 0)], [0], [0], 1
        kp = 4 if mode == 0 else 2
        ck = _im2col_rows(geo) if self.im2col else ceil_div(cg, kp)
        self.lone_pairs = (_lone_pairs(tap_phase, tap_off, ck) if mode == 1 and cg == 3 and not depthwise
                           and not self.im2col else None)

        # virtual positions and their output mapping
        nvirt = oh * wq
        nvec = ceil_div(nvirt, vl)
        nvec_alloc = round_up(nvec, 2) if amx else nvec
        plane_pos = round_up(nvec_alloc * vl + max(tap_off), 16)
        if plane_pos in (256, 512):
            # planes 1 or 2 KB apart put a tile's 16 rows (one a channel group) 4 or 2 to a page and
            # in few of the L1's sets: ResNet-50's 256x14x14 3x3 layer took 1.17-1.2x the time on
            # AMX and 1.05x on VNNI than with one line more (the 13 KB of its 56x56 planes did not;
            # 2 KB, 2 rows a page, is by analogy: no layer of the models measured has it)
            plane_pos += 16
        v = np.arange(nvec * vl)
        oy, ox = v // wq, v % wq
        valid = (ox < ow) & (oy < oh)
        bits = (valid.reshape(nvec, vl) << np.arange(vl)).sum(axis=1).astype(np.uint32)
        flat = np.where(valid, oy * ow + ox, 0).reshape(nvec, vl)
        first = np.argmax(valid.reshape(nvec, vl), axis=1)
        vstart = np.where(bits != 0, flat[np.arange(nvec), first], 0).astype(np.int32)
        nvpad = round_up((nvec_alloc + 4) * vl, 16)    # + room for a whole epilogue block
        self._valid_index = (v[valid], (oy * ow + ox)[valid])   # virtual -> output, for spatial tables

        # zero points
        za = np.broadcast_to(np.asarray(attrs["input_zero_point"], np.int64).reshape(-1), (c,))
        zw = np.broadcast_to(zw_raw, (oc,)) if zw_raw.size else np.zeros(oc, np.int64)
        has_zw = bool(np.any(zw != 0))
        w64 = weights.astype(np.int64).reshape(group, ocg, cg, kh, kw)

        keep = Keep(ffi)
        self.keep = keep
        p = ffi.new("r8_conv *")
        keep.objects.append(p)
        self.params = p
        kc = 0
        if amx:
            kc = min(ck, 16)
            ck = round_up(ck, kc)

        p.N, p.C, p.H, p.W = n, c, h, w
        p.OC, p.OH, p.OW = oc, oh, ow
        p.G, p.Cg, p.OCg = group, cg, ocg
        p.in_signed = int(signed)
        p.mode = mode
        p.pt, p.pl, p.sy, p.sx = pt, pl, sy, sx
        p.Wq = wq
        p.nphase = len(phases)
        p.phase_ry = keep.ptr("int *", np.array([r for r, _ in phases], np.int32))
        p.phase_rx = keep.ptr("int *", np.array([r for _, r in phases], np.int32))
        p.ck = ck
        if self.lone_pairs is not None:   # the kernel reads one cell a tap (r8_conv.pack_ck)
            p.nphase, p.ck, p.pack_ck = len(phases) * ck, 1, ck
            tap_phase = [kernel_phase for kernel_phase, _, _ in self.lone_pairs]
            tap_off = [off for _, off, _ in self.lone_pairs]
            ntaps = len(tap_phase)
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
        p.zw = p.ones = p.wsum = ffi.NULL
        p.tail_n = 0
        p.im2col, p.kh, p.kw, p.dy = int(self.im2col), kh, kw, dy
        self._vmask = bits       # each virtual vector's valid lanes (p.vmask), for _plan_tail
        self.nvpad = nvpad
        self.vl = vl
        p.post, p.npost, p.out_type = build_posts(keep, ffi, attrs["post_ops"], self._fill_operand,
                                                  out_type.dtype, input_bound=2.0 ** 31)
        p.threads = threads
        self.depthwise = depthwise
        self.ffi = ffi
        if self.depthwise or not has_zw:   # (r8_dw folds zw into its weights)
            # the 4- and 8-lane kernels requantize in their epilogue (rq_epilogue), without an FMA
            # nor does a plane of at most one tile (a 7x7 plane: 3 vectors and a tail; MobileNetV2's
            # 7x7 1x1 layers 0.93-0.95x the time from the accumulators, and the direct items also
            # prefetch the next step's weights: its classifier then 0.6x)
            least = RQ_INTERLEAVE_MIN_STEPS_WITH_TAIL if self._tail_lanes() else RQ_INTERLEAVE_MIN_STEPS
            interleave = vl == 16 and bool(lib.r8_cpu_features() & _AMD) and (
                depthwise or (p.ntaps * p.ck >= least and p.nvec > CONV_MR))
            self._plan_interleaved_requantization(ffi, p, keep, geo, interleave, contracted=vl == 16)
        if not self.depthwise:
            # One weight layout: r8_conv runs the channel-lane kernel wherever w_oc is set, and
            # no fused pair is built from a requantizing convolution (SimdBackend.fuse).
            lanes = variant == "avx512_vnni" and not has_zw and self.requantizes and channels_across_lanes(geo)
            self._plan_general(lib, p, keep, geo, w64, za, zw, has_zw, mode, amx, signed, ck, kc,
                               ntaps, nvpad, suffix, pack_weights=not lanes)
            if lanes:
                self._plan_channels_across_lanes(p, keep, geo, w64, ck, self.padding_codes)
            tail_rows = group * p.tail_n * ntaps * ceil_div(ck, 8) * TAIL_CELLS   # conv_tail_inputs
            if self.im2col:   # each thread's chunk of unfolded windows (r8_amx.c amx_im2col_item)
                self.scratch_bytes = max(threads, 1) * ck * IM2COL_CHUNK * 4
            else:
                self.scratch_bytes = (group * len(phases) * ck * plane_pos + tail_rows) * 4
        elif self.requantizes and _cell_depthwise_fits(variant, lib, geo, has_zw) and cell_depthwise():
            self._plan_cell_depthwise(lib, p, keep, geo, w64, za + (128 if signed else 0), threads, suffix)
        elif _byte_depthwise_fits(variant, lib, geo, has_zw):
            self._plan_byte_depthwise(lib, p, keep, geo, w64, za + (128 if signed else 0), nvec, vl,
                                      threads, suffix)
        else:
            self._plan_pair_depthwise(lib, p, keep, w64 - zw.reshape(group, ocg, 1, 1, 1), za,
                                      tap_phase, tap_off, len(phases) * plane_pos, threads, suffix)
        self._prove_requantization(ffi, lib, p, node, geo, suffix)
        self.lock = threading.Lock()

    @property
    def requantizes(self) -> bool:
        """Whether the kernel runs the requantization chain itself (r8_conv.rq: interleaved with
        the sums, per block of positions with the output channels across the lanes, on AMX
        between the next block's tile steps, or in the epilogue of the 4- and 8-lane kernels)."""
        return self.params.rq != self.ffi.NULL

    @property
    def consumes_requantizing(self) -> bool:
        """Whether a requantizing elementwise consumer (its own r8_elt.rq) can run inside this
        plan's requantizing kernel, in place on the codes it has just stored (r8simd_elt.h
        rq_consume): the position and channel-lane kernels of avx512 and avx512_vnni, with the
        requantization after each tile or interleaved (AMD) (not AMX, depthwise or s16 pairs)."""
        return self.requantizes and self.function.__name__ in _POSITION_KERNELS

    def _plan_general(self, lib: Any, p: Any, keep: Keep, geo: ConvGeometry, w64: np.ndarray,
                      za: np.ndarray, zw: np.ndarray, has_zw: bool, mode: int, amx: bool, signed: bool,
                      ck: int, kc: int, ntaps: int, nvpad: int, suffix: str, pack_weights: bool = True) -> None:
        """The general kernels (r8_conv_*, AMX included): weights packed in the variant's layout
        (unless pack_weights is false: the channel-lane kernel's own layout replaces them), the
        zero-point compensation, the padding codes and, with weight zero points on mode 0, the
        window-sum tables (see _plan/__init__.py for the arithmetic)."""
        group, ocg, cg, kh, kw, oc = geo.group, geo.ocg, geo.cg, geo.kh, geo.kw, geo.oc
        cpad = ck * (4 if mode == 0 else 2)
        if mode == 0:
            zap = za + (128 if signed else 0)
            pad = zap
            sum_w = w64.sum(axis=(3, 4))                                   # [G, OCg, Cg]
            za_g = zap.reshape(group, cg)
            comp = (zw.reshape(group, ocg) * (kh * kw) * za_g.sum(axis=1, keepdims=True)
                    - np.einsum("goc,gc->go", sum_w, za_g)).reshape(oc)
            if has_zw:
                cells = (np.arange(cpad).reshape(ck, 4) < cg).astype(np.uint8)   # [ck, 4] ones
                ones = np.broadcast_to(cells, (group, ntaps, ck, 4)).copy().view(np.int32)
                p.ones = keep.ptr("void *", ones)
                p.zw = keep.ptr("int *", wrap32(zw))
                self.wsum = aligned(group * nvpad * 4).view(np.int32)
                p.wsum = keep.ptr("int *", self.wsum)
        else:
            pad = za
            comp = np.zeros(oc, np.int64)
        p.comp = keep.ptr("int *", wrap32(comp))
        p.pad = keep.ptr("int *", np.asarray(pad, np.int32))
        self.padding_codes = pad   # (mode 0: the channel-lane kernel's padding products)
        self.function = getattr(lib, f"r8_conv_{suffix}")
        if not pack_weights:
            p.w = self.ffi.NULL
            return
        if not amx and not has_zw:
            self._plan_tail(p, keep)
        if self.im2col:
            packed = _position_weights(replace(geo, cg=_im2col_rows(geo) * 4, kh=1, kw=1),
                                       _im2col_weights(geo, w64), zw, mode, amx, ck, kc)
        elif self.lone_pairs is not None:
            packed = _lone_pair_weights(geo, w64 - zw.reshape(group, ocg, 1, 1, 1), self.lone_pairs)
        else:
            packed = _position_weights(geo, w64, zw, mode, amx, ck, kc)
        # + one group of tail cells: conv_tail reads whole groups, past the last block's last tap
        packed_buffer = aligned(packed.nbytes + TAIL_CELLS * 4)
        packed_buffer[:] = 0
        packed_buffer[:packed.nbytes] = packed.view(np.uint8)
        p.w = keep.ptr("void *", packed_buffer)
        self.weights = (p.w, packed.nbytes)   # every chunk of positions reads all of them

    def _plan_channels_across_lanes(self, p: Any, keep: Keep, geo: ConvGeometry, w64: np.ndarray,
                                    ck: int, pad: np.ndarray) -> None:
        """r8_conv.w_oc and oc_vpos (r8simd_conv_oc.h): the weights as [G][nob][kh][kw][ck][64][4]
        and each output position's virtual position oy*Wq + ox; where some output positions read
        only padding with some taps, the kernel rows each output row reads real input with
        (oc_tap_rows), the kernel columns of each run of output columns (oc_col_runs) and, unless
        every padding code `pad` is 0, the products of each tap with them (oc_pad_sums), so that
        tiles leave those taps out (ResNet-50's 3x3 layers on 7x7 planes 0.87x the time, 14x14
        0.96x, 28x28 0.99x: 18, 9 and 5 % of their products read padding)."""
        nob = ceil_div(geo.ocg, OC_BLOCK)
        full = np.zeros((geo.group, nob * OC_BLOCK, ck * 4, geo.kh, geo.kw), np.int8)
        full[:, :geo.ocg, :geo.cg] = w64
        packed = full.reshape(geo.group, nob, OC_BLOCK, ck, 4, geo.kh, geo.kw).transpose(0, 1, 5, 6, 3, 2, 4)
        buffer = aligned(packed.size)
        buffer[:] = np.ascontiguousarray(packed).reshape(-1).view(np.uint8)
        p.w_oc = keep.ptr("void *", buffer)
        self.weights = (p.w_oc, buffer.nbytes // (geo.group * nob))   # one block: an item's
        oy, ox = np.divmod(np.arange(geo.oh * geo.ow), geo.ow)
        p.oc_vpos = keep.ptr("int *", (oy * geo.wq + ox).astype(np.int32))
        rows = _real_tap_ranges(geo.oh, geo.kh, geo.sy, geo.dy, geo.pt, geo.h)
        cols = _real_tap_ranges(geo.ow, geo.kw, geo.sx, geo.dx, geo.pl, geo.w)
        if np.any(rows != geo.kh << 16) or np.any(cols != geo.kw << 16):
            p.oc_tap_rows = keep.ptr("int *", rows)
            edges = [0] + [x for x in range(1, geo.ow) if cols[x] != cols[x - 1]] + [geo.ow]
            runs = np.array([(a, b, cols[a]) for a, b in zip(edges, edges[1:])], np.int32)
            p.oc_col_runs = keep.ptr("int *", runs.reshape(-1))
            p.oc_ncol_runs = len(runs)
            if np.any(pad != 0):   # sums[t, oc] = sum over c of pad[c] * w[oc, c, t]
                by_group = pad.reshape(geo.group, geo.cg)
                sums = np.einsum("gocyx,gc->yxgo", w64, by_group).reshape(geo.kh * geo.kw, geo.oc)
                p.oc_pad_sums = keep.ptr("int *", wrap32(sums))

    def _plan_tail(self, p: Any, keep: Keep) -> None:
        """r8_conv.tail_* (r8simd_conv.h conv_tail) where the last virtual vector has at most
        VL/4 valid lanes (1 of 16 on a 7x7 plane): its positions are computed against the tiles'
        own weights with the output channels across the lanes instead of a vector per output
        channel; their inputs, each cell repeated for the CONV_NR channels of a block, are rows in
        the scratch after the phase planes (conv_tail_inputs)."""
        lanes = self._tail_lanes()
        if not lanes:
            return
        p.tail_pos = keep.ptr("int *", np.array([(len(self._vmask) - 1) * self.vl + i for i in lanes], np.int32))
        p.tail_n = len(lanes)

    def _tail_lanes(self) -> list[int]:
        """The valid lanes of the last virtual vector where it makes a tail (_plan_tail: one vector
        before it, at most VL/4 of its lanes valid), else none."""
        vl, bits = self.vl, self._vmask
        lanes = [i for i in range(vl) if int(bits[-1]) >> i & 1]
        return lanes if len(bits) >= 2 and len(lanes) <= vl // 4 else []

    def _plan_interleaved_requantization(self, ffi: Any, p: Any, keep: Keep, geo: ConvGeometry,
                                         interleave: bool, contracted: bool = True) -> None:
        """r8_conv.rq (r8simd_conv.h conv_compute_rq, r8_amx.c amx_rq_channels, rq_channel
        for the depthwise kernels, and rq_epilogue on SSE4.2 and AVX2: ``contracted`` false, acc*A
        + B without an FMA) where the built post-op table is exactly Multiply, Add,
        reciprocal Quantize (types 0, 1, 8) with operands constant over each output plane, the
        stores take the values as they are (codes in range, never NaN), and the fused chain's
        bound allows it (fused_requantization: its A and B appended, then ol as int32 bits;
        rq_near_limit; the three again field by field for the tail, rq_columns); with rq_ol_zero
        (every ol 0) and rq_ol_flip (else every ol -128: i8 codes), and rq_saturate (256 levels, no
        fused value near 2^31: the stores' saturation clamps, r8simd_rq.h rq_level).
        ``interleave``: rq_interleave, the requantization between the next tile's input-channel
        steps (on an AMD CPU, for a depthwise layer or one of at least RQ_INTERLEAVE_MIN_STEPS
        input-channel steps a tile, RQ_INTERLEAVE_MIN_STEPS_WITH_TAIL where the plane ends in a
        tail, on a plane of more than one tile); elsewhere from each tile's accumulators once it is
        done (on this Sapphire-Rapids-class Xeon the interleaved loop took 1.1-1.2x the time:
        vpdpbusd issues on the ports of the float operations, where Zen 4 runs them beside it)."""
        table = requantization_fields(ffi, p.post, p.npost, p.out_type, geo.n * geo.oc, (0, 1, 8),
                                      ((0, 0), (1, 0), (2, 0), (2, 2),            # s, b, il, ol
                                       (2, 1), (2, 4), (2, 5), (2, 6)))           # ih - il, oh, lo, hi
        if table is None:
            return
        fused = fused_requantization(table[:, 0], table[:, 1], table[:, 2], table[:, 4],
                                     p.post[p.npost - 1].steps, contracted)
        if fused is None:
            return
        a, b, limit = fused
        ol_bits = table[:, 3].astype(np.int32).view(np.float32)                            # ol as int32 bits
        self._rq_table = np.column_stack([table.astype(np.float32), a, b, ol_bits])
        p.rq = keep.ptr("float *", self._rq_table)
        p.rq_columns = keep.ptr("float *", self._rq_table[:, 8:11].T)   # A, B, ol bits: rows over the planes
        p.rq_near_limit = limit
        p.rq_ol_zero = int(not np.any(table[:, 3]))                                        # ol
        p.rq_ol_flip = int(not p.rq_ol_zero and bool(np.all(table[:, 3] == -128)))      # i8 codes
        # |acc| <= K * 255 * 128 (|q - za| <= 255, weights s8 without zero points): fma(acc, A, B)
        # stays far below 2^31, where the conversion of the unclamped value would give INT_MIN
        most = geo.cg * geo.kh * geo.kw * 255.0 * 128.0
        p.rq_saturate = int(p.post[p.npost - 1].steps == 255
                            and bool(np.all(np.abs(a.astype(np.float64)) * most + np.abs(b) < 2.0**30)))
        p.rq_interleave = int(interleave)

    def _prove_requantization(self, ffi: Any, lib: Any, p: Any, node: Any, geo: ConvGeometry,
                              suffix: str) -> None:
        """r8_conv.rq_proven (_plan/threshold_proof.py: the planes whose fused chain gives the
        reference's code for every accumulator the layer can reach) where a kernel reads it: the
        direct tiles of avx512 and avx512_vnni (a block of proven planes), r8_dwb and the AVX-512
        builds' r8_dw (a channel). Not for the interleaved tiles (on Zen 4 the check's
        float operations issue beside vpdpbusd: leaving them out measured level), the channel-lane
        kernel or AMX's blocks, which keep the check."""
        if not (self.requantizes and threshold_proof.ENABLED):
            return
        name = self.function.__name__
        direct = name in _POSITION_KERNELS and not p.rq_interleave and p.w_oc == ffi.NULL
        depthwise = name.startswith(("r8_dwb_", "r8_dwc_")) or (name.startswith("r8_dw_") and suffix in _FUSED_CODES)
        if not (direct or depthwise):
            return
        # |acc|: |q - za| <= 255, s8 weights, no zero points, and an int32 (the kernels'). (A and B
        # may move by a few float32 steps: rq_saturate's bound, 2^30, leaves room for them.)
        reach = min(geo.cg * geo.kh * geo.kw * 255 * 128, 2**31 - 2)
        proven = threshold_proof.prove_thresholds(ffi, getattr(lib, f"r8_rq_fused_codes_{suffix}"), p, self._rq_table,
                                                  node.attrs["post_ops"], geo.n, geo.oc, reach)
        if proven.any():
            p.rq_proven = self.keep.ptr("unsigned char *", proven.astype(np.uint8))

    def _plan_pair_depthwise(self, lib: Any, p: Any, keep: Keep, wz: np.ndarray, za: np.ndarray,
                             tap_phase: list[int], tap_off: list[int], planes_per_thread: int,
                             threads: int, suffix: str) -> None:
        """r8simd_dw.h r8_dw: one channel's planes of s16 pair cells (q - za) per thread; taps
        paired into items (same phase, plane offsets off and off + 1), weights (w - zw) as s16 pairs
        [OC][item]; acc = sum (q - za)*(w - zw); comp 0, no window sums."""
        oc = wz.shape[0] * wz.shape[1]
        ntaps = len(tap_phase)
        wz = wz.reshape(oc, ntaps)                                          # |wz| <= 255
        items = [(tap_phase[t], tap_off[t], t, mate) for t, mate in _tap_pairs(tap_phase, tap_off)]
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
        p.zw = keep.ffi.NULL
        p.ones = keep.ffi.NULL
        p.wsum = keep.ffi.NULL
        p.pad = keep.ptr("int *", np.asarray(za, np.int32))
        self.scratch_bytes = max(threads, 1) * (planes_per_thread + DW_SLACK) * 4
        self.function = getattr(lib, f"r8_dw_{suffix}")

    def _plan_byte_depthwise(self, lib: Any, p: Any, keep: Keep, geo: ConvGeometry, w64: np.ndarray,
                             zap: np.ndarray, nvec: int, vl: int, threads: int, suffix: str) -> None:
        """r8simd_dwb.h r8_dwb: byte planes per row phase, taps of a kernel row in cells of 4."""
        wb = geo.sx * geo.wq
        row_phases: list[int] = []
        cells, weights = [], []
        w = w64.reshape(geo.oc, geo.kh, geo.kw)
        for ky in range(geo.kh):
            ph = ky * geo.dy % geo.sy
            if ph not in row_phases:
                row_phases.append(ph)
            for j in range(ceil_div(geo.kw, 4)):
                cells.append((row_phases.index(ph), (ky * geo.dy // geo.sy) * wb + 4 * j * geo.dx))
                cell = np.zeros((geo.oc, 4), np.int8)
                taps = w[:, ky, 4 * j:4 * j + 4]
                cell[:, :taps.shape[1]] = taps
                weights.append(cell)
        self._dwb_weights = np.ascontiguousarray(np.stack(weights, axis=1)).view(np.int32).reshape(geo.oc, -1)
        max_off = max(off for _, off in cells)
        rows = ceil_div(geo.sx * nvec * vl + max_off + 64, wb)
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
        p.comp = keep.ptr("int *", wrap32(comp))
        p.pad = keep.ptr("int *", np.asarray(zap, np.int32))
        # whole cache lines a thread (r8simd_dwb.h r8_dwb: no line shared between the cores)
        self.scratch_bytes = max(threads, 1) * round_up(len(row_phases) * plane_pos + 64, 64)
        self.function = getattr(lib, f"r8_dwb_{suffix}")
        if geo.sy == 1 and lib.r8_cpu_features() & _VBMI2:
            self._dwb_pack_mask = _code_blocks(geo, wb, plane_pos)
            p.pack_mask = keep.ptr("unsigned long long *", self._dwb_pack_mask)

    def _plan_cell_depthwise(self, lib: Any, p: Any, keep: Keep, geo: ConvGeometry, w64: np.ndarray,
                             zap: np.ndarray, threads: int, suffix: str) -> None:
        """r8simd_dwc.h r8_dwc: two padded cell planes of 4 channels per thread, the taps of a kernel
        row in cells of 4, vectors of 4 positions x 4 channels (weights [C/4][kh][cells][16 lanes][4]),
        the plane's vectors listed (input byte, first output position, count), the input cells of
        each 64-byte block of the plane marked (pack_mask, for dwc_pack)."""
        ncell = ceil_div(geo.kw, 4)
        w = w64.reshape(geo.c // 4, 4, geo.kh, geo.kw)                     # [c4][k][ky][kx]
        cells = np.zeros((geo.c // 4, geo.kh, ncell, 4, 4, 4), np.int8)    # [c4][ky][j][i][k][u]
        for j in range(ncell):
            taps = w[:, :, :, 4 * j:4 * j + 4].transpose(0, 2, 1, 3)       # [c4][ky][k][u]
            cells[:, :, j, :, :, :taps.shape[3]] = taps[:, :, None]
        self._dwc_weights = aligned(cells.size)
        self._dwc_weights[:] = cells.reshape(-1).view(np.uint8)
        width = geo.wp
        i, k, u = np.meshgrid(np.arange(4), np.arange(4), np.arange(4), indexing="ij")
        self._dwc_perm = (4 * (geo.sx * i + geo.dx * u) + k).astype(np.uint8).reshape(-1)
        tap_off = [(ky * geo.dy * width + 4 * j * geo.dx) * 4 for ky in range(geo.kh) for j in range(ncell)]
        rows = (geo.oh - 1) * geo.sy + (geo.kh - 1) * geo.dy + 1
        # the last cell a load reads: the last row's last vector (4 positions), its last tap cell
        last = (rows - 1) * width + geo.sx * 4 * (ceil_div(geo.ow, 4) - 1) + 4 * (ncell - 1) * geo.dx + 16
        comp = -zap * w.reshape(geo.c, -1).sum(axis=1)
        p.w = keep.ptr("void *", self._dwc_weights)
        p.perm = keep.ptr("void *", self._dwc_perm)
        p.ntaps = len(tap_off)
        p.tap_off = keep.ptr("int *", np.array(tap_off, np.int32))
        p.comp = keep.ptr("int *", wrap32(comp))
        p.pad = keep.ptr("int *", np.asarray(zap, np.int32))
        # the vectors: each output row's positions in runs of 4 (input byte, output position, count)
        vectors = [((oy * geo.sy * width + geo.sx * ox) * 4, oy * geo.ow + ox, min(4, geo.ow - ox))
                   for oy in range(geo.oh) for ox in range(0, geo.ow, 4)]
        p.dwc_nvec = len(vectors)
        p.dwc_vec = keep.ptr("int *", np.array(vectors, np.int32).reshape(-1))
        p.dwc_bytes = round_up(max(rows * width, last) * 4, 64)   # whole cache lines a plane
        # each 64-byte block of the plane: its input cells (dwc_pack; the rows' real ones)
        y, x = np.divmod(np.arange(p.dwc_bytes // 4), width)
        real = (y < rows) & (y >= geo.pt) & (y < geo.pt + geo.h) & (x >= geo.pl) & (x < geo.pl + geo.w)
        self._dwc_pack_mask = (real.reshape(-1, 16) << np.arange(16)).sum(axis=1).astype(np.uint64)
        p.pack_mask = keep.ptr("unsigned long long *", self._dwc_pack_mask)
        self.scratch_bytes = max(threads, 1) * 2 * p.dwc_bytes     # two planes a thread
        self.function = getattr(lib, f"r8_dwc_{suffix}")

    def _fill_operand(self, struct: Any, operand: np.ndarray) -> None:
        """Per (n, oc) scalars if the operand is constant over the plane, else a virtual-layout plane."""
        g = self.geometry
        shape = (g.n, g.oc, g.oh, g.ow)
        a = np.asarray(operand, np.float32)
        a4 = a.reshape((1,) * (4 - a.ndim) + a.shape)
        if a4.size == 1:
            scalar_operand(self.keep, struct, a4.reshape(()))
        elif a4.shape[2] == 1 and a4.shape[3] == 1:
            values = np.broadcast_to(a4[:, :, 0, 0], shape[:2]).reshape(-1, 1)
            table = np.repeat(values, LANES, axis=1)            # [N*OC, lanes]
            struct.data = self.keep.ptr("float *", table)
            struct.s_outer, struct.s_inner, struct.step = LANES, 0, 0
        else:
            full = np.broadcast_to(a4, shape).reshape(g.n * g.oc, g.oh * g.ow)
            table = np.zeros((g.n * g.oc, self.nvpad), np.float32)
            virtual, output = self._valid_index
            table[:, virtual] = full[:, output]
            struct.data = self.keep.ptr("float *", table)
            struct.s_outer, struct.s_inner, struct.step = self.nvpad, 1, self.vl

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.run_kernel(x)

    def c_call(self) -> CCall:
        return CCall((0,))

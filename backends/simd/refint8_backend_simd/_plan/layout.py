"""Activations in 4-channel cells between the steps of a sequence (OpenVINO's blocked layouts).

Every mode-0 convolution reads its input as phase planes of 4-byte cells, 4 channels' u8 codes a
position (r8simd_api.h r8_conv), and packs them from the NCHW codes at every call: on AMX about
1.1-1.5 ms of a 9 ms ResNet-50 inference (the build that skipped every pack, timing only, ran in
0.82-0.92x the time; backends/simd/README.md, session 19). Where a tensor lives only inside the
sequence (``PlannedStep.read_after`` false), the sequence may keep it in another layout: here
``[N][C/4][S][4 bytes]``, cell ``(c4, y*W + x)`` holding channels ``4*c4 .. 4*c4 + 3`` at
``(y, x)``, ``S >= H*W`` positions a cell plane (r8_conv.in_cells, out_cells). A 1x1 layer at
stride 1 without padding then reads the cells as its planes (no pack at all); any other mode-0
convolution packs its planes from them (a copy of cell runs, r8simd_kernels.h conv_pack_cells).

Tensors that must share a layout form a *class*: an elementwise step whose operands are all single
values (its ``r8_elt`` views the output as one plane: ResNet's residual Int8Add) computes the same
function of each byte in any layout, so its inputs and output join one class. A class goes into
cells when every tensor in it

* stays inside the sequence (not read after it, not read by a step run from Python), is made by
  one of its C steps and has the class's one shape (N, C, H, W), C a multiple of 4, u8 or i8
  codes (the cells hold bytes; only the convolutions that read them take unsigned ones);
* is made by a step that can store cells: a requantizing convolution of one group without a
  fused consumer whose codes need no added ol (every ol 0, or every ol -128: i8 codes), on AMX
  (its blocks interleave 4 channels' levels into cells with the packs and a vpshufb, r8_amx.c
  amx_rq_cell_channels) or on avx512_vnni's channel-lane kernel (r8simd_conv_oc.h
  oc_requantize_cells, the same packs), or a layout-blind elementwise step of the class;
* is read only by steps that can read cells: mode-0 convolutions of one group through their input
  (``in0``; alone or fused with their consumer, whose other input stays NCHW), of unsigned codes
  and without a lone-channel pack, or layout-blind steps of the class;

and at least one convolution reads the class (else nothing is saved). S is the plane_pos of the
1x1 readers that use the cells as their planes (the most common one; the others pack), else H*W
rounded up to 16 positions. The plans' structs are set once, when the sequence is built, and the
plans then run only inside it (``SequenceRun``); run alone they raise (``in_sequence_layout``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .common import round_up
from .convolution import ConvPlan
from .elementwise import ElementwisePlan
from .fusion import ConvConsumerPlan

#: whether sequences keep tensors in cells (tests and benchmarks compare both)
ENABLED = True
#: the AMX kernels, whose requantizing blocks can store cells
_CELL_STORES = ("r8_conv_amx", "r8_conv_amx_emu")
#: the kernel whose channel-lane convolutions (r8_conv.w_oc) can store cells
_CHANNEL_LANE_STORES = "r8_conv_avx512_vnni"
#: the element types of codes, which a cell holds as bytes
_CODES = (np.dtype(np.uint8), np.dtype(np.int8))


@dataclass
class CellClass:
    """Tensors (the C steps making them) in one layout, the convolutions reading them, and S."""

    tensors: list[int] = field(default_factory=list)
    readers: list[int] = field(default_factory=list)   # convolutions reading a tensor of the class
    positions: int = 0                                  # S, positions a cell plane


def _blind(plan: Any) -> bool:
    """Whether an elementwise step computes the same function of every byte (one plane, every
    operand one value) on codes (u8, i8) into codes: any layout of its tensors gives the same
    bytes."""
    p = getattr(plan, "params", None)
    return (isinstance(plan, ElementwisePlan) and plan.planes == 1 and len(plan.out_shape) == 4
            and np.dtype(plan.out_dtype) in _CODES and p.in0_type in (1, 2) and (p.kind == 0 or p.in1_type in (1, 2)))


def _stores_cells(plan: Any) -> bool:
    """Whether a convolution's kernel can store its codes (u8 or i8) as cells: AMX's (r8_amx.c
    amx_rq_cell_channels) and avx512_vnni's channel-lane kernel (r8simd_conv_oc.h
    oc_requantize_cells, where r8_conv.w_oc is set), without a fused consumer."""
    if not isinstance(plan, ConvPlan):
        return False
    p, ffi = plan.params, plan.ffi
    name = plan.function.__name__
    channel_lanes = name == _CHANNEL_LANE_STORES and p.w_oc != ffi.NULL and p.rq != ffi.NULL and not p.im2col
    if name not in _CELL_STORES and not channel_lanes:
        return False
    return (plan.requantizes and p.elt == ffi.NULL and p.G == 1 and p.OC % 4 == 0
            and (p.rq_ol_zero or p.rq_ol_flip) and np.dtype(plan.out_dtype) in _CODES)


def _convolution_reading(plan: Any) -> ConvPlan | None:
    """The convolution whose input a step reads: a ConvPlan's own, a fused pair's (ConvConsumerPlan:
    its argument in0 is the convolution's input, in1 the consumer's other input, read as NCHW)."""
    if isinstance(plan, ConvConsumerPlan):
        return plan.conv
    return plan if isinstance(plan, ConvPlan) else None


def _reads_cells(plan: Any, argument: str) -> bool:
    """Whether a convolution (alone or with its fused consumer) can take argument ``argument`` in
    cells (r8simd_kernels.h conv_on_cells): its input, mode 0, one group, unsigned codes, no
    lone-channel pack."""
    conv = _convolution_reading(plan)
    if conv is None or argument != "in0" or not conv.function.__name__.startswith("r8_conv_"):
        return False
    p = conv.params
    return p.mode == 0 and p.G == 1 and p.C % 4 == 0 and not p.in_signed and not p.pack_ck and not p.im2col


def _cells_are_planes(p: Any) -> bool:
    """r8simd_kernels.h conv_cells_are_planes but for in_cells: the 1x1 layers at stride 1 without
    padding whose planes are the image, one group, ck cell planes, no tail cells."""
    return (p.ntaps == 1 and p.nphase == 1 and p.tap_off[0] == 0 and p.sx == 1 and p.sy == 1 and p.pt == 0
            and p.pl == 0 and p.OH == p.H and p.OW == p.W and p.Wq == p.W and p.phase_ry[0] == 0
            and p.phase_rx[0] == 0 and p.G == 1 and p.ck * 4 == p.C and not p.pack_ck and not p.tail_n)


class _Classes:
    """Union-find over the C steps' outputs."""

    def __init__(self, count: int) -> None:
        self.parent = list(range(count))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def plan_cells(plans: Sequence[Any], inputs: Sequence[Any], escaping: Sequence[int]) -> list[CellClass]:
    """The classes of the sequence's C steps' outputs that go into cells (module docstring).
    ``plans``: the C steps' plans in order; ``inputs``: sequence._Input of every argument (its step,
    argument, producer or None); ``escaping``: the C steps whose outputs leave the C runs."""
    if not ENABLED:
        return []
    count = len(plans)
    classes = _Classes(count)
    refused: set[int] = set(escaping)             # outputs that must stay NCHW
    readers: dict[int, list[Any]] = {i: [] for i in range(count)}
    for source in inputs:
        if source.producer is not None:
            readers[source.producer].append(source)
    for source in inputs:
        if _blind(plans[source.step]):
            if source.producer is None:
                refused.add(source.step)
            else:
                classes.join(source.producer, source.step)
    for i, plan in enumerate(plans):
        if not (_blind(plan) or _stores_cells(plan)):
            refused.add(i)
        for source in readers[i]:
            if not (_blind(plans[source.step]) or _reads_cells(plans[source.step], source.argument)):
                refused.add(i)
    members: dict[int, CellClass] = {}
    for i in range(count):
        members.setdefault(classes.find(i), CellClass()).tensors.append(i)
    chosen = []
    for group in members.values():
        shapes = {tuple(plans[i].out_shape) for i in group.tensors}
        if refused.intersection(group.tensors) or len(shapes) != 1:
            continue
        (n, c, h, w), = shapes
        if c % 4:
            continue
        group.readers = sorted({s.step for i in group.tensors for s in readers[i]
                                if _convolution_reading(plans[s.step]) is not None})
        if not group.readers:
            continue
        direct = Counter(plans[r].params.plane_pos for r in group.readers if _cells_are_planes(plans[r].params))
        group.positions = direct.most_common(1)[0][0] if direct else round_up(h * w, 16)
        chosen.append(group)
    return chosen


def cell_bytes(plan: Any, positions: int) -> int:
    """The bytes of a cell tensor of ``plan``'s output shape: N*C*S."""
    n, c = plan.out_shape[0], plan.out_shape[1]
    return n * c * positions


def apply_cells(plans: Sequence[Any], chosen: Sequence[CellClass]) -> dict[int, int]:
    """Set the structs of the chosen classes' steps (r8_conv.out_cells and in_cells, the blind
    steps' one plane over the cells) and mark their plans; {C step: its output's bytes}."""
    sizes = {}
    for group in chosen:
        s = group.positions
        for i in group.tensors:
            plan = plans[i]
            if isinstance(plan, ConvPlan):
                plan.params.out_cells = s
            else:
                plan.params.plane = cell_bytes(plan, s)
            plan.in_sequence_layout = True
            sizes[i] = cell_bytes(plan, s)
        for r in group.readers:
            plans[r].params.in_cells = s
            plans[r].in_sequence_layout = _convolution_reading(plans[r]).in_sequence_layout = True
    return sizes

"""Activations in 4-channel cells between the steps of a sequence (OpenVINO's blocked layouts).

Every mode-0 convolution reads its input as phase planes of 4-byte cells, 4 channels' u8 codes a
position (r8simd_api.h r8_conv), and packs them from the NCHW codes at every call: on AMX about
1.1-1.5 ms of a 9 ms ResNet-50 inference (the build that skipped every pack, timing only, ran in
0.82-0.92x the time; backends/simd/README.md, session 19). Where a tensor lives only inside the
sequence (``PlannedStep.read_after`` false), the sequence may keep it in another layout: here
``[N][C/4][S][4 bytes]``, cell ``(c4, y*W + x)`` holding channels ``4*c4 .. 4*c4 + 3`` at
``(y, x)``, ``S >= H*W`` positions a cell plane (r8_conv.in_cells, out_cells). A 1x1 layer at
stride 1 without padding then reads the cells as its planes (no pack at all); any other mode-0
convolution packs its planes from them (a copy of cell runs, r8simd_conv_pack.h conv_pack_cells).

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
  oc_requantize_cells, the same packs); a convolution of one group fused with a requantizing
  consumer of single-value operands (ResNet's residual Int8Add: the same function of each pair
  of bytes) on the position kernel of avx512 and avx512_vnni: the convolution's codes go into
  each thread's ring of planes (float32 codes) in a buffer of the sequence (r8_conv.elt_codes,
  r8simd_conv.h conv_plane_codes), and the consumer takes them from there, 4 channels at a time, and stores
  its codes as cells (rq_consume_cells); a depthwise convolution on r8_dwc (r8simd_dwc.h: its
  vectors are 4 cells); or a layout-blind elementwise step of the class;
* is read only by steps that can read cells: mode-0 convolutions of one group through their input
  (``in0``; alone or fused with their consumer), of unsigned codes and without a lone-channel
  pack, depthwise convolutions on r8_dwc (of unsigned codes), layout-blind steps of the class, or
  a fused pair storing cells through its consumer's other input (``in1``: it reads that in cells
  or NCHW, r8_conv.elt_other_cells; a class read so by a pair whose own output is not chosen is
  refused in turn);

and at least one convolution reads the class through its input (else nothing is saved). S is the
plane_pos of the 1x1 readers that use the cells as their planes (the most common one; the others
pack), else H*W rounded up to 16 positions. The plans' structs are set once, when the sequence is
built, and the plans then run only inside it (``SequenceRun``); run alone they raise
(``in_sequence_layout``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .common import CODE_RING, aligned, round_up
from .convolution import ConvPlan
from .elementwise import ElementwisePlan
from .fusion import ConvConsumerPlan

#: whether sequences keep tensors in cells (tests and benchmarks compare both)
ENABLED = True
#: the AMX kernels, whose requantizing blocks can store cells
_CELL_STORES = ("r8_conv_amx", "r8_conv_amx_emu")
#: the kernel whose channel-lane convolutions (r8_conv.w_oc) can store cells
_CHANNEL_LANE_STORES = "r8_conv_avx512_vnni"
#: the depthwise kernel on cells (r8simd_dwc.h), which reads and stores them
_CELL_DEPTHWISE = "r8_dwc_"
#: the element types of codes, which a cell holds as bytes
_CODES = (np.dtype(np.uint8), np.dtype(np.int8))


@dataclass
class CellClass:
    """Tensors (the C steps making them) in one layout, the convolutions reading them, and S."""

    tensors: list[int] = field(default_factory=list)
    readers: list[int] = field(default_factory=list)   # convolutions reading a tensor of the class
    others: list[int] = field(default_factory=list)    # fused pairs reading one as their in1
    positions: int = 0                                  # S, positions a cell plane


def _blind(plan: Any) -> bool:
    """Whether an elementwise step computes the same function of every byte (one plane, every
    operand one value) on codes (u8, i8) into codes: any layout of its tensors gives the same
    bytes."""
    p = getattr(plan, "params", None)
    return (isinstance(plan, ElementwisePlan) and plan.planes == 1 and len(plan.out_shape) == 4
            and np.dtype(plan.out_dtype) in _CODES and p.in0_type in (1, 2) and (p.kind == 0 or p.in1_type in (1, 2)))


def _consumer_stores_cells(plan: Any) -> bool:
    """Whether a fused pair's requantizing consumer can store its codes as cells
    (r8simd_elt.h rq_consume_cells): the pair runs rq_consume (avx512, avx512_vnni) on the
    position kernel (not the channel-lane one, whose items would need a ring of 64 planes), the
    convolution has one group and whole cells of channels, the consumer one row of constants
    (single-value operands: the same function of every byte) and codes out."""
    if not isinstance(plan, ConvConsumerPlan) or not plan.conv.consumes_requantizing:
        return False
    p, ffi = plan.params, plan.ffi
    return (p.elt != ffi.NULL and p.elt.rq != ffi.NULL and p.elt.planes == 1 and p.G == 1 and p.OC % 4 == 0
            and p.w_oc == ffi.NULL and not p.im2col and len(plan.out_shape) == 4
            and np.dtype(plan.out_dtype) in _CODES)


def _stores_cells(plan: Any) -> bool:
    """Whether a step's kernel can store its codes (u8 or i8) as cells: a fused pair's consumer
    (_consumer_stores_cells), AMX's convolutions (r8_amx.c amx_rq_cell_channels), avx512_vnni's
    channel-lane kernel (r8simd_conv_oc.h oc_requantize_cells, where r8_conv.w_oc is set) and the
    depthwise r8_dwc (r8simd_dwc.h dwc_store) without a fused consumer."""
    if _consumer_stores_cells(plan):
        return True
    if not isinstance(plan, ConvPlan):
        return False
    p, ffi = plan.params, plan.ffi
    name = plan.function.__name__
    channel_lanes = name == _CHANNEL_LANE_STORES and p.w_oc != ffi.NULL and p.rq != ffi.NULL and not p.im2col
    cell_depthwise = name.startswith(_CELL_DEPTHWISE)
    if name not in _CELL_STORES and not channel_lanes and not cell_depthwise:
        return False
    return (plan.requantizes and p.elt == ffi.NULL and (p.G == 1 or cell_depthwise) and p.OC % 4 == 0
            and (p.rq_ol_zero or p.rq_ol_flip) and np.dtype(plan.out_dtype) in _CODES)


def _convolution_reading(plan: Any) -> ConvPlan | None:
    """The convolution whose input a step reads: a ConvPlan's own, a fused pair's (ConvConsumerPlan:
    its argument in0 is the convolution's input, in1 the consumer's other input, read as NCHW)."""
    if isinstance(plan, ConvConsumerPlan):
        return plan.conv
    return plan if isinstance(plan, ConvPlan) else None


def _reads_cells(plan: Any, argument: str) -> bool:
    """Whether a convolution (alone or with its fused consumer) can take argument ``argument`` in
    cells: its input (r8simd_conv.h conv_on_cells), mode 0, one group, unsigned codes, no
    lone-channel pack, or r8_dwc's (dwc_pack) of unsigned codes; or the consumer's other input
    where the consumer can store cells (read in cells only where it does: plan_cells)."""
    if argument == "in1":
        return _consumer_stores_cells(plan)
    conv = _convolution_reading(plan)
    if conv is None or argument != "in0":
        return False
    p = conv.params
    if conv.function.__name__.startswith(_CELL_DEPTHWISE):   # (its C a multiple of 4)
        return not p.in_signed
    if not conv.function.__name__.startswith("r8_conv_"):
        return False
    return p.mode == 0 and p.G == 1 and p.C % 4 == 0 and not p.in_signed and not p.pack_ck and not p.im2col


def _cells_are_planes(p: Any) -> bool:
    """r8simd_conv_pack.h conv_cells_are_planes but for in_cells: the 1x1 layers at stride 1 without
    padding whose planes are the image, one group, ck cell planes (a tail's rows then go into the
    scratch: r8_conv.tail_at)."""
    return (p.ntaps == 1 and p.nphase == 1 and p.tap_off[0] == 0 and p.sx == 1 and p.sy == 1 and p.pt == 0
            and p.pl == 0 and p.OH == p.H and p.OW == p.W and p.Wq == p.W and p.phase_ry[0] == 0
            and p.phase_rx[0] == 0 and p.G == 1 and p.ck * 4 == p.C and not p.pack_ck)


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
                                if s.argument == "in0" and _convolution_reading(plans[s.step]) is not None})
        group.others = sorted({s.step for i in group.tensors for s in readers[i] if _other_of_pair(plans, s)})
        if not group.readers:
            continue
        direct = Counter(plans[r].params.plane_pos for r in group.readers if _cells_are_planes(plans[r].params))
        group.positions = direct.most_common(1)[0][0] if direct else round_up(h * w, 16)
        chosen.append(group)
    return _drop_unread_in1(chosen, classes)


def _other_of_pair(plans: Sequence[Any], source: Any) -> bool:
    """Whether an input is a fused pair's other input (its consumer's, ``in1``)."""
    return source.argument == "in1" and isinstance(plans[source.step], ConvConsumerPlan)


def _drop_unread_in1(chosen: list[CellClass], classes: _Classes) -> list[CellClass]:
    """The chosen classes less those a fused pair reads through its other input (in1) while the
    pair's own output is not in a chosen class (it reads cells only where it stores them), until
    none is left so."""
    while True:
        stored = {classes.find(i) for group in chosen for i in group.tensors}
        kept = [group for group in chosen if all(classes.find(r) in stored for r in group.others)]
        if len(kept) == len(chosen):
            return chosen
        chosen = kept


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
            if isinstance(plan, (ConvPlan, ConvConsumerPlan)):
                plan.params.out_cells = s
            else:
                plan.params.plane = cell_bytes(plan, s)
            plan.in_sequence_layout = True
            sizes[i] = cell_bytes(plan, s)
        for r in group.readers:
            plans[r].params.in_cells = s
            plans[r].in_sequence_layout = _convolution_reading(plans[r]).in_sequence_layout = True
        for r in group.others:
            plans[r].params.elt_other_cells = s
    return sizes


def _ring_bytes(plan: ConvConsumerPlan) -> int:
    """A pair's rings of codes, one a thread: CODE_RING planes of OH*OW float32 codes (r8simd_conv_epilogue.h
    RQ_RING), rounded up to 64 bytes."""
    return max(plan.params.threads, 1) * round_up(CODE_RING * int(np.prod(plan.out_shape[2:])) * 4, 64)


def bind_consumer_codes(plans: Sequence[Any], chosen: Sequence[CellClass]) -> np.ndarray | None:
    """One buffer for the convolution codes of the chosen classes' fused pairs (r8_conv.elt_codes,
    a ring of planes a thread; the steps run one after the other, so they share it), pointed at
    by each; None without such pairs. The caller keeps it."""
    pairs = [plans[i] for group in chosen for i in group.tensors if isinstance(plans[i], ConvConsumerPlan)]
    if not pairs:
        return None
    buffer = aligned(max(_ring_bytes(pair) for pair in pairs))
    for pair in pairs:
        pair.params.elt_codes = pair.ffi.cast("void *", pair.ffi.from_buffer(buffer))
    return buffer

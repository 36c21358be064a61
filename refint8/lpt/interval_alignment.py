"""Interval alignment: FakeQuantizes that meet at a Concat share ONE dequantization.

OpenVINO's AlignQuantizationIntervals / AlignQuantizationParameters markup and the interval-aligned
branch of FakeQuantizeDecomposition (``NetworkHelper::calculateLevels``).

Why
    A Concat of dequantized inputs keeps one scale per input slice (:mod:`.concat`). A layer port
    that needs ONE scale for the whole tensor (``restrictions.per_tensor``, e.g. Convolution port
    0 on the CPU) cannot take that. So all FakeQuantizes that meet at the Concat are decomposed
    onto a common integer grid: one scale ``s`` and one zero point ``zp`` for all, each
    FakeQuantize keeping its own input range but producing only the codes of its own output
    sub-range, with fewer levels when its range is narrower.
The group
    Take the connected set of precision-preserving layers (``restrictions.PRECISION_PRESERVED``,
    Concat included) linked producer-to-consumer, together with the FakeQuantizes that produce
    their data inputs (and the precision-preserving consumers of those FakeQuantizes). It is
    aligned when
    - it contains a Concat, and
    - one of its layers feeds a port that requires per-tensor quantization, and
    - every data input of its layers comes from one of its FakeQuantizes or layers (no float
      tensor from elsewhere: then the Concat cannot run in int8 whatever the intervals), and
    - every FakeQuantize is an activation FakeQuantize with LPT levels, constant ranges and a
      scalar-like output range ``ol <= oh`` (a per-channel output range has no single interval).
    Otherwise each FakeQuantize is decomposed on its own (:mod:`.fake_quantize_decomposition`)
    and the Concat carries per-slice constants. refint8 aligns the whole connected group or none
    of it (OpenVINO's shared attributes can, in contrived graphs, align only part of a group).
    Not traversed (open): an AvgPool, which OpenVINO makes precision-preserving when an int8
    layer follows; and a single FakeQuantize reaching a per-tensor port through precision-
    preserving layers without a Concat, which OpenVINO also decomposes this way (rounding its
    zero point to an integer).
The shared dequantization (``calculate_levels``, all float32 as OpenVINO's C++ ``float``)
    For the combined interval ``[lowC, highC]`` (min of the output lows, max of the output highs)
    and the code range ``[min, max]`` of the chosen precision::

        width     = highC - lowC
        q_mul     = (max - min) / width                 # quantization multiplier
        s         = width / (max - min)                 # the shared scale (dequantizationMul)
        q_sub     = lowC - min * s
        zp        = round(-q_sub * q_mul)               # the shared zero point (dequantizationSub)
        lo'       = (ol - q_sub) * q_mul                # this FakeQuantize's codes, unrounded
        hi'       = (oh - q_sub) * q_mul
        levels'   = |round(hi') - round(lo')| + 1

    every operation rounded to float32, ``round`` = C's ``roundf``: half AWAY from zero (not the
    half-to-even of the FakeQuantize itself). ``width == 0`` gives ``s = 1``, ``zp = 0`` and one
    level. The zero point is always an integer.
Rewrite (each FakeQuantize of the group)
    ``FakeQuantize(x, il, ih, round(lo'), round(hi'), levels') -> u8/i8 codes`` (same input range),
    then ``Convert -> Subtract(zp) -> Multiply(s)`` (no Subtract when ``zp == 0``). Since
    ``levels' - 1 == round(hi') - round(lo')`` the codes are ``round(lo') + rint(t * (levels'-1))``
    with ``t = (x - il) / (ih - il)`` clipped to [0, 1].
Precision
    One for the whole group: the intersection of what every member's consumers accept
    (:func:`refint8.lpt.precisions.required_precisions`); within it, the preferred precision of the
    group's first FakeQuantize (graph order), else u8, else i8. (OpenVINO: the first FakeQuantize
    decomposed fixes the shared Precisions attribute for the others.)
The numbers change
    This is NOT an identity of the FakeQuantize graph: a member with a narrower range than the
    combined interval is quantized with the coarser shared step ``s`` (fewer levels over the same
    input range) and its end points move to the grid. With ``y`` the FakeQuantize output (step
    ``d = (oh - ol) / (levels - 1)``) and ``y'`` the aligned dequantized value, for every input::

        |y' - y| <= s/2 + d/2 + max(|s*(round(lo') - zp) - ol|, |s*(round(hi') - zp) - oh|)

    (both are roundings of affine maps of the same ``t``; two affine maps differ most at an end
    point), plus float32 rounding of a few ulps. :func:`bound` evaluates it. A member whose range
    IS the combined interval gets ``[min, max]`` and ``max - min + 1`` levels: exactly its
    ordinary decomposition when ``levels == max - min + 1`` (256 levels in u8/i8) and
    ``-q_sub * q_mul`` needed no rounding (e.g. ``lowC = 0``); a 255-level member on the u8 grid
    gets 256 levels, as in OpenVINO.
Declines (the whole group stays FP32, each member with the reason)
    members with different ``levels`` (OpenVINO's IntervalsAlignment then has ``minLevels = 0``
    and keeps them all FP32); a member left with ``levels' <= 2``; a member whose consumers accept
    no low precision (the Precisions attribute is shared through the Concat, so an empty set
    empties it for all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Node, Output, make_node
from . import dequantization
from .context import LptContext
from .precisions import required_precisions
from .quantization import QUANTIZATION_LEVELS, integer_range, precision_details
from .restrictions import PRECISION_PRESERVED, port_layer

_F32 = np.float32


def round_half_away(value: np.float32) -> np.float32:
    """C's ``roundf``: to the nearest integer, halves away from zero (exact for float32 input)."""
    magnitude = np.floor(abs(float(value)) + 0.5)  # float64: |v| + 0.5 is exact for |v| < 2^52
    return _F32(np.copysign(magnitude, float(value)))


@dataclass(frozen=True)
class Levels:
    """The result of ``calculate_levels`` for one output range inside a combined interval."""

    levels: int
    scale: np.float32           # dequantizationMul, shared by the group
    zero_point: np.float32      # dequantizationSub, shared by the group (an integer value)
    low: np.float32             # lo' before rounding
    high: np.float32            # hi' before rounding

    @property
    def code_low(self) -> int:
        return int(round_half_away(self.low))

    @property
    def code_high(self) -> int:
        return int(round_half_away(self.high))


def calculate_levels(code_min: int, code_max: int, combined_low: float, combined_high: float,
                     low: float, high: float) -> Levels:
    """``NetworkHelper::calculateLevels``, operation by operation in float32 (see module doc)."""
    lo_c, hi_c = _F32(combined_low), _F32(combined_high)
    if hi_c == lo_c:
        return Levels(1, _F32(1), _F32(0), lo_c, hi_c)
    span = _F32(code_max) - _F32(code_min)
    width = _F32(hi_c - lo_c)
    q_mul = _F32(span / width)
    scale = _F32(width / span)
    q_sub = _F32(lo_c - _F32(_F32(code_min) * scale))
    zero_point = round_half_away(_F32(-q_sub * q_mul))
    new_low = _F32(_F32(_F32(low) - q_sub) * q_mul)
    new_high = _F32(_F32(_F32(high) - q_sub) * q_mul)
    levels = int(abs(float(round_half_away(new_high)) - float(round_half_away(new_low))) + 1.0)
    return Levels(levels, scale, _F32(zero_point + _F32(0)), new_low, new_high)


@dataclass(frozen=True)
class Member:
    """One FakeQuantize of an aligned group and its place on the shared grid."""

    node: Node
    output_low: float
    output_high: float
    levels: Levels


@dataclass(frozen=True)
class Group:
    """FakeQuantizes meeting at Concat(s) whose result reaches a per-tensor port."""

    members: tuple[Member, ...]
    concats: tuple[Node, ...]
    low: float                  # the combined interval
    high: float
    precision: str
    code_min: int
    code_max: int

    @property
    def scale(self) -> np.float32:
        return self.members[0].levels.scale

    @property
    def zero_point(self) -> np.float32:
        return self.members[0].levels.zero_point


def bound(member: Member) -> float:
    """Largest ``|y' - y|`` between the aligned dequantized value and the FakeQuantize output.

    Excludes float32 rounding (add a few ulps of the range when comparing).
    """
    fq_levels = member.node.attrs["levels"]
    s, zp = float(member.levels.scale), float(member.levels.zero_point)
    step = (member.output_high - member.output_low) / (fq_levels - 1)
    ends = max(abs(s * (member.levels.code_low - zp) - member.output_low),
               abs(s * (member.levels.code_high - zp) - member.output_high))
    return abs(s) / 2 + step / 2 + ends


# -- finding the group -----------------------------------------------------------------------------


def _data_inputs(node: Node) -> list[Output]:
    """The inputs carrying data (all of a Concat's; the first of the other layers)."""
    return list(node.inputs) if node.type == "Concat" else list(node.inputs[:1])


def _scalar_range(node: Node) -> tuple[float, float] | None:
    """``(ol, oh)`` of an activation FakeQuantize that can join an aligned group, else None."""
    if node.type != "FakeQuantize" or node.attrs.get("output_type", "f32") != "f32":
        return None
    if node.inputs[0].node.type == "Constant" or node.attrs["levels"] not in QUANTIZATION_LEVELS:
        return None
    ranges = [src.node.constant_value() for src in node.inputs[1:]]
    if any(r is None for r in ranges):
        return None
    ol, oh = ranges[2], ranges[3]
    if not (dequantization.is_scalar_like(ol) and dequantization.is_scalar_like(oh)):
        return None
    low, high = float(ol.reshape(-1)[0]), float(oh.reshape(-1)[0])
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        return None
    return low, high


def _component(ctx: LptContext, fq: Node) -> tuple[list[Node], list[Node], bool, bool]:
    """The FakeQuantizes and precision-preserving layers connected to ``fq`` (see module doc).

    Returns ``(fake_quantizes, layers, foreign, per_tensor)``: ``foreign`` when a layer's data
    input comes from outside (not one of the group's FakeQuantizes or layers), ``per_tensor`` when
    a layer feeds a port that requires per-tensor quantization.
    """
    consumers = ctx.model.consumers()
    fqs: dict[int, Node] = {id(fq): fq}
    layers: dict[int, Node] = {}
    todo = [fq]
    foreign = per_tensor = False
    while todo:
        node = todo.pop()
        for user, port in consumers.get(node.output(0), []):
            if user.type in PRECISION_PRESERVED and node.output(0) in _data_inputs(user):
                if id(user) not in layers:
                    layers[id(user)] = user
                    todo.append(user)
            elif node.type != "FakeQuantize":
                layer = port_layer(user.type, user.attrs.get("group", 1))
                per_tensor |= ctx.restrictions.per_tensor(layer, port)
        if node.type == "FakeQuantize":
            continue
        for src in _data_inputs(node):
            producer = src.node
            if producer.type in PRECISION_PRESERVED:
                if id(producer) not in layers:
                    layers[id(producer)] = producer
                    todo.append(producer)
            elif producer.type == "FakeQuantize":
                if id(producer) not in fqs:
                    fqs[id(producer)] = producer
                    todo.append(producer)
            else:
                foreign = True
    order = {id(n): i for i, n in enumerate(ctx.model.nodes)}
    by_order = lambda nodes: sorted(nodes.values(), key=lambda n: order[id(n)])  # noqa: E731
    return by_order(fqs), by_order(layers), foreign, per_tensor


def find_group(ctx: LptContext, fq: Node) -> Group | str | None:
    """The aligned group of ``fq``; a string: the group needs alignment but cannot get it (why);
    None: no alignment (decompose ``fq`` on its own)."""
    fqs, layers, foreign, per_tensor = _component(ctx, fq)
    concats = tuple(n for n in layers if n.type == "Concat")
    if not concats or not per_tensor or foreign:
        return None
    ranges = [_scalar_range(f) for f in fqs]
    if any(r is None for r in ranges):
        return None
    where = ", ".join(f"'{c.name}'" for c in concats)
    levels = sorted({f.attrs["levels"] for f in fqs})
    if len(levels) > 1:
        return (f"the FakeQuantizes meeting at Concat {where} have different levels {levels}: "
                "OpenVINO cannot align their intervals and keeps them all FP32")
    accepted = frozenset({"u8", "i8"})
    for f in fqs:
        allowed, reason = required_precisions(ctx, f.output(0))
        if not allowed:
            return (f"'{f.name}' shares its interval with the FakeQuantizes at Concat {where} and "
                    f"cannot be int8 ({reason})")
        accepted &= allowed
    if not accepted:
        return f"the consumers of the FakeQuantizes at Concat {where} accept no common precision"
    first_low, first_high = ranges[0]
    preferred = precision_details(np.float32(first_low), np.float32(first_high), levels[0]).precision
    precision = preferred if preferred in accepted else ("u8" if "u8" in accepted else "i8")
    code_min, code_max = integer_range(levels[0], precision)
    low = float(np.min(np.float32([r[0] for r in ranges])))
    high = float(np.max(np.float32([r[1] for r in ranges])))
    members = []
    for f, (ol, oh) in zip(fqs, ranges):
        result = calculate_levels(code_min, code_max, low, high, ol, oh)
        if result.levels <= 2:
            return (f"'{f.name}' would keep only {result.levels} level(s) in the shared interval "
                    f"[{low:g}, {high:g}] of Concat {where} (OpenVINO keeps such a group FP32)")
        members.append(Member(f, ol, oh, result))
    return Group(tuple(members), concats, low, high, precision, code_min, code_max)


# -- the rewrite -----------------------------------------------------------------------------------


def transform(ctx: LptContext, fq: Node) -> bool | None:
    """Decompose (or decline) the whole aligned group of ``fq``; None if ``fq`` is not aligned."""
    group = find_group(ctx, fq)
    if group is None:
        return None
    if isinstance(group, str):
        for f in _component(ctx, fq)[0]:
            ctx.decline(f, group)
        return False
    for member in group.members:
        _decompose(ctx, group, member)
    return True


def _decompose(ctx: LptContext, group: Group, member: Member) -> None:
    node, result = member.node, member.levels
    low, high = (make_node("Constant", [], {"value": np.asarray(code, np.float32)},
                           f"{node.name}/{label}").output(0)
                 for code, label in ((result.code_low, "code_min"), (result.code_high, "code_max")))
    codes = make_node(
        "FakeQuantize",
        [node.inputs[0], node.inputs[1], node.inputs[2], low, high],
        {"levels": result.levels, "auto_broadcast": node.attrs["auto_broadcast"],
         "output_type": group.precision},
        node.name,
    )
    codes.rt_info.update(node.rt_info)
    codes.rt_info["interval_alignment"] = (
        f"aligned at Concat {', '.join(repr(c.name) for c in group.concats)}: shared interval "
        f"[{group.low:g}, {group.high:g}], scale {float(group.scale):g}, zero point "
        f"{float(group.zero_point):g}; codes [{result.code_low}, {result.code_high}], "
        f"{result.levels} levels (was {node.attrs['levels']})"
    )
    out = dequantization.build(codes.output(0), np.asarray(group.zero_point, np.float32),
                               np.asarray(group.scale, np.float32), f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)

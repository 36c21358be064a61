"""Add of two dequantized branches -> Int8Add (OpenVINO's AddTransformation).

Pattern
    ``Add(x1, x2)`` with both inputs dequantized low-precision data::

        x1 = s1 * (float32(q1) - sh1)          (Convert -> [Subtract(sh1)] -> [Multiply(s1)])
        x2 = s2 * (float32(q2) - sh2)

Rewrite
    One branch stays "full" (keeps a rewritten dequantization inside the int8 layer), the other
    becomes "empty" (its raw codes enter the layer)::

        Int8Add(full=q1, empty=q2; full_shift=h, full_scale=r) -> Multiply(s2)

    with ``r = s1 / s2`` and ``h = sh1 + s2 * sh2 / s1`` (branch 1 is the full one here; the
    names swap when branch 2 is). The cleanup fuses ``Multiply(s2)`` as the layer's first
    post-op. ``r`` and ``h`` are computed in float64 from the float32 constants and stored as
    float32 (OpenVINO folds them in the constants' precision, float32: the stored values may
    differ by one float32 ulp).
Identity
    ``s1*(q1 - sh1) + s2*(q2 - sh2) = s2 * ( (s1/s2) * (q1 - (sh1 + s2*sh2/s1)) + q2 )``, exact in
    real arithmetic. In float32 the int8 layer performs ``((q1 - h) * r + q2) * s2``, four
    roundings, where the fp32 graph performs ``(q1 - sh1)*s1 + (q2 - sh2)*s2``, five; together
    with the rounding of ``r`` and ``h`` the two results differ by at most
    ``8 * 2^-24 * (|s1|*(|q1| + |sh1| + |h|) + |s2|*(|q2| + |sh2|))`` per element (a derived,
    conservative bound). A following requantization (FakeQuantize) can therefore move by one
    step where its input lies within that distance of a rounding tie, nowhere else.
Choice of the empty branch (OpenVINO's ``EltwiseBaseTransformation::getNotEmpty``, in order)
    1. the branch whose codes are NOT produced directly by a FakeQuantize (e.g. codes that
       went through MaxPool or Reshape) is empty;
    2. both from a FakeQuantize, one with exactly one use and the other with several: the one
       with several uses is empty (uses of the dequantized value count one each, as after
       OpenVINO's separateInStandaloneBranch); any other pair of counts (2 and 3, say) goes on
       to the next rule;
    3. a branch whose codes are a Constant is full;
    4. data parents (the node before the FakeQuantizes, looking through a bias Add and a
       dequantization Multiply to a Convolution/MatMul): if both or neither are a
       Convolution/MatMul, a parent whose output is broadcast (all spatial dims 1) is full;
    5. a branch with several consumers between its codes and its parent is empty;
    6. if exactly one parent is a Convolution/MatMul, that branch is full;
    7. otherwise input 0 is full and input 1 empty.
    Simplifications: "parent" in rule 4 looks through FakeQuantize, a bias Add and its
    dequantization Multiply (int8 or fp32 Convolution/MatMul count alike); consumer counts are
    taken on refint8's graph, where a shared dequantization chain is not duplicated per consumer.
Not this transformation
    - ``Add(y, constant)``: a bias or a shift; it stays an Add and the cleanup fuses it into the
      producing int8 layer (the CPU plugin skips bias Adds, openvino-int8.md section 2.4).
      Returns False without a reason when the other input is not dequantized; with a reason
      when it is (OpenVINO would fold the constant into the zero point; refint8 keeps the Add,
      which then fuses as a post-op of the Dequantize layer, the same float32 operation).
Declines (the Add stays FP32, with the reason)
    - only one input is dequantized and the other is not a constant: OpenVINO moves that
      dequantization after the Add and feeds the fp32 input through a rescaled full branch
      (a mixed-precision Eltwise); refint8 keeps the Add FP32, reason "only one input is
      quantized";
    - neither input is dequantized;
    - a scale is zero or denormal (OpenVINO's ``multiplyHasZeroOrDenormal``), ``r`` or ``h`` not
      finite;
    - a constant that varies along an axis other than the channel axis 1, or does not
      broadcast to the output without changing its shape.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..graph import Node, Output, make_node
from . import dequantization
from .context import LptContext
from .convolution import dequantization_after

#: Layers after which OpenVINO's rules 4 and 6 count a branch as "after a weightable layer".
_TARGET_TYPES = frozenset({"Convolution", "MatMul", "Int8Convolution", "Int8MatMul"})
_FLOAT32_TINY = np.finfo(np.float32).tiny


def transform(ctx: LptContext, node: Node) -> bool:
    chains = two_dequantized_inputs(ctx, node)
    if chains is None:
        return False
    reason = check_constants(node, chains)
    if reason:
        return ctx.decline(node, reason)
    for chain in chains:
        if np.any(np.abs(chain.scale) < _FLOAT32_TINY):
            return ctx.decline(node, "a dequantization scale of its inputs is zero or denormal")

    full_index, rule = full_branch(ctx, chains)
    full, empty = chains[full_index], chains[1 - full_index]
    s1 = full.scale.astype(np.float64)
    sh1 = full.zero_point.astype(np.float64)
    s2 = empty.scale.astype(np.float64)
    sh2 = empty.zero_point.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        full_scale = np.asarray(s1 / s2, np.float32)
        full_shift = np.asarray(sh1 + s2 * sh2 / s1, np.float32)
    if not (np.all(np.isfinite(full_scale)) and np.all(np.isfinite(full_shift))):
        return ctx.decline(node, "the rescaled dequantization constants of the full branch are not finite")
    full_shift = np.where(full_shift == 0, np.float32(0), full_shift).astype(np.float32)  # no -0.0
    out_shape = tuple(node.output(0).shape)
    for name, value in (("full_shift", full_shift), ("full_scale", full_scale)):
        if not broadcasts_to(value.shape, out_shape):
            return ctx.decline(node, f"the rescaled {name} of shape {list(value.shape)} does not "
                                     f"broadcast to the output {list(out_shape)}")

    int8 = make_node(
        "Int8Add",
        [full.data, empty.data],
        {"full_shift": full_shift, "full_scale": full_scale, "post_ops": ()},
        node.name,
    )
    int8.rt_info.update(node.rt_info)
    int8.rt_info["layer_type"] = "Eltwise"
    int8.rt_info["empty_input"] = 1 - full_index
    int8.rt_info["empty_input_rule"] = rule
    out = dequantization_after(int8, empty.scale.astype(np.float32), f"{node.name}/dequantize")
    ctx.replace(node.output(0), out)
    return True


# -- shared with multiply.py (OpenVINO's EltwiseBaseTransformation) ---------------------------------


def two_dequantized_inputs(ctx: LptContext, node: Node) -> list[dequantization.Chain] | None:
    """Both input chains of a binary eltwise, or None (having recorded a reason if it matters)."""
    if len(node.inputs) != 2:
        return None
    chains = [dequantization.match(src) for src in node.inputs]
    constant = [src.node.constant_value() is not None for src in node.inputs]
    if chains[0] is not None and chains[1] is not None:
        return chains
    if chains[0] is None and chains[1] is None:
        if any(constant):
            return None  # bias / scale by a constant: a post-op candidate, not a two-branch op
        ctx.decline(node, "neither input is dequantized int8 data (no usable FakeQuantize before it)")
        return None
    other = 1 if chains[0] is not None else 0
    if constant[other]:
        ctx.decline(node, f"its other input is a constant: not a two-branch {node.type} (kept as a "
                          f"float32 {node.type}, fused after the dequantization where possible)")
    else:
        ctx.decline(node, "only one input is quantized (the other input is float32 data)")
    return None


def check_constants(node: Node, chains: Sequence[dequantization.Chain]) -> str:
    """Why the dequantization constants cannot be rewritten ('' if they can)."""
    out_shape = tuple(node.output(0).shape)
    rank = len(out_shape)
    for position, chain in enumerate(chains):
        for name, value in (("scale", chain.scale), ("zero point", chain.zero_point)):
            if value.ndim > rank or not broadcasts_to(value.shape, out_shape):
                return (f"the {name} of input {position} (shape {list(value.shape)}) does not "
                        f"broadcast to the output {list(out_shape)}")
            axis = dequantization.per_channel_axis(value, rank)
            if axis not in (None, 1):
                return f"the {name} of input {position} varies along axis {axis}, not per channel"
    return ""


def broadcasts_to(shape: Sequence[int], out_shape: Sequence[int]) -> bool:
    try:
        return np.broadcast_shapes(tuple(shape), tuple(out_shape)) == tuple(out_shape)
    except ValueError:
        return False


def full_branch(ctx: LptContext, chains: Sequence[dequantization.Chain]) -> tuple[int, str]:
    """The index of the full branch and the rule that chose it (module docstring, rules 1-7)."""
    data = [chain.data.node for chain in chains]
    from_fq = [n.type == "FakeQuantize" for n in data]
    if from_fq[0] != from_fq[1]:
        return (0 if from_fq[0] else 1), "codes not produced by a FakeQuantize are empty"
    if all(from_fq):
        uses = [_uses(ctx, chain.data, chain.nodes) for chain in chains]
        if uses[0] == 1 and uses[1] > 1:
            return 0, "the FakeQuantize with more uses is empty"
        if uses[0] > 1 and uses[1] == 1:
            return 1, "the FakeQuantize with more uses is empty"
    for i in (0, 1):
        if data[i].type == "Constant":
            return i, "constant codes are full"
    parents = [_data_parent(n) for n in data]
    target = [p.type in _TARGET_TYPES for p in parents]
    if target[0] == target[1]:
        for i in (0, 1):
            if _broadcasted(parents[i].output_types[0].shape):
                return i, "a broadcast branch is full"
    multiple = [_multiple_consumers(ctx, chain, parent) for chain, parent in zip(chains, parents)]
    if multiple[0] and not multiple[1]:
        return 1, "a branch with several consumers is empty"
    if multiple[1] and not multiple[0]:
        return 0, "a branch with several consumers is empty"
    if target[0] != target[1]:
        return (0 if target[0] else 1), "the branch after a Convolution/MatMul is full"
    return 0, "default: input 0 is full"


def _uses(ctx: LptContext, out: Output, through: Sequence[Node]) -> int:
    """Consumers of ``out`` (model outputs included), looking through the nodes ``through``."""
    total = 1 if ctx.is_model_output(out) else 0
    for consumer, _ in ctx.consumers(out):
        if any(consumer is n for n in through):
            total += _uses(ctx, consumer.output(0), through)
        else:
            total += 1
    return total


def _data_parent(node: Node) -> Node:
    """OpenVINO's getDataParent: skip FakeQuantizes; through a bias Add to its Convolution/MatMul."""
    while node.type == "FakeQuantize":
        node = node.inputs[0].node
    if node.type == "Add" and any(src.node.type == "Constant" for src in node.inputs):
        for src in node.inputs:
            before = src.node
            if before.type in _TARGET_TYPES:
                return before
            if (before.type == "Multiply" and len(before.inputs) == 2
                    and before.inputs[1].node.type == "Constant"
                    and before.inputs[0].node.type in _TARGET_TYPES):
                return before.inputs[0].node
    return node


def _broadcasted(shape: Sequence[int]) -> bool:
    """OpenVINO's isBroadcasted: every spatial dimension (from index 2; 1 for rank 2) is 1."""
    rank = len(shape)
    first = 0 if rank == 1 else (1 if rank == 2 else 2)
    return all(d == 1 for d in shape[first:])


def _multiple_consumers(ctx: LptContext, chain: dequantization.Chain, parent: Node) -> bool:
    """Does any node from the codes up to ``parent`` feed more than one consumer?"""
    if _uses(ctx, chain.data, chain.nodes) != 1:
        return True
    node = chain.data.node
    while node is not parent and node.inputs:
        src = node.inputs[0]
        if src.node.type == "Constant" and len(node.inputs) > 1:
            src = node.inputs[1]
        node = src.node
        if len(node.output_types) != 1 or _uses(ctx, node.output(0), ()) != 1:
            return True
    return False

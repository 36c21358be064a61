"""Cleanup: fuse what follows an int8 layer into its post-ops (the CPU plugin's graph optimizer).

Pattern
    An int8 layer with a float32 output (Int8Convolution, Int8MatMul, Int8Add, Int8Multiply,
    Int8MVN, or a Dequantize made from a leftover ``Convert(u8/i8 -> f32)``), followed by a chain
    of single-consumer nodes among: Multiply / Add / Subtract by a constant that broadcasts to the
    output (dequantization scale, bias, shift), Relu, Clamp, and a FakeQuantize with constant
    ranges. A FakeQuantize with an integer output type (a requantization) becomes ``Quantize`` and
    ends the chain: the layer then outputs u8/i8 codes.
Rewrite
    The fused nodes are appended to the layer's ``post_ops`` in graph order (see
    refint8.int8.post_ops for the float32 meaning of each); the counters report them NOT_RUN.
Identity
    Each post-op is the same single float32 operation the fused node performs, in the same order,
    so fusing changes no bit.
OpenVINO's CPU plugin departs here (the residual-pattern rounding drop)
    Its graph optimizer also fuses a residual Add (the sum with another tensor) into a
    convolution's post-ops. When those post-ops start with a FakeQuantize and later hold the Add
    and another FakeQuantize, its convolution node applies the first FakeQuantize as a clamp to
    its range only, without rounding to its levels (a source comment calls it an unsafe
    optimization, "drop rounding one special residual pattern"; openvino-int8.md section 6).
    refint8 follows the FakeQuantize definition and does not fuse the Add. On such blocks
    OpenVINO's result differs by one output step on 10-25% of the outputs of small random models;
    the same model with that FakeQuantize replaced by ``Clamp(input_low, input_high)`` reproduces
    OpenVINO on every value (spec_tests/io/test_agreement_openvino.py).
"""

from __future__ import annotations

import numpy as np

from ..graph import Node, Output, make_node, reinfer
from ..int8 import post_ops as post
from .context import LptContext

FUSING_LAYERS = ("Int8Convolution", "Int8MatMul", "Int8Add", "Int8Multiply", "Int8MVN", "Dequantize")


def _constant_operand(node: Node, out: Output) -> np.ndarray | None:
    """The constant other operand of a binary node whose data input is ``out`` (position 0 only
    for Subtract; either position for the commutative Add and Multiply)."""
    if len(node.inputs) != 2:
        return None
    first, second = node.inputs
    if first == out:
        return second.node.constant_value()
    if second == out and node.type in ("Add", "Multiply"):
        return first.node.constant_value()
    return None


def _as_post_op(node: Node, out: Output) -> post.PostOp | None:
    if node.type in ("Multiply", "Add", "Subtract"):
        operand = _constant_operand(node, out)
        if operand is None or operand.dtype != np.float32:
            return None
        if np.broadcast_shapes(operand.shape, out.shape) != tuple(out.shape):
            return None
        return {"Multiply": post.Multiply, "Add": post.Add, "Subtract": post.Subtract}[node.type](operand)
    if node.type == "Relu" and out.dtype == np.float32:
        return post.Relu()
    if node.type == "Clamp":
        return post.Clamp(node.attrs["min"], node.attrs["max"])
    if node.type == "FakeQuantize" and node.inputs[0] == out:
        ranges = [src.node.constant_value() for src in node.inputs[1:]]
        if any(r is None for r in ranges) or any(r.ndim > out.type.rank for r in ranges):
            return None
        if node.attrs["auto_broadcast"] == "none":
            return None
        if node.attrs["output_type"] == "f32":
            return post.FakeQuantize(*ranges, levels=node.attrs["levels"])
        return post.Quantize(*ranges, levels=node.attrs["levels"], element_type=node.attrs["output_type"])
    return None


def leftover_convert_to_dequantize(ctx: LptContext, node: Node) -> Node | None:
    """A ``Convert(u8/i8 -> f32)`` becomes a Dequantize layer with no post-ops yet."""
    if node.type != "Convert" or node.attrs["destination_type"] != "f32":
        return None
    if node.inputs[0].dtype not in (np.dtype(np.uint8), np.dtype(np.int8)):
        return None
    layer = make_node("Dequantize", [node.inputs[0]], {"post_ops": ()}, node.name)
    layer.rt_info.update(node.rt_info)
    ctx.replace(node.output(0), layer.output(0))
    return layer


def transform(ctx: LptContext, node: Node) -> bool:
    """Absorb the fusable chain after ``node`` (an int8 layer) into its post-ops."""
    if node.type not in FUSING_LAYERS:
        return False
    changed = False
    while post.output_dtype(node.attrs["post_ops"]) == np.float32:
        out = node.output(0)
        users = ctx.consumers(out)
        if len(users) != 1 or ctx.is_model_output(out):
            break
        consumer, _ = users[0]
        op = _as_post_op(consumer, out)
        if op is None:
            break
        node.attrs["post_ops"] = tuple(node.attrs["post_ops"]) + (op,)
        reinfer(node)
        ctx.record_fused(node, consumer)
        ctx.replace(consumer.output(0), out)
        changed = True
    return changed

"""The dequantization chain in the graph, and how transformations read and rebuild it.

LPT represents every dequantization explicitly, as OpenVINO does::

    q (u8/i8) -> Convert(f32) -> [Subtract(zero_point)] -> [Multiply(scale)] -> consumer

meaning ``x = (float32(q) - zero_point) * scale``, with constant ``zero_point`` and ``scale`` that
are scalars or vary along one axis (per channel). Transformations match a consumer whose input is
such a chain (:func:`match`), check their conditions on the constants, and rebuild the chain after
the consumer (:func:`build`), which "moves the dequantization through" the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dtypes
from ..graph import Model, Node, Output, make_node
from .restrictions import PRECISION_PRESERVED

#: rt_info key a transformation sets on a node whose output ends an int8 chain (float data where
#: a dequantization chain used to be, e.g. after a Clamp): the text says why.
CHAIN_ENDED = "int8_chain_ended"
NOT_DEQUANTIZED = "its input is not dequantized int8 data (no usable FakeQuantize before it)"


@dataclass
class Chain:
    """A matched dequantization chain ending at ``output``."""

    data: Output                    # the u8/i8 codes
    convert: Node
    subtract: Node | None
    multiply: Node | None
    output: Output                  # the float value the consumer reads

    @property
    def zero_point(self) -> np.ndarray:
        if self.subtract is None:
            return np.zeros((), np.float32)
        return self.subtract.inputs[1].node.attrs["value"]

    @property
    def scale(self) -> np.ndarray:
        if self.multiply is None:
            return np.ones((), np.float32)
        return self.multiply.inputs[1].node.attrs["value"]

    @property
    def precision(self) -> str:
        return dtypes.type_name(self.data.dtype)

    @property
    def nodes(self) -> list[Node]:
        return [n for n in (self.convert, self.subtract, self.multiply) if n is not None]


def _constant_operand(node: Node) -> np.ndarray | None:
    if len(node.inputs) != 2:
        return None
    return node.inputs[1].node.constant_value()


def match(out: Output) -> Chain | None:
    """The dequantization chain producing ``out``, or None if ``out`` is not dequantized data."""
    node = out.node
    multiply = subtract = None
    if node.type == "Multiply" and _constant_operand(node) is not None:
        multiply, node = node, node.inputs[0].node
    if node.type == "Subtract" and _constant_operand(node) is not None:
        subtract, node = node, node.inputs[0].node
    if node.type != "Convert" or not dtypes.is_low_precision(node.inputs[0].dtype):
        return None
    if node.attrs["destination_type"] != "f32":
        return None
    return Chain(node.inputs[0], node, subtract, multiply, out)


def not_dequantized_reason(out: Output) -> str:
    """Why ``out`` is not a dequantization chain, for a layer that needed one.

    The note (:data:`CHAIN_ENDED`) of the node that ended the int8 chain, found by walking back
    through precision-preserving layers; otherwise the generic :data:`NOT_DEQUANTIZED`.
    """
    node = out.node
    while True:
        if CHAIN_ENDED in node.rt_info:
            return node.rt_info[CHAIN_ENDED]
        if node.type not in PRECISION_PRESERVED or not node.inputs:
            return NOT_DEQUANTIZED
        node = node.inputs[0].node


def build(data: Output, zero_point: np.ndarray | None, scale: np.ndarray | None, name: str) -> Output:
    """Create ``Convert -> [Subtract(zero_point)] -> [Multiply(scale)]`` after ``data``."""
    y = make_node("Convert", [data], {"destination_type": "f32"}, f"{name}/convert").output(0)
    if zero_point is not None and np.any(zero_point != 0):
        zp = make_node("Constant", [], {"value": np.asarray(zero_point, np.float32)},
                       f"{name}/zero_point").output(0)
        y = make_node("Subtract", [y, zp], {}, f"{name}/subtract").output(0)
    if scale is not None and not np.all(scale == 1):
        sc = make_node("Constant", [], {"value": np.asarray(scale, np.float32)}, f"{name}/scale").output(0)
        y = make_node("Multiply", [y, sc], {}, f"{name}/multiply").output(0)
    return y


def per_channel_axis(constant: np.ndarray, rank: int) -> int | None:
    """The single axis a dequantization constant varies along (None: scalar-like).

    Returns -1 if it varies along several axes (not a valid dequantization constant).
    """
    shape = (1,) * (rank - constant.ndim) + tuple(constant.shape)
    varying = [axis for axis, size in enumerate(shape) if size != 1]
    if not varying:
        return None
    return varying[0] if len(varying) == 1 else -1


def is_scalar_like(constant: np.ndarray) -> bool:
    return constant.size == 1 or bool(np.all(constant == constant.reshape(-1)[0]))


def fresh_name(model: Model, base: str) -> str:
    """``base``, or ``base_1``, ``base_2`` ... if a node of the model already has that name."""
    names = {n.name for n in model.nodes}
    if base not in names:
        return base
    k = 1
    while f"{base}_{k}" in names:
        k += 1
    return f"{base}_{k}"

"""Cleanup: evaluate what is constant (FakeQuantize on weights of layers that stay FP32).

A FakeQuantize whose data and ranges are all constants (weights no int8 layer consumed) becomes a
float32 Constant holding exactly its reference output. The counters report it OPTIMIZED_OUT.
"""

from __future__ import annotations

from ..graph import Node, make_node
from ..ops import get_op
from .context import LptContext


def transform(ctx: LptContext, node: Node) -> bool:
    if node.type != "FakeQuantize" or any(src.node.type != "Constant" for src in node.inputs):
        return False
    value = get_op("FakeQuantize").compute(node.attrs, *[src.node.attrs["value"] for src in node.inputs])[0]
    folded = make_node("Constant", [], {"value": value}, f"{node.name}/folded")
    ctx.replace(node.output(0), folded.output(0))
    return True

"""Precision, explained: which layers of a compiled model run in int8, and why the others do not.

Every executed node of a lowered model runs I8 (its first input is u8/i8) or FP32. An FP32 node
that LPT could have lowered carries the reason recorded by the transformation that declined
(``node.rt_info["fp32_reason"]``); other FP32 nodes get a general reason from their type.
"""

from __future__ import annotations

from dataclasses import dataclass

from .graph import Node
from .int8 import post_ops
from .lpt.restrictions import SUPPORTED
from .runtime.compiled_model import CompiledModel, layer_type_of, precision_of


@dataclass(frozen=True)
class PrecisionRow:
    node: str
    layer_type: str
    precision: str
    reason: str


def _reason(node: Node, precision: str) -> str:
    if precision == "I8":
        fused = node.rt_info.get("fused", ())
        detail = f"fused: {', '.join(name for name, _ in fused)}" if fused else ""
        if "post_ops" in node.attrs and node.attrs["post_ops"]:
            detail = (detail + "; " if detail else "") + "post-ops: " + post_ops.describe(node.attrs["post_ops"])
        return detail
    if "fp32_reason" in node.rt_info:
        return node.rt_info["fp32_reason"]
    if node.type == "FakeQuantize" and node.attrs["output_type"] != "f32":
        return f"quantizes its float32 input into {node.attrs['output_type']} codes for the int8 layers after it"
    if node.type == "Dequantize" or node.type == "Convert":
        return "dequantization that no later layer could absorb"
    if node.type in SUPPORTED:
        return "its input is not quantized (no FakeQuantize before it, or the int8 chain stopped earlier)"
    return f"{node.type} has no int8 semantics"


def precision_report(compiled: CompiledModel) -> list[PrecisionRow]:
    rows = []
    for node in compiled.model.nodes:
        if node.type in ("Constant", "Parameter"):
            continue
        precision = precision_of(node)
        reason = _reason(node, precision)
        producer = compiled.fusions.get(node.name)
        if producer:   # the backend runs it inside the kernel of the node that feeds it
            reason = (reason + "; " if reason else "") + f"runs fused into '{producer}' (one kernel)"
        rows.append(PrecisionRow(node.name, layer_type_of(node), precision, reason))
    return rows


def format_precision_report(rows: list[PrecisionRow]) -> str:
    width = max([len(r.node) for r in rows] + [4]) + 2
    lines = [f"{'node':<{width}}{'layer type':<16}{'precision':<11}reason"]
    for r in rows:
        lines.append(f"{r.node:<{width}}{r.layer_type:<16}{r.precision:<11}{r.reason}")
    int8 = sum(r.precision == "I8" for r in rows)
    lines.append(f"{int8} of {len(rows)} executed layers run in int8")
    return "\n".join(lines)

"""State shared by the transformations of one LPT run."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..graph import Model, Node, Output
from .restrictions import OPENVINO_CPU, PrecisionRestrictions


@dataclass
class LptContext:
    model: Model
    restrictions: PrecisionRestrictions = OPENVINO_CPU
    #: Accumulation mode written into the int8 layers (the backend's declared mode).
    accumulation: str = "exact"
    #: Names of the nodes of the original model (to report OPTIMIZED_OUT rows at the end).
    original: dict[str, str] = field(default_factory=dict)

    def decline(self, node: Node, reason: str) -> bool:
        """Record why ``node`` stays FP32 (shown by ``refint8 explain``); returns False."""
        node.rt_info["fp32_reason"] = reason
        return False

    def replace(self, old: Output, new: Output) -> None:
        """Rewire every consumer of ``old`` to ``new`` and drop what became unreachable."""
        self.model.replace_uses(old, new)
        self.model.refresh()

    def consumers(self, out: Output) -> list[tuple[Node, int]]:
        return self.model.consumers().get(out, [])

    def is_model_output(self, out: Output) -> bool:
        return any(o == out for o in self.model.outputs.values())

    def record_fused(self, into: Node, fused: Node) -> None:
        """``fused`` now runs inside ``into``: the counters show it NOT_RUN."""
        rows = list(into.rt_info.get("fused", ()))
        rows.extend(fused.rt_info.get("fused", ()))
        rows.append((fused.name, fused.rt_info.get("layer_type", fused.type)))
        into.rt_info["fused"] = tuple(rows)

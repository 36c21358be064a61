"""Precision restrictions: which low precisions each input port of a layer accepts.

An input of the LPT pipeline, declared by the backend (``Capabilities.precision_restrictions``).
The default is OpenVINO CPU's table for machines without AMX
(``src/plugins/intel_cpu/src/transformations/transformation_pipeline.cpp``):

=================  ==============  ==============  ===========================
layer              port 0          port 1          granularity of port 0
=================  ==============  ==============  ===========================
Convolution        u8              i8 (weights)    per-tensor
GroupConvolution   u8              i8 (weights)    per-tensor, or per-channel
                                                   with equal scales per group
MatMul             u8, i8          i8              per-tensor
=================  ==============  ==============  ===========================

Every other layer LPT supports accepts u8 and i8. On AMX machines OpenVINO also allows i8 on
Convolution port 0 (``OPENVINO_CPU_AMX`` below); a backend may declare any table of its own.
Layers without an entry in ``SUPPORTED`` or ``PRECISION_PRESERVED`` accept no low precision at
all: a FakeQuantize that feeds one of them is not decomposed (OpenVINO's MarkupPrecisions gives
their ports an empty precision set).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Layers whose output keeps the low precision of their input (OpenVINO's PrecisionPreserved).
PRECISION_PRESERVED = frozenset(
    {"Relu", "MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Interpolate"}
)
#: Layers that consume a dequantized input (may change precision).
SUPPORTED = frozenset(
    {"Convolution", "MatMul", "Add", "Multiply", "AvgPool", "Clamp", "MVN", "FakeQuantize"}
) | PRECISION_PRESERVED


@dataclass(frozen=True)
class PortRestriction:
    precisions: frozenset[str]
    per_tensor: bool = False


@dataclass(frozen=True)
class PrecisionRestrictions:
    """Per-layer, per-port accepted precisions. A layer of ``SUPPORTED`` without an entry here
    accepts u8 and i8 on every port; a layer neither in ``SUPPORTED`` nor listed accepts none."""

    ports: dict[str, dict[int, PortRestriction]] = field(default_factory=dict)

    def allowed(self, layer: str, port: int) -> frozenset[str]:
        if layer not in SUPPORTED and layer not in self.ports:
            return frozenset()
        rule = self.ports.get(layer, {}).get(port)
        return rule.precisions if rule else frozenset({"u8", "i8"})

    def per_tensor(self, layer: str, port: int) -> bool:
        rule = self.ports.get(layer, {}).get(port)
        return bool(rule and rule.per_tensor)


def _table(conv_port0: frozenset[str]) -> PrecisionRestrictions:
    return PrecisionRestrictions({
        "Convolution": {0: PortRestriction(conv_port0, per_tensor=True),
                        1: PortRestriction(frozenset({"i8"}))},
        "GroupConvolution": {0: PortRestriction(conv_port0), 1: PortRestriction(frozenset({"i8"}))},
        "MatMul": {0: PortRestriction(frozenset({"u8", "i8"}), per_tensor=True),
                   1: PortRestriction(frozenset({"i8"}))},
    })


#: OpenVINO CPU without AMX (the default).
OPENVINO_CPU = _table(frozenset({"u8"}))
#: OpenVINO CPU on AMX machines: signed activations reach the convolution as i8.
OPENVINO_CPU_AMX = _table(frozenset({"u8", "i8"}))


def port_layer(node_type: str, group: int = 1) -> str:
    """The restriction-table name of a layer: grouped convolutions are ``GroupConvolution``."""
    return "GroupConvolution" if node_type == "Convolution" and group > 1 else node_type

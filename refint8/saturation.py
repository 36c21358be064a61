"""Saturation report: would this model give different numbers on a CPU without VNNI?

On x86 CPUs without VNNI, oneDNN's int8 kernels add each pair of u8 x s8 products into int16 with
saturation (``vpmaddubsw``; the ``s16_pairs`` accumulation mode of refint8.int8.accumulate). For a
model and an input, :func:`saturation_report` runs the int8 model on the reference, and for every
Int8Convolution and Int8MatMul computes the accumulators in both modes on the layer's actual input,
counting how many differ (and by how much). Zero differing accumulators everywhere means the model
gives the same int8 results on VNNI and non-VNNI CPUs for that input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .graph import Model
from .int8.convolution import int8_convolution_accumulator
from .int8.matmul import int8_matmul_accumulator
from .lowering import lower
from .runtime import compile_model

LAYERS = ("Int8Convolution", "Int8MatMul")


@dataclass(frozen=True)
class SaturationRow:
    layer: str
    layer_type: str
    accumulators: int
    differing: int
    max_difference: int

    @property
    def fraction(self) -> float:
        return self.differing / self.accumulators if self.accumulators else 0.0


def _accumulator(node, q: np.ndarray, mode: str) -> np.ndarray:
    a = node.attrs
    w = node.inputs[1].node.attrs["value"]
    common = dict(input_zero_point=a["input_zero_point"], weight_zero_point=a["weight_zero_point"],
                  accumulation=mode)
    if node.type == "Int8Convolution":
        return int8_convolution_accumulator(
            q, w, strides=a["strides"], dilations=a["dilations"], pads_begin=a["pads_begin"],
            pads_end=a["pads_end"], group=a["group"], **common)
    return int8_matmul_accumulator(q, w, **common)


def saturation_report(model: Model, inputs: Mapping[str, np.ndarray]) -> list[SaturationRow]:
    """Per int8 dot-product layer: accumulators that differ between ``exact`` and ``s16_pairs``."""
    lowered = lower(model)
    layers = [n for n in lowered.nodes if n.type in LAYERS]
    if not layers:
        return []
    probe = Model({f"in{i}": n.inputs[0] for i, n in enumerate(layers)}, lowered.parameters,
                  name=f"{model.name}/saturation")
    values = compile_model(probe, backend="reference", lpt=False).infer(dict(inputs))
    rows = []
    for i, node in enumerate(layers):
        q = values[f"in{i}"]
        exact = _accumulator(node, q, "exact")
        saturated = _accumulator(node, q, "s16_pairs")
        differing = exact != saturated
        rows.append(SaturationRow(
            node.name, node.rt_info.get("layer_type", node.type), int(exact.size),
            int(differing.sum()), int(np.abs(exact - saturated).max()) if differing.any() else 0,
        ))
    return rows


def format_saturation_report(rows: list[SaturationRow]) -> str:
    width = max([len(r.layer) for r in rows] + [5]) + 2
    lines = [f"{'layer':<{width}}{'type':<16}{'accumulators':>13}{'differing':>11}{'fraction':>10}{'max diff':>10}"]
    for r in rows:
        lines.append(f"{r.layer:<{width}}{r.layer_type:<16}{r.accumulators:>13}{r.differing:>11}"
                     f"{r.fraction:>10.4f}{r.max_difference:>10}")
    total = sum(r.differing for r in rows)
    lines.append("no accumulator differs: results are the same with and without VNNI" if total == 0
                 else f"{total} accumulators differ on a non-VNNI CPU (s16 pair saturation)")
    return "\n".join(lines)

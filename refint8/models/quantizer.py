"""A small post-training quantizer that places FakeQuantize the way NNCF's default preset does.

It exists so that tests, demos and benchmarks can build realistic quantized models from fp32
graphs; it is not part of the specification. Placement and ranges (NNCF ``performance`` preset,
see openvino-int8.md §4):

* weights of Convolution and MatMul (constant inputs): per output channel, symmetric, 255 levels,
  range ``[-max|w|, max|w|]`` per channel (tiny channels lifted to 1e-4);
* activations entering Convolution, MatMul, AvgPool, MVN, and Add / Multiply of two non-constant
  inputs (a bias Add is not quantized): per tensor, 256 levels, range from calibration (mean over
  samples of the per-sample min and max); unsigned ``[0, max]`` when the minimum is >= 0,
  otherwise signed symmetric ``[-max * 128/127, max]``. One FakeQuantize per produced tensor,
  shared by its consumers.
* quantization propagates through MaxPool, Reshape, Transpose, Squeeze, Unsqueeze, nearest
  Interpolate and Concat: a tensor produced by one of them is quantized at that layer's inputs
  instead; the inputs of one Concat share a single range (NNCF's unified scales).
* ``asymmetric=True`` (NNCF's ``mixed`` preset): activations ``[min, max]`` with the range widened
  so that the zero point is an integer.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..graph import Model, Node, Output, make_node

ACTIVATION_CONSUMERS = {"Convolution", "MatMul", "Add", "Multiply", "AvgPool", "MVN"}
PROPAGATING = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Interpolate", "Concat"}
WEIGHT_CONSUMERS = {"Convolution": 0, "MatMul": None}


def _constant(value: np.ndarray, name: str) -> Output:
    return make_node("Constant", [], {"value": np.asarray(value, np.float32)}, name).output(0)


def _fake_quantize(x: Output, low: np.ndarray, high: np.ndarray, levels: int, name: str) -> Output:
    lo = _constant(low, f"{name}/low")
    hi = _constant(high, f"{name}/high")
    return make_node("FakeQuantize", [x, lo, hi, lo, hi], {"levels": levels}, name).output(0)


def _weight_fq(weights: Output, node: Node) -> Output:
    w = weights.node.attrs["value"]
    if node.type == "Convolution":
        axis = 0
    else:  # MatMul: output channels are the last axis of [K, N], the first of [N, K]
        axis = 0 if node.attrs["transpose_b"] else w.ndim - 1
    reduce_axes = tuple(a for a in range(w.ndim) if a != axis)
    limit = np.abs(w).max(axis=reduce_axes, keepdims=True).astype(np.float32)
    limit = np.maximum(limit, np.float32(1e-4))
    return _fake_quantize(weights, -limit, limit, 255, f"{node.name}/weights_fq")


def activation_range(samples: Sequence[np.ndarray], asymmetric: bool) -> tuple[float, float]:
    """NNCF's MEAN_MINMAX range of one tensor over calibration samples."""
    low = float(np.mean([s.min() for s in samples]))
    high = float(np.mean([s.max() for s in samples]))
    if asymmetric:
        low, high = min(low, 0.0), max(high, 0.0)
        if high - low < 1e-6:
            return 0.0, 1e-3
        scale = (high - low) / 255
        zero_point = round(-low / scale)
        return -zero_point * scale, (255 - zero_point) * scale
    if low >= 0:
        return 0.0, max(high, 1e-3)
    limit = max(abs(low) * 127 / 128, abs(high), 1e-3)
    return -limit * 128 / 127, limit


def quantize(model: Model, calibration: Iterable[dict[str, np.ndarray]], *, asymmetric: bool = False,
             backend: str | None = "reference") -> Model:
    """A copy of the fp32 ``model`` with FakeQuantize on weights and activations (module doc)."""
    from ..graph import clone_model
    from ..runtime import compile_model

    work = clone_model(model)
    # which tensors need an activation FakeQuantize, and which of them must share one range
    targets: dict[Output, list[tuple[Node, int]]] = {}
    unified: dict[Output, int] = {}

    def place(src: Output, node: Node, port: int, group: int | None) -> None:
        producer = src.node
        if producer.type in PROPAGATING and not _propagation_blocked(producer):
            inner_group = group
            if producer.type == "Concat":
                inner_group = id(producer) if group is None else group
            for inner in producer.inputs[:1] if producer.type != "Concat" else producer.inputs:
                place(inner, producer, producer.inputs.index(inner), inner_group)
            return
        if producer.type in ("Constant", "FakeQuantize") or src.dtype != np.float32:
            return
        targets.setdefault(src, []).append((node, port))
        if group is not None:
            unified[src] = group

    for node in list(work.nodes):
        if node.type not in ACTIVATION_CONSUMERS:
            continue
        data_ports = [0] if node.type in ("Convolution", "MatMul") else list(range(len(node.inputs)))
        if node.type in ("Add", "Multiply") and any(s.node.type == "Constant" for s in node.inputs):
            continue
        for port in data_ports:
            place(node.inputs[port], node, port, None)

    probe = Model({f"t{i}": out for i, out in enumerate(targets)}, work.parameters, name="calibration")
    compiled = compile_model(probe, backend=backend, lpt=False)
    samples: dict[int, list[np.ndarray]] = {i: [] for i in range(len(targets))}
    for inputs in calibration:
        values = compiled.infer(inputs)
        for i in range(len(targets)):
            samples[i].append(values[f"t{i}"])

    ranges = {src: activation_range(samples[i], asymmetric) for i, src in enumerate(targets)}
    for group in set(unified.values()):  # Concat inputs: one shared range
        members = [src for src, g in unified.items() if g == group]
        low = min(ranges[m][0] for m in members)
        high = max(ranges[m][1] for m in members)
        for m in members:
            ranges[m] = (low, high)
    for src, users in targets.items():
        low, high = ranges[src]
        fq = _fake_quantize(src, np.float32(low), np.float32(high), 256, f"{src.node.name}/fq")
        for node, port in users:
            node.inputs[port] = fq
    for node in list(work.nodes):
        if node.type in WEIGHT_CONSUMERS and node.inputs[1].node.type == "Constant":
            node.inputs[1] = _weight_fq(node.inputs[1], node)
    work.refresh()
    return work


def _propagation_blocked(node: Node) -> bool:
    """Interpolate propagates quantization only in nearest mode."""
    return node.type == "Interpolate" and node.attrs["mode"] != "nearest"

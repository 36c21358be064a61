"""Level 2: random quantized graphs, end to end.

Hypothesis draws a *recipe* (a JSON-able description: input shape, a list of layers, a seed); the
builder turns it into an fp32 graph, :func:`refint8.models.quantizer.quantize` places
FakeQuantize the way NNCF does (calibrated on two random batches), and LPT lowers it with the
backend's declared capabilities (its accumulation mode and precision restrictions). Then:

1. every node of the lowered graph is checked IN CONTEXT: the backend's kernel for that node runs
   on the reference's values of its inputs and is compared with the node's tolerance, so a
   failure names the node and is not an amplified upstream difference;
2. the graph runs end to end through the runtime (``CompiledModel``: the backend, with the
   reference for the nodes it does not implement) and is compared with the reference run. When
   every node the backend executed is ``exact`` in the tolerance table, the outputs must be
   bit-identical; otherwise the end-to-end difference is reported, not judged (one ulp upstream
   can move a requantization by a whole step).

A saved graph case is its recipe (JSON) plus its input arrays (npz); the recipe rebuilds the graph.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from refint8 import opset as ops
from refint8.graph import Model, Output

from .strategies import seeds

GRAPH_KINDS = ("cnn", "branches", "mlp")


@dataclass
class GraphCase:
    recipe: dict[str, Any]
    inputs: dict[str, np.ndarray]
    note: str = ""

    @property
    def size(self) -> int:
        return sum(int(v.size) for v in self.inputs.values())

    def __repr__(self) -> str:
        return f"GraphCase({self.recipe['kind']}, seed {self.recipe['seed']}, {len(self.recipe['layers'])} layers)"

    def summary(self) -> str:
        layers = " -> ".join(_layer_text(spec) for spec in self.recipe["layers"])
        shapes = ", ".join(f"{k}: f32{list(v.shape)}" for k, v in self.inputs.items())
        return (f"graph {self.recipe['kind']}: input {self.recipe['input']} ({self.recipe['input_kind']}, "
                f"{'asymmetric' if self.recipe['asymmetric'] else 'symmetric'} quantization), seed "
                f"{self.recipe['seed']}\n  layers: {layers}\n  inputs: {shapes}")


def _layer_text(spec: dict[str, Any]) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "op")
    return f"{spec['op']}({extra})" if extra else spec["op"]


# -- recipes ---------------------------------------------------------------------------------------


def _conv_spec(draw, *, depthwise_ok: bool = True) -> dict[str, Any]:
    return {"op": "conv", "oc": draw(st.sampled_from([1, 3, 8, 16, 17])),
            "k": draw(st.sampled_from([1, 3])), "stride": draw(st.sampled_from([1, 1, 2])),
            "group": draw(st.sampled_from(["plain", "plain", "depthwise"] if depthwise_ok else ["plain"])),
            "bias": draw(st.booleans()), "act": draw(st.sampled_from([None, "relu", "relu", "relu6"]))}


@st.composite
def graph_recipe(draw, kind: str) -> dict[str, Any]:
    recipe: dict[str, Any] = {"kind": kind, "seed": draw(seeds()), "asymmetric": draw(st.booleans()),
                              "input_kind": draw(st.sampled_from(["unsigned", "signed"]))}
    if kind == "mlp":
        recipe["input"] = [draw(st.sampled_from([1, 2, 5])), draw(st.sampled_from([3, 16, 17, 33, 64]))]
        layers = []
        for _ in range(draw(st.integers(1, 3))):
            layers.append({"op": "fc", "n": draw(st.sampled_from([1, 4, 16, 17, 32])),
                           "bias": draw(st.booleans()),
                           "act": draw(st.sampled_from([None, "relu", "relu6"]))})
        recipe["layers"] = layers
        return recipe
    c = draw(st.sampled_from([1, 3, 16, 17]))
    size = draw(st.integers(3, 9))
    recipe["input"] = [1, c, size, draw(st.integers(3, 9))]
    layers = [_conv_spec(draw)]
    if kind == "cnn":
        pool = ["maxpool", "avgpool", "interp", "conv"]
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(pool))
            layers.append(_conv_spec(draw) if op == "conv" else
                          {"op": op, "exclude_pad": draw(st.booleans())} if op == "avgpool" else {"op": op})
    else:
        for _ in range(draw(st.integers(1, 2))):
            op = draw(st.sampled_from(["concat", "add", "multiply", "mvn", "transpose"]))
            spec: dict[str, Any] = {"op": op}
            if op == "concat":
                spec["oc"] = [draw(st.sampled_from([1, 3, 8, 16])), draw(st.sampled_from([1, 3, 8, 16]))]
            if op == "mvn":
                spec["axes"] = draw(st.sampled_from([[2, 3], [1, 2, 3]]))
            layers.append(spec)
    recipe["layers"] = layers
    recipe["head"] = draw(st.sampled_from([None, "sigmoid", "fc"]))
    return recipe


# -- builder ---------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, recipe: dict[str, Any]) -> None:
        self.rng = np.random.default_rng(recipe["seed"])
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def conv(self, x: Output, oc: int, k: int, stride: int = 1, group: str = "plain",
             bias: bool = True, act: str | None = None) -> Output:
        ic, h, w = x.shape[1], x.shape[2], x.shape[3]
        if min(h, w) < k:
            k = 1
        groups = ic if group == "depthwise" else 1
        oc = ic if group == "depthwise" else oc
        fan_in = ic // groups * k * k
        weights = self.rng.normal(0, np.sqrt(2.0 / fan_in), (oc, ic // groups, k, k)).astype(np.float32)
        name = self.name("conv")
        y = ops.convolution(x, weights, strides=[stride, stride], pads_begin=[k // 2] * 2,
                            pads_end=[k // 2] * 2, group=groups, name=name)
        if bias:
            y = ops.add(y, self.rng.normal(0, 0.1, (1, oc, 1, 1)).astype(np.float32), name=f"{name}/bias")
        return self.activation(y, act, name)

    def activation(self, y: Output, act: str | None, name: str) -> Output:
        if act == "relu":
            return ops.relu(y, name=f"{name}/relu")
        if act == "relu6":
            return ops.relu6(y, name=f"{name}/relu6")
        return y

    def fc(self, x: Output, n: int, bias: bool, act: str | None) -> Output:
        if len(x.shape) != 2:
            x = ops.reshape(x, [x.shape[0], -1], name=self.name("flatten"))
        k = x.shape[1]
        weights = self.rng.normal(0, np.sqrt(2.0 / k), (k, n)).astype(np.float32)
        name = self.name("fc")
        y = ops.matmul(x, weights, name=name)
        if bias:
            y = ops.add(y, self.rng.normal(0, 0.1, (1, n)).astype(np.float32), name=f"{name}/bias")
        return self.activation(y, act, name)


def build_graph(recipe: dict[str, Any]) -> Model:
    """The fp32 model of ``recipe`` (deterministic)."""
    b = _Builder(recipe)
    x = ops.parameter(recipe["input"], name="input")
    y = x
    for spec in recipe["layers"]:
        op = spec["op"]
        if op == "conv":
            y = b.conv(y, spec["oc"], spec["k"], spec["stride"], spec["group"], spec["bias"], spec["act"])
        elif op == "fc":
            y = b.fc(y, spec["n"], spec["bias"], spec["act"])
        elif op == "maxpool":
            k = 2 if min(y.shape[2:]) >= 2 else 1
            y = ops.max_pool(y, kernel=[k, k], strides=[k, k], name=b.name("maxpool"))
        elif op == "avgpool":
            y = ops.avg_pool(y, kernel=[3, 3], pads_begin=[1, 1], pads_end=[1, 1],
                             exclude_pad=spec["exclude_pad"], name=b.name("avgpool"))
        elif op == "interp":
            y = ops.interpolate(y, sizes=[y.shape[2] * 2, y.shape[3] * 2], axes=[2, 3],
                                mode="nearest", name=b.name("interp"))
        elif op == "concat":
            left = b.conv(y, spec["oc"][0], 1, act="relu")
            right = b.conv(y, spec["oc"][1], 3, act=None)
            y = ops.concat([left, right], axis=1, name=b.name("concat"))
        elif op == "add":
            y = ops.add(y, b.conv(y, y.shape[1], 3, act=None), name=b.name("residual"))
        elif op == "multiply":
            y = ops.multiply(y, b.conv(y, y.shape[1], 1, act="relu"), name=b.name("gate"))
        elif op == "mvn":
            y = ops.mvn(y, axes=spec["axes"], name=b.name("mvn"))
        elif op == "transpose":
            y = ops.transpose(y, [0, 1, 3, 2], name=b.name("transpose"))
            y = b.conv(y, y.shape[1], 1, act="relu")
        else:
            raise ValueError(f"unknown layer {op!r} in graph recipe")
    head = recipe.get("head")
    if head == "sigmoid":
        y = ops.sigmoid(y, name="head/sigmoid")
    elif head == "fc":
        y = b.fc(y, 8, True, None)
    return Model(y, name=f"conformance_{recipe['kind']}")


def graph_inputs(recipe: dict[str, Any], seed_offset: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(recipe["seed"] + seed_offset)
    shape = recipe["input"]
    if recipe["input_kind"] == "unsigned":
        return {"input": rng.uniform(0, 1, shape).astype(np.float32)}
    return {"input": rng.standard_normal(shape).astype(np.float32)}


def quantized_model(recipe: dict[str, Any]) -> Model:
    from refint8.models.quantizer import quantize

    model = build_graph(recipe)
    calibration = [graph_inputs(recipe, 1000 + i) for i in range(2)]
    return quantize(model, calibration, asymmetric=recipe["asymmetric"])


@st.composite
def graph_case(draw, kind: str) -> GraphCase:
    recipe = draw(graph_recipe(kind))
    return GraphCase(copy.deepcopy(recipe), graph_inputs(recipe, 0), note=kind)

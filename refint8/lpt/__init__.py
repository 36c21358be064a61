"""Low Precision Transformations: from a FakeQuantize graph to int8 layers plus dequantization.

The pipeline follows OpenVINO's LPT (``src/common/low_precision_transformations``), one module per
transformation, each stating its pattern, the identity that makes it correct, its preconditions and
the reason it records when it declines:

1. **Main pass**, every node in topological order (each sees its inputs already transformed):

   - ``FakeQuantize`` on activations -> :mod:`.fake_quantize_decomposition`
     (integer codes + ``Convert -> Subtract(zero point) -> Multiply(scale)``); FakeQuantizes that
     meet at a Concat feeding a per-tensor port share one scale (:mod:`.interval_alignment`);
   - ``Convolution`` -> :mod:`.convolution`, ``MatMul`` -> :mod:`.matmul`
     (int8 layer, weights folded by :mod:`.weight_folding`, scales moved after the layer);
   - precision-preserving moves of the dequantization: :mod:`.relu`, :mod:`.max_pool`,
     :mod:`.reshape`, :mod:`.transpose`, :mod:`.squeeze` (Squeeze/Unsqueeze), :mod:`.interpolate`,
     :mod:`.concat`; :mod:`.avg_pool` (rounds the average, only when an int8 layer follows);
     :mod:`.clamp` (scale moved after it; its output is float);
   - two dequantized branches: :mod:`.add` (OpenVINO's two-branch rule) and :mod:`.multiply`;
     :mod:`.mvn` (the scale becomes its sign under variance normalization).

2. **Cleanup**: :mod:`.fuse_to_fake_quantize` (a dequantization feeding a FakeQuantize folds into
   its input range), :mod:`.eliminate_fake_quantize` (a FakeQuantize that maps codes onto the same
   codes goes), :mod:`.constant_folding` (weights of FP32 layers), then
   :mod:`.fuse_post_ops` (Multiply, bias Add, ReLU/Clamp and a requantizing FakeQuantize fused into
   the producing int8 layer; leftover Converts become Dequantize layers).

Precision restrictions (which precisions each layer port accepts) are an input: see
:mod:`.restrictions`. LPT runs only if the model has a FakeQuantize with constant ranges and
supported levels; otherwise the model is returned unchanged.

How far the int8 execution may depart from the FakeQuantize graph run in fp32:

* every identity above is exact in real numbers; float32 evaluation of the moved constants and of
  the pinned post-op order changes results by a few ulp;
* a requantizing FakeQuantize that receives a value within those few ulp of a rounding tie may pick
  the neighbouring level (one quantization step), which then propagates; with random data this
  happens to about 1 value in 10^5 per requantization (measured in spec_tests/lpt);
* interval alignment at a Concat (:mod:`.interval_alignment`) and AvgPool rounding
  (:mod:`.avg_pool`) change values by design, by at most the bounds their modules state;
* u8 with 255 levels is not exact (half a code step, see :mod:`.fake_quantize_decomposition`).
"""

from __future__ import annotations

from typing import Callable

from ..graph import Model, Node
from . import (add, avg_pool, clamp, concat, constant_folding, convolution, eliminate_fake_quantize,
               fake_quantize_decomposition, fuse_post_ops, fuse_to_fake_quantize, interpolate, matmul,
               max_pool, multiply, mvn, relu, reshape, squeeze, transpose)
from .context import LptContext
from .quantization import QUANTIZATION_LEVELS
from .restrictions import OPENVINO_CPU, PrecisionRestrictions

Transformation = Callable[[LptContext, Node], bool]

#: The main pass: op type -> transformation.
MAIN: dict[str, Transformation] = {
    "FakeQuantize": fake_quantize_decomposition.transform,
    "Convolution": convolution.transform,
    "MatMul": matmul.transform,
    "Relu": relu.transform,
    "MaxPool": max_pool.transform,
    "Reshape": reshape.transform,
    "Transpose": transpose.transform,
    "Squeeze": squeeze.transform,
    "Unsqueeze": squeeze.transform,
    "Interpolate": interpolate.transform,
    "Add": add.transform,
    "Multiply": multiply.transform,
    "MVN": mvn.transform,
    "Concat": concat.transform,
    "Clamp": clamp.transform,
    "AvgPool": avg_pool.transform,
}


def is_quantized(model: Model) -> bool:
    """OpenVINO's ``isFunctionQuantized``: a FakeQuantize with constant ranges and LPT levels."""
    for node in model.nodes:
        if node.type == "FakeQuantize" and node.attrs["levels"] in QUANTIZATION_LEVELS:
            if all(src.node.type == "Constant" for src in node.inputs[1:]):
                return True
    return False


def transform(
    model: Model,
    restrictions: PrecisionRestrictions | None = None,
    *,
    accumulation: str = "exact",
) -> Model:
    """Run LPT on ``model`` in place and return it."""
    if not is_quantized(model):
        return model
    ctx = LptContext(model, restrictions or OPENVINO_CPU, accumulation)
    ctx.original = {n.name: n.type for n in model.nodes if n.type not in ("Constant", "Parameter")}

    _sweep(ctx, lambda node: MAIN.get(node.type))
    _sweep(ctx, lambda node: fuse_to_fake_quantize.transform if node.type == "FakeQuantize" else None)
    _sweep(ctx, lambda node: eliminate_fake_quantize.transform if node.type == "FakeQuantize" else None)
    _sweep(ctx, lambda node: constant_folding.transform if node.type == "FakeQuantize" else None)
    for node in list(model.nodes):
        if node in model.nodes:
            fuse_post_ops.leftover_convert_to_dequantize(ctx, node)
    _sweep(ctx, lambda node: fuse_post_ops.transform if node.type in fuse_post_ops.FUSING_LAYERS else None)

    model.validate()
    fused = {name for node in model.nodes for name, _ in node.rt_info.get("fused", ())}
    present = {node.name for node in model.nodes}
    model.rt_info["optimized_out"] = tuple(
        (name, op_type) for name, op_type in ctx.original.items() if name not in present and name not in fused
    )
    return model


def _sweep(ctx: LptContext, choose: Callable[[Node], Transformation | None]) -> None:
    """Apply ``choose(node)`` to every node of the current graph, in topological order."""
    for node in list(ctx.model.nodes):
        if not any(node is n for n in ctx.model.nodes):
            continue  # replaced by an earlier rewrite
        transformation = choose(node)
        if transformation is not None:
            transformation(ctx, node)

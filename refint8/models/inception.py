"""An Inception-style block quantized with FakeQuantize: the demo model.

input [1, 32, 28, 28] -> stem conv 3x3 (64) -> ReLU, then four branches
  1x1 conv (32) | 1x1 reduce (24) -> 5x5 conv (32) | 1x1 reduce (16) -> 3x3 conv (24)
  | 3x3 max pool -> 1x1 conv (16)
-> Concat (104 channels) -> 1x1 conv (64) -> ReLU -> global average pool -> output.
FakeQuantize is placed and calibrated by :mod:`refint8.models.quantizer` (NNCF-style: per-channel
symmetric weights, per-tensor activations), so the compiled model shows the usual mix: int8
convolutions, an int8 Concat and pooling, and FP32 where dequantization remains.
"""

from __future__ import annotations

import numpy as np

from .. import opset as ops
from ..graph import Model, Output
from .quantizer import quantize


def inception_block(seed: int = 0) -> Model:
    """The fp32 block (see the module docstring)."""
    rng = np.random.default_rng(seed)

    def conv(x: Output, oc: int, k: int, name: str) -> Output:
        ic = x.shape[1]
        w = rng.normal(0, np.sqrt(2.0 / (ic * k * k)), size=(oc, ic, k, k)).astype(np.float32)
        b = rng.normal(0, 0.05, size=(1, oc, 1, 1)).astype(np.float32)
        y = ops.convolution(x, w, pads_begin=[k // 2] * 2, pads_end=[k // 2] * 2, name=name)
        return ops.relu(ops.add(y, b, name=f"{name}/bias"), name=f"{name}/relu")

    x = ops.parameter([1, 32, 28, 28], name="input")
    stem = conv(x, 64, 3, "stem")
    b1 = conv(stem, 32, 1, "branch1x1")
    b2 = conv(conv(stem, 24, 1, "branch5x5_reduce"), 32, 5, "branch5x5")
    b3 = conv(conv(stem, 16, 1, "branch3x3_reduce"), 24, 3, "branch3x3")
    b4 = conv(ops.max_pool(stem, kernel=[3, 3], pads_begin=[1, 1], pads_end=[1, 1], name="branch_pool"),
              16, 1, "branch_pool_proj")
    y = ops.concat([b1, b2, b3, b4], axis=1, name="concat")
    y = conv(y, 64, 1, "head")
    y = ops.avg_pool(y, kernel=[28, 28], name="output")
    return Model(y, name="inception_block")


def quantized_inception_block(seed: int = 0) -> Model:
    model = inception_block(seed)
    rng = np.random.default_rng(seed + 1)
    calibration = [{"input": rng.normal(0, 1, (1, 32, 28, 28)).astype(np.float32)} for _ in range(2)]
    return quantize(model, calibration)

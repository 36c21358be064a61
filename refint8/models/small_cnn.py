"""A small CNN quantized with FakeQuantize the way NNCF's default preset places it.

input [1,3,32,32] -> FQ(u8) -> conv 3x3 (16) + bias -> ReLU -> MaxPool 2x2 -> FQ(u8)
-> conv 1x1 (32) + bias -> ReLU -> FQ -> conv 3x3 stride 2 (32) -> Sigmoid -> output.
Weights are per-output-channel symmetric FakeQuantize with 255 levels; activations per-tensor
with 256 levels. Ranges are fixed from the construction (not calibrated), so the model is the same
on every run with the same seed.
"""

from __future__ import annotations

import numpy as np

from .. import opset as ops
from ..graph import Model, Output


def weight_fq(w: np.ndarray, name: str) -> Output:
    """Per-output-channel symmetric weight FakeQuantize, 255 levels (NNCF's narrow range)."""
    limit = np.abs(w).reshape(w.shape[0], -1).max(axis=1).astype(np.float32)
    limit = np.maximum(limit, np.float32(1e-4)).reshape((-1,) + (1,) * (w.ndim - 1))
    return ops.fake_quantize(w.astype(np.float32), -limit, limit, -limit, limit, levels=255,
                             name=name)


def activation_fq(x: Output, high: float, name: str, low: float = 0.0) -> Output:
    return ops.fake_quantize(x, low, high, low, high, levels=256, name=name)


def small_fq_cnn(seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)

    def conv(x: Output, oc: int, k: int, stride: int, name: str) -> Output:
        ic = x.shape[1]
        w = rng.normal(0, np.sqrt(2.0 / (ic * k * k)), size=(oc, ic, k, k)).astype(np.float32)
        b = rng.normal(0, 0.1, size=(1, oc, 1, 1)).astype(np.float32)
        y = ops.convolution(x, weight_fq(w, f"{name}/weights_fq"), strides=[stride, stride],
                            pads_begin=[k // 2] * 2, pads_end=[k // 2] * 2, name=name)
        return ops.add(y, b, name=f"{name}/bias")

    x = ops.parameter([1, 3, 32, 32], name="input")
    y = activation_fq(x, 1.0, "input/fq")
    y = ops.relu(conv(y, 16, 3, 1, "conv1"), name="relu1")
    y = ops.max_pool(y, kernel=[2, 2], strides=[2, 2], name="pool1")
    y = activation_fq(y, 2.0, "pool1/fq")
    y = ops.relu(conv(y, 32, 1, 1, "conv2"), name="relu2")
    y = activation_fq(y, 2.0, "relu2/fq")
    y = conv(y, 32, 3, 2, "conv3")
    y = ops.sigmoid(y, name="output")
    return Model(y, name="small_fq_cnn")

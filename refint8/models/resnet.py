"""ResNet-50 (v1.5 layout, torchvision) with random, seeded weights; fp32 and quantized.

Batch norm is folded into convolution biases (as a deployed model has it). Weights use He
initialisation; the last convolution of each bottleneck is scaled down so that activations stay
in a realistic range through 16 residual blocks.
"""

from __future__ import annotations

import numpy as np

from .. import opset as ops
from ..graph import Model, Output


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def conv(self, x: Output, oc: int, k: int, stride: int, name: str, gain: float = 1.0,
             relu: bool = True) -> Output:
        ic = x.shape[1]
        std = gain * np.sqrt(2.0 / (ic * k * k))
        w = self.rng.normal(0.0, std, size=(oc, ic, k, k)).astype(np.float32)
        b = self.rng.normal(0.0, 0.05, size=(1, oc, 1, 1)).astype(np.float32)
        pad = k // 2
        y = ops.convolution(x, w, strides=[stride, stride], pads_begin=[pad, pad],
                            pads_end=[pad, pad], name=name)
        y = ops.add(y, b, name=f"{name}/bias")
        return ops.relu(y, name=f"{name}/relu") if relu else y

    def bottleneck(self, x: Output, width: int, stride: int, name: str) -> Output:
        out_channels = width * 4
        y = self.conv(x, width, 1, 1, f"{name}/conv1")
        y = self.conv(y, width, 3, stride, f"{name}/conv2")
        y = self.conv(y, out_channels, 1, 1, f"{name}/conv3", gain=0.3, relu=False)
        if stride != 1 or x.shape[1] != out_channels:
            x = self.conv(x, out_channels, 1, stride, f"{name}/downsample", relu=False)
        return ops.relu(ops.add(y, x, name=f"{name}/add"), name=f"{name}/relu")


def resnet50(seed: int = 0, image_size: int = 224, classes: int = 1000) -> Model:
    """fp32 ResNet-50, input ``[1, 3, image_size, image_size]`` named ``input``."""
    b = _Builder(seed)
    x = ops.parameter([1, 3, image_size, image_size], name="input")
    y = b.conv(x, 64, 7, 2, "stem/conv")
    y = ops.max_pool(y, kernel=[3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1], name="stem/pool")
    for stage, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
        for block in range(blocks):
            y = b.bottleneck(y, width, stride if block == 0 else 1, f"layer{stage}.{block}")
    spatial = y.shape[2]
    y = ops.avg_pool(y, kernel=[spatial, spatial], strides=[1, 1], name="pool")
    y = ops.reshape(y, [1, -1], name="flatten")
    w = b.rng.normal(0.0, np.sqrt(1.0 / y.shape[1]), size=(y.shape[1], classes)).astype(np.float32)
    y = ops.matmul(y, w, name="fc")
    y = ops.add(y, b.rng.normal(0.0, 0.01, size=(1, classes)).astype(np.float32), name="fc/bias")
    return Model(y, name="resnet50")


def quantized_resnet50(seed: int = 0, image_size: int = 224, calibration_samples: int = 2) -> Model:
    """ResNet-50 with FakeQuantize placed and calibrated by :mod:`refint8.models.quantizer`."""
    from .quantizer import quantize

    model = resnet50(seed, image_size)
    rng = np.random.default_rng(seed + 1)
    shape = (1, 3, image_size, image_size)
    calibration = [{"input": rng.random(shape, dtype=np.float32)} for _ in range(calibration_samples)]
    return quantize(model, calibration)

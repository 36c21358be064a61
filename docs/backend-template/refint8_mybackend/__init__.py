"""A minimal refint8 backend: two kernels, everything else left to the fallback (the reference).

Kernel contract (refint8.backend): ``kernel(node)`` is called once per node at compile time and
returns a Kernel whose ``run(inputs)`` gets the node's input arrays and returns one array per
output, of exactly the declared dtype and shape, computing what the reference computes for that
node (bit for bit for integer outputs and pinned-order float32). Return None for what you do not
implement: the conformance suite reports it NOT_SUPPORTED and the runtime falls back.
"""

from __future__ import annotations

import numpy as np

import refint8
from refint8.backend import Backend, BackendOptions, BackendSpec, Capabilities, Kernel
from refint8.graph import Node


class MyBackend(Backend):
    name = "mybackend"

    def __init__(self, options: BackendOptions) -> None:
        self.options = options

    def capabilities(self) -> Capabilities:
        # "exact" int8 accumulation; declare "s16_pairs" if your kernels saturate pairs to int16.
        return Capabilities(accumulation="exact", summary="Relu, Int8 Dequantize")

    def usable(self) -> tuple[bool, str]:
        return True, ""  # e.g. (False, "needs AVX2") on a CPU without it

    def kernel(self, node: Node) -> Kernel | None:
        if node.type == "Relu" and node.inputs[0].dtype == np.float32:
            # NaN stays NaN, -0.0 becomes +0.0: exactly refint8.ops.relu
            return Kernel(lambda inputs: [np.where(inputs[0] > 0, inputs[0],
                                                   np.where(np.isnan(inputs[0]), inputs[0], np.float32(0)))],
                          "mine_any")
        return None


@refint8.hookimpl
def refint8_backends() -> list[BackendSpec]:
    return [BackendSpec("mybackend", MyBackend, priority=10, description="template backend")]

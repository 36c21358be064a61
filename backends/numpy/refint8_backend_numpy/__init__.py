"""The ``numpy`` backend: refint8's specification, vectorised, with BLAS for the products.

Every op of ``refint8.ops`` and every int8 layer of ``refint8.int8`` has a kernel here (execType
``numpy_any_<PRECISION>``). Weights are prepared once, in ``Backend.kernel``: int8 filters become
float32 (or float64) GEMM matrices with the weight zero point folded in, fp32 filters float32
matrices; geometry (padding, taps, divisors, interpolation indices) is resolved at compile time;
patch matrices are reused buffers.

Exactness, per kind of output:

* Int8 layers (Int8Convolution, Int8MatMul, Int8AvgPool, Int8Add, Int8Multiply, Int8MVN,
  Dequantize): BIT-IDENTICAL to the reference. Integer dot products run in float BLAS on integer
  values with a per-layer proof that no operation rounds (``_intgemm``: float32 while every partial sum of
  ``|q - za| * |w - zw|`` stays <= 2^24, else float32 chunks or float64); post-ops are the
  reference's float32 operations in the reference's order (``_post_ops``). Only the ``exact``
  accumulation mode is implemented (``Capabilities(accumulation="exact")``); a node asking for
  ``s16_pairs`` gets no kernel (the runtime falls back to the reference).
* Integer outputs of fp32-graph ops (Convert to integers, FakeQuantize to codes, MaxPool on
  codes, data movement): exact.
* fp32 ops computed in the reference's pinned order: bit-identical (Add, Subtract, Multiply,
  Maximum, Minimum, Relu, Clamp, Sigmoid, Tanh, Exp, Softmax, MVN, AvgPool, MaxPool, Convert,
  FakeQuantize, Interpolate, Reshape, Transpose, Squeeze, Unsqueeze, Concat).
* fp32 Convolution and MatMul: float32 BLAS instead of the reference's float64 sum rounded once.
  Declared tolerance per output element, ``K`` = number of products summed::

      |y - y_ref| <= (K + 2) * 2^-24 * Σ |x| * |w|  +  K * 2^-149

  A result with inf/NaN (a float32 partial sum may overflow where the reference's float64 one
  does not) is recomputed by the specification's float64 function, so non-finite outputs are
  exactly the reference's; so are layers with inf/NaN filters (padding must be left out of the
  sum, not multiplied by zero).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import refint8
from refint8.backend import Backend, BackendOptions, BackendSpec, Capabilities, Kernel
from refint8.graph import Node

from . import conv, elementwise, matmul, pooling

IMPLEMENTATION = "numpy_any"

#: op type -> kernel builder ``build(node) -> run(inputs) -> [outputs]`` (None: not supported).
BUILDERS: dict[str, Callable[[Node], Callable | None]] = {
    # fp32 ops (refint8.ops)
    "Convert": elementwise.convert_kernel,
    "FakeQuantize": elementwise.fake_quantize_kernel,
    "Convolution": conv.convolution_kernel,
    "MatMul": matmul.matmul_kernel,
    "Relu": elementwise.relu_kernel,
    "Clamp": elementwise.clamp_kernel,
    "Reshape": elementwise.reshape_kernel,
    "Transpose": elementwise.transpose_kernel,
    "Squeeze": elementwise.reshape_kernel,
    "Unsqueeze": elementwise.reshape_kernel,
    "MaxPool": pooling.max_pool_kernel,
    "AvgPool": pooling.avg_pool_kernel,
    "Add": elementwise.binary_kernel,
    "Subtract": elementwise.binary_kernel,
    "Multiply": elementwise.binary_kernel,
    "Maximum": elementwise.select_kernel,
    "Minimum": elementwise.select_kernel,
    "Concat": elementwise.concat_kernel,
    "Interpolate": elementwise.interpolate_kernel,
    "MVN": elementwise.mvn_kernel,
    "Softmax": elementwise.softmax_kernel,
    "Sigmoid": elementwise.sigmoid_kernel,
    "Tanh": elementwise.tanh_kernel,
    "Exp": elementwise.exp_kernel,
    # int8 layers (refint8.int8)
    "Int8Convolution": conv.int8_convolution_kernel,
    "Int8MatMul": matmul.int8_matmul_kernel,
    "Int8AvgPool": pooling.int8_avg_pool_kernel,
    "Int8Add": elementwise.int8_eltwise_kernel,
    "Int8Multiply": elementwise.int8_eltwise_kernel,
    "Int8MVN": elementwise.int8_mvn_kernel,
    "Dequantize": elementwise.dequantize_kernel,
}


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        #: What became of the ``threads`` option (process-wide OpenBLAS setting, see ``_threads``).
        self.threads_note = "BLAS threads: NumPy's default"
        if self.options.threads:
            from ._threads import set_blas_threads

            self.threads_note = set_blas_threads(self.options.threads)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            accumulation="exact",
            summary="every fp32 op and int8 layer; BLAS GEMMs, exact int8 (float BLAS on "
                    "integer values with proved bounds); exact accumulation mode only; "
                    + self.threads_note,
        )

    def kernel(self, node: Node) -> Kernel | None:
        build = BUILDERS.get(node.type)
        if build is None:
            return None
        run = build(node)
        if run is None:
            return None
        if node.inputs and all(i.node.type == "Constant" for i in node.inputs):
            run = _folded(run, [i.node.constant_value() for i in node.inputs])
        return Kernel(run, IMPLEMENTATION)


def _folded(run: Callable, constants: list) -> Callable:
    """A node whose inputs are all constants (e.g. a weight FakeQuantize when LPT is off) has the
    same outputs on every call: compute them on the first call, then return them (read-only,
    so a consumer that wrongly wrote to its input would fail loudly)."""
    cache: list = []

    def folded(inputs):
        if not cache:
            outputs = [np.asarray(o).view() for o in run(constants)]  # never a constant itself
            for o in outputs:
                o.setflags(write=False)
            cache.append(outputs)
        return list(cache[0])
    return folded


@refint8.hookimpl
def refint8_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            "numpy",
            NumpyBackend,
            priority=50,
            description="vectorised NumPy kernels (BLAS GEMMs), bit-exact int8 layers",
        )
    ]

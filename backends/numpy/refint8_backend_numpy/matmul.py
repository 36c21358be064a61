"""MatMul (fp32) and Int8MatMul (FullyConnected).

MatMul: float32 BLAS (``np.matmul``), batched and broadcast exactly like the reference's shape
rules (rank-1 inputs, transposes). A constant operand is transposed/made contiguous once.
Declared tolerance, per output element, ``K`` the inner dimension::

    |y - y_ref| <= (K + 2) * 2^-24 * Σ_k |a_k| * |b_k|   (+ K * 2^-149 for subnormals)

(the reference sums in float64 and rounds once). A float32 partial sum can overflow where the
reference's does not; overflow always leaves inf or NaN in the output, so a product that is not
all finite is recomputed by the specification's float64 function (then exactly the reference).

Int8MatMul: exact, ``acc[m, n] = Σ_k (q[m, k] - za) * (w[n, k] - zw[n])`` computed by
``_intgemm.ExactGemm`` (float BLAS on integer values, bound proved per layer), then
``float32(acc)`` and the post-ops: bit for bit the reference.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from refint8.graph import Node
from refint8.ops.matmul import matmul as reference_matmul

from ._common import constant_input
from ._intgemm import ExactGemm
from ._post_ops import PostOpChain
from .conv import _activation_bound


def matmul_kernel(node: Node) -> Callable | None:
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    a_rank, b_rank = len(node.inputs[0].shape), len(node.inputs[1].shape)
    out_shape = tuple(node.output_types[0].shape)

    def prepare_a(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float32)
        if a_rank == 1:
            return a[None, :]
        return np.swapaxes(a, -1, -2) if ta else a

    def prepare_b(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, np.float32)
        if b_rank == 1:
            return b[:, None]
        return np.swapaxes(b, -1, -2) if tb else b

    constant_b = constant_input(node, 1)
    fixed_b = None if constant_b is None else np.ascontiguousarray(prepare_b(constant_b))

    def run(inputs):
        a = prepare_a(inputs[0])
        b = fixed_b if fixed_b is not None else prepare_b(inputs[1])
        with np.errstate(invalid="ignore", over="ignore"):
            y = np.matmul(a, b)
        if not np.isfinite(y).all():
            # a float32 partial sum may overflow where the reference's float64 sum does not:
            # recompute with the specification's float64 function
            return [reference_matmul(inputs[0], inputs[1] if fixed_b is None else constant_b,
                                     transpose_a=ta, transpose_b=tb)]
        return [y.reshape(out_shape)]  # a fresh float32 array

    return run


def int8_matmul_kernel(node: Node, *, plan: str | None = None) -> Callable | None:
    a = node.attrs
    if a["accumulation"] != "exact":
        return None
    weights = constant_input(node, 1)
    if weights is None:
        return None
    q_type = node.inputs[0]
    n_out, k = weights.shape
    out_type = node.output_types[0]
    za = int(np.asarray(a["input_zero_point"], np.int64).reshape(-1)[0])
    zw_raw = np.asarray(a["weight_zero_point"], np.int64).reshape(-1)
    zw = np.broadcast_to(zw_raw, (n_out,)) if zw_raw.size else np.zeros(n_out, np.int64)
    b = weights.astype(np.int64) - zw[:, None]                          # [N, K]
    a_bound = np.full(k, _activation_bound(q_type.dtype, np.array(za)))
    gemm = ExactGemm(b, a_bound, side="right", plan=plan)
    chain = PostOpChain(a["post_ops"], out_type.shape, gemm.bound, signed_zero_input=True).bind(())
    rows = int(np.prod(q_type.shape[:-1], dtype=np.int64))
    shift = np.float32(za)
    work = gemm.dtype

    def run(inputs):
        q = inputs[0].reshape(rows, k)
        if za:
            x = np.subtract(q, shift, dtype=np.float32).astype(work, copy=False)
        else:
            x = q.astype(work)
        acc = np.empty((rows, n_out), np.float32)
        gemm(x, acc)
        result = chain(acc.reshape(out_type.shape))
        return [np.asarray(result)]

    return run

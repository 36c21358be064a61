"""Int8MatMul: u8/i8 activations x i8 weights, exact integer dot products, float32 post-ops.

This is the int8 FullyConnected (OpenVINO CPU layer type ``FullyConnected``, node type
``FullyConnectedQuantizedLegacy``) that LPT produces from ``FakeQuantize -> MatMul <-
FakeQuantize(weights)`` with constant weights. It is the definition a backend's int8
FullyConnected kernel must reproduce bit for bit.

Inputs
    data: u8 or i8, ``[..., K]`` activation codes ``q`` (any rank >= 1; the leading dimensions are
    batch dimensions).
    weights: i8 constant, ``[N, K]`` weight codes ``w``: FullyConnected layout, K last (a MatMul
    with ``transpose_b=True``; the lowering transposes ``[K, N]`` weights).
Attributes
    input_zero_point ``za``: one integer (per-tensor; the CPU plugin quantizes FullyConnected
    activations per tensor), within the data's code range;
    weight_zero_point ``zw``: empty (none), one integer, or one per output feature (N values),
    within [-128, 127];
    accumulation: ``exact`` (default) or ``s16_pairs`` (see refint8.int8.accumulate); the pairs
    are CONSECUTIVE elements along K, ``(q[0], q[1]), (q[2], q[3]), ...``, and an odd K pads the
    last pair with a zero product;
    post_ops: the float32 tail (see refint8.int8.post_ops), operands broadcast along the last
    axis (``[N]`` or ``[1, N]`` for per-feature scales and biases, or a scalar); the first is
    normally ``Multiply(s_a * s_w[n])``.
Computation
    1. For every batch position and output feature ``n``::

           acc[..., n] = Σ_k (q[..., k] - za) * (w[n, k] - zw[n])

       exact in integers (``exact`` mode), or with the raw product sum ``Σ_k q*w`` taken pair-wise
       saturated to int16 (``s16_pairs`` mode; i8 activations shifted by +128 with the exact
       compensation ``128 * Σ_k w``) and the zero-point terms ``- za*Σ_k w - zw*Σ_k q + K*za*zw``
       added exactly. This is refint8.int8.accumulate.raw_product_sum with one group.
    2. ``y = float32(acc)``: round to nearest even, exact while ``|acc| <= 2^24`` (the bound
       below keeps ``|acc| < 2^31``, so larger accumulators, possible from K >= 515 without zero
       points and from smaller K with them, round), then
       the post-ops in order, each one float32 operation.
Output
    float32 ``[..., N]`` (data's batch dimensions, N from the weights), or u8/i8 codes of that
    shape when the last post-op is a Quantize.
Errors (GraphError naming node, attribute and value)
    data not u8/i8 or weights not i8; weights not a constant or not rank 2; K of data and weights differ; a zero
    point outside its code range or with the wrong count; an accumulator bound
    ``K * (255 + |za|) * (128 + |zw|)`` above int32 (the layer is rejected at compile time instead
    of wrapping); post-op operands that do not broadcast to the output.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ..ops._base import Attr, Op
from . import post_ops as post
from .accumulate import ACCUMULATION_MODES, fits_int32, raw_product_sum


def int8_matmul(
    q: np.ndarray,
    w: np.ndarray,
    *,
    input_zero_point: Any = 0,
    weight_zero_point: Any = (),
    accumulation: str = "exact",
    post_ops: tuple = (),
) -> np.ndarray:
    """The int8 FullyConnected of the module docstring, on NumPy arrays."""
    acc = int8_matmul_accumulator(
        q, w, input_zero_point=input_zero_point, weight_zero_point=weight_zero_point,
        accumulation=accumulation,
    )
    return post.apply_post_ops(acc.astype(np.float32), post_ops)


def int8_matmul_accumulator(
    q: np.ndarray,
    w: np.ndarray,
    *,
    input_zero_point: Any,
    weight_zero_point: Any,
    accumulation: str,
) -> np.ndarray:
    """Step 1 of the module docstring: the integer ``acc`` as int64 ``[..., N]``."""
    n_out, k = w.shape
    batch = q.shape[:-1]
    za = int(np.asarray(input_zero_point, np.int64).reshape(-1)[0])
    zw_raw = np.asarray(weight_zero_point, np.int64).reshape(-1)
    zw = np.broadcast_to(zw_raw, (n_out,)) if zw_raw.size else np.zeros(n_out, np.int64)

    rows = q.reshape(-1, 1, k)                            # [M, G=1, K]
    weights = w.astype(np.int64).T[None]                  # [G=1, K, N]
    raw = np.zeros((len(rows), n_out), np.int64)          # [M, N]  Σ_k q*w
    # Row blocks only bound the memory of the s16 pair products ([rows, K/2, N] int64).
    block = max(1, len(rows) if accumulation == "exact" else 2**22 // ((k // 2 + 1) * n_out))
    for start in range(0, len(rows), block):
        raw[start:start + block] = raw_product_sum(
            rows[start:start + block], weights, accumulation, signed_activations=q.dtype == np.int8,
        )[:, 0, :]
    sum_w = weights[0].sum(axis=0)                        # [N]     Σ_k w
    sum_q = rows[:, 0, :].astype(np.int64).sum(axis=1, keepdims=True)   # [M, 1]  Σ_k q
    acc = raw - za * sum_w - zw * sum_q + k * za * zw
    return acc.reshape(*batch, n_out)


class Int8MatMul(Op):
    type_name = "Int8MatMul"
    input_names = ("data", "weights")
    attributes = {
        "input_zero_point": Attr("ints", (0,), doc="one value (per-tensor)"),
        "weight_zero_point": Attr("ints", (), doc="none, one, or one per output feature"),
        "accumulation": Attr("str", "exact", choices=ACCUMULATION_MODES),
        "post_ops": Attr("any", ()),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        a = ctx.attrs
        ctx.require_dtype(0, dtypes.U8, dtypes.I8, what="data")
        ctx.require_dtype(1, dtypes.I8, what="weights")
        if ctx.constant(1) is None:
            ctx.fail("weights must be a constant (backends pack them once at compile time)",
                     attribute="input[1]", value=ctx.inputs[1].name)
        ctx.require_rank(1, 2, what="weights [N, K]")
        data_shape = ctx.input_type(0).shape
        if len(data_shape) < 1:
            ctx.fail("data must have rank >= 1 ([..., K])", attribute="input[0]",
                     value=ctx.inputs[0].name)
        n_out, k = ctx.input_type(1).shape
        if data_shape[-1] != k:
            ctx.fail(f"data {list(data_shape)} has K = {data_shape[-1]} but the weights "
                     f"[N, K] = {[n_out, k]} have K = {k}", attribute="input[1]",
                     value=ctx.inputs[1].name)
        low, high = (0, 255) if ctx.input_type(0).dtype == dtypes.U8 else (-128, 127)
        za = a["input_zero_point"]
        if len(za) != 1 or not low <= za[0] <= high:
            ctx.fail(f"needs exactly 1 value (per-tensor) within the data's code range "
                     f"[{low}, {high}]", attribute="input_zero_point", value=za)
        zw = a["weight_zero_point"]
        if len(zw) not in (0, 1, n_out) or not all(-128 <= z <= 127 for z in zw):
            ctx.fail(f"needs 0, 1 or {n_out} values within [-128, 127]",
                     attribute="weight_zero_point", value=zw)
        if not fits_int32(k, abs(za[0]), max(map(abs, zw), default=0)):
            ctx.fail(f"the accumulator of {k} products may exceed int32", attribute="weights",
                     value=[n_out, k])
        shape = (*data_shape[:-1], n_out)
        problem = post.check_post_ops(a["post_ops"], shape)
        if problem:
            ctx.fail(problem, attribute="post_ops", value=post.describe(a["post_ops"]))
        return [TensorType(post.output_dtype(a["post_ops"]), shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (int8_matmul(
            inputs[0], inputs[1], input_zero_point=attrs["input_zero_point"],
            weight_zero_point=attrs["weight_zero_point"], accumulation=attrs["accumulation"],
            post_ops=attrs["post_ops"],
        ),)

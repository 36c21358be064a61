"""Elementwise fp32 ops, Convert, FakeQuantize, MVN and Softmax.

All of them are bit-identical to the reference: they perform the reference's float32 (or
float64-then-round-once) operations per element, only without its argument checks (the graph
was validated when it was built) and with constant operands prepared at compile time.

* Add / Subtract / Multiply: one float32 operation, as the reference.
* Maximum / Minimum: the reference's selection rule (``a < b ? b : a``, NaN of ``a`` first, then
  of ``b``), written as one ``where`` plus a NaN fix-up that only runs when ``b`` holds a NaN.
* Relu (f32): ``max(x, 0) + 0.0`` (see ``_post_ops``: ``-0.0`` becomes ``+0.0``, NaN stays);
  on u8/i8 ``max(q, 0)``.
* Clamp: the reference's ``where`` expression.
* Sigmoid / Tanh / Exp / Softmax / MVN: the reference's float64 expressions, rounded once.
* Convert: the reference's truncation and wrap-around rules.
* FakeQuantize: the post-op machinery of ``_post_ops`` (generic formula for f32 output; the
  table-lookup fast path for integer codes when its conditions hold), ranges prepared once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from refint8 import dtypes
from refint8.graph import Node
from refint8.int8 import post_ops as ref_post

from ._common import constant_input, left_pad
from ._post_ops import PostOpChain


def _operand(node: Node, index: int) -> np.ndarray | None:
    value = constant_input(node, index)
    return None if value is None else np.asarray(value, np.float32)


def binary_kernel(node: Node) -> Callable | None:
    ufunc = {"Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply}[node.type]
    out_shape = tuple(node.output_types[0].shape)
    fixed = [_operand(node, 0), _operand(node, 1)]

    def run(inputs):
        a = fixed[0] if fixed[0] is not None else np.asarray(inputs[0], np.float32)
        b = fixed[1] if fixed[1] is not None else np.asarray(inputs[1], np.float32)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            y = ufunc(a, b)
        y = np.asarray(y, np.float32)
        return [y if y.shape == out_shape else np.broadcast_to(y, out_shape).copy()]

    return run


def select_kernel(node: Node) -> Callable | None:
    """Maximum (``a < b ? b : a``) and Minimum (``b < a ? b : a``), NaN-propagating."""
    is_max = node.type == "Maximum"
    out_shape = tuple(node.output_types[0].shape)
    fixed = [_operand(node, 0), _operand(node, 1)]
    b_has_nan = None if fixed[1] is None else bool(np.isnan(fixed[1]).any())

    def run(inputs):
        a = fixed[0] if fixed[0] is not None else np.asarray(inputs[0], np.float32)
        b = fixed[1] if fixed[1] is not None else np.asarray(inputs[1], np.float32)
        with np.errstate(invalid="ignore"):
            y = np.asarray(np.where(a < b, b, a) if is_max else np.where(b < a, b, a), np.float32)
            nan_b = np.isnan(b) if b_has_nan is None or b_has_nan else None
            if nan_b is not None and nan_b.any():
                # reference: NaN of b wins unless a is NaN too (then a); a's NaN is already there
                np.copyto(y, np.broadcast_to(b, out_shape), where=nan_b & ~np.isnan(a))
        return [y]

    return run


def relu_kernel(node: Node) -> Callable | None:
    dtype = np.dtype(node.inputs[0].dtype)
    if dtype.kind == "f":
        zero = np.float32(0.0)

        def run(inputs):
            x = inputs[0]
            y = np.empty(x.shape, np.float32)
            np.maximum(x, zero, out=y)
            np.add(y, zero, out=y)                     # -0.0 -> +0.0; NaN stays NaN
            return [y]
    else:
        zero_int = dtype.type(0)

        def run(inputs):
            return [np.asarray(np.maximum(inputs[0], zero_int), dtype=dtype)]
    return run


def clamp_kernel(node: Node) -> Callable | None:
    with np.errstate(over="ignore"):
        lo, hi = np.float32(node.attrs["min"]), np.float32(node.attrs["max"])

    def run(inputs):
        x = np.asarray(inputs[0], np.float32)
        return [np.asarray(np.where(x < lo, lo, np.where(x > hi, hi, x)), dtype=np.float32)]

    return run


def sigmoid_kernel(node: Node) -> Callable | None:
    def run(inputs):
        x = np.asarray(inputs[0], np.float32)
        with np.errstate(over="ignore"):
            y = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
        return [np.asarray(y, np.float64).astype(np.float32)]
    return run


def tanh_kernel(node: Node) -> Callable | None:
    def run(inputs):
        y = np.tanh(np.asarray(inputs[0], np.float32).astype(np.float64))
        return [np.asarray(y, np.float64).astype(np.float32)]
    return run


def exp_kernel(node: Node) -> Callable | None:
    def run(inputs):
        with np.errstate(over="ignore"):
            y = np.exp(np.asarray(inputs[0], np.float32).astype(np.float64))
            return [np.asarray(y, np.float64).astype(np.float32)]
    return run


def softmax_kernel(node: Node) -> Callable | None:
    axis = node.attrs["axis"]

    def run(inputs):
        wide = np.asarray(inputs[0], np.float32).astype(np.float64)
        with np.errstate(invalid="ignore"):
            m = np.max(wide, axis=axis, keepdims=True)
            e = np.exp(wide - m)
            y = e / np.sum(e, axis=axis, keepdims=True)
        return [y.astype(np.float32)]

    return run


def mvn_kernel(node: Node) -> Callable | None:
    a = node.attrs
    rank = len(node.inputs[0].shape)
    red = tuple(sorted(axis % rank for axis in a["axes"]))
    eps = float(np.float32(a["eps"]))
    normalize, inside = a["normalize_variance"], a["eps_mode"] == "inside_sqrt"

    def run(inputs):
        x64 = np.asarray(inputs[0], np.float32).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            centered = x64 - x64.mean(axis=red, keepdims=True)
            if not normalize:
                return [centered.astype(np.float32)]
            var = np.mean(centered * centered, axis=red, keepdims=True)
            if inside:
                y = centered / np.sqrt(var + eps)
            else:
                y = centered / (np.sqrt(var) + eps)
        return [y.astype(np.float32)]

    return run


# -- Convert -------------------------------------------------------------------------------------

def convert_kernel(node: Node) -> Callable | None:
    destination = dtypes.element_type(node.attrs["destination_type"])
    source = np.dtype(node.inputs[0].dtype)

    if destination == dtypes.F32:
        def run(inputs):
            x = inputs[0]
            if x.dtype == np.bool_:
                x = x.view(np.uint8)
            return [x.astype(np.float32)]
        return run

    bits = destination.itemsize * 8
    signed = np.iinfo(destination).min < 0

    def wrap(values: np.ndarray) -> np.ndarray:
        if bits == 64:
            return np.asarray(values, np.int64)
        low = np.asarray(values & np.int64((1 << bits) - 1))
        if signed:
            low = np.where(low >= (1 << (bits - 1)), low - (1 << bits), low)
        return np.asarray(low).astype(destination)

    if source.kind == "f":
        wide = dtypes.I64 if destination == dtypes.I64 else dtypes.I32
        lowest = np.iinfo(wide).min

        def run(inputs):
            t = np.trunc(np.asarray(inputs[0]).astype(np.float64))
            with np.errstate(invalid="ignore"):
                fits = (t >= lowest) & (t < -float(lowest))
            exact = np.where(fits, t, 0.0).astype(np.int64)
            return [wrap(np.asarray(np.where(fits, exact, np.int64(lowest)), np.int64))]
        return run

    def run(inputs):
        x = inputs[0]
        if x.dtype == np.bool_:
            x = x.view(np.uint8)
        return [wrap(x.astype(np.int64))]
    return run


# -- FakeQuantize --------------------------------------------------------------------------------

def fake_quantize_kernel(node: Node) -> Callable | None:
    a = node.attrs
    x_type = node.inputs[0]
    shape = tuple(x_type.shape)
    rank = len(shape)
    ranges = [constant_input(node, i) for i in range(1, 5)]
    out_type = a["output_type"]
    levels = a["levels"]
    x_dtype = np.dtype(x_type.dtype)
    # codes in: no NaN and a small bound; float in: unknown (NaN possible, checked)
    bound = float(np.iinfo(x_dtype).max + 1) if x_dtype.kind in "iu" else None

    def build(il, ih, ol, oh) -> Callable:
        aligned = [left_pad(np.asarray(r, np.float32), rank) for r in (il, ih, ol, oh)]
        if out_type == "f32":
            op = ref_post.FakeQuantize(*aligned, levels=levels)
        else:
            op = ref_post.Quantize(*aligned, levels=levels, element_type=out_type)
        return PostOpChain([op], shape, bound).bind(())

    fixed = build(*ranges) if all(r is not None for r in ranges) else None

    def run(inputs):
        chain = fixed if fixed is not None else build(*inputs[1:5])
        x = inputs[0]
        y = x.astype(np.float32)            # a copy: the chain works in place
        return [np.asarray(chain(y)).reshape(shape)]

    return run


# -- int8 layers that are elementwise --------------------------------------------------------------

def _code_bound(dtype: np.dtype) -> float:
    info = np.iinfo(dtype)
    return float(max(abs(int(info.min)), int(info.max)))


def dequantize_kernel(node: Node) -> Callable | None:
    x_type = node.inputs[0]
    out_shape = tuple(node.output_types[0].shape)
    chain = PostOpChain(node.attrs["post_ops"], out_shape, _code_bound(x_type.dtype)).bind(())

    def run(inputs):
        y = inputs[0].astype(np.float32)    # exact for u8/i8; i32: nearest float32, as the reference
        return [np.asarray(chain(y))]

    return run


def _max_abs(value) -> float:
    array = np.asarray(value, np.float64)
    return float(np.max(np.abs(array))) if array.size else 0.0


def int8_eltwise_kernel(node: Node) -> Callable | None:
    """Int8Add / Int8Multiply in the reference's pinned float32 order."""
    a = node.attrs
    is_add = node.type == "Int8Add"
    out_shape = tuple(node.output_types[0].shape)
    h = np.asarray(a["full_shift"], np.float32)
    r = np.asarray(a["full_scale"], np.float32) if is_add else None
    skip_shift = not h.any() and not np.isnan(h).any()     # q - (±0) == q exactly
    skip_scale = r is None or bool(np.all(r == 1))          # t * 1 == t exactly
    q1_bound = _code_bound(node.inputs[0].dtype)
    q2_bound = _code_bound(node.inputs[1].dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        if is_add:
            bound = ((q1_bound + _max_abs(h)) * 1.001 * _max_abs(r) * 1.001 + q2_bound) * 1.001
        else:
            bound = (q1_bound + _max_abs(h)) * 1.001 * q2_bound * 1.001
    if not (np.isfinite(h).all() and (r is None or np.isfinite(r).all()) and np.isfinite(bound)):
        bound = None
    chain = PostOpChain(a["post_ops"], out_shape, bound).bind(())

    def run(inputs):
        q1, q2 = inputs
        t = np.empty(out_shape, np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            if skip_shift and is_add and not skip_scale:
                np.multiply(q1, r, out=t, dtype=np.float32)    # float32(q1) * r: one rounding
            elif skip_shift:
                np.copyto(t, q1, casting="unsafe")             # broadcast, exact conversion
            else:
                np.subtract(q1, h, out=t, dtype=np.float32)
            if is_add:
                if not (skip_scale or skip_shift):
                    np.multiply(t, r, out=t)
                np.add(t, q2, out=t, dtype=np.float32)
            else:
                np.multiply(t, q2, out=t, dtype=np.float32)
        return [np.asarray(chain(t))]

    return run


def int8_mvn_kernel(node: Node) -> Callable | None:
    """Int8MVN: the moments are exact integers summed in float64 (every partial sum is an integer
    below ``n * 255^2 <= 11909805 * 65025 < 2^53``, so any summation order gives the exact value),
    the variance numerator ``n*Q - S*S`` is formed in int64 as the reference does, and every
    float64 step after that is the reference's."""
    a = node.attrs
    x_type = node.inputs[0]
    rank = len(x_type.shape)
    red = tuple(sorted(axis % rank for axis in a["axes"]))
    n = int(np.prod([x_type.shape[axis] for axis in red], dtype=np.int64))
    eps = np.float64(a["eps"])
    normalize, inside = a["normalize_variance"], a["eps_mode"] == "inside_sqrt"
    chain = PostOpChain(a["post_ops"], tuple(node.output_types[0].shape), None).bind(())

    def run(inputs):
        q64 = inputs[0].astype(np.float64)
        s = q64.sum(axis=red, keepdims=True)                 # exact
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = s / np.float64(n)
            d = q64 - mean
            if not normalize:
                y = d
            else:
                sq = np.square(q64).sum(axis=red, keepdims=True)               # exact
                s_int, sq_int = s.astype(np.int64), sq.astype(np.int64)
                var = (n * sq_int - s_int * s_int).astype(np.float64) / (np.float64(n) * np.float64(n))
                if inside:
                    y = d / np.sqrt(var + eps)
                else:
                    y = d / (np.sqrt(var) + eps)
        return [np.asarray(chain(y.astype(np.float32)))]

    return run


# -- data movement -------------------------------------------------------------------------------

def reshape_kernel(node: Node) -> Callable | None:
    shape = tuple(node.output_types[0].shape)
    return lambda inputs: [np.reshape(inputs[0], shape)]


def transpose_kernel(node: Node) -> Callable | None:
    from refint8.ops.transpose import permutation

    axes = permutation(len(node.inputs[0].shape), node.attrs["order"])
    return lambda inputs: [np.transpose(inputs[0], axes).copy(order="C")]


def concat_kernel(node: Node) -> Callable | None:
    axis = node.attrs["axis"]
    return lambda inputs: [np.concatenate(list(inputs), axis=axis)]


def interpolate_kernel(node: Node) -> Callable | None:
    """Interpolate: source indices and linear weights computed once with the specification's
    geometry helpers; at run time gathers (nearest) or the same float64 blends, in the same order,
    rounded once (linear)."""
    from refint8.ops import interpolate as spec

    a = node.attrs
    x_shape = tuple(node.inputs[0].shape)

    def fail(reason, attribute, value):
        raise ValueError(f"{attribute}={value!r}: {reason}")

    axes, out_shape, scales = spec.interpolate_geometry(
        x_shape, shape_calculation_mode=a["shape_calculation_mode"], sizes=a["sizes"],
        scales=a["scales"], axes=a["axes"], fail=fail)
    plan = []
    for axis, scale in zip(axes, scales):
        coords = spec.source_coordinates(out_shape[axis], x_shape[axis], scale,
                                         a["coordinate_transformation_mode"])
        if a["mode"] == "nearest":
            plan.append((axis, spec.nearest_indices(coords, x_shape[axis], scale, a["nearest_mode"])))
        else:
            i0, i1, w0, w1 = spec.linear_taps(coords, x_shape[axis])
            shape = [1] * len(x_shape)
            shape[axis] = -1
            plan.append((axis, (i0, i1, w0.reshape(shape), w1.reshape(shape))))

    if a["mode"] == "nearest":
        def run(inputs):
            y = inputs[0]
            for axis, index in plan:
                y = np.take(y, index, axis=axis)
            return [np.array(y, copy=True)]
        return run

    def run_linear(inputs):
        y = np.asarray(inputs[0], np.float32).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            for axis, (i0, i1, w0, w1) in plan:
                y = np.take(y, i0, axis=axis) * w0 + np.take(y, i1, axis=axis) * w1
        return [y.astype(np.float32)]
    return run_linear

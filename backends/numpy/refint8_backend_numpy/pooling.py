"""MaxPool (f32, u8, i8) and AvgPool (f32): one vectorised operation per kernel tap.

Geometry (auto_pad, rounding, which output rectangle each tap reaches) is resolved once at
compile time with the specification's own helpers.

MaxPool is exact: comparisons only, ``fmax`` for floats (NaN loses, as the reference).

AvgPool is bit-identical to the reference: the window sums are accumulated in float64 tap by
tap in the reference's order (row-major over the window, padding left out), then divided once
by the same divisor and rounded once to float32. A global pool (one output, no begin padding,
window covering the input) is a sequential ``cumsum`` over the row-major flattened input: the
same additions in the same order (``cumsum`` is defined as sequential accumulation); its only
difference, a first term ``-0.0`` not being added to ``+0.0``, is removed by adding ``+0.0``
to the total (the reference's total, started at ``+0.0``, is never ``-0.0``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from refint8.graph import Node
from refint8.ops.avg_pool import avg_pool_geometry, divisor_table
from refint8.ops.convolution import tap_range
from refint8.ops.max_pool import lowest, pool_geometry

from .conv import _raise


def _taps(h: int, w: int, oh: int, ow: int, kernel, strides, pads_begin):
    """``(out_rows, out_cols, in_rows, in_cols)`` slices of every tap that reaches the input."""
    (kh, kw), (sh, sw), (pbh, pbw) = kernel, strides, pads_begin
    taps = []
    for i in range(kh):
        r_lo, r_hi, r_in = tap_range(h, oh, sh, i - pbh)
        if r_lo == r_hi:
            continue
        for j in range(kw):
            c_lo, c_hi, c_in = tap_range(w, ow, sw, j - pbw)
            if c_lo == c_hi:
                continue
            taps.append((slice(r_lo, r_hi), slice(c_lo, c_hi),
                         slice(r_in, r_in + (r_hi - r_lo - 1) * sh + 1, sh),
                         slice(c_in, c_in + (c_hi - c_lo - 1) * sw + 1, sw)))
    return taps


def max_pool_kernel(node: Node) -> Callable | None:
    a = node.attrs
    x_type = node.inputs[0]
    (pbh, pbw), _, (n, c, oh, ow) = pool_geometry(
        x_type.shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
        pads_end=a["pads_end"], rounding_type=a["rounding_type"], auto_pad=a["auto_pad"], fail=_raise)
    _, _, h, w = x_type.shape
    taps = _taps(h, w, oh, ow, a["kernel"], a["strides"], (pbh, pbw))
    dtype = np.dtype(x_type.dtype)
    start = lowest(dtype)
    combine = np.fmax if dtype.kind == "f" else np.maximum

    def run(inputs):
        x = inputs[0]
        y = np.full((n, c, oh, ow), start, dtype=dtype)
        for out_rows, out_cols, rows, cols in taps:
            view = y[:, :, out_rows, out_cols]
            combine(view, x[:, :, rows, cols], out=view)
        return [y]

    return run


def avg_pool_kernel(node: Node) -> Callable | None:
    a = node.attrs
    x_type = node.inputs[0]
    (pbh, pbw), (peh, pew), (n, c, oh, ow) = avg_pool_geometry(
        x_type.shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
        pads_end=a["pads_end"], exclude_pad=a["exclude_pad"], rounding_type=a["rounding_type"],
        auto_pad=a["auto_pad"], fail=_raise)
    _, _, h, w = x_type.shape
    kh, kw = a["kernel"]
    sh, sw = a["strides"]
    taps = _taps(h, w, oh, ow, (kh, kw), (sh, sw), (pbh, pbw))
    divisor = divisor_table((h, w), (oh, ow), (kh, kw), (sh, sw), (pbh, pbw), (peh, pew),
                            a["exclude_pad"])  # the reference's, computed once
    global_pool = (oh, ow) == (1, 1) and (pbh, pbw) == (0, 0) and kh >= h and kw >= w

    def run(inputs):
        x = np.asarray(inputs[0], np.float32)
        if global_pool:
            flat = x.reshape(n * c, h * w).astype(np.float64)
            total = np.cumsum(flat, axis=1)[:, -1].reshape(n, c, 1, 1) + 0.0
        else:
            x64 = x.astype(np.float64)
            total = np.zeros((n, c, oh, ow), np.float64)
            for out_rows, out_cols, rows, cols in taps:
                total[:, :, out_rows, out_cols] += x64[:, :, rows, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            return [(total / divisor).astype(np.float32)]

    return run


def int8_avg_pool_kernel(node: Node) -> Callable | None:
    """Int8AvgPool: integer window sums, then the exactly rounded quotient.

    Sums: every window sum is an integer with ``|S| <= KH*KW*255 + KH*KW*|pad_value|``; while
    that is <= 2^24 every partial sum is an exact float32 integer, so per-tap float32 additions
    (or any summation order) give the exact ``S``. Otherwise float64 (exact below 2^53).

    Rounding: ``out = rint(S / D)`` with one correctly rounded division. If ``S/D`` is a tie
    ``k + 1/2`` it is representable (|k| < 2^22), so the division is exact and ``rint`` picks the
    even neighbour, as the reference. Otherwise ``S/D`` is at least ``1/(2D)`` away from every
    half-integer (``S/D - (k + 1/2) = (2S - (2k+1)D) / (2D)``, a nonzero integer over 2D), while
    the division errs by at most ``|S/D| * 2^-24 <= 256 * 2^-24`` in float32 (``2^-53`` in
    float64): rounding cannot cross the half-integer when ``D < 2^15`` (float32) or ``D < 2^44``
    (float64). The kernel uses float32 when both bounds allow it, else float64.
    """
    a = node.attrs
    x_type = node.inputs[0]
    (pbh, pbw), (peh, pew), (n, c, oh, ow) = avg_pool_geometry(
        x_type.shape, kernel=a["kernel"], strides=a["strides"], pads_begin=a["pads_begin"],
        pads_end=a["pads_end"], exclude_pad=a["exclude_pad"], rounding_type=a["rounding_type"],
        auto_pad="explicit", fail=_raise)
    _, _, h, w = x_type.shape
    kh, kw = a["kernel"]
    sh, sw = a["strides"]
    taps = _taps(h, w, oh, ow, (kh, kw), (sh, sw), (pbh, pbw))
    rows_in = np.zeros(oh, np.int64)
    cols_in = np.zeros(ow, np.int64)
    for i in range(kh):
        lo, hi, _ = tap_range(h, oh, sh, i - pbh)
        rows_in[lo:hi] += 1
    for j in range(kw):
        lo, hi, _ = tap_range(w, ow, sw, j - pbw)
        cols_in[lo:hi] += 1
    n_in = np.outer(rows_in, cols_in)                               # positions inside the input
    pad_value = int(a["pad_value"])
    window = kh * kw
    if a["exclude_pad"] or not any((pbh, pbw, peh, pew)):
        extra = np.zeros((oh, ow), np.int64)
        divisor = n_in
    else:
        extra = (window - n_in) * pad_value                         # padded positions hold pad_value
        divisor = np.full((oh, ow), window, np.int64)
    if (divisor <= 0).any():
        return None                                                 # rejected by the layer anyway
    sum_bound = window * (255 + abs(pad_value))
    use_f32 = sum_bound <= 2**24 and int(divisor.max()) < 2**15
    work = np.float32 if use_f32 else np.float64
    extra_w = extra.astype(work) if extra.any() else None
    divisor_w = divisor.astype(work)
    dtype = np.dtype(x_type.dtype)
    global_pool = (oh, ow) == (1, 1) and (pbh, pbw) == (0, 0) and kh >= h and kw >= w

    def run(inputs):
        q = inputs[0]
        if global_pool:
            total = q.sum(axis=(2, 3), dtype=work, keepdims=True)   # exact: integer partial sums
        else:
            total = np.zeros((n, c, oh, ow), work)
            for out_rows, out_cols, rows, cols in taps:
                view = total[:, :, out_rows, out_cols]
                np.add(view, q[:, :, rows, cols], out=view, casting="unsafe")
        if extra_w is not None:
            total += extra_w
        total /= divisor_w
        np.rint(total, out=total)
        return [total.astype(dtype)]

    return run

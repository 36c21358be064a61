"""Convolution (fp32) and Int8Convolution: im2col into a reused buffer, then one BLAS GEMM.

Layout: the graph's NCHW is kept. For each image the patch matrix ``cols`` is ``[C * T, OH * OW]``
(``T = KH * KW`` taps; row ``c * T + t``), so the filters ``[OC, C/group, KH, KW]`` reshape to the
GEMM's left operand ``[OC, C/group * T]`` without any transpose and the product ``[OC, OH * OW]``
is already the NCHW output of that image. Grouped convolutions use a batched GEMM over groups;
depthwise-like ones (one input channel per group) a multiply-add per tap, vectorised over channels.

The patch buffer is allocated once per kernel (zero-filled) and only the part of each tap that
reads real input is rewritten on every call: the rest of a tap is padding and stays 0. For the
int8 layer the codes are shifted by the input zero point while they are copied (``a = q - za``),
so a padded tap (the code ``za`` in the reference) is exactly 0 here, as the reference requires.

Int8Convolution: exact (see ``_intgemm``): ``acc = Σ (q - za) * (w - zw)`` with float BLAS on
integer values, then ``float32(acc)`` and the post-ops (``_post_ops``), bit for bit the reference.

Convolution (fp32): float32 GEMM. The reference sums in float64 and rounds once, so results differ
by rounding only. Declared tolerance, per output element, with ``K = C/group * KH * KW``::

    |y - y_ref| <= (K + 2) * 2^-24 * Σ |x| * |w|   (+ K * 2^-149 for subnormals)

(the standard bound ``γ_K = K u / (1 - K u)`` of a float32 dot product in any summation order,
plus the reference's own rounding). A float32 partial sum can overflow where the reference's
float64 sum does not; overflow always leaves inf or NaN in the output, so a layer whose float32
result is not all finite is recomputed by the specification's float64 function: non-finite
results are then the reference's exactly. Padding is multiplied as zeros, which equals leaving
it out of the sum only for finite filters; filters with inf/NaN go to the reference too
(constant filters: the kernel declines them).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from refint8.graph import Node
from refint8.ops.convolution import convolution as reference_convolution
from refint8.ops.convolution import convolution_geometry, tap_range

from ._common import BufferPool, constant_input
from ._intgemm import ExactGemm
from ._post_ops import PostOpChain


def _raise(reason: str, attribute: str, value: Any):
    raise ValueError(f"{attribute}={value!r}: {reason}")


class Im2Col:
    """The patch matrix of one image: ``fill(x[C, H, W]) -> [C * T, OH * OW]`` in ``dtype``."""

    def __init__(self, c: int, h: int, w: int, kh: int, kw: int, strides, dilations, pads_begin,
                 out_hw: tuple[int, int], dtype: Any) -> None:
        sh, sw = strides
        dh, dw = dilations
        pbh, pbw = pads_begin
        oh, ow = out_hw
        self.c, self.t, self.m = c, kh * kw, oh * ow
        self.dtype = np.dtype(dtype)
        #: 1x1 kernel, stride 1, no padding: the image itself is the patch matrix.
        self.identity = (kh, kw, sh, sw, pbh, pbw, oh, ow) == (1, 1, 1, 1, 0, 0, h, w)
        self.taps = []
        for i in range(kh):
            r_lo, r_hi, r_in = tap_range(h, oh, sh, i * dh - pbh)
            for j in range(kw):
                c_lo, c_hi, c_in = tap_range(w, ow, sw, j * dw - pbw)
                if r_lo == r_hi or c_lo == c_hi:
                    continue  # this tap only ever reads padding: its rows stay 0
                rows = slice(r_in, r_in + (r_hi - r_lo - 1) * sh + 1, sh)
                cols = slice(c_in, c_in + (c_hi - c_lo - 1) * sw + 1, sw)
                self.taps.append((i * kw + j, slice(r_lo, r_hi), slice(c_lo, c_hi), rows, cols))
        self.pool = BufferPool((c, self.t, oh, ow), dtype)

    def fill(self, x: np.ndarray, shift: np.ndarray | None, buffer: np.ndarray) -> np.ndarray:
        """Write ``x - shift`` (shift: ``[C, 1, 1]`` float32, or None) into ``buffer``."""
        for t, out_rows, out_cols, rows, cols in self.taps:
            dst = buffer[:, t, out_rows, out_cols]
            src = x[:, rows, cols]
            if shift is None:
                np.copyto(dst, src, casting="unsafe")
            else:
                np.subtract(src, shift, out=dst, dtype=np.float32, casting="unsafe")
        return buffer.reshape(self.c * self.t, self.m)

    def direct(self, x: np.ndarray, shift: np.ndarray | None, buffer: np.ndarray | None) -> np.ndarray:
        """The identity case: ``x - shift`` as ``[C, H * W]`` (a view when nothing changes)."""
        if shift is None and x.dtype == self.dtype:
            return x.reshape(self.c, self.m)
        dst = buffer.reshape(self.c, self.m)
        src = x.reshape(self.c, self.m)
        if shift is None:
            np.copyto(dst, src, casting="unsafe")
        else:
            np.subtract(src, shift.reshape(self.c, 1), out=dst, dtype=np.float32, casting="unsafe")
        return dst

    def patches(self, x: np.ndarray, shift: np.ndarray | None, buffer: np.ndarray | None) -> np.ndarray:
        if self.identity:
            return self.direct(x, shift, buffer)
        return self.fill(x, shift, buffer)


def _depthwise_product(w3: np.ndarray, cols3: np.ndarray, out3: np.ndarray, acc_dtype) -> None:
    """``out3[g, o, m] = Σ_t w3[g, o, t] * cols3[g, t, m]``: a multiply-add per tap."""
    if acc_dtype == np.float32:
        acc = out3
        np.multiply(cols3[:, None, 0, :], w3[:, :, 0, None], out=acc)
    else:
        acc = cols3[:, None, 0, :].astype(acc_dtype) * w3[:, :, 0, None]
    for t in range(1, w3.shape[2]):
        acc += cols3[:, None, t, :] * w3[:, :, t, None]
    if acc is not out3:
        out3[...] = acc


def convolution_kernel(node: Node) -> Callable | None:
    """fp32 Convolution (any group, auto_pad resolved at compile time)."""
    a = node.attrs
    x_shape = tuple(node.inputs[0].shape)
    w_shape = tuple(node.inputs[1].shape)
    (pbh, pbw), _, (n, oc, oh, ow) = convolution_geometry(
        x_shape, w_shape, strides=a["strides"], pads_begin=a["pads_begin"], pads_end=a["pads_end"],
        dilations=a["dilations"], auto_pad=a["auto_pad"], group=a["group"], fail=_raise)
    _, c, h, wd = x_shape
    _, icg, kh, kw = w_shape
    group = a["group"]
    im2col = Im2Col(c, h, wd, kh, kw, a["strides"], a["dilations"], (pbh, pbw), (oh, ow), np.float32)
    weights = constant_input(node, 1)
    attrs = dict(a)

    def product_for(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w2 = np.ascontiguousarray(np.asarray(w, np.float32).reshape(oc, icg * kh * kw))
        return w2, np.ascontiguousarray(w2.reshape(group, oc // group, icg * kh * kw))

    if weights is not None:
        if not np.isfinite(weights).all():
            return None  # padding must be left out of the sum, not multiplied: the reference does it
        fixed = product_for(weights)
    else:
        fixed = None
    depthwise = group > 1 and icg == 1

    def reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return reference_convolution(
            x, w, strides=attrs["strides"], pads_begin=attrs["pads_begin"],
            pads_end=attrs["pads_end"], dilations=attrs["dilations"], auto_pad=attrs["auto_pad"],
            group=group)

    # Filters computed by the graph (e.g. a weight FakeQuantize without LPT): the prepared matrix
    # is reused while the same read-only array object comes back (a folded constant).
    last: list = [None, None]

    def run(inputs):
        x = np.asarray(inputs[0], np.float32)
        if fixed is None:
            w = inputs[1]
            if last[0] is w and not w.flags.writeable:
                w2, w3 = last[1]
            else:
                w = np.asarray(w, np.float32)
                if not np.isfinite(w).all():
                    return [reference(x, w)]
                w2, w3 = product_for(w)
                last[:] = [inputs[1], (w2, w3)]
        else:
            w2, w3 = fixed
        out = np.empty((n, oc, oh, ow), np.float32)
        buffer = None if (im2col.identity and x.flags.c_contiguous) else im2col.pool.take()
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite results: see below
                for image in range(n):
                    cols = im2col.patches(x[image], None, buffer)
                    target = out[image].reshape(oc, oh * ow)
                    if group == 1:
                        np.matmul(w2, cols, out=target)
                    elif depthwise:
                        _depthwise_product(w3, cols.reshape(group, kh * kw, -1),
                                           target.reshape(group, oc // group, -1), np.float32)
                    else:
                        np.matmul(w3, cols.reshape(group, icg * kh * kw, -1),
                                  out=target.reshape(group, oc // group, -1))
        finally:
            if buffer is not None:
                im2col.pool.give(buffer)
        if not np.isfinite(out).all():
            # inf/NaN: a float32 partial sum may have overflowed where the reference's float64 sum
            # does not (or inf - inf in another order): recompute with the specification itself
            return [reference(x, inputs[1])]
        return [out]

    return run


def _activation_bound(dtype: np.dtype, za: np.ndarray) -> np.ndarray:
    """Largest ``|q - za|`` per channel over the code range of ``dtype``."""
    if np.dtype(dtype) == np.uint8:
        return np.maximum(za, 255 - za).astype(np.float64)
    return np.maximum(za + 128, 127 - za).astype(np.float64)


def int8_convolution_kernel(node: Node, *, plan: str | None = None) -> Callable | None:
    """Int8Convolution, exact accumulation mode only (s16_pairs: declined)."""
    a = node.attrs
    if a["accumulation"] != "exact":
        return None
    weights = constant_input(node, 1)
    if weights is None:
        return None
    q_type = node.inputs[0]
    n, c, h, wd = q_type.shape
    oc, cg, kh, kw = weights.shape
    group = a["group"]
    ocg, t = oc // group, kh * kw
    out_type = node.output_types[0]
    _, _, oh, ow = out_type.shape

    za = np.broadcast_to(np.asarray(a["input_zero_point"], np.int64).reshape(-1), (c,))
    zw_raw = np.asarray(a["weight_zero_point"], np.int64).reshape(-1)
    zw = np.broadcast_to(zw_raw, (oc,)) if zw_raw.size else np.zeros(oc, np.int64)
    b = (weights.astype(np.int64) - zw[:, None, None, None]).reshape(group, ocg, cg * t)
    a_bound = np.repeat(_activation_bound(q_type.dtype, za).reshape(group, cg), t, axis=1)  # [G, Cg*T]
    depthwise = group > 1 and cg == 1
    gemm = ExactGemm(b if group > 1 else b[0], a_bound if group > 1 else a_bound[0], plan=plan)
    work_dtype = gemm.dtype
    im2col = Im2Col(c, h, wd, kh, kw, a["strides"], a["dilations"], a["pads_begin"], (oh, ow), work_dtype)
    shift = za.astype(np.float32).reshape(c, 1, 1) if za.any() else None
    chain = PostOpChain(a["post_ops"], out_type.shape, gemm.bound, signed_zero_input=True)
    binds = [chain.bind((image,)) for image in range(n)]
    out_dtype = out_type.dtype
    float_out = out_dtype == np.float32
    acc_pool = None if float_out else BufferPool((oc, oh * ow), np.float32)
    w3 = b.astype(work_dtype)
    depthwise_acc = np.float32 if gemm.plan == "f32" else np.float64

    def run(inputs):
        q = inputs[0]
        out = np.empty((n, oc, oh, ow), out_dtype)
        buffer = im2col.pool.take()
        acc = acc_pool.take() if acc_pool is not None else None
        try:
            for image in range(n):
                cols = im2col.patches(q[image], shift, buffer)
                target = out[image].reshape(oc, oh * ow) if float_out else acc
                if depthwise:  # float32 sums only when one float32 chunk is exact, else float64
                    _depthwise_product(w3, cols.reshape(group, t, -1),
                                       target.reshape(group, ocg, -1), depthwise_acc)
                elif group == 1:
                    gemm(cols, target)
                else:
                    gemm(cols.reshape(group, cg * t, -1), target.reshape(group, ocg, -1))
                if float_out:
                    result = binds[image](target.reshape(oc, oh, ow))
                    if result is not None and not np.may_share_memory(result, out):
                        out[image] = result                  # a chain that made a new array
                else:
                    binds[image](target.reshape(oc, oh, ow), out[image])
        finally:
            im2col.pool.give(buffer)
            if acc is not None:
                acc_pool.give(acc)
        return [out]

    return run

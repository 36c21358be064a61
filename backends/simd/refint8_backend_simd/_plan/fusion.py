"""A convolution with its elementwise consumer fused into the epilogue (the runtime's fusion contract).

ResNet's residual ``Int8Add`` reads a convolution's codes and the shortcut's: run alone, it reloads
the codes the convolution has just stored. Fused, the convolution's post-ops end as usual (the
codes it would store: rounded, saturated, NaN counted), and the consumer's step, post-ops and store
follow in the same registers (r8simd_kernels.h ``conv_consume``); only the other input is read.
The arithmetic is the two layers' own, in their order, so the result is bit for bit theirs.
Where both chains are the common ones (the convolution's Multiply, Add, Quantize; the consumer's
Multiply, Quantize; operands constant over each plane), the pair runs in the convolution's
interleaved requantization instead (``conv_compute_rq`` with ``r8_conv.rq_elt``), the same steps.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from refint8.errors import InputError

from .common import NAN_MESSAGE, CCall, Reused, plane_values, requantization_fields
from .convolution import ConvPlan
from .elementwise import elementwise_struct


class ConvConsumerPlan(Reused):
    """``conv`` with ``consumer`` (kind 1 Int8Add, 2 Int8Multiply) fused; the convolution's output
    is the consumer's input ``link`` (0 or 1). Inputs: the convolution's, then the consumer's other
    input (same shape as the output)."""

    takes_all_inputs = True

    def __init__(self, ffi: Any, conv: ConvPlan, consumer: Any, link: int, kind: int, shift: Any,
                 scale: Any, post_ops: Sequence[Any], threads: int) -> None:
        out_type = consumer.output_types[0]
        self.out_shape, self.out_dtype = out_type.shape, out_type.dtype
        g = conv.geometry
        p = conv.params
        p.elt = elementwise_struct(conv.keep, ffi, consumer, kind, shift, scale, post_ops,
                                   conv._fill_operand, g.n * g.oc, g.oh * g.ow, threads)
        p.elt_input = link
        p.elt_other = ffi.NULL
        if conv.depthwise:
            p.rq = ffi.NULL      # the depthwise kernels' interleaved epilogue has no consumer step
        elif p.rq != ffi.NULL:
            self._plan_interleaved_requantization(ffi, conv.keep, p, g.n * g.oc)
        self.conv = conv
        self.params, self.function, self.lock, self.ffi = p, conv.function, conv.lock, ffi
        self.scratch_bytes = conv.scratch_bytes
        if hasattr(conv, "implementation"):
            self.implementation = conv.implementation

    @staticmethod
    def _plan_interleaved_requantization(ffi: Any, keep: Any, p: Any, planes: int) -> None:
        """Keep the convolution's interleaved requantization (r8_conv.rq) for the pair where the
        consumer's step operands h, r are constant over each plane and its post-ops are exactly
        Multiply, reciprocal Quantize with such operands, stored as they are: r8_conv.rq_elt."""
        e = p.elt
        step = [plane_values(ffi, e.h, planes), plane_values(ffi, e.r, planes)]
        table = requantization_fields(ffi, e.post, e.npost, e.out_type, planes, (0, 8),
                                      ((0, 0), (1, 0), (1, 3), (1, 2),    # s, il, m, ol
                                       (1, 1), (1, 4), (1, 5), (1, 6)))   # ih - il, oh, lo, hi
        if table is None or step[0] is None or step[1] is None:
            p.rq = ffi.NULL
            return
        p.rq_elt = keep.ptr("float *", np.column_stack([step[0], step[1], table]))

    def run(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        x = np.ascontiguousarray(inputs[0])
        other = np.ascontiguousarray(inputs[-1])
        ffi = self.ffi
        with self.lock:
            out = self.output()
            other_buffer = ffi.from_buffer(other)
            self.params.elt_other = other_buffer
            self.lend_scratch()
            try:
                nan = self.function(self.params, ffi.from_buffer(x), ffi.from_buffer(out))
            finally:
                self.params.elt_other = ffi.NULL
        if nan:
            raise InputError(NAN_MESSAGE)
        return out

    def c_call(self) -> CCall:
        return CCall((0, -1), consumer=True)

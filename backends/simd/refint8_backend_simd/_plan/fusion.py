"""A convolution with its elementwise consumer fused into the epilogue (the runtime's fusion contract).

ResNet's residual ``Int8Add`` reads a convolution's codes and the shortcut's: run alone, it reloads
the codes the convolution has just stored. Fused, the convolution's post-ops end as usual (the
codes it would store: rounded, saturated, NaN counted), and the consumer's step, post-ops and store
follow in the same registers (r8simd_conv_epilogue.h ``conv_consume``); only the other input is read.
The arithmetic is the two layers' own, in their order, so the result is bit for bit theirs.
The pair runs the general epilogue; or, where both layers alone would run the requantizing
kernels (the convolution's requantization after each tile or block, the consumer's ``elt_rq``) and
the convolution's kernel can (``ConvPlan.consumes_requantizing``), those kernels: the convolution
stores its codes and runs the consumer's own requantizing step on them in place while they are in
L1 (``rq_consume``), the same arithmetic as the two kernels apart; inside a sequence that keeps
the pair's output in 4-channel cells (``_plan/layout.py``) the codes go to a ring of planes and the
consumer stores cells (``rq_consume_cells``). Where only one of them would
requantize, the backend declines the fusion (``SimdBackend.fuse``), the two apart being faster.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from refint8.errors import InputError

from .common import NAN_MESSAGE, CCall, Reused
from .convolution import ConvPlan
from .elementwise import elementwise_struct


class ConvConsumerPlan(Reused):
    """``conv`` with ``consumer`` (kind 1 Int8Add, 2 Int8Multiply) fused; the convolution's output
    is the consumer's input ``link`` (0 or 1). Inputs: the convolution's, then the consumer's other
    input (same shape as the output). ``requantizing``: the consumer's own plan where both run
    their requantizing kernels (its r8_elt, with rq, then goes into the convolution's)."""

    takes_all_inputs = True

    def __init__(self, ffi: Any, conv: ConvPlan, consumer: Any, link: int, kind: int, shift: Any,
                 scale: Any, post_ops: Sequence[Any], threads: int, requantizing: Any = None) -> None:
        if conv.requantizes and not (requantizing is not None and requantizing.requantizes
                                     and conv.consumes_requantizing):
            # SimdBackend.fuse declines such pairs; a channel-lane plan has no position weights
            raise ValueError("a convolution that runs a requantizing kernel is fused only with "
                             "a requantizing consumer its kernel runs")
        out_type = consumer.output_types[0]
        self.out_shape, self.out_dtype = out_type.shape, out_type.dtype
        g = conv.geometry
        p = conv.params
        if conv.requantizes:
            self.consumer_plan = requantizing    # keeps its r8_elt alive
            p.elt = requantizing.params
        else:
            p.elt = elementwise_struct(conv.keep, ffi, consumer, kind, shift, scale, post_ops,
                                       conv._fill_operand, g.n * g.oc, g.oh * g.ow, threads)
        p.elt_input = link
        p.elt_other = ffi.NULL
        self.conv = conv
        self.params, self.function, self.lock, self.ffi = p, conv.function, conv.lock, ffi
        self.weights = conv.weights
        self.scratch_bytes = conv.scratch_bytes
        if hasattr(conv, "implementation"):
            self.implementation = conv.implementation

    def run(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        self.check_alone()
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

"""Compile-time planning of the simd kernels: layouts, packed weights, zero-point terms, post-op tables.

Everything here runs once per node in ``Backend.kernel``; the C kernels (``src/``) only run. The
layouts are described in ``src/r8simd_api.h``; this package is where they are built, with NumPy:
``common`` (variants, buffers), ``post_ops`` (post-op tables and their exact shortcuts),
``convolution``, ``matmul``, ``elementwise``, ``pooling``, ``mvn``, ``movement`` (Concat, nearest
Interpolate, Reshape, Transpose), ``fusion`` (a convolution with the elementwise layer that
reads its output, as one kernel), ``sequence`` (consecutive steps in one C call) and ``layout``
(the activations a sequence keeps in 4-channel cells between its steps).

Exactness, in short (the integers are exact, so ``float32(acc)`` is the reference's):

* mode 0 (``avx512_vnni``, ``amx``): activations become u8 codes ``q' = q + s`` (``s = 128`` for i8
  data, else 0) and padding holds ``za' = za + s``, so ``q' - za' = q - za`` everywhere, including
  padded taps. ``vpdpbusd``/``tdpbsud`` compute ``raw = Σ q'·w`` exactly in int32 (``|raw| <= K·255·128``,
  which the layer's compile-time bound keeps inside int32), and
  ``acc = raw + comp[o] - zw[o]·S(v)`` with ``comp[o] = zw[o]·KH·KW·Σ_c za'_c - Σ_c za'_c·Σ_taps w[o,c]``
  and ``S(v) = Σ q'`` over the window, which is ``Σ (q' - za')(w - zw)`` expanded. All of it is
  int32 arithmetic modulo 2^32 whose true value fits int32, so wrapping cannot change it.
* mode 1 (``sse42``, ``avx2``, ``avx512``): activations are widened to s16 ``q - za`` (padding 0),
  weights to s16 ``w - zw``; ``pmaddwd`` adds two products of magnitude <= 255·255 into int32
  exactly, so ``acc = Σ (q - za)(w - zw)`` directly, with no compensation and no saturation.
* ``s16_pairs`` nodes (``*_pairs`` kernels): mode 0's layout and terms, but ``raw`` sums
  ``sat16(u[2j]·w[2j] + u[2j+1]·w[2j+1])`` (``pmaddubsw``) over consecutive channel pairs of one
  tap (a 4-byte cell holds two pairs; an odd channel count leaves a zero-weight partner). With
  ``u = q + 128`` for i8 data this is refint8.int8.accumulate's definition, and the compensation
  ``- za'·Σw - zw·S' + K·za'·zw`` on shifted values equals the reference's
  ``- 128·Σw - za·Σw - zw·S + K·za·zw`` (the shift cancels: it is linear).
"""

from .common import MAX_POST_OPS, NAN_MESSAGE, VARIANTS
from .convolution import ConvPlan
from .elementwise import ElementwisePlan
from .fusion import ConvConsumerPlan
from .matmul import MatMulPlan
from .movement import ConcatPlan, ReshapePlan, ResizePlan, TransposePlan, nearest_tables
from .mvn import MVNPlan, trailing_groups
from .pooling import AvgPoolPlan, Int8AvgPoolPlan, MaxPoolPlan, ReluCodesPlan
from .sequence import SequenceRun

__all__ = ["AvgPoolPlan", "ConcatPlan", "ConvConsumerPlan", "ConvPlan", "ElementwisePlan", "Int8AvgPoolPlan", "MatMulPlan",
           "MaxPoolPlan", "MAX_POST_OPS", "MVNPlan", "NAN_MESSAGE", "ReluCodesPlan", "ReshapePlan", "ResizePlan", "SequenceRun",
           "TransposePlan", "VARIANTS", "nearest_tables", "trailing_groups"]

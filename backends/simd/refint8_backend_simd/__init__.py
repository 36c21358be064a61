"""The ``simd`` backend: refint8's int8 layers as C kernels for x86 SIMD ISAs.

Variants (best last): ``sse42``, ``avx2``, ``avx512`` (exact s16 path: codes widened to s16 and
``pmaddwd``; never ``vpmaddubsw``, so no s16 pair saturation), ``avx512_vnni`` (``vpdpbusd``) and
``amx`` (AMX-INT8 tiles). The best one the CPU and OS support is used, capped by the configuration's
``isa``; any lower variant can be forced, so all of them are testable on one machine. execType
``simd_<variant>_I8``. Every result equals the reference bit for bit (exact int32 accumulation, then
the float32 post-ops one IEEE operation at a time, compiled with -ffp-contract=off).

Implemented in C: Int8Convolution (any kernel size, strides, dilations, pads, groups, depthwise,
zero points, post-ops) and Int8MatMul (FullyConnected), accumulation ``exact``; Int8Add,
Int8Multiply (same-shape inputs), Dequantize, FakeQuantize with constant ranges (requantization
and the quantization of fp32 inputs), MaxPool on u8/i8 codes and AvgPool on f32 (float64 window
sums in the reference's order), Int8MVN over trailing axes; with no ISA-specific code (execType
``simd_any``): Int8AvgPool (integer sums, exact rounding), Relu on codes, Concat (any dtype) and
nearest Interpolate over the last two axes (1- or 4-byte dtypes) as C copies, Reshape, Squeeze,
Unsqueeze and Transpose (NumPy views and copies). Depthwise convolutions have their own kernels
(``r8_dw``; on VNNI CPUs with VBMI ``r8_dwb``, byte planes and ``vpermb``, and for one channel a
group with the requantization chain ``r8_dwc``, vectors of 4 positions x 4 channels: the
sequences' 4-channel cells). On AVX-512 builds the common requantization chain runs interleaved
with the next tile's dot products (``r8_conv.rq``).
``fuse`` runs an Int8Convolution with the Int8Add or Int8Multiply that reads its output as one
kernel (the consumer's step, post-ops and store in the convolution's epilogue: ResNet's residual
adds). ``sequence`` runs consecutive steps in one C call (``r8_run_steps``), timing each (the CPU time
of a run shared out by wall time): the
runtime's loop between them had cost 5-17 % of an inference. Other nodes, and post-op chains longer
than 16, return ``None`` (the runtime's fallback backend runs them). The float32 post-ops may take
exact shortcuts, each proven where ``_plan/post_ops.py`` decides it (a Quantize by reciprocal with
near-midpoint lanes recomputed by division, a redundant Relu dropped, final rounding and NaN
counts skipped when provably unneeded).

``BackendOptions.threads`` sets the OpenMP thread count (default: all processors); work is split
by output blocks, each computed whole by one thread, so results do not depend on it. Idle threads
spin as libgomp's defaults say (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``: a few milliseconds, far
less when there are more threads than CPUs); layers run on one thread while other processes keep
the CPUs busy (``r8_team``, ``src/r8_dispatch.c``).
``BackendOptions.extra["emulate_amx"] = True`` with ``isa="amx"`` runs the AMX kernels with the
tile instructions emulated in C (for testing their layouts on CPUs without AMX).

Nodes whose ``accumulation`` is ``s16_pairs`` (refint8.int8.accumulate: the non-VNNI path of oneDNN,
``pmaddubsw`` pair saturation) run dedicated kernels on SSE4.2, AVX2 or AVX-512BW (execType of that
ISA). The backend declares ``exact`` unless ``extra["accumulation"] = "s16_pairs"`` (configuration
``[tool.refint8.simd] accumulation = "s16_pairs"``), which makes LPT emit s16_pairs nodes.

Importing this module is cheap and never fails on other CPUs: the extension is loaded lazily.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Sequence

import numpy as np

import refint8
from refint8.backend import (Backend, BackendOptions, BackendSpec, Capabilities, Kernel, PlannedStep,
                             SequenceRun)
from refint8.graph import Node

#: ISA variants, lowest first.
ORDER = ("sse42", "avx2", "avx512", "avx512_vnni", "amx")
_FEATURE_BIT = {"sse42": 1, "avx2": 2, "avx512": 4, "avx512_vnni": 8, "amx": 16}

_lib_cache: dict[str, object] = {}


def _load():
    """(ffi, lib) of the compiled extension, or raise ImportError with the reason."""
    if "ext" not in _lib_cache:
        from . import _simd  # noqa: PLC0415  (compiled by pip install)
        _lib_cache["ext"] = (_simd.ffi, _simd.lib)
    return _lib_cache["ext"]


def available_variants() -> tuple[str, ...]:
    """The variants this CPU and OS can run, lowest first (AMX only once Linux granted it)."""
    try:
        _, lib = _load()
    except ImportError:
        return ()
    if "variants" not in _lib_cache:
        features = lib.r8_cpu_features()
        found = [v for v in ORDER if features & _FEATURE_BIT[v]]
        if "amx" in found and lib.r8_amx_request() != 0:
            found.remove("amx")
        _lib_cache["variants"] = tuple(found)
    return _lib_cache["variants"]  # type: ignore[return-value]


class SimdBackend(Backend):
    name = "simd"

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        self._problem = ""
        self.variant = ""
        self.accumulation = "exact"
        #: plans fuse() built for a pair it declined, by id(node): a later fuse() (an Int8Add with two
        #: convolutions) and kernel() take them (the runtime offers every pair before it asks for
        #: kernels), so no node's plan is built twice
        self._declined_plans: dict[int, tuple[Node, Any]] = {}
        try:
            self.ffi, self.lib = _load()
        except ImportError as exc:
            self._problem = f"the simd extension is not built: {exc}"
            return
        variants = available_variants()
        if "sse42" not in variants:
            self._problem = "this CPU lacks SSE4.2 (the simd backend's lowest variant)"
            return
        cap = self.options.isa
        allowed = [v for v in variants if cap is None or ORDER.index(v) <= ORDER.index(cap)]
        if self.options.extra.get("emulate_amx") and cap == "amx":
            if "avx512_vnni" not in variants:   # the emulated tiles run on AVX-512 VNNI code
                self._problem = "emulate_amx needs AVX-512 VNNI, which this CPU lacks"
                return
            self.variant = "amx_emu"
        else:
            self.variant = allowed[-1] if allowed else variants[0]
        threads = self.options.threads
        self.threads = int(threads) if threads else max(1, int(self.lib.r8_max_threads()))
        accumulation = self.options.extra.get("accumulation", "exact")
        if accumulation not in ("exact", "s16_pairs"):
            self._problem = f"accumulation must be 'exact' or 's16_pairs', got {accumulation!r}"
        self.accumulation = accumulation

    def capabilities(self) -> Capabilities:
        return Capabilities(
            accumulation=self.accumulation,
            isa_variants=available_variants() or ("any",),
            summary="C kernels: Int8Convolution (grouped/depthwise), Int8MatMul, Int8Add, "
                    "Int8Multiply, Int8MVN, Int8AvgPool, Dequantize, FakeQuantize, MaxPool and Relu (u8/i8), "
                    "AvgPool (f32), Concat, Interpolate (nearest), Reshape/Transpose; variants sse42/avx2/avx512 "
                    "(exact s16), avx512_vnni, amx",
        )

    def usable(self) -> tuple[bool, str]:
        if self._problem:
            return False, self._problem
        return True, ""

    @property
    def implementation(self) -> str:
        return f"simd_{self.variant}"

    def kernel(self, node: Node) -> Kernel | None:
        if self._problem:
            return None
        from . import _plan  # noqa: PLC0415

        plan = self._kept_or_new_plan(node, _plan)
        self._declined_plans.pop(id(node), None)
        return None if plan is None else self._kernel_of(plan)

    def _kept_or_new_plan(self, node: Node, _plan):
        """The plan fuse() kept for ``node`` (a declined pair), else a new one."""
        kept = self._declined_plans.get(id(node))
        return kept[1] if kept is not None and kept[0] is node else self._plan(node, _plan)

    def _kernel_of(self, plan) -> Kernel:
        """The Kernel running ``plan``: with every input, or the first only (single-input plans)."""
        run_plan = plan.run
        if getattr(plan, "takes_all_inputs", False):
            def run(inputs):
                return [run_plan(inputs)]
        else:
            def run(inputs):
                return [run_plan(inputs[0])]
        run.plan = plan  # type: ignore[attr-defined]
        return Kernel(run, getattr(plan, "implementation", self.implementation))

    def fuse(self, producer: Node, consumer: Node) -> Kernel | None:
        """An Int8Convolution with the Int8Add or Int8Multiply that reads its output, as one kernel
        (``_plan/fusion.py``): both must be nodes this backend runs alone, both with the general
        epilogue, or both with their requantizing kernels where the convolution's can run the
        consumer's in place (``ConvPlan.consumes_requantizing``). Declined where only one of them
        would requantize: apart they are faster than the pair with the general epilogue
        (ResNet-50's residual blocks on avx512_vnni, 1 thread: 0.4-0.5 ms an inference; on AVX2,
        whose convolutions requantize in their epilogue, ResNet-50 took 0.94-0.95x the time of
        the build that fused those pairs before, and 0.97x that of fusing them still)."""
        if self._problem or producer.type != "Int8Convolution" or \
                consumer.type not in ("Int8Add", "Int8Multiply") or self._declines(consumer):
            return None
        from . import _plan  # noqa: PLC0415

        conv = self._kept_or_new_plan(producer, _plan)
        alone = self._kept_or_new_plan(consumer, _plan)
        both_requantize = (conv is not None and alone is not None and alone.requantizes
                           and conv.consumes_requantizing)
        declined = conv is None or alone is None or (
            not both_requantize and (conv.requantizes or alone.requantizes))
        for node, plan in ((producer, conv), (consumer, alone)):
            if declined and plan is not None:
                self._declined_plans[id(node)] = (node, plan)
            else:   # the pair takes the convolution's plan; the consumer's runs in it
                self._declined_plans.pop(id(node), None)
        if declined:
            return None
        link = [i.node for i in consumer.inputs].index(producer)
        kind = 1 if consumer.type == "Int8Add" else 2
        return self._kernel_of(_plan.ConvConsumerPlan(
            self.ffi, conv, consumer, link, kind, consumer.attrs["full_shift"],
            consumer.attrs.get("full_scale", 1.0), consumer.attrs["post_ops"], self.threads,
            requantizing=alone if both_requantize else None))

    def sequence(self, steps: Sequence[PlannedStep]) -> SequenceRun | None:
        """The steps as one ``SequenceRun`` (``_plan/sequence.py``): runs of steps whose plans are
        one C call each go through ``r8_run_steps``, the others run from Python in between.
        ``None`` where no two consecutive steps are C calls (nothing to gain)."""
        if self._problem:
            return None
        from . import _plan  # noqa: PLC0415

        run = _plan.SequenceRun(self.ffi, self.lib, steps)
        return run if run.joins_c_calls else None

    @staticmethod
    def _declines(node: Node) -> bool:
        """What the C kernels leave to the fallback backend whatever the layer: post-op chains
        longer than they hold, a Clamp whose low exceeds its high (the reference raises at run time;
        let it), and an Int8Add/Int8Multiply whose inputs broadcast."""
        from refint8.int8 import post_ops as post  # noqa: PLC0415

        from ._plan import MAX_POST_OPS  # noqa: PLC0415

        chain = node.attrs.get("post_ops", ())
        if len(chain) > MAX_POST_OPS:
            return True
        if any(isinstance(op, post.Clamp) and not np.float32(op.low) <= np.float32(op.high) for op in chain):
            return True
        out_shape = node.output_types[0].shape
        return node.type in ("Int8Add", "Int8Multiply") and any(i.shape != out_shape for i in node.inputs)

    def _plan(self, node: Node, _plan):
        kind = node.type
        from refint8.int8 import post_ops as post  # noqa: PLC0415

        if self._declines(node):
            return None
        low = (np.dtype(np.uint8), np.dtype(np.int8))
        ffi, lib, variant, threads = self.ffi, self.lib, self.variant, self.threads
        if kind in ("Int8Convolution", "Int8MatMul"):
            weights = node.inputs[1].node.constant_value()
            if weights is None:
                return None
            implementation = None
            if node.attrs.get("accumulation", "exact") == "s16_pairs":
                base = variant if variant in ("sse42", "avx2") else "avx512"
                variant, implementation = f"{base}_pairs", f"simd_{base}"
            plan_type = _plan.ConvPlan if kind == "Int8Convolution" else _plan.MatMulPlan
            plan = plan_type(ffi, lib, variant, node, weights, threads)
            if implementation:
                plan.implementation = implementation
            return plan
        if kind in ("Int8Add", "Int8Multiply"):
            scale = node.attrs.get("full_scale", 1.0)
            return _plan.ElementwisePlan(ffi, lib, variant, node, 1 if kind == "Int8Add" else 2,
                                         node.attrs["full_shift"], scale, node.attrs["post_ops"], threads)
        if kind == "Dequantize":
            return _plan.ElementwisePlan(ffi, lib, variant, node, 0, 0.0, 1.0, node.attrs["post_ops"], threads)
        if kind == "FakeQuantize":
            ranges = [i.node.constant_value() for i in node.inputs[1:]]
            if any(r is None for r in ranges) or node.inputs[0].dtype not in (*low, np.dtype(np.float32)):
                return None
            out_type = node.attrs["output_type"]
            levels = node.attrs["levels"]
            if out_type == "f32":
                op = post.FakeQuantize(*ranges, levels)
            else:
                op = post.Quantize(*ranges, levels, element_type=out_type)
            return _plan.ElementwisePlan(ffi, lib, variant, node, 0, 0.0, 1.0, (op,), threads)
        if kind == "Int8MVN":
            layout = _plan.trailing_groups(node)
            if layout is None:
                return None   # reduction axes other than the trailing ones: the fallback runs it
            return _plan.MVNPlan(ffi, lib, variant, node, *layout, threads)
        if kind == "Concat":
            return _plan.ConcatPlan(ffi, lib, node, threads)
        if kind == "Interpolate":
            tables = _plan.nearest_tables(node)
            return None if tables is None else _plan.ResizePlan(ffi, lib, node, *tables, threads)
        if kind in ("Reshape", "Squeeze", "Unsqueeze"):
            return _plan.ReshapePlan(ffi, lib, node)
        if kind == "Transpose":
            return _plan.TransposePlan(node)
        if kind == "Int8AvgPool":
            return _plan.Int8AvgPoolPlan(ffi, lib, variant, node, threads)
        if kind == "Relu" and node.inputs[0].dtype in low:
            return _plan.ReluCodesPlan(ffi, lib, node)
        if kind == "MaxPool" and node.inputs[0].dtype in low:
            return _plan.MaxPoolPlan(ffi, lib, variant, node, threads)
        if kind == "AvgPool" and node.inputs[0].dtype == np.dtype(np.float32):
            return _plan.AvgPoolPlan(ffi, lib, variant, node, threads)
        return None


def _version() -> str:
    try:
        return metadata.version("refint8-backend-simd")
    except metadata.PackageNotFoundError:
        return "0"


@refint8.hookimpl
def refint8_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            "simd",
            lambda options: SimdBackend(options),
            priority=100,
            description="C kernels: SSE4.2, AVX2, AVX-512 (exact s16), AVX-512 VNNI, AMX",
        )
    ]

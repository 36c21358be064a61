"""The ``simd`` backend: refint8's int8 layers as C kernels for x86 SIMD ISAs.

Variants (best last): ``sse42``, ``avx2``, ``avx512`` (exact s16 path: codes widened to s16 and
``pmaddwd``; never ``vpmaddubsw``, so no s16 pair saturation), ``avx512_vnni`` (``vpdpbusd``) and
``amx`` (AMX-INT8 tiles). The best one the CPU and OS support is used, capped by the configuration's
``isa``; any lower variant can be forced, so all of them are testable on one machine. execType
``simd_<variant>_I8``. Every result equals the reference bit for bit (exact int32 accumulation, then
the float32 post-ops one IEEE operation at a time, compiled with -ffp-contract=off).

Implemented: Int8Convolution (any kernel size, strides, dilations, pads, groups, depthwise, zero
points, post-ops) and Int8MatMul (FullyConnected), accumulation ``exact``. Other nodes return
``None`` (the runtime's fallback backend runs them).

``BackendOptions.threads`` sets the OpenMP thread count (default: all processors); work is split
by output blocks, each computed whole by one thread, so results do not depend on it.
``BackendOptions.extra["emulate_amx"] = True`` with ``isa="amx"`` runs the AMX kernels with the
tile instructions emulated in C (for testing their layouts on CPUs without AMX).

Importing this module is cheap and never fails on other CPUs: the extension is loaded lazily.
"""

from __future__ import annotations

from importlib import metadata

import refint8
from refint8.backend import Backend, BackendOptions, BackendSpec, Capabilities, Kernel
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
            self.variant = "amx_emu"
        else:
            self.variant = allowed[-1] if allowed else variants[0]
        threads = self.options.threads
        self.threads = int(threads) if threads else max(1, int(self.lib.r8_max_threads()))

    def capabilities(self) -> Capabilities:
        return Capabilities(
            accumulation="exact",
            isa_variants=available_variants() or ("any",),
            summary="Int8Convolution (incl. grouped/depthwise), Int8MatMul in C; "
                    "variants sse42/avx2/avx512 (exact s16), avx512_vnni, amx",
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
        if node.type not in ("Int8Convolution", "Int8MatMul"):
            return None
        if node.attrs.get("accumulation", "exact") != "exact":
            return None
        weights = node.inputs[1].node.constant_value() if len(node.inputs) > 1 else None
        if weights is None:
            return None
        from . import _plan  # noqa: PLC0415

        plan_type = _plan.ConvPlan if node.type == "Int8Convolution" else _plan.MatMulPlan
        plan = plan_type(self.ffi, self.lib, self.variant, node, weights, self.threads)
        run_plan = plan.run

        def run(inputs):
            return [run_plan(inputs[0])]

        run.plan = plan  # type: ignore[attr-defined]
        return Kernel(run, self.implementation)


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

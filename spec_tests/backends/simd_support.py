"""What the simd backend's test modules share: the registry, the ISA variants this machine runs
(plus the emulated AMX kernels) and a backend forced to one of them. Importing it skips the
importing test module where the simd backend is not installed or not usable here."""

from __future__ import annotations

import pytest

from refint8.backend import BackendOptions
from refint8.registry import default_registry

REGISTRY = default_registry()
if "simd" not in REGISTRY.backends:
    pytest.skip("the simd backend is not installed", allow_module_level=True)
PROBE = REGISTRY.create("simd", BackendOptions(threads=1))
if not PROBE.usable()[0]:
    pytest.skip(f"simd backend not usable here: {PROBE.usable()[1]}", allow_module_level=True)

#: the variants this CPU runs natively, best last
AVAILABLE = [v for v in PROBE.capabilities().isa_variants if v != "any"]
#: every variant this machine can run, plus the emulated AMX kernels (they run on AVX-512 VNNI)
VARIANTS = AVAILABLE + (["amx_emu"] if "avx512_vnni" in AVAILABLE else [])
#: the variants that run the AMX convolution kernel (on tiles, or emulated in C)
AMX = ("amx", "amx_emu")


def backend(variant: str, threads: int = 1):
    """The simd backend forced to ``variant`` (``amx_emu``: the AMX kernels, tiles emulated in C)."""
    if variant == "amx_emu":
        return REGISTRY.create("simd", BackendOptions(isa="amx", threads=threads, extra={"emulate_amx": True}))
    return REGISTRY.create("simd", BackendOptions(isa=variant, threads=threads))


def _has_vbmi() -> bool:
    """Whether this CPU has AVX-512 VBMI (vpermb; r8_cpu_features bit 32)."""
    return bool(backend(VARIANTS[0]).lib.r8_cpu_features() & 32) if VARIANTS else False


#: the variants whose depthwise layers run on bytes (r8_dwb, r8_dwc): VNNI builds on a CPU with VBMI
BYTE_DEPTHWISE = [v for v in VARIANTS if v in ("avx512_vnni", "amx", "amx_emu")] if _has_vbmi() else []

"""Build of refint8-backend-simd: a cffi API-mode extension plus one object per ISA variant.

Every ISA translation unit is compiled on this machine with its own flags (and all with
-ffp-contract=off: no FMA contraction, each float32 operation as written). A failed compile fails
the install with the compiler's message. ``pip install -e`` builds the extension in place.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")

COMMON_FLAGS = ["-O3", "-std=gnu11", "-ffp-contract=off", "-fwrapv", "-fopenmp", "-Wall"]
AVX512 = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"]
#: (translation unit, ISA flags)
UNITS = [
    ("r8_dispatch.c", []),
    ("r8_generic.c", []),
    ("r8_steps.c", []),
    ("r8_sse42.c", ["-msse4.2"]),
    ("r8_avx2.c", ["-mavx2"]),
    ("r8_avx512.c", AVX512),
    ("r8_avx512_vnni.c", AVX512 + ["-mavx512vnni"]),
    ("r8_amx.c", AVX512 + ["-mavx512vnni", "-mamx-tile", "-mamx-int8"]),
    ("r8_amx_emu.c", AVX512 + ["-mavx512vnni"]),
    ("r8_sse42_pairs.c", ["-msse4.2"]),
    ("r8_avx2_pairs.c", ["-mavx2"]),
    ("r8_avx512_pairs.c", AVX512),
]
#: every header the units include (r8simd_kernels.h and its parts, r8simd_api.h, r8simd_isa.h)
HEADERS = sorted(name for name in os.listdir(SRC) if name.startswith("r8simd_") and name.endswith(".h"))


def _up_to_date(target: str, inputs: list[str]) -> bool:
    """Whether target exists and is newer than every input (the unit, the headers and this file,
    which holds the flags): an in-place rebuild then keeps its object."""
    return os.path.exists(target) and all(os.path.getmtime(target) > os.path.getmtime(i) for i in inputs)


class BuildSimd(build_ext):
    """build_ext that compiles the ISA units (own flags each) and links them into the extension."""

    def build_extension(self, ext):
        if ext.name.endswith("._simd"):
            headers = [os.path.join(SRC, h) for h in HEADERS]

            def compile_unit(unit_flags):
                unit, flags = unit_flags
                source = os.path.relpath(os.path.join(SRC, unit))
                (obj,) = self.compiler.object_filenames([source], output_dir=self.build_temp)
                if not self.force and _up_to_date(obj, [source, *headers, os.path.abspath(__file__)]):
                    return [obj]   # (a change to r8_amx.c alone recompiles only that unit)
                return self.compiler.compile(
                    [source], output_dir=self.build_temp, include_dirs=[SRC],
                    extra_postargs=COMMON_FLAGS + flags, depends=headers,
                )

            # one gcc per CPU: the AVX-512 units take most of the build
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                objects = [obj for objs in pool.map(compile_unit, UNITS) for obj in objs]
            ext.extra_objects = list(ext.extra_objects or []) + objects
            ext.depends = list(ext.depends or []) + [os.path.join(SRC, u) for u, _ in UNITS] + \
                [os.path.join(SRC, h) for h in HEADERS]
        super().build_extension(ext)


if sys.platform != "linux" or os.uname().machine not in ("x86_64", "AMD64"):
    sys.exit("refint8-backend-simd builds on x86-64 Linux with gcc only")

setup(cffi_modules=["simd_build.py:ffibuilder"], cmdclass={"build_ext": BuildSimd})

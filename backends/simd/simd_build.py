"""cffi (API mode) definition of the extension ``refint8_backend_simd._simd``.

The cdef is the C interface header itself; the ISA translation units are compiled separately by
``setup.py`` (each with its own flags) and linked into the same extension.
"""

from pathlib import Path

from cffi import FFI

SRC = Path(__file__).resolve().parent / "src"

ffibuilder = FFI()
ffibuilder.cdef((SRC / "r8simd_api.h").read_text())
ffibuilder.set_source(
    "refint8_backend_simd._simd",
    '#include "r8simd_api.h"\n',
    include_dirs=[str(SRC)],
    extra_compile_args=["-O2"],
    extra_link_args=["-fopenmp"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

"""The ``threads`` option: the number of OpenBLAS threads NumPy's GEMMs use.

OpenBLAS has one thread pool per process, so the setting is process-wide (it also affects every
other NumPy matrix product in the process). It is applied when a backend is created with
``threads`` set (configuration key ``threads`` / ``REFINT8_THREADS``); best effort: if NumPy's
BLAS is not an OpenBLAS this module can find, the option is ignored (``blas_threads_note``).
Elementwise NumPy operations are single-threaded whatever the setting.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")


def _candidate_libraries() -> list[str]:
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if line.strip() else ""
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    paths += [p for p in glob.glob(os.path.join(libs, "*openblas*")) if p not in paths]
    return paths


def set_blas_threads(threads: int) -> str:
    """Set OpenBLAS's thread count; returns a note saying what happened."""
    for path in _candidate_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                setter(int(threads))
                return f"OpenBLAS threads set to {threads} ({os.path.basename(path)})"
    return "threads option ignored: NumPy's OpenBLAS library was not found"

"""The built-in backends pass the conformance suite (small example counts, every ISA variant).

The full run with the default example counts is ``refint8 conformance --backend NAME``; this keeps
CI honest about regressions in the numpy and simd kernels at a fraction of the cost.
"""

from __future__ import annotations

import pytest

from refint8.cli import main
from refint8.registry import default_registry


@pytest.mark.parametrize("backend", ["numpy", "simd"])
def test_backend_passes_conformance(backend, capsys, tmp_path):
    assert backend in default_registry().names(), f"backend '{backend}' is not installed"
    code = main(["conformance", "--backend", backend, "--max-examples", "12", "--seed", "7",
                 "--failures-dir", str(tmp_path), "--repeats", "0", "--no-shrink"])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "UNEXPECTED" not in out and "INTERNAL_ERROR" not in out

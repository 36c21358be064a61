"""A CPU without SSE4.2: the simd backend reports itself unusable, and selection falls back.

The CPU features are simulated by replacing the backend module's detection (this is the one test
that imports a backend module directly: the CPU cannot be changed from the outside).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import refint8
from refint8.models import small_fq_cnn
from refint8.registry import BackendRegistry


@pytest.fixture
def no_sse42(monkeypatch):
    simd = importlib.import_module("refint8_backend_simd")
    monkeypatch.setattr(simd, "available_variants", lambda: ())
    return simd


def test_backend_reports_the_missing_feature(no_sse42):
    registry = BackendRegistry()
    usable, reason = registry.usable("simd")
    assert not usable and reason == "this CPU lacks SSE4.2 (the simd backend's lowest variant)"
    assert "simd" not in [registry.best()]


def test_selection_falls_back_per_configuration(no_sse42):
    registry = BackendRegistry()
    model = small_fq_cnn()
    with pytest.warns(RuntimeWarning, match="backend 'simd' is not usable here .*SSE4.2.*; using 'reference'"):
        compiled = refint8.compile(model, backend="simd", config={"fallback": ["reference"]},
                                   registry=registry)
    assert compiled.backend_name == "reference"
    compiled.infer({"input": np.zeros((1, 3, 32, 32), np.float32)})
    assert {r.exec_type.rsplit("_", 1)[0] for r in compiled.perf_counts() if r.status.value == "EXECUTED"} == {"ref_any"}
    with pytest.raises(refint8.BackendError, match="not usable here.*no usable fallback"):
        refint8.compile(model, backend="simd", config={"fallback": []}, registry=BackendRegistry())

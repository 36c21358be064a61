"""refint8's backend conformance suite: checks any backend against the reference specification.

Three levels: kernels (every int8 layer, every fp32 op, FakeQuantize and requantization, each as a
single node), graphs (random quantized graphs through LPT) and capabilities (the declared
accumulation mode is the one the int8 layers are checked in). Property-based (Hypothesis), with
minimal counterexamples, saved cases and a reproduction command for every failure.

Command line: ``refint8 conformance --backend NAME`` (see ``refint8 conformance --help``).
Python::

    from refint8_conformance import run
    report = run("numpy", max_examples=20, seed=1)
    assert report.ok, report.results

pytest: ``pytest --pyargs refint8_conformance --backend NAME``.
"""

from __future__ import annotations

from .runner import Options, Oracle, Report, UnitResult, Verdict, replay, run, run_unit
from .tolerances import TOLERANCES, Tolerance, tolerance_for
from .units import UNITS, Unit

__all__ = ["Options", "Oracle", "Report", "TOLERANCES", "Tolerance", "UNITS", "Unit", "UnitResult",
           "Verdict", "replay", "run", "run_unit", "tolerance_for"]
__version__ = "0.1.0"

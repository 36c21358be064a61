"""One pytest test per conformance unit (see conftest.py for the options)."""

from __future__ import annotations

import pytest

from refint8_conformance.runner import Verdict, run_unit
from refint8_conformance.units import UNITS


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.id)
def test_unit(unit, conformance) -> None:
    target = conformance.target
    expectation = conformance.expectations.lookup(unit.id, target.isa)
    result = run_unit(unit, target, conformance.options, expectation=expectation)
    verdict = result.verdict
    if verdict is Verdict.SKIPPED:
        pytest.skip(f"SKIPPED (skips file): {result.reason}")
    if verdict is Verdict.NOT_SUPPORTED:
        pytest.skip(f"NOT_SUPPORTED: {result.message}")
    if verdict is Verdict.EXPECTED_FAILURE:
        pytest.xfail(f"EXPECTED_FAILURE ({result.reason}): {result.message}")
    if verdict.bad:
        lines = [f"{verdict.value}: {unit.id} on backend '{target.name}' (isa {target.isa})",
                 result.message]
        if result.counterexample:
            lines += ["minimal counterexample:", result.counterexample]
        if result.repro:
            lines.append(f"reproduce: {result.repro}")
        pytest.fail("\n".join(lines), pytrace=False)

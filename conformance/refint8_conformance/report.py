"""The report: a table op x precision x ISA variant with verdicts and timed counters, and JSON."""

from __future__ import annotations

import json
import platform
from typing import Any

import numpy as np

from .runner import Report, Verdict
from .tolerances import TOLERANCES

SUITE_VERSION = "0.1.0"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _ratio(result) -> str:
    if not result.backend_ms or result.reference_ms is None:
        return "-"
    return f"{result.reference_ms / result.backend_ms:.2f}x"


def format_table(report: Report) -> str:
    """One row per unit and ISA variant."""
    header = ("level", "op", "precision", "variant", "isa", "verdict", "examples", "largest diff",
              "backend ms", "ref ms", "speedup", "sat%")
    rows = [header]
    for r in report.results:
        examples = str(r.examples) + (f" ({r.unsupported} n/s)" if r.unsupported and
                                      r.verdict != Verdict.NOT_SUPPORTED else "")
        rows.append((r.unit.level, r.unit.op, r.unit.precision, r.unit.variant, r.isa, r.verdict.value,
                     examples, r.difference_text if r.verdict not in (Verdict.NOT_SUPPORTED,
                                                                      Verdict.SKIPPED) else "-",
                     _ms(r.backend_ms), _ms(r.reference_ms), _ratio(r),
                     "-" if r.saturated is None else f"{100 * r.saturated:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_summary(report: Report) -> str:
    counts = report.counts()
    order = [v.value for v in Verdict]
    parts = [f"{counts[v]} {v}" for v in order if v in counts]
    isas = ", ".join(f"{t.isa} (accumulation {t.capabilities.accumulation})" for t in report.targets)
    work = (f"replay of {report.replayed} saved case(s)" if report.replayed else
            f"seed {report.seed}; {report.options.max_examples} examples per kernel unit")
    lines = [f"backend '{report.backend}', isa {isas}; {work}; {report.seconds:.1f} s",
             "result: " + ", ".join(parts)]
    notes = [r for r in report.results if r.verdict in (Verdict.EXPECTED_FAILURE, Verdict.SKIPPED)
             and r.reason]
    for r in notes:
        lines.append(f"  {r.verdict.value} {r.unit.id}: {r.reason}")
    failed = [r for r in report.results if r.verdict.bad]
    for r in failed:
        lines.append(f"  {r.verdict.value} {r.unit.id} @{r.isa}: {r.message}")
        if r.repro:
            lines.append(f"      reproduce: {r.repro}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def to_json(report: Report) -> dict[str, Any]:
    return {
        "suite": "refint8-conformance", "suite_version": SUITE_VERSION,
        "backend": report.backend, "seed": report.seed,
        "max_examples": report.options.max_examples, "shrink": report.options.shrink,
        "repeats": report.options.repeats, "seconds": round(report.seconds, 3),
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "platform": platform.platform()},
        "targets": [{"isa": t.isa, "requested_isa": t.requested_isa,
                     "accumulation": t.capabilities.accumulation,
                     "isa_variants": list(t.capabilities.isa_variants),
                     "summary": t.capabilities.summary} for t in report.targets],
        "tolerances": {k: {"mode": t.describe(), "reason": t.reason} for k, t in TOLERANCES.items()},
        "summary": report.counts(), "ok": report.ok, "warnings": report.warnings,
        "results": [r.to_json() for r in report.results],
    }


def write_json(report: Report, path: str) -> None:
    with open(path, "w") as handle:
        json.dump(to_json(report), handle, indent=2, default=str)
        handle.write("\n")

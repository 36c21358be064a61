"""Running the units against a backend: verdicts, counterexamples, saved cases, timings.

Verdicts (TOSA's result categories, plus NOT_SUPPORTED and SKIPPED):

=====================  ==========================================================================
EXPECTED_PASS          every example matched the reference within the op's tolerance
UNEXPECTED_FAILURE     an output differs (dtype, shape or values), the backend rejected a valid
                       input with a refint8 error, returned a result where the reference raises,
                       or modified its inputs
NOT_SUPPORTED          ``backend.kernel(node)`` returned None (or raised a refint8 error) for every
                       example: the runtime would use the fallback backend. Not a failure.
INTERNAL_ERROR         the backend raised an exception that is not a refint8 error
EXPECTED_FAILURE       failed, and listed in the xfails file
UNEXPECTED_PASS        passed, but listed in the xfails file
SKIPPED                listed in the skips file (not run)
SUITE_ERROR            a self-check of the suite failed (e.g. its requantization cases were
                       vacuous); a bug of the suite, never of the backend
=====================  ==========================================================================
"""

from __future__ import annotations

import enum
import hashlib
import re
import shlex
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisException

from refint8.backend import ACCUMULATION_MODES, Backend, BackendOptions, Capabilities, Kernel
from refint8.config import Config
from refint8.errors import Refint8Error
from refint8.lowering import lower
from refint8.ops import get_op
from refint8.registry import BackendRegistry, default_registry
from refint8.runtime.compiled_model import CompiledModel

from .cases import Case, load_case, save_case
from .compare import Comparison, compare_outputs
from .expectations import Expectations
from .graphs import GraphCase, quantized_model
from .tolerances import tolerance_for
from .units import UNITS, Context, Unit, select


class Verdict(str, enum.Enum):
    EXPECTED_PASS = "EXPECTED_PASS"
    UNEXPECTED_FAILURE = "UNEXPECTED_FAILURE"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    EXPECTED_FAILURE = "EXPECTED_FAILURE"
    UNEXPECTED_PASS = "UNEXPECTED_PASS"
    SKIPPED = "SKIPPED"
    SUITE_ERROR = "SUITE_ERROR"

    @property
    def bad(self) -> bool:
        return self in (Verdict.UNEXPECTED_FAILURE, Verdict.INTERNAL_ERROR, Verdict.UNEXPECTED_PASS,
                        Verdict.SUITE_ERROR)


#: Fewer than this fraction of requantized outputs may lie beyond the Quantize range (self-check).
MAX_SATURATED = 0.5


# -- the backend under test ---------------------------------------------------------------------


class Oracle(Backend):
    """The specification itself (``refint8.ops`` / ``refint8.int8``), independent of any plugin."""

    name = "reference"

    def kernel(self, node) -> Kernel:
        op = get_op(node.type, node=node.name)
        attrs = node.attrs
        return Kernel(lambda inputs: op.compute(attrs, *inputs), "ref_any")


@dataclass
class Target:
    name: str
    backend: Backend
    isa: str
    capabilities: Capabilities
    #: ``--isa`` as given (None: the backend's default), for the reproduction command.
    requested_isa: str | None = None


def resolve_targets(backend: str | Backend, *, registry: BackendRegistry | None = None,
                    isa: str | None = None, threads: int | None = None) -> list[Target]:
    """The backend instance(s) to test: one per ISA variant (or only ``isa``)."""
    if not isinstance(backend, str):
        caps = backend.capabilities()
        name = getattr(backend, "name", "") or type(backend).__name__
        variant = isa or (caps.isa_variants[-1] if caps.isa_variants else "any")
        return [Target(name, backend, variant, caps, isa)]
    registry = registry or default_registry()
    registry.info(backend)                   # a clear BackendError for an unknown name
    if isa is not None:
        instance = registry.create(backend, BackendOptions(threads=threads, isa=isa))
        return [Target(backend, instance, isa, instance.capabilities(), isa)]
    default = registry.create(backend, BackendOptions(threads=threads))
    caps = default.capabilities()
    variants = tuple(caps.isa_variants) or ("any",)
    if len(variants) == 1:
        return [Target(backend, default, variants[0], caps)]
    targets = []
    for variant in variants:
        instance = registry.create(backend, BackendOptions(threads=threads, isa=variant))
        targets.append(Target(backend, instance, variant, instance.capabilities(), variant))
    return targets


# -- options and results -------------------------------------------------------------------------


@dataclass
class Options:
    max_examples: int = 100
    #: Examples of graph units (each is a whole model): default max(3, max_examples // 5).
    graph_examples: int | None = None
    seed: int = 0
    shrink: bool = True
    repeats: int = 3
    failures_dir: Path | None = Path("conformance-failures")
    #: Called with each line of progress and every failure report (None: silent).
    echo: Callable[[str], None] | None = None
    #: How the reproduction command names the suite's entry point.
    command: str = "refint8 conformance"


@dataclass
class UnitResult:
    unit: Unit
    isa: str
    verdict: Verdict
    examples: int = 0
    unsupported: int = 0
    shrink_steps: int = 0
    difference: float = 0.0
    difference_text: str = "0"
    backend_ms: float | None = None
    reference_ms: float | None = None
    saturated: float | None = None
    message: str = ""
    counterexample: str = ""
    repro: str = ""
    files: tuple[str, ...] = ()
    reason: str = ""          # the skips/xfails comment
    seconds: float = 0.0

    @property
    def id(self) -> str:
        return self.unit.id

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.unit.id, "level": self.unit.level, "op": self.unit.op,
            "variant": self.unit.variant, "precision": self.unit.precision, "isa": self.isa,
            "verdict": self.verdict.value, "examples": self.examples,
            "unsupported_examples": self.unsupported, "shrink_steps": self.shrink_steps,
            "largest_difference": None if not np.isfinite(self.difference) else self.difference,
            "largest_difference_text": self.difference_text,
            "backend_ms": self.backend_ms, "reference_ms": self.reference_ms,
            "saturated_fraction": self.saturated, "message": self.message,
            "counterexample": self.counterexample, "repro": self.repro, "files": list(self.files),
            "reason": self.reason, "seconds": round(self.seconds, 3),
        }


#: A unit whose first this-many examples are all unsupported is NOT_SUPPORTED without running on.
UNSUPPORTED_PROBE = 25


class _NothingSupported(BaseException):
    """Ends a Hypothesis run early (a BaseException: Hypothesis does not treat it as a failure)."""


class CaseFailure(Exception):
    """One example failed; ``kind`` is ``mismatch`` or ``internal``."""

    def __init__(self, kind: str, message: str, difference: float = float("inf"),
                 node_case: Case | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.difference = difference
        #: For a graph: the failing node alone, on the reference's values of its inputs.
        self.node_case = node_case


@dataclass
class Outcome:
    supported: bool = True
    comparison: Comparison | None = None
    both_raised: bool = False
    note: str = ""


# -- one example -------------------------------------------------------------------------------------


def run_kernel_case(case: Case, target: Target) -> Outcome:
    """Run ``case`` on the backend and on the reference; raise CaseFailure on a failure."""
    node = case.node()
    tolerance = tolerance_for(node)
    try:
        kernel = target.backend.kernel(node)
    except Refint8Error as exc:
        return Outcome(supported=False, note=f"kernel() raised {type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - any backend exception is the verdict
        raise CaseFailure("internal", f"backend.kernel(node) raised {_exc_text(exc)}") from exc
    if kernel is None:
        return Outcome(supported=False)
    reference_error: Refint8Error | None = None
    with np.errstate(all="ignore"):
        try:
            ref = [np.asarray(v) for v in get_op(node.type).compute(node.attrs, *case.inputs)]
        except Refint8Error as exc:
            reference_error, ref = exc, []
    inputs = [np.array(a, copy=True) for a in case.inputs]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = kernel.run(inputs)
    except Refint8Error as exc:
        if reference_error is not None:
            return Outcome(both_raised=True)
        raise CaseFailure("mismatch", f"the backend raised {type(exc).__name__}: {exc}; the reference "
                                      "computes a result for this input") from exc
    except Exception as exc:  # noqa: BLE001
        raise CaseFailure("internal", f"kernel.run raised {_exc_text(exc)}") from exc
    if reference_error is not None:
        raise CaseFailure("mismatch", f"the reference rejects this input ({reference_error}); the "
                                      "backend returned a result instead of raising a refint8 error")
    for i, (before, after) in enumerate(zip(case.inputs, inputs)):
        if before.tobytes() != after.tobytes():
            raise CaseFailure("mismatch", f"the kernel modified its input {i} (kernels must not "
                                          "modify their inputs)")
    bounds = None
    if tolerance.mode == "bound":
        bounds = [tolerance.bound(node, case.inputs, r) for r in ref]
    comparison = compare_outputs(got, ref, tolerance, bounds)
    if not comparison.ok:
        raise CaseFailure("mismatch", comparison.message + f"  [tolerance: {tolerance.describe()}: "
                                                           f"{tolerance.reason}]", comparison.difference)
    return Outcome(comparison=comparison)


def _exc_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_graph_case(case: GraphCase, target: Target) -> Outcome:
    """Check every lowered node in context, then the whole graph through the runtime (which runs
    the pairs the backend fuses as one kernel each, and the runs of steps it takes as sequences
    with one call each; see refint8.backend), after a first inference on the inputs reversed."""
    model = quantized_model(case.recipe)
    lowered = lower(model, target.capabilities)
    values: dict[Any, np.ndarray] = {}
    supported = total = 0
    exact_path = True
    for node in lowered.nodes:
        if node.type == "Constant":
            values[node.output(0)] = node.attrs["value"]
            continue
        if node.type == "Parameter":
            values[node.output(0)] = case.inputs[node.name]
            continue
        inputs = [values[i] for i in node.inputs]
        with np.errstate(all="ignore"):
            ref = get_op(node.type).compute(node.attrs, *inputs)
        for out, value in zip(node.outputs, ref):
            values[out] = value
        total += 1
        single = Case(node.type, dict(node.attrs), [np.asarray(v) for v in inputs],
                      tuple(i.node.type == "Constant" for i in node.inputs))
        try:
            outcome = run_kernel_case(single, target)
        except CaseFailure as failure:
            raise CaseFailure(failure.kind, f"node '{node.name}' ({node.type}) of the lowered graph: "
                                            f"{failure.message}", failure.difference,
                              node_case=single) from failure
        if outcome.supported:
            supported += 1
            if tolerance_for(single.node()).mode != "exact":
                exact_path = False
    if supported == 0:
        return Outcome(supported=False, note=f"none of the {total} lowered nodes is supported")
    # end to end through the runtime, the reference as fallback
    config = Config(backend=target.name, fallback=("reference",))
    try:
        compiled = CompiledModel(model, lowered, target.backend, target.name,
                                 [("reference", Oracle())], config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # first an inference on other values (each input reversed), so that a kernel or a
            # sequence that keeps something of a previous inference (a stale buffer) shows
            compiled.infer({name: np.flip(np.asarray(value)).copy() for name, value in case.inputs.items()})
            got = compiled.infer(case.inputs)
    except Refint8Error as exc:
        raise CaseFailure("mismatch", f"end to end through the runtime: {exc}") from exc
    except Exception as exc:  # noqa: BLE001
        raise CaseFailure("internal", f"end to end through the runtime: {_exc_text(exc)}") from exc
    worst = Comparison(True)
    for name, out in lowered.outputs.items():
        expected = values[out]
        g = got[name]
        same = g.dtype == expected.dtype and g.shape == expected.shape and (
            g.tobytes() == expected.tobytes() or np.array_equal(g, expected, equal_nan=True))
        if not same:
            with np.errstate(all="ignore"):
                diff = float(np.nanmax(np.abs(g.astype(np.float64) - expected.astype(np.float64)))) \
                    if g.shape == expected.shape else float("inf")
            if exact_path:
                fused = ", ".join(f"{p} + {c}" for c, p in compiled.fusions.items())
                runs = "; ".join(", ".join(names) for names in compiled.sequences)
                raise CaseFailure("mismatch", (
                    f"end to end: output '{name}' differs from the reference (largest difference "
                    f"{diff:.6g}) although every node the backend ran is exact in the tolerance "
                    "table and matched in isolation: the runtime contract (input order, dtypes, "
                    "aliasing) is violated" + (f", or a fused kernel is wrong (fused: {fused})"
                                               if fused else "")
                    + (f", or a sequence runs its steps wrong (sequences: {runs})" if runs else "")), diff)
            if diff > worst.difference:
                worst = Comparison(True, diff)
    note = f"{supported} of {total} lowered nodes on the backend"
    if compiled.fusions:
        note += f", {len(compiled.fusions)} pair(s) fused"
    if compiled.sequences:
        note += f", {sum(map(len, compiled.sequences))} steps in {len(compiled.sequences)} sequence(s)"
    return Outcome(comparison=worst, note=note)


# -- one unit ----------------------------------------------------------------------------------------


@dataclass
class _State:
    examples: int = 0
    shrink_steps: int = 0
    unsupported: int = 0
    difference: Comparison = field(default_factory=lambda: Comparison(True))
    saturated: int = 0
    saturation_total: int = 0
    largest: Any = None
    failure: tuple[Any, CaseFailure] | None = None
    notes: list[str] = field(default_factory=list)


def run_unit(unit: Unit, target: Target, options: Options, *, expectation: tuple[str, str] | None = None
             ) -> UnitResult:
    """Run one unit on one target. ``expectation``: ``("skip" | "xfail", reason)`` or None."""
    started = time.perf_counter()
    if expectation and expectation[0] == "skip":
        return UnitResult(unit, target.isa, Verdict.SKIPPED, reason=expectation[1])
    if unit.level == "capabilities":
        result = _check_capabilities(unit, target)
    else:
        result = _run_hypothesis(unit, target, options)
    if expectation and expectation[0] == "xfail":
        result.reason = expectation[1]
        if result.verdict in (Verdict.UNEXPECTED_FAILURE, Verdict.INTERNAL_ERROR):
            result.verdict = Verdict.EXPECTED_FAILURE
        elif result.verdict == Verdict.EXPECTED_PASS:
            result.verdict = Verdict.UNEXPECTED_PASS
            result.message = f"listed in the xfails file ({expectation[1] or 'no reason given'}) but passed"
    result.seconds = time.perf_counter() - started
    return result


def _check_capabilities(unit: Unit, target: Target) -> UnitResult:
    caps = target.capabilities
    problems = []
    if not isinstance(caps, Capabilities):
        problems.append(f"capabilities() returned {type(caps).__name__}, not refint8.backend.Capabilities")
    else:
        if caps.accumulation not in ACCUMULATION_MODES:
            problems.append(f"accumulation {caps.accumulation!r} is not one of {ACCUMULATION_MODES}")
        if not (isinstance(caps.isa_variants, tuple) and caps.isa_variants
                and all(isinstance(v, str) and v for v in caps.isa_variants)):
            problems.append(f"isa_variants {caps.isa_variants!r} is not a non-empty tuple of names")
    try:
        usable = target.backend.usable()
        if not (isinstance(usable, tuple) and len(usable) == 2 and isinstance(usable[0], bool)):
            problems.append(f"usable() returned {usable!r}, not (bool, str)")
    except Exception as exc:  # noqa: BLE001
        return UnitResult(unit, target.isa, Verdict.INTERNAL_ERROR, examples=1,
                          message=f"usable() raised {_exc_text(exc)}")
    if problems:
        return UnitResult(unit, target.isa, Verdict.UNEXPECTED_FAILURE, examples=1,
                          message="; ".join(problems))
    return UnitResult(unit, target.isa, Verdict.EXPECTED_PASS, examples=1,
                      message=f"accumulation={caps.accumulation}, isa={'/'.join(caps.isa_variants)}")


def _run_hypothesis(unit: Unit, target: Target, options: Options) -> UnitResult:
    state = _State()
    is_graph = unit.level == "graphs"
    strategy = unit.make(Context(accumulation=target.capabilities.accumulation))
    examples = (options.graph_examples or max(3, options.max_examples // 5)) if is_graph \
        else options.max_examples

    def check(case) -> None:
        if state.failure is None:
            state.examples += 1
        else:
            state.shrink_steps += 1
        try:
            outcome = run_graph_case(case, target) if is_graph else run_kernel_case(case, target)
        except CaseFailure as failure:
            state.failure = (case, failure)
            raise
        if not outcome.supported:
            state.unsupported += 1
            if outcome.note and outcome.note not in state.notes:
                state.notes.append(outcome.note)
            if state.unsupported == state.examples >= UNSUPPORTED_PROBE and state.failure is None:
                raise _NothingSupported
            return
        if outcome.note and len(state.notes) < 3 and outcome.note not in state.notes:
            state.notes.append(outcome.note)
        if outcome.comparison is not None and outcome.comparison.difference > state.difference.difference:
            state.difference = outcome.comparison
        if not is_graph:
            sat, total = case.saturation
            state.saturated += sat
            state.saturation_total += total
        if state.largest is None or case.size > state.largest.size:
            state.largest = case

    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if options.shrink else [])
    test = given(strategy)(check)
    test = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
                    phases=phases, report_multiple_bugs=False, print_blob=False)(test)
    test = hypothesis_seed(options.seed)(test)
    crash: BaseException | None = None
    try:
        test()
    except CaseFailure:
        pass
    except _NothingSupported:
        pass
    except (HypothesisException, BaseExceptionGroup) as exc:   # Flaky: non-deterministic backend
        crash = exc
    except Exception as exc:  # noqa: BLE001 - a strategy or reference bug
        return UnitResult(unit, target.isa, Verdict.SUITE_ERROR, examples=state.examples,
                          message=f"the suite itself raised {_exc_text(exc)}")

    result = UnitResult(unit, target.isa, Verdict.EXPECTED_PASS, examples=state.examples,
                        unsupported=state.unsupported, shrink_steps=state.shrink_steps,
                        difference=state.difference.difference,
                        difference_text=state.difference.describe_difference())
    if state.saturation_total:
        result.saturated = state.saturated / state.saturation_total
    if state.failure is not None:
        case, failure = state.failure
        result.verdict = Verdict.INTERNAL_ERROR if failure.kind == "internal" else Verdict.UNEXPECTED_FAILURE
        result.message = failure.message
        if crash is not None:
            result.message += f"  (NOT REPRODUCIBLE on replay: the backend is non-deterministic: {crash})"
        result.difference = failure.difference
        result.difference_text = f"{failure.difference:.6g}" if np.isfinite(failure.difference) else "inf"
        result.counterexample = case.summary()
        _save_failure(result, case, target, options, failure.node_case)
        _echo_failure(result, case, target, options)
        return result
    if crash is not None:
        result.verdict = Verdict.SUITE_ERROR
        result.message = f"Hypothesis: {crash}"
        return result
    if state.unsupported == state.examples:
        result.verdict = Verdict.NOT_SUPPORTED
        result.message = state.notes[0] if state.notes else "backend.kernel returned None"
        return result
    if state.unsupported:
        result.message = f"{state.unsupported} of {state.examples} examples not supported"
    elif state.notes and is_graph:
        result.message = "; ".join(state.notes[:2])
    if result.saturated is not None and result.saturated >= MAX_SATURATED:
        result.verdict = Verdict.SUITE_ERROR
        result.message = (f"self-check: {result.saturated:.0%} of the requantized outputs lie beyond the "
                          f"Quantize range (must be < {MAX_SATURATED:.0%}): the cases are vacuous")
        return result
    _time(result, state.largest, target, options, is_graph)
    return result


def _time(result: UnitResult, case: Any, target: Target, options: Options, is_graph: bool) -> None:
    """Median time of the backend and of the reference on the largest example."""
    if case is None or options.repeats < 1:
        return

    def median_ms(fn) -> float:
        times = []
        for _ in range(options.repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000.0)
        return statistics.median(times)

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if is_graph:
                model = quantized_model(case.recipe)
                lowered = lower(model, target.capabilities)
                config = Config(backend=target.name)
                mine = CompiledModel(model, lowered, target.backend, target.name,
                                     [("reference", Oracle())], config)
                ref = CompiledModel(model, lowered, Oracle(), "reference", [], config)
                result.backend_ms = median_ms(lambda: mine.infer(case.inputs))
                result.reference_ms = median_ms(lambda: ref.infer(case.inputs))
            else:
                node = case.node()
                kernel = target.backend.kernel(node)
                if kernel is None:
                    return
                op = get_op(node.type)
                result.backend_ms = median_ms(lambda: kernel.run(list(case.inputs)))
                result.reference_ms = median_ms(lambda: op.compute(node.attrs, *case.inputs))
    except Exception:  # noqa: BLE001 - timing is informative only
        result.backend_ms = result.reference_ms = None


# -- failures: saved cases, the reproduction command ----------------------------------------------------


def _file_stem(unit: Unit, isa: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{unit.level}-{unit.op}-{unit.variant}-{isa}")
    return text.strip("_")


def repro_command(options: Options, target: Target, unit: Unit, replay: str | None) -> str:
    parts = [*shlex.split(options.command), "--backend", target.name]
    if target.requested_isa:
        parts += ["--isa", target.requested_isa]
    parts += ["--ops", unit.name, "--seed", str(options.seed), "--max-examples",
              str(options.max_examples)]
    if replay:
        parts += ["--replay", replay]
    return " ".join(shlex.quote(p) for p in parts)


def _save_failure(result: UnitResult, case: Any, target: Target, options: Options,
                  node_case: Case | None = None) -> None:
    replay = None
    if options.failures_dir is not None:
        stem = Path(options.failures_dir) / _file_stem(result.unit, target.isa)
        payload = {"unit": result.unit.id, "backend": target.name, "isa": target.isa,
                   "accumulation": target.capabilities.accumulation, "seed": options.seed,
                   "max_examples": options.max_examples, "verdict": result.verdict.value,
                   "message": result.message, "counterexample": result.counterexample}
        try:
            if isinstance(case, GraphCase):
                payload.update(kind="graph", recipe=case.recipe,
                               inputs={k: {"array": f"graph_input/{k}"} for k in case.inputs})
                files = save_case(stem, payload, {f"graph_input/{k}": v for k, v in case.inputs.items()})
            else:
                files = save_case(stem, payload, case=case)
            result.files = tuple(str(f) for f in files)
            replay = str(files[0])
            if node_case is not None:   # the failing node of a graph, alone: a kernel case
                node_payload = dict(payload, unit=f"replay::{node_case.op}[node of {result.unit.name}]")
                result.files += tuple(str(f) for f in save_case(
                    stem.with_name(stem.name + "-node"), node_payload, case=node_case))
                result.counterexample += "\n  failing node alone (saved as *-node.json):\n" + "\n".join(
                    "    " + line for line in node_case.summary().splitlines())
        except OSError as exc:
            result.message += f"  (could not save the case: {exc})"
    result.repro = repro_command(options, target, result.unit, replay)
    if replay:  # keep the command in the saved file too
        import json
        path = Path(replay)
        document = json.loads(path.read_text())
        document["repro"] = result.repro
        path.write_text(json.dumps(document, indent=2) + "\n")


def _echo_failure(result: UnitResult, case: Any, target: Target, options: Options) -> None:
    if options.echo is None:
        return
    bar = "=" * 100
    lines = [bar, f"{result.verdict.value}: {result.unit.id} on backend '{target.name}' (isa "
                  f"{target.isa}, accumulation {target.capabilities.accumulation})",
             f"  {result.message}",
             f"  minimal counterexample (Hypothesis, after {result.shrink_steps} shrink steps; "
             f"seed {options.seed}):"]
    lines += ["    " + line for line in result.counterexample.splitlines()]
    if result.files:
        lines.append(f"  saved: {', '.join(result.files)}")
    lines.append(f"  reproduce: {result.repro}")
    lines.append(bar)
    options.echo("\n".join(lines))


# -- replaying saved cases --------------------------------------------------------------------------------


def replay(path: str | Path, target: Target) -> UnitResult:
    """Re-run one saved case (``--replay FILE``) on ``target``."""
    loaded = load_case(path)
    document = loaded.document
    unit_id = document.get("unit", "replay::case[?]")
    unit = next((u for u in UNITS if u.id == unit_id),
                Unit("replay", document.get("op", "graph"), "case", "?", None))
    if document.get("kind") == "graph":
        case: Any = GraphCase(document["recipe"], {k: loaded.arrays[v["array"]]
                                                   for k, v in document["inputs"].items()})
    else:
        case = loaded.case
    result = UnitResult(unit, target.isa, Verdict.EXPECTED_PASS, examples=1,
                        counterexample=case.summary())
    try:
        outcome = run_graph_case(case, target) if isinstance(case, GraphCase) else run_kernel_case(case, target)
    except CaseFailure as failure:
        result.verdict = Verdict.INTERNAL_ERROR if failure.kind == "internal" else Verdict.UNEXPECTED_FAILURE
        result.message = failure.message
        result.difference = failure.difference
        return result
    if not outcome.supported:
        result.verdict = Verdict.NOT_SUPPORTED
        result.unsupported = 1
    elif outcome.comparison is not None:
        result.difference = outcome.comparison.difference
        result.difference_text = outcome.comparison.describe_difference()
    result.message = f"replayed {path}" + (f" ({outcome.note})" if outcome.note else "")
    return result


# -- the whole suite ------------------------------------------------------------------------------------


@dataclass
class Report:
    backend: str
    seed: int
    options: Options
    targets: list[Target]
    results: list[UnitResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Saved cases re-run (``--replay``) instead of generated examples.
    replayed: int = 0

    @property
    def ok(self) -> bool:
        return not any(r.verdict.bad for r in self.results)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
        return counts

    def by_id(self, unit_id: str, isa: str | None = None) -> UnitResult:
        for r in self.results:
            if r.unit.id == unit_id or r.unit.name == unit_id:
                if isa is None or r.isa == isa:
                    return r
        raise KeyError(unit_id)


def default_seed() -> int:
    return int.from_bytes(hashlib.sha256(str(time.time_ns()).encode()).digest()[:4], "little")


def run(backend: str | Backend, *, registry: BackendRegistry | None = None, isa: str | None = None,
        threads: int | None = None, ops: str | None = None, max_examples: int = 100,
        graph_examples: int | None = None, seed: int | None = None, shrink: bool = True,
        repeats: int = 3, skips: str | Path | None = None, xfails: str | Path | None = None,
        failures_dir: str | Path | None = "conformance-failures", replay_files: Sequence[str] = (),
        echo: Callable[[str], None] | None = None, command: str = "refint8 conformance") -> Report:
    """Run the conformance suite against ``backend`` (a registered name, or a Backend object).

    ``registry``: where to look the name up (default: the installed plugins). Returns a
    :class:`Report`; ``report.ok`` is False when a unit failed unexpectedly.
    """
    started = time.perf_counter()
    options = Options(max_examples=max_examples, graph_examples=graph_examples,
                      seed=default_seed() if seed is None else seed, shrink=shrink, repeats=repeats,
                      failures_dir=None if failures_dir is None else Path(failures_dir), echo=echo,
                      command=command)
    targets = resolve_targets(backend, registry=registry, isa=isa, threads=threads)
    report = Report(targets[0].name, options.seed, options, targets)
    unusable: dict[int, str] = {}
    for target in targets:
        usable, reason = target.backend.usable()
        if not usable:   # never run kernels a machine cannot execute (e.g. SIGILL on a missing ISA)
            unusable[id(target)] = f"backend '{target.name}' (isa {target.isa}) is not usable here: {reason}"
            report.warnings.append(unusable[id(target)])
    if replay_files:
        report.replayed = len(replay_files)
        for target in targets:
            for path in replay_files:
                result = replay(path, target)
                report.results.append(result)
                if echo:
                    echo(f"{result.verdict.value:<18} {result.unit.id} @{target.isa}: {result.message}")
        report.seconds = time.perf_counter() - started
        return report
    expectations = Expectations.load(skips=skips, xfails=xfails)
    units = select(UNITS, ops)
    if not units:
        report.warnings.append(f"--ops {ops!r} selects no unit")
    for unit in UNITS:            # entries for units filtered out by --ops are not stale
        if unit not in units:
            for target in targets:
                expectations.mark_seen(unit.id, target.isa)
    for target in targets:
        for unit in units:
            expectation = expectations.lookup(unit.id, target.isa)
            if id(target) in unusable:
                expectation = ("skip", unusable[id(target)])
            result = run_unit(unit, target, options, expectation=expectation)
            report.results.append(result)
            if echo:
                echo(f"{result.verdict.value:<18} {unit.id} @{target.isa} ({result.examples} examples, "
                     f"{result.seconds:.1f} s)")
    report.warnings.extend(expectations.unmatched_warnings())
    report.seconds = time.perf_counter() - started
    return report


def _stdout_echo(text: str) -> None:
    print(text, flush=True)
    sys.stdout.flush()

"""Compile a model for a backend and run it.

``compile_model`` resolves the configuration, creates the backend through the plugin registry,
lowers the model (the Low Precision Transformations turn FakeQuantize graphs into int8 layers), and
asks the backend for one kernel per remaining node, or for one kernel per pair of nodes it offers to
fuse (``Backend.fuse``); nodes it does not implement go to the fallback chain. The result is a flat
plan: a list of steps reading and writing numbered slots, so inference is a loop over pre-bound
kernel calls with a timer around each. Runs of consecutive steps of the chosen backend are offered
to it whole (``Backend.sequence``): what it accepts runs as one call, which times its steps itself.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .. import dtypes
from ..backend import Backend, Kernel, PlannedStep, SequenceRun
from ..config import Config, load_config
from ..errors import BackendError, InputError, Refint8Error
from ..graph import Model, Node, Output, TensorType
from ..registry import BackendRegistry, default_registry
from .counters import LayerCounter, Status, format_perf_counts, perf_counts_to_json


@dataclass
class _Step:
    node: Node
    kernel: Kernel
    backend: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    #: the index of the counter row that times this step (a fused step: its producer's row)
    row: int
    #: the node fused into this step's node by the backend (the step runs both), if any
    producer: Node | None = None

    @property
    def label(self) -> str:
        """``node 'name' (Type)``, naming both nodes of a fused step."""
        text = f"node '{self.node.name}' ({self.node.type})"
        if self.producer is not None:
            text = f"node '{self.producer.name}' ({self.producer.type}) fused with {text}"
        return text


@dataclass
class _Sequence:
    """Consecutive steps the backend runs with one call (its sequence contract)."""

    steps: list[_Step]
    run: SequenceRun
    #: the slots of the steps' outputs that the runtime reads after the run (PlannedStep.read_after)
    read_after: frozenset[int]
    #: (slot, dtype, shape, step) of every output read after the run, for the check after each run
    checks: list[tuple[int, np.dtype, tuple[int, ...], _Step]] = field(init=False)
    #: the steps' counter rows, in order
    rows: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.checks = [(index, np.dtype(expected.dtype), tuple(expected.shape), step)
                       for step in self.steps for index, expected in zip(step.outputs, step.node.output_types)
                       if index in self.read_after]
        self.rows = np.array([step.row for step in self.steps], np.intp)


#: inferences between two foldings of the pending timings into the counters' totals
FOLD_INFERENCES = 64


def _is_timings_array(value: Any) -> bool:
    """Whether ``value`` is an int64 array of (wall_ns, cpu_ns) rows."""
    return type(value) is np.ndarray and value.dtype == np.int64 and value.ndim == 2 and value.shape[1] == 2


def precision_of(node: Node) -> str:
    """``I8`` if the node's first input (a Parameter: its output) is u8/i8, else ``FP32``.

    The suffix of the exec type, in OpenVINO's legacy spelling (u8 and i8 both give ``I8``).
    """
    if node.inputs and dtypes.is_low_precision(node.inputs[0].dtype):
        return "I8"
    if node.type == "Parameter" and dtypes.is_low_precision(node.output_types[0].dtype):
        return "I8"
    return "FP32"


def layer_type_of(node: Node) -> str:
    return node.rt_info.get("layer_type", node.type)


class CompiledModel:
    """A model bound to a backend: ``infer(inputs) -> outputs`` with per-layer counters."""

    def __init__(
        self,
        source: Model,
        lowered: Model,
        backend: Backend,
        backend_name: str,
        fallbacks: Sequence[tuple[str, Backend]],
        config: Config,
        notes: Sequence[str] = (),
        fusion: bool = True,
        sequences: bool = True,
    ) -> None:
        self.source = source
        self.model = lowered
        self.backend = backend
        self.backend_name = backend_name
        self.config = config
        self.notes = list(notes)
        self.inferences = 0
        self.fusion = fusion
        self._build_plan(fallbacks)
        #: per counter row, the (wall, cpu) nanoseconds of the inferences since the last reset;
        #: every row counts each of them (``inferences``), timed or not
        self._totals = np.zeros((len(self._rows), 2), np.int64)
        #: timings of finished inferences not yet added to _totals: (rows, (wall_ns, cpu_ns) of
        #: each) pieces, folded in every FOLD_INFERENCES inferences and whenever counters are read
        #: (one NumPy addition for many inferences: right after a model has run, with the caches
        #: cold, each NumPy call of an inference cost 10-40 us)
        self._pending: list[tuple[Any, Any]] = []
        #: what inference runs: the steps, runs of them taken by the backend as sequences
        self._program: list[_Step | _Sequence] = self._sequences() if sequences else list(self._steps)
        #: the node names of each run of steps the backend took as one sequence, in order
        self.sequences: list[list[str]] = [[step.node.name for step in part.steps]
                                           for part in self._program if isinstance(part, _Sequence)]

    # -- compilation ---------------------------------------------------------------------------

    def _build_plan(self, fallbacks: Sequence[tuple[str, Backend]]) -> None:
        slot_of: dict[Output, int] = {}
        self._constants: list[tuple[int, np.ndarray]] = []
        self._parameters: list[tuple[str, TensorType, int]] = []
        self._steps: list[_Step] = []
        self._rows: list[LayerCounter] = []
        self.kernel_fallbacks: list[tuple[str, str, str]] = []  # (node, from, to)

        def slot(out: Output) -> int:
            if out not in slot_of:
                slot_of[out] = len(slot_of)
            return slot_of[out]

        chain = [(self.backend_name, self.backend), *fallbacks]
        fused = self._fuse_pairs() if self.fusion else {}
        #: consumer name -> producer name, for every pair the backend runs as one kernel
        self.fusions: dict[str, str] = {c.name: p.name for c, (p, _) in fused.items()}
        self._fused_layers = [(layer_type_of(c), precision_of(c)) for c in fused]
        producers = {p: k for p, k in fused.values()}
        row_of: dict[Node, int] = {}
        for node in self.model.nodes:
            if node.type == "Constant":
                self._constants.append((slot(node.output(0)), node.attrs["value"]))
                continue
            if node.type == "Parameter":
                self._rows.append(LayerCounter(node.name, Status.NOT_RUN, "Parameter",
                                               f"unknown_{precision_of(node)}"))
                continue
            if node in producers:
                # runs later, at its consumer's place, as one kernel with it
                kernel, used = producers[node], self.backend_name
            elif node in fused:
                producer, kernel = fused[node]
                self._rows.append(LayerCounter(node.name, Status.NOT_RUN, layer_type_of(node), "undef"))
                self._add_fused_rows(node)
                link = producer.output(0)
                inputs = [*producer.inputs, *(i for i in node.inputs if i != link)]
                self._steps.append(_Step(node, kernel, self.backend_name, tuple(slot(i) for i in inputs),
                                         tuple(slot(o) for o in node.outputs), row_of[producer],
                                         producer))
                continue
            else:
                kernel, used = self._select_kernel(node, chain)
            row_of[node] = len(self._rows)
            self._rows.append(LayerCounter(node.name, Status.EXECUTED, layer_type_of(node),
                                           f"{kernel.implementation}_{precision_of(node)}"))
            self._add_fused_rows(node)
            if node not in producers:
                self._steps.append(_Step(node, kernel, used, tuple(slot(i) for i in node.inputs),
                                         tuple(slot(o) for o in node.outputs), row_of[node]))
        for name, layer_type in self.model.rt_info.get("optimized_out", ()):
            self._rows.append(LayerCounter(name, Status.OPTIMIZED_OUT, layer_type, "undef"))
        # Inputs bind in the model's parameter order (not the graph's), unused parameters included.
        self._parameters = [(p.name, p.output_types[0], slot(p.output(0)))
                            for p in self.model.parameters]
        self._output_slots = {name: slot(out) for name, out in self.model.outputs.items()}
        #: the slots an inference starts from: the constants in place, every other value None
        self._initial_slots: list[Any] = [None] * len(slot_of)
        for index, value in self._constants:
            self._initial_slots[index] = value

    def _sequences(self) -> list[_Step | _Sequence]:
        """The plan with every run of two or more consecutive steps of the chosen backend that it
        accepts (``Backend.sequence``) as one entry."""
        offer = getattr(self.backend, "sequence", None)
        program: list[_Step | _Sequence] = []
        run: list[_Step] = []
        readers: dict[int, list[_Step]] = {}
        for step in self._steps:
            for index in step.inputs:
                readers.setdefault(index, []).append(step)
        model_outputs = set(self._output_slots.values())

        def close() -> None:
            runner = None
            if len(run) >= 2 and offer is not None:
                inside = {id(step) for step in run}
                read_after = frozenset(
                    index for step in run for index in step.outputs
                    if index in model_outputs or any(id(r) not in inside for r in readers.get(index, ())))
                planned = [PlannedStep(s.kernel, s.inputs, s.outputs, tuple(o in read_after for o in s.outputs))
                           for s in run]
                try:
                    runner = offer(planned)
                except Refint8Error:
                    raise
                except Exception as exc:
                    raise BackendError(f"backend '{self.backend_name}' failed to take a sequence of "
                                       f"{len(run)} steps from {run[0].label}: "
                                       f"{type(exc).__name__}: {exc}") from exc
            program.extend([_Sequence(list(run), runner, read_after)] if runner is not None else run)
            run.clear()

        for step in self._steps:
            if step.backend != self.backend_name:
                close()
                program.append(step)
            else:
                run.append(step)
        close()
        return program

    def _add_fused_rows(self, node: Node) -> None:
        """NOT_RUN rows for the layers LPT fused into ``node`` (its FakeQuantize, ...)."""
        for fused_name, fused_type in node.rt_info.get("fused", ()):
            self._rows.append(LayerCounter(fused_name, Status.NOT_RUN, fused_type, "undef"))

    def _fuse_pairs(self) -> dict[Node, tuple[Node, Kernel]]:
        """consumer -> (producer, kernel) for the pairs the chosen backend runs as one kernel.

        Offered (the backend's fusion contract): a producer with one output, read by exactly one
        input of one consumer and not a model output; each node in at most one pair, producers
        taken in graph order.
        """
        fuse = getattr(self.backend, "fuse", None)
        if fuse is None:
            return {}
        users = self.model.consumers()
        model_outputs = set(self.model.outputs.values())
        taken: set[Node] = set()
        pairs: dict[Node, tuple[Node, Kernel]] = {}
        for producer in self.model.nodes:
            if producer.type in ("Constant", "Parameter") or len(producer.outputs) != 1:
                continue
            out = producer.output(0)
            readers = users.get(out, [])
            if out in model_outputs or len(readers) != 1 or producer in taken:
                continue
            consumer = readers[0][0]
            if consumer in taken:
                continue
            try:
                kernel = fuse(producer, consumer)
            except Refint8Error:
                raise
            except Exception as exc:
                raise BackendError(
                    f"backend '{self.backend_name}' failed to fuse node '{producer.name}' "
                    f"({producer.type}) into '{consumer.name}' ({consumer.type}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if kernel is not None:
                pairs[consumer] = (producer, kernel)
                taken.update((producer, consumer))
        return pairs

    def _select_kernel(self, node: Node, chain: Sequence[tuple[str, Backend]]) -> tuple[Kernel, str]:
        for position, (name, backend) in enumerate(chain):
            try:
                kernel = backend.kernel(node)
            except Refint8Error:
                raise
            except Exception as exc:
                raise BackendError(
                    f"backend '{name}' failed to compile node '{node.name}' ({node.type}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if kernel is not None:
                if position > 0:
                    self.kernel_fallbacks.append((node.name, self.backend_name, name))
                return kernel, name
        tried = ", ".join(name for name, _ in chain)
        raise BackendError(f"no backend implements node '{node.name}' ({node.type}, "
                           f"{precision_of(node)}); tried: {tried}")

    # -- inference -----------------------------------------------------------------------------

    @property
    def inputs(self) -> dict[str, TensorType]:
        return {name: t for name, t, _ in self._parameters}

    @property
    def outputs(self) -> dict[str, TensorType]:
        return {name: out.type for name, out in self.model.outputs.items()}

    def infer(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Run the model; ``inputs`` by parameter name (or positionally). Returns outputs by name."""
        slots = self._initial_slots.copy()
        for (name, expected, index), value in zip(self._parameters, self._bind_inputs(inputs)):
            slots[index] = value
        perf = time.perf_counter_ns
        cpu = time.process_time_ns
        # the timings, committed only once the whole inference succeeded, so every row counts the
        # same inferences even after one that raised midway: each sequence's (its rows, their
        # (wall_ns, cpu_ns) array), and the single steps' rows and (wall_ns, cpu_ns) pairs
        sequence_timings: list[tuple[np.ndarray, np.ndarray]] = []
        step_rows: list[int] = []
        step_timings: list[tuple[int, int]] = []
        for entry in self._program:
            if isinstance(entry, _Sequence):
                sequence_timings.append((entry.rows, self._run_sequence(entry, slots)))
                continue
            step = entry
            args = [slots[i] for i in step.inputs]
            start_wall, start_cpu = perf(), cpu()
            try:
                results = step.kernel.run(args)
            except Refint8Error as exc:
                exc.add_note(self._failure_note(step))
                raise
            except Exception as exc:
                raise self._backend_failure(step, exc) from exc
            end_cpu, end_wall = cpu(), perf()
            step_rows.append(step.row)
            step_timings.append((end_wall - start_wall, end_cpu - start_cpu))
            if isinstance(results, np.ndarray) or not isinstance(results, SequenceABC):
                raise BackendError(f"backend '{step.backend}' returned a {type(results).__name__} for "
                                   f"{step.label}, expected a sequence of "
                                   f"{len(step.outputs)} array(s)")
            if len(results) != len(step.outputs):
                raise BackendError(f"backend '{step.backend}' returned {len(results)} outputs for "
                                   f"{step.label}, expected {len(step.outputs)}")
            for index, value in zip(step.outputs, results):
                slots[index] = value
            self._check_outputs(step, slots)
        pending = self._pending
        pending.extend(sequence_timings)
        if step_rows:
            pending.append((step_rows, step_timings))
        self.inferences += 1
        if self.inferences % FOLD_INFERENCES == 0:
            self._fold_timings()
        return {name: slots[index] for name, index in self._output_slots.items()}

    __call__ = infer

    @staticmethod
    def _failure_note(step: _Step) -> str:
        """The note a refint8 error raised by a step's kernel gets."""
        return f"while running {step.label} on backend '{step.backend}'"

    @staticmethod
    def _backend_failure(step: _Step, exc: Exception) -> BackendError:
        """Any other exception of a step's kernel, as a BackendError naming the step."""
        return BackendError(f"backend '{step.backend}' kernel for {step.label} failed: "
                            f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _check_outputs(step: _Step, slots: list[Any]) -> None:
        """A BackendError unless the step's outputs in ``slots`` are arrays of the declared types."""
        for index, expected in zip(step.outputs, step.node.output_types):
            value = slots[index]
            if not isinstance(value, np.ndarray):
                raise BackendError(f"backend '{step.backend}' returned a {type(value).__name__} "
                                   f"for {step.label}, expected {expected}")
            if value.dtype != expected.dtype or value.shape != expected.shape:
                raise BackendError(
                    f"backend '{step.backend}' returned {dtypes.type_name(value.dtype)}"
                    f"{list(value.shape)} for {step.label}, expected {expected}"
                )

    def _run_sequence(self, sequence: _Sequence, slots: list[Any]) -> np.ndarray:
        """One inference of a sequence (the backend's sequence contract): the outputs read after it
        into ``slots``, checked as a kernel's; returns its steps' (wall_ns, cpu_ns) as an int64
        array. An error names the step after the last timed one."""
        done: list[Any] = []
        try:
            sequence.run(slots, done)
        except Exception as exc:
            finished = sum(len(e) if isinstance(e, np.ndarray) else 1 for e in done)
            failed = sequence.steps[min(finished, len(sequence.steps) - 1)]
            if isinstance(exc, Refint8Error):
                exc.add_note(self._failure_note(failed))
                raise
            raise self._backend_failure(failed, exc) from exc
        timings = self._timings_array(done, sequence)
        if len(timings) != len(sequence.steps):
            raise BackendError(f"backend '{self.backend_name}' timed {len(timings)} of the "
                               f"{len(sequence.steps)} steps of a sequence from {sequence.steps[0].label}")
        for index, dtype, shape, step in sequence.checks:   # _check_outputs, in its cheap form
            value = slots[index]
            if type(value) is not np.ndarray or value.dtype != dtype or value.shape != shape:
                self._check_outputs(step, slots)
        return timings

    def _timings_array(self, done: list[Any], sequence: _Sequence) -> np.ndarray:
        """A sequence's timings (pairs, or int64 arrays of shape (k, 2) for k steps) as one int64
        array of shape (steps, 2)."""
        if len(done) == 1 and _is_timings_array(done[0]):   # the simd backend's: one array a run
            return done[0]
        try:
            if not done:
                parts = [np.zeros((0, 2), np.int64)]
            elif not any(isinstance(e, np.ndarray) for e in done):
                parts = [np.array(done, np.int64)]
            else:
                parts = [e if isinstance(e, np.ndarray) else np.array([e], np.int64) for e in done]
            for part in parts:
                if part.ndim != 2 or part.shape[1] != 2 or part.dtype.kind not in "iu":
                    raise ValueError(f"got a {part.dtype} array of shape {part.shape}")
        except (TypeError, ValueError) as exc:
            raise BackendError(f"backend '{self.backend_name}' gave timings that are not (wall_ns, "
                               f"cpu_ns) pairs for a sequence from {sequence.steps[0].label}: {exc}") from exc
        array = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return array.astype(np.int64, copy=False)

    def _bind_inputs(self, inputs: Any) -> list[np.ndarray]:
        names = [name for name, _, _ in self._parameters]
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, Mapping):
            missing = [n for n in names if n not in inputs]
            extra = [n for n in inputs if n not in names]
            if missing or extra:
                raise InputError(f"refint8: inputs do not match the model's parameters {names}: "
                                 f"missing {missing}, unexpected {extra}")
            ordered = [inputs[n] for n in names]
        else:
            ordered = list(inputs)
            if len(ordered) != len(names):
                raise InputError(f"refint8: the model takes {len(names)} inputs {names}, got {len(ordered)}")
        checked = []
        for (name, expected, _), value in zip(self._parameters, ordered):
            if not isinstance(value, np.ndarray):
                raise InputError(f"refint8: input '{name}' must be a NumPy array, got {type(value).__name__}")
            if value.dtype != expected.dtype:
                raise InputError(f"refint8: input '{name}' has dtype {value.dtype}, the model expects "
                                 f"{dtypes.type_name(expected.dtype)} ({expected.dtype})")
            if value.shape != expected.shape:
                raise InputError(f"refint8: input '{name}' has shape {list(value.shape)}, the model "
                                 f"expects {list(expected.shape)}")
            checked.append(value)
        return checked

    # -- counters ------------------------------------------------------------------------------

    def _fold_timings(self) -> None:
        """Add the pending timings to the totals."""
        if self._pending:
            rows = np.concatenate([np.asarray(rows, np.intp) for rows, _ in self._pending])
            times = np.concatenate([np.asarray(times, np.int64).reshape(-1, 2) for _, times in self._pending])
            np.add.at(self._totals, rows, times)
            self._pending.clear()

    def perf_counts(self) -> list[LayerCounter]:
        """The per-layer counters accumulated since compilation or the last reset, as a snapshot
        (rows that later inferences do not change, as OpenVINO's profiling info)."""
        self._fold_timings()
        wall_us, cpu_us = (self._totals / 1000.0).T.tolist()
        return [dataclasses.replace(row, real_time_us=wall, cpu_time_us=cpu, count=self.inferences)
                for row, wall, cpu in zip(self._rows, wall_us, cpu_us)]

    def int8_layer_types(self) -> set[str]:
        """Layer types that ran in int8: rows EXECUTED with an ``_I8`` exec type, and the layers the
        backend fused into another one's kernel whose own input is u8/i8 (they ran there, at their
        own precision; their rows say NOT_RUN)."""
        executed = {row.layer_type for row in self._rows
                    if row.status is Status.EXECUTED and row.exec_type.endswith("_I8")}
        return executed | {layer for layer, precision in self._fused_layers if precision == "I8"}

    def reset_perf_counts(self) -> None:
        self._pending.clear()
        self._totals[:] = 0
        self.inferences = 0

    def format_perf_counts(self) -> str:
        return format_perf_counts(self.perf_counts(), self.inferences)

    def perf_counts_json(self) -> str:
        return perf_counts_to_json(self.perf_counts())


def compile_model(
    model: Model | str | os.PathLike,
    backend: str | None = None,
    config: Mapping[str, Any] | Config | None = None,
    *,
    registry: BackendRegistry | None = None,
    lpt: bool = True,
    fusion: bool = True,
    sequences: bool = True,
) -> CompiledModel:
    """Compile ``model`` for a backend chosen by argument, environment, config file or default.

    ``model`` is a :class:`~refint8.graph.Model` or the path of a model file (``.xml`` OpenVINO IR,
    ``.onnx``), read first with :func:`refint8.io.read_model`.

    ``config`` is a mapping of settings (``backend``, ``fallback``, ``threads``, ``isa``) that
    take precedence over the environment and files, or a ready :class:`~refint8.config.Config`.
    ``lpt=False`` skips the Low Precision Transformations (every layer runs FP32).
    ``fusion=False`` keeps one kernel per node even where the backend could run two as one
    (see the fusion contract in :mod:`refint8.backend`); results are the same either way.
    ``sequences=False`` runs every step's kernel from the runtime's loop even where the backend
    could run consecutive steps itself (the sequence contract); results and counters are the same.
    """
    from ..lowering import lower

    if isinstance(model, (str, os.PathLike)):
        from ..io import read_model

        model = read_model(model)
    if not isinstance(model, Model):
        raise InputError(f"refint8: compile expects a refint8 Model, got {type(model).__name__}")
    if isinstance(config, Config):
        cfg = config if backend is None else dataclasses.replace(
            config, backend=backend, sources={**config.sources, "backend": "argument"})
    else:
        explicit = dict(config or {})
        if backend is not None:
            explicit["backend"] = backend
        cfg = load_config(explicit)
    registry = registry or default_registry()
    notes: list[str] = []
    name = cfg.backend or registry.best()
    chosen = registry.create(name, cfg.options_for(name))
    chain = cfg.fallback if cfg.fallback is not None else tuple(registry.ranked())
    usable, reason = chosen.usable()
    if not usable:
        for candidate in chain:
            if registry.usable(candidate, cfg.options_for(candidate))[0]:
                message = f"refint8: backend '{name}' is not usable here ({reason}); using '{candidate}'"
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                notes.append(message)
                name, chosen = candidate, registry.create(candidate, cfg.options_for(candidate))
                break
        else:
            raise BackendError(f"backend '{name}' is not usable here: {reason}; no usable fallback "
                               f"in {list(chain)}")
    fallbacks = [(n, registry.create(n, cfg.options_for(n))) for n in chain
                 if n != name and (cfg.fallback is not None or registry.usable(n, cfg.options_for(n))[0])]
    lowered = lower(model, chosen.capabilities(), enable_lpt=lpt)
    return CompiledModel(model, lowered, chosen, name, fallbacks, cfg, notes, fusion=fusion,
                         sequences=sequences)

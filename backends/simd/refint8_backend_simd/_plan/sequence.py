"""Runs of the plan's steps executed by one C call (the runtime's sequence contract).

Between two kernels the runtime's loop and a plan's ``run`` cost 6-10 us of interpreter work with
the caches warm, and 15-30 us after a convolution has evicted them: 1.4 ms of a ResNet-50
inference (5 %) and 0.9 ms of a MobileNetV2 one (17 %) went to it. Here a run of steps whose
plans are each one C call (``Reused.c_call``) becomes an array of ``r8_step`` structs, bound once:
each output is a buffer owned by the sequence, each input the buffer of the step that produced it
or, read from the inference's slots at every run, a value from outside the run; ``r8_run_steps``
calls the kernels in order and times each with the runtime's wall clock (their CPU times: the run's
shared out by wall time, see r8_run_steps). Steps whose plans are not one
C call (Transpose in NumPy, a Reshape of more than RESHAPE_COPY_BYTES, Concat, MVN, Relu on codes)
run from Python between the C runs, timed the same way; a smaller Reshape is a C copy (r8_copy).

Only the outputs the runtime reads after the sequence (``PlannedStep.read_after``: model outputs,
inputs of later steps) or a step in Python reads go into the inference's slots; the others never
leave the sequence's buffers, and with one thread share memory by liveness (``_assign_buffers``):
a step's output takes a block no step still to run reads, so an inference's activations stay few
and in cache. Such an output buffer is written again by the next inference only
when nothing but the sequence references it (as ``Reused.output``): one the caller kept (a model
output, or a view of one) is replaced by a fresh array first, and every step reading it is pointed
at the new one. Such an output may also be kept in 4-channel cells instead of NCHW, where its
producer and readers can take them (``_plan/layout.py``): its buffer is then bytes, not an array
of the output's shape.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from refint8.backend import PlannedStep
from refint8.errors import InputError

from .common import NAN_MESSAGE, CCall, aligned, scratch_pointer
from .layout import apply_cells, bind_consumer_codes, plan_cells


def c_call_of(kernel: Any) -> tuple[Any, CCall] | None:
    """(plan, its CCall) of one of this backend's kernels whose run is one C call, else ``None``."""
    plan = getattr(kernel.run, "plan", None)
    call = getattr(plan, "c_call", lambda: None)()
    return None if call is None else (plan, call)


@dataclass
class _Input:
    """Where a C step's argument (``in0`` or ``in1``) comes from: the buffer of C step
    ``producer`` of the sequence, or else the inference's value in ``slot``."""

    step: int
    argument: str
    slot: int
    producer: int | None


@dataclass
class _CRun:
    """Consecutive C steps ``first .. first + count`` of a sequence, one r8_run_steps call, and
    their inputs from outside the sequence's C steps (read from the slots at every run)."""

    first: int
    count: int = 0
    external: list[_Input] = field(default_factory=list)
    #: r8_run_steps' arguments: the run's first r8_step and its first pair of timings
    structs: Any = None
    ns: Any = None
    #: the C steps (sequence indices) whose outputs go into the slots after the call
    writes: list[int] = field(default_factory=list)


class SequenceRun:
    """``run(slots, timings)`` for a run of the simd backend's steps (see the module docstring)."""

    def __init__(self, ffi: Any, lib: Any, steps: Sequence[PlannedStep]) -> None:
        self.ffi, self.lib = ffi, lib
        self.lock = threading.Lock()
        self.plans: list[Any] = []                 # of the C steps, in order
        self.out_slots: list[int] = []             # each C step's output slot
        read_after: list[bool] = []                # each C step's PlannedStep.read_after
        self.inputs: list[_Input] = []
        #: what a run does, in order: C runs and the steps that run from Python
        self.program: list[_CRun | PlannedStep] = []
        producer_of: dict[int, int] = {}
        for step in steps:
            bound = c_call_of(step.kernel)
            if bound is None:
                self.program.append(step)
                for slot in step.outputs:
                    producer_of.pop(slot, None)
                continue
            if not self.program or not isinstance(self.program[-1], _CRun):
                self.program.append(_CRun(len(self.plans)))
            run = self.program[-1]
            index = len(self.plans)
            for argument, position in zip(("in0", "in1"), bound[1].inputs):
                slot = step.inputs[position]
                source = _Input(index, argument, slot, producer_of.get(slot))
                self.inputs.append(source)
                if source.producer is None:
                    run.external.append(source)
            run.count += 1
            self.plans.append(bound)
            self.out_slots.append(step.outputs[0])
            read_after.append(step.is_read_after(0))
            producer_of[step.outputs[0]] = index
        self.structs = ffi.new("r8_step[]", max(len(self.plans), 1))
        self.ns = ffi.new("long long[]", 2 * max(len(self.plans), 1))
        #: the same nanoseconds as (wall, cpu) rows
        self.ns_rows = np.frombuffer(ffi.buffer(self.ns), np.int64).reshape(-1, 2)
        # The outputs that leave the C runs: those the runtime reads after the sequence and those
        # its steps in Python read; the others stay in the sequence's buffers, never in the slots,
        # so nothing outside can hold them.
        python_reads = {slot for part in self.program if isinstance(part, PlannedStep) for slot in part.inputs}
        #: the C steps whose outputs leave the C runs
        self.escaping = [i for i, slot in enumerate(self.out_slots) if read_after[i] or slot in python_reads]
        for part in self.program:
            if isinstance(part, _CRun):
                part.structs, part.ns = self.structs + part.first, self.ns + 2 * part.first
                part.writes = [i for i in self.escaping if part.first <= i < part.first + part.count]
        self.scratch_bytes = max((getattr(plan, "scratch_bytes", 0) for plan, _ in self.plans), default=0)
        self._scratch = None
        # the outputs kept in 4-channel cells (_plan/layout.py), {C step: bytes}; only in a sequence
        # that will be taken (joins_c_calls), whose plans then never run alone
        plans = [plan for plan, _ in self.plans]
        self.cell_classes = plan_cells(plans, self.inputs, self.escaping) if self.joins_c_calls else []
        self.cell_bytes = apply_cells(plans, self.cell_classes)
        self._consumer_codes = bind_consumer_codes(plans, self.cell_classes)
        self.buffers: list[np.ndarray] = self._assign_buffers()   # each C step's output
        for index, (plan, call) in enumerate(self.plans):
            s = self.structs[index]
            kernel = ffi.typeof(plan.function)
            s.fn = ffi.cast("void *", ffi.addressof(lib, plan.function.__name__))
            s.params = ffi.cast("void *", plan.params)
            s.returns_count = int(kernel.result.cname != "void")
            s.two_inputs = int(len(call.inputs) == 2 and not call.consumer)
            s.consumer = int(call.consumer)
        self._link_prefetches(ffi)
        self.readers: list[list[_Input]] = [[] for _ in self.plans]   # the inputs reading each buffer
        for source in self.inputs:
            if source.producer is not None:
                self.readers[source.producer].append(source)
        self._pointers: list[Any] = [None] * len(self.plans)
        self._point_at_buffers(range(len(self.plans)))
        #: each buffer's references while only the sequence holds it
        self._alone = self._references()

    def _link_prefetches(self, ffi: Any) -> None:
        """Point each convolution's r8_conv.pf_next at the weights of the next C step that has
        some (``Reused.weights``), for it to prefetch while it runs."""
        conv = ffi.typeof("r8_conv *")
        following: tuple[Any, int] | None = None
        for plan, _ in reversed(self.plans):
            if ffi.typeof(plan.params) is conv:
                plan.params.pf_next = ffi.cast("const char *", following[0]) if following else ffi.NULL
                plan.params.pf_next_bytes = following[1] if following else 0
            if plan.weights is not None:
                following = plan.weights

    def _assign_buffers(self) -> list[np.ndarray]:
        """Each C step's output array. An escaping output has its own (the caller may keep it). With
        one thread the others are views into shared 64-byte-aligned blocks: C step i takes the
        smallest free block that holds its output, a block being free again once the last C step
        reading it has run (no step reads and writes one block: a block frees only after its last
        reader). Alternating processes, minima: MobileNetV2 1.3-2.5 % faster in steady loops (4 of 4
        pairs), ResNet-50 1-2.5 % (2 of 2); with 2 threads MobileNetV2 was 4-7 % slower (a block's
        lines then sit in the other core's cache), so there every output keeps its own array."""
        if any(getattr(plan.params, "threads", 1) > 1 for plan, _ in self.plans):
            return [aligned(self.cell_bytes[i]) if i in self.cell_bytes else np.empty(plan.out_shape, plan.out_dtype)
                    for i, (plan, _) in enumerate(self.plans)]
        last_read = list(range(len(self.plans)))
        for source in self.inputs:
            if source.producer is not None:
                last_read[source.producer] = max(last_read[source.producer], source.step)
        escaping = set(self.escaping)
        free: list[np.ndarray] = []
        in_use: list[tuple[int, np.ndarray]] = []    # (last reader, block)
        buffers = []
        for index, (plan, _) in enumerate(self.plans):
            free += [block for reader, block in in_use if reader < index]
            in_use = [(reader, block) for reader, block in in_use if reader >= index]
            if index in escaping:
                buffers.append(np.empty(plan.out_shape, plan.out_dtype))
                continue
            cells = self.cell_bytes.get(index)
            nbytes = cells or int(np.prod(plan.out_shape)) * np.dtype(plan.out_dtype).itemsize
            fits = [k for k, block in enumerate(free) if block.nbytes >= nbytes]
            block = free.pop(min(fits, key=lambda k: free[k].nbytes)) if fits else aligned(max(nbytes, 64))
            in_use.append((last_read[index], block))
            # (a tensor in cells is bytes only: it never leaves the sequence)
            buffers.append(block[:nbytes] if cells else block[:nbytes].view(plan.out_dtype).reshape(plan.out_shape))
        return buffers

    @property
    def joins_c_calls(self) -> bool:
        """Whether two or more C steps follow each other (else the sequence saves nothing)."""
        return any(isinstance(part, _CRun) and part.count >= 2 for part in self.program)

    def _point_at_buffers(self, steps: Sequence[int]) -> None:
        """Point the given steps' outputs, and the inputs that read them, at their buffers."""
        for index in steps:
            self._pointers[index] = pointer = self.ffi.from_buffer(self.buffers[index])
            self.structs[index].out = pointer
            for source in self.readers[index]:
                setattr(self.structs[source.step], source.argument, pointer)

    def _references(self) -> list[int]:
        """The reference counts of the buffers that leave the C runs (self.escaping)."""
        buffers = self.buffers
        return [sys.getrefcount(buffers[i]) for i in self.escaping]

    def _replace_kept_buffers(self) -> None:
        """A fresh output for every step whose previous one is referenced outside the sequence."""
        now = self._references()
        if now != self._alone:
            kept = [i for i, refs, alone in zip(self.escaping, now, self._alone) if refs != alone]
            for i in kept:
                self.buffers[i] = np.empty_like(self.buffers[i])
            self._point_at_buffers(kept)

    def _lend_scratch(self) -> None:
        """Point the plans' scratch at the calling thread's arena (scratch_pointer)."""
        if self.scratch_bytes:
            pointer = scratch_pointer(self.ffi, self.scratch_bytes)
            if pointer is not self._scratch:
                for plan, _ in self.plans:
                    if getattr(plan, "scratch_bytes", 0):
                        plan.params.scratch = pointer
                self._scratch = pointer

    def __call__(self, slots: list, timings: list) -> None:
        with self.lock:
            self._replace_kept_buffers()
            self._lend_scratch()
            for part in self.program:
                if isinstance(part, _CRun):
                    self._run_c_steps(part, slots, timings)
                else:
                    self._run_python_step(part, slots, timings)

    def _run_c_steps(self, run: _CRun, slots: list, timings: list) -> None:
        # Right after a model's kernels the interpreter's and NumPy's code and data are out of the
        # caches, so every call here costs 10-40 us: a NumPy copy of the timings, only the outputs
        # that leave the run into the slots, and no clearing of the external pointers afterwards
        # (every run sets them before the call; none is read after it).
        ffi, structs, first, count = self.ffi, self.structs, run.first, run.count
        held = []    # the inputs' arrays and buffers, alive until the call returns
        for source in run.external:
            value = slots[source.slot]
            if not value.flags.c_contiguous:
                value = np.ascontiguousarray(value)
            pointer = ffi.from_buffer(value)
            held.append((value, pointer))
            setattr(structs[source.step], source.argument, pointer)
        done = self.lib.r8_run_steps(run.structs, count, run.ns)
        timings.append(self.ns_rows[first:first + done].copy())   # the next run rewrites ns
        end = first + min(done + 1, count)
        for i in run.writes:
            if i < end:
                slots[self.out_slots[i]] = self.buffers[i]
        if done < count:
            raise InputError(NAN_MESSAGE)

    @staticmethod
    def _run_python_step(step: PlannedStep, slots: list, timings: list) -> None:
        args = [slots[i] for i in step.inputs]
        start_wall, start_cpu = time.perf_counter_ns(), time.process_time_ns()
        results = step.kernel.run(args)
        end_cpu, end_wall = time.process_time_ns(), time.perf_counter_ns()
        for slot, value in zip(step.outputs, results):
            slots[slot] = value
        timings.append((end_wall - start_wall, end_cpu - start_cpu))

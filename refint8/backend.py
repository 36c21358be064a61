"""The contract between refint8's runtime and a backend.

A backend is a plugin (see :mod:`refint8.hookspecs`) that returns :class:`BackendSpec` objects. The
runtime creates the backend through ``spec.factory(options)`` and, at compile time, asks it for one
:class:`Kernel` per node of the lowered graph (after the Low Precision Transformations). A kernel is
bound to its node: weights can be packed and buffers allocated once, in ``Backend.kernel``.

Kernel contract
    ``kernel.run(inputs)`` receives the node's input arrays in order (NumPy arrays of exactly the
    types and shapes the node's inputs declare) and returns a sequence with one array per node
    output, of exactly the declared type and shape. It must compute what the reference computes for
    that node (``refint8.ops`` for fp32 nodes, ``refint8.int8`` for int8 layers) — bit for bit for
    integer outputs and for every float computed in the pinned order, within the per-op tolerance of
    the specification otherwise. It must not modify its inputs.

A backend that cannot run a node returns ``None`` from ``kernel``: the runtime then uses the next
backend of the configured fallback chain (by default the reference) and reports it.

Fusion contract (optional)
    A backend may run two adjacent nodes as one kernel (OpenVINO's CPU plugin fuses, e.g., the
    residual Eltwise into the Convolution that feeds it). The runtime offers a pair
    ``Backend.fuse(producer, consumer)`` when the producer (not a Constant or Parameter) has one
    output, read by exactly one input of the consumer and by nothing else (not a model output);
    producers are offered in graph order and each node joins at most one pair. The returned
    kernel's ``run`` receives the producer's inputs followed by the consumer's other inputs, each
    group in node order, and returns the consumer's outputs, which must equal what the two kernels
    give one after the other: the producer's output is still computed exactly (its rounding and
    saturation included), only not stored. The fused step runs at the consumer's place in the plan; the counters report the
    producer EXECUTED (its time includes the consumer's) and the consumer NOT_RUN, as OpenVINO
    reports a fused layer. ``None`` (the default) keeps the two kernels.

Sequence contract (optional)
    Once the plan is built, the runtime offers the backend every maximal run of two or more
    consecutive steps whose kernels it returned (``Backend.sequence(steps)``, in plan order, each a
    :class:`PlannedStep`: its kernel, the value slots it reads and writes, and which of its outputs
    the runtime reads after the run). The backend may return a callable ``run(slots, timings)``
    that does, for one inference, what the steps' kernels would do one after the other, but
    without the runtime between them (e.g. one call into compiled code):

    * It reads each step's inputs from ``slots`` (the inference's values, a list indexed by slot
      number) or takes them from its own earlier steps, and stores in ``slots`` every output the
      runtime reads after the run (``PlannedStep.read_after``; the others it may keep to itself):
      arrays of exactly the declared types and shapes, which the runtime checks after the run. An
      array may be reused by a later run only where nothing but the backend still references it.
    * It appends one ``(wall_ns, cpu_ns)`` pair to ``timings`` per finished step, in order, at the
      latest before it returns or raises, measured with the clocks of ``time.perf_counter_ns`` and
      ``time.process_time_ns``; several finished steps at once may be one integer NumPy array of
      shape (steps, 2), which the backend must not change afterwards (the runtime adds it to the
      counters later). The CPU clock is a system call: a backend may read it around a run of steps
      only and give each step a share of the run's CPU time in proportion to its wall time, the
      shares adding up to the run's.

    An exception means the step after the last timed one failed: the runtime names it, as for a
    kernel. The counters are the steps' own, as without the sequence. ``None`` (the default) keeps
    the runtime's loop over the kernels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .graph import Node

#: Accumulation modes of int8 dot products (see ``refint8.int8.accumulate``).
ACCUMULATION_MODES = ("exact", "s16_pairs")


@dataclass(frozen=True)
class BackendOptions:
    """Options the configuration passes to a backend's factory."""

    threads: int | None = None
    #: Highest ISA variant the backend may use (``sse42``, ``avx2``, ``avx512``, ``avx512_vnni``,
    #: ``amx``), or ``None`` for the best available. Backends without ISA variants ignore it.
    isa: str | None = None
    #: Further backend-specific settings from the configuration's ``[tool.refint8.<backend>]``.
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Kernel:
    """A node's compiled computation: ``run(inputs) -> outputs`` and who computes it.

    ``implementation`` is the first part of the execType the counters report, ``<impl>_<isa>``
    (``ref_any``, ``numpy_any``, ``simd_avx512_vnni``); the runtime appends ``_I8`` or ``_FP32``.
    """

    run: Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]]
    implementation: str


@dataclass(frozen=True)
class PlannedStep:
    """A step of the compiled plan as ``Backend.sequence`` sees it: its kernel and the value slots
    it reads (its kernel's inputs, in order) and writes (its outputs, in order)."""

    kernel: Kernel
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    #: per output, whether the runtime reads it after the sequence (a model output, or an input of
    #: a step outside the sequence); empty: every output is
    read_after: tuple[bool, ...] = ()

    def is_read_after(self, position: int) -> bool:
        """Whether the runtime reads output ``position`` after the sequence."""
        return not self.read_after or self.read_after[position]


#: ``run(slots, timings)`` of a sequence of steps (see the sequence contract).
SequenceRun = Callable[[list, list], None]


@dataclass(frozen=True)
class Capabilities:
    """What a backend declares about itself; the conformance suite checks it against the reference."""

    #: Accumulation mode of its int8 dot products: ``exact`` or ``s16_pairs`` (the non-VNNI
    #: ``vpmaddubsw`` saturation, see refint8.int8.accumulate).
    accumulation: str = "exact"
    #: ISA variants the backend can run on this machine, best last (``("any",)`` if none).
    isa_variants: tuple[str, ...] = ("any",)
    #: Per-layer precision restrictions for LPT (``None``: OpenVINO CPU's default table).
    precision_restrictions: object | None = None
    #: Human-readable list of what it implements, for ``refint8 backends``.
    summary: str = ""


class Backend(ABC):
    """Base class of backends. Subclass it, or implement the same methods."""

    #: Registered name (``"reference"``, ``"numpy"``, ...).
    name: str = ""

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def usable(self) -> tuple[bool, str]:
        """Whether the backend can run on this machine, and why not (e.g. a missing CPU feature)."""
        return True, ""

    @abstractmethod
    def kernel(self, node: Node) -> Kernel | None:
        """The compiled kernel for ``node`` of the lowered graph, or ``None`` if not supported."""

    def fuse(self, producer: Node, consumer: Node) -> Kernel | None:
        """One kernel for ``consumer`` with ``producer`` folded in (see the fusion contract), or ``None``."""
        return None

    def sequence(self, steps: Sequence[PlannedStep]) -> SequenceRun | None:
        """One callable running ``steps`` (see the sequence contract), or ``None``."""
        return None


@dataclass(frozen=True)
class BackendSpec:
    """One backend offered by a plugin through the ``refint8_backends`` hook."""

    name: str
    factory: Callable[[BackendOptions], Backend]
    #: Default selection picks the usable backend with the highest priority.
    priority: int = 0
    description: str = ""

"""Per-layer timed performance counters, in the shape of OpenVINO's (``PERF_COUNT``) table.

A row per layer: name, status (EXECUTED, NOT_RUN for layers fused into another, OPTIMIZED_OUT for
layers removed at compile time), layerType, realTime (wall clock, µs), cpu (CPU time of the process,
µs) and execType ``<implementation>_<isa>_<PRECISION>`` with PRECISION ``I8`` when the layer's
first input is u8/i8 and ``FP32`` otherwise (``ref_any_FP32``, ``numpy_any_I8``). Fused rows have
execType ``undef``, graph inputs ``unknown_<PRECISION>``.

Times accumulate over inferences that completed (an inference that raised adds nothing); ``count``
records how many. The table prints the mean per inference. Resetting is explicit
(``CompiledModel.reset_perf_counts``).

``cpu`` is the process's CPU clock around the layer's kernel, so it includes every thread of the
process. With several threads it is exact in total but lumpy per layer: Linux folds the time of the
threads other than the caller into the process clock at scheduler ticks, so a layer can show more
than ``threads x realTime`` and its neighbours less. Where a backend runs consecutive layers as one
sequence (``Backend.sequence``) it may read the CPU clock around the whole run instead (a system
call of about 0.6 us on the development machine): each layer then shows the run's CPU time shared
out in proportion to the layers' wall times (the simd backend does; the total stays exact).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Iterable


class Status(str, Enum):
    EXECUTED = "EXECUTED"
    NOT_RUN = "NOT_RUN"
    OPTIMIZED_OUT = "OPTIMIZED_OUT"


@dataclass
class LayerCounter:
    name: str
    status: Status
    layer_type: str
    exec_type: str
    #: Totals over ``count`` inferences, in microseconds.
    real_time_us: float = 0.0
    cpu_time_us: float = 0.0
    count: int = 0

    @property
    def mean_real_time_us(self) -> float:
        return self.real_time_us / self.count if self.count else 0.0

    @property
    def mean_cpu_time_us(self) -> float:
        return self.cpu_time_us / self.count if self.count else 0.0

    def reset(self) -> None:
        self.real_time_us = 0.0
        self.cpu_time_us = 0.0
        self.count = 0


def format_perf_counts(rows: Iterable[LayerCounter], inferences: int | None = None) -> str:
    """The table as OpenVINO's samples print it: one line per layer, then the total.

    ``name  STATUS  layerType: T  realTime: µs  cpu: µs  execType: E`` with mean µs per inference.
    """
    rows = list(rows)
    width = max([len(r.name) for r in rows] + [20]) + 2
    lines = []
    if inferences is not None:
        lines.append(f"Performance counts: mean per inference over {inferences} inference(s), µs")
    total_real = 0.0
    total_cpu = 0.0
    for r in rows:
        real = r.mean_real_time_us
        cpu = r.mean_cpu_time_us
        total_real += real
        total_cpu += cpu
        lines.append(
            f"{r.name:<{width}}{r.status.value:<15}"
            f"{'layerType: ' + r.layer_type + ' ':<30}"
            f"{'realTime: ' + str(round(real)):<20}"
            f"{' cpu: ' + str(round(cpu)):<20}"
            f" execType: {r.exec_type}"
        )
    lines.append(f"Total time: {round(total_real)} microseconds (cpu: {round(total_cpu)})")
    return "\n".join(lines)


def perf_counts_to_json(rows: Iterable[LayerCounter]) -> str:
    """JSON list of rows with totals, count and means."""
    data = []
    for r in rows:
        item = asdict(r)
        item["status"] = r.status.value
        item["mean_real_time_us"] = r.mean_real_time_us
        item["mean_cpu_time_us"] = r.mean_cpu_time_us
        data.append(item)
    return json.dumps(data, indent=2)

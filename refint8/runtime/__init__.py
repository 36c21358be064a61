"""The runtime: compile a model for a backend, run it, and time every layer."""

from .compiled_model import CompiledModel, compile_model
from .counters import LayerCounter, Status, format_perf_counts, perf_counts_to_json

__all__ = ["CompiledModel", "compile_model", "LayerCounter", "Status", "format_perf_counts",
           "perf_counts_to_json"]

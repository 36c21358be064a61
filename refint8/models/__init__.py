"""Small model builders used by the demo, the tests and the benchmarks (random, seeded weights)."""

from .small_cnn import small_fq_cnn

__all__ = ["small_fq_cnn"]

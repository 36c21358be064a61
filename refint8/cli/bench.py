"""``refint8 bench``: latency like OpenVINO's benchmark_app, with per-layer counters."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from ._models import _compile_for_cli, _random_inputs


def latency_summary(latencies_ms: Sequence[float], wall_seconds: float) -> dict[str, float]:
    """benchmark_app's figures from per-inference latencies (ms) and the measured wall time (s).

    ``median``/``p90``/``p99`` are percentiles with linear interpolation (NumPy's default);
    ``throughput`` is inferences per second over the whole measured period.
    """
    lat = np.asarray(latencies_ms, dtype=np.float64)
    return {
        "iterations": int(lat.size),
        "median_ms": float(np.percentile(lat, 50)),
        "p90_ms": float(np.percentile(lat, 90)),
        "p99_ms": float(np.percentile(lat, 99)),
        "min_ms": float(lat.min()),
        "max_ms": float(lat.max()),
        "mean_ms": float(lat.mean()),
        "duration_s": float(wall_seconds),
        "throughput_fps": float(lat.size / wall_seconds) if wall_seconds > 0 else float("inf"),
    }


class _Progress:
    """A progress line on stderr, shown only once a run has taken more than ``after`` seconds."""

    def __init__(self, total_label: str, after: float = 1.0, stream=None) -> None:
        self.label = total_label
        self.after = after
        self.stream = stream or sys.stderr
        self.shown = False
        self.last = 0.0

    def update(self, elapsed: float, fraction: float, iterations: int) -> None:
        if elapsed < self.after or elapsed - self.last < 0.25:
            return
        self.last = elapsed
        self.shown = True
        bar = "#" * int(fraction * 30)
        print(f"\r[{bar:<30}] {min(fraction, 1.0) * 100:5.1f}%  {iterations} iterations, "
              f"{elapsed:.1f} s of {self.label}", end="", file=self.stream, flush=True)

    def close(self) -> None:
        if self.shown:
            print(file=self.stream, flush=True)


def _cmd_bench(args: argparse.Namespace) -> int:
    import csv
    import json
    import time

    compiled = _compile_for_cli(args)
    inputs = _random_inputs(compiled.inputs, seed=args.seed)
    warmup_start = time.perf_counter()
    compiled.infer(inputs)  # warm-up (first inference), excluded like benchmark_app's
    first_ms = (time.perf_counter() - warmup_start) * 1000.0
    compiled.reset_perf_counts()
    if args.time is not None:
        limit_iterations, limit_seconds = None, args.time
        label = f"{args.time:g} s"
    else:
        limit_iterations, limit_seconds = args.iterations or 20, None
        label = f"{limit_iterations} iterations"
    progress = _Progress(label)
    latencies: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        compiled.infer(inputs)
        t1 = time.perf_counter()
        latencies.append((t1 - t0) * 1000.0)
        elapsed = t1 - start
        if limit_iterations is not None:
            fraction = len(latencies) / limit_iterations
            done = len(latencies) >= limit_iterations
        else:
            fraction = elapsed / limit_seconds  # type: ignore[operator]
            done = elapsed >= limit_seconds  # type: ignore[operator]
        progress.update(elapsed, fraction, len(latencies))
        if done:
            break
    wall = time.perf_counter() - start
    progress.close()
    summary = latency_summary(latencies, wall)
    rows = compiled.perf_counts()
    print(f"model '{compiled.source.name}' on backend '{compiled.backend_name}'"
          + (f", {args.threads} thread(s)" if args.threads else ""))
    print(f"First inference (warm-up): {first_ms:.2f} ms")
    print(f"Count:      {summary['iterations']} iterations")
    print(f"Duration:   {summary['duration_s'] * 1000.0:.2f} ms")
    print("Latency:")
    for key in ("median", "p90", "p99", "mean", "min", "max"):
        label = {"median": "Median", "p90": "P90", "p99": "P99", "mean": "Average", "min": "Min",
                 "max": "Max"}[key]
        print(f"   {label + ':':<9}{summary[key + '_ms']:.2f} ms")
    print(f"Throughput: {summary['throughput_fps']:.2f} FPS")
    layers = [{
        "name": r.name, "status": r.status.value, "layer_type": r.layer_type,
        "exec_type": r.exec_type, "real_time_us_mean": r.mean_real_time_us,
        "cpu_time_us_mean": r.mean_cpu_time_us, "count": r.count,
    } for r in rows]
    if args.json:
        report = {"model": compiled.source.name, "backend": compiled.backend_name,
                  "threads": args.threads, "first_inference_ms": first_ms, **summary,
                  "layers": layers}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
    if args.csv:
        with open(args.csv, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(layers[0]) if layers else ["name"])
            writer.writeheader()
            writer.writerows(layers)
    return 0

"""The ``refint8`` command line: ``backends``, ``demo``, ``run``, ``bench``, ``explain``, ``saturation``, ``conformance``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from .errors import Refint8Error


def _cmd_backends(args: argparse.Namespace) -> int:
    from .registry import default_registry

    registry = default_registry()
    rows = [("name", "version", "distribution", "priority", "usable", "capabilities")]
    for name in registry.names():
        info = registry.info(name)
        usable, reason = registry.usable(name)
        try:
            caps = registry.create(name).capabilities()
            cap_text = f"accumulation={caps.accumulation}; isa={'/'.join(caps.isa_variants)}"
            if caps.summary:
                cap_text += f"; {caps.summary}"
        except Refint8Error as exc:
            cap_text = f"(failed: {exc})"
        rows.append((name, info.version, info.distribution, str(info.spec.priority),
                     "yes" if usable else f"no: {reason}", cap_text))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    for warning in registry.load_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _load_model(name: str):
    """A model file (``.xml`` OpenVINO IR, ``.onnx``) by path, else a built-in model by name."""
    import os

    from .io import is_model_path, read_model
    from .models.zoo import BUILTIN, builtin_model

    if name not in BUILTIN and (is_model_path(name) or os.path.exists(name)):
        return read_model(name)
    return builtin_model(name)


def _random_inputs(input_types, seed: int = 1) -> dict[str, np.ndarray]:
    """Random inputs for ``{name: TensorType}``: standard normal floats, uniform integer codes."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, t in input_types.items():
        if t.dtype == np.float32:
            inputs[name] = rng.standard_normal(t.shape, dtype=np.float32)
        else:
            info = np.iinfo(t.dtype)
            inputs[name] = rng.integers(info.min, info.max, t.shape, dtype=t.dtype, endpoint=True)
    return inputs


def _cmd_demo(args: argparse.Namespace) -> int:
    from .runtime import compile_model

    model = _load_model(args.model)
    compiled = compile_model(model, backend=args.backend)
    inputs = _random_inputs(compiled.inputs)
    for _ in range(args.iterations):
        outputs = compiled.infer(inputs)
    for name, value in outputs.items():
        print(f"model '{model.name}' on backend '{compiled.backend_name}': output '{name}' "
              f"{list(value.shape)}, mean {float(value.mean()):.6f}")
    print(compiled.format_perf_counts())
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .explain import format_precision_report, precision_report
    from .runtime import compile_model

    compiled = compile_model(_load_model(args.model), backend=args.backend)
    print(format_precision_report(precision_report(compiled)))
    return 0


def _cmd_saturation(args: argparse.Namespace) -> int:
    from .saturation import format_saturation_report, saturation_report

    model = _load_model(args.model)
    inputs = _random_inputs(model.input_types, seed=args.seed)
    print(format_saturation_report(saturation_report(model, inputs)))
    return 0


def _load_inputs(path: str, input_types) -> dict[str, np.ndarray]:
    """Inputs from an ``.npz``: by parameter name, or ``arr_0, arr_1, ...`` in parameter order.

    A float array for an f32 input is converted to float32 (``np.savez`` keeps float64).
    """
    from .errors import InputError, ModelFileError

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"refint8: {path}: no such file") from None
    except Exception as exc:  # not a zip / not an npz / a damaged member
        raise ModelFileError(f"refint8: {path}: not a readable .npz archive ({type(exc).__name__}: "
                             f"{exc})") from None
    names = list(input_types)
    if set(arrays) != set(names):
        positional = [f"arr_{i}" for i in range(len(names))]
        if sorted(arrays) != sorted(positional):
            raise InputError(f"refint8: {path} holds arrays {sorted(arrays)}; the model's inputs "
                             f"are {names} (name them so, or save them positionally)")
        arrays = {name: arrays[key] for name, key in zip(names, positional)}
    for name, t in input_types.items():
        value = arrays[name]
        if t.dtype == np.float32 and value.dtype.kind == "f" and value.dtype != np.float32:
            arrays[name] = value.astype(np.float32)
    return {name: arrays[name] for name in names}


def _compile_for_cli(args: argparse.Namespace):
    from .runtime import compile_model

    config = {"threads": args.threads} if getattr(args, "threads", None) else None
    return compile_model(_load_model(args.model), backend=args.backend, config=config)


def _cmd_run(args: argparse.Namespace) -> int:
    compiled = _compile_for_cli(args)
    if args.inputs:
        inputs = _load_inputs(args.inputs, compiled.inputs)
    else:
        inputs = _random_inputs(compiled.inputs, seed=args.seed)
    outputs = compiled.infer(inputs)
    print(f"model '{compiled.source.name}' on backend '{compiled.backend_name}'")
    for name, value in outputs.items():
        stats = _value_stats(value)
        print(f"output '{name}': shape {list(value.shape)}, dtype {value.dtype}, {stats}")
    if args.perf_counts:
        print(compiled.format_perf_counts())
    return 0


def _value_stats(value: np.ndarray) -> str:
    if value.size == 0:
        return "empty"
    wide = value.astype(np.float64)
    finite = wide[np.isfinite(wide)]
    text = (f"min {float(wide.min()):.6g}, max {float(wide.max()):.6g}, "
            f"mean {float(wide.mean()):.6g}")
    if finite.size != wide.size:
        text += f" ({wide.size - finite.size} non-finite)"
    return text


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


CONFORMANCE_MISSING = ("the conformance suite is not installed; install it with "
                       "'pip install conformance/' from the refint8 repository")


def _cmd_conformance(argv: Sequence[str]) -> int:
    """Dispatch to the separately installed suite (imported lazily: it needs Hypothesis)."""
    try:
        from refint8_conformance.cli import main as conformance_main
    except ImportError as exc:
        missing = getattr(exc, "name", "") or ""
        if missing.split(".")[0] not in ("refint8_conformance", "hypothesis"):
            raise
        print(f"error: {CONFORMANCE_MISSING} ({exc})", file=sys.stderr)
        return 2
    return conformance_main(list(argv))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refint8", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backends", help="list installed backends and whether they run here")
    p.set_defaults(func=_cmd_backends)

    p = sub.add_parser("demo", help="run the demo model and print its performance counters")
    p.add_argument("model", nargs="?", default="inception",
                   help="built-in model: inception (default), small_cnn, resnet50")
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.add_argument("--iterations", type=_positive_int, default=3)
    p.set_defaults(func=_cmd_demo)

    model_help = ("model file (.xml OpenVINO IR with its .bin, .onnx) or built-in model: "
                  "inception, small_cnn, resnet50")
    p = sub.add_parser("run", help="run a model once and print its outputs (and counters)")
    p.add_argument("model", help=model_help)
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.add_argument("--inputs", metavar="FILE.npz",
                   help="inputs by parameter name (or arr_0, arr_1, ... in order); default: random")
    p.add_argument("--perf-counts", action="store_true", help="print the per-layer counter table")
    p.add_argument("--seed", type=int, default=1, help="seed of the random inputs")
    p.set_defaults(func=_cmd_run, threads=None)

    p = sub.add_parser("bench", help="measure latency like benchmark_app (median, p90, p99, ...)")
    p.add_argument("model", help=model_help)
    p.add_argument("--backend", help="backend name (default: from configuration)")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--iterations", type=_positive_int, help="measured inferences (default 20)")
    limit.add_argument("--time", type=_positive_float, metavar="S", help="measure for S seconds")
    p.add_argument("--threads", type=_positive_int, help="threads for the backend")
    p.add_argument("--json", metavar="FILE", help="write the summary and per-layer means as JSON")
    p.add_argument("--csv", metavar="FILE", help="write the per-layer mean counters as CSV")
    p.add_argument("--seed", type=int, default=1, help="seed of the random inputs")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("explain", help="which layers run in int8, and why the others do not")
    p.add_argument("model", help="built-in model: inception, small_cnn, resnet50")
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("saturation", help="accumulators that would differ on a CPU without VNNI")
    p.add_argument("model", help="built-in model: inception, small_cnn, resnet50")
    p.add_argument("--seed", type=int, default=1, help="seed of the random input")
    p.set_defaults(func=_cmd_saturation)

    p = sub.add_parser("conformance", add_help=False,
                       help="check a backend against the reference (refint8 conformance --help)")
    p.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda args: _cmd_conformance(args.argv))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conformance"]:  # the suite parses its own options (and --help)
        return _cmd_conformance(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Refint8Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

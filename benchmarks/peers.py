"""Speed against the peers: refint8's backends, OpenVINO and ONNX Runtime on the same int8 files.

The files are the quantized ResNet-50 and MobileNetV2 of benchmarks/agreement_resnet_mobilenet.py
(random seeded weights, ``quantize_static``: QDQ, per-channel int8 weights, uint8 activations),
built on first use under ``.cache/models/`` (needs PyTorch once: ``pip install torch==2.13.0``).
Batch 1, 224x224, one random input. Variants:

* ``refint8 <backend>``: every installed backend, ``threads`` from the configuration (numpy: BLAS
  threads, process-wide; simd: OpenMP threads). The reference backend is slow (about 4 s per
  ResNet-50 inference): it runs ``--reference-iterations`` timed inferences (default 1) in the
  first round only, and no warm-up;
* ``OpenVINO int8``: ``Core.read_model`` of the QDQ file, CPU, ``INFERENCE_NUM_THREADS`` =
  threads; once with the default precision hint (bf16 where the CPU has it: it applies to the
  layers that are not int8) and once with ``INFERENCE_PRECISION_HINT=f32``;
* ``ORT int8``: ONNX Runtime on the QDQ file with its default optimizations (QLinear kernels),
  ``intra_op_num_threads`` = threads, ``inter_op_num_threads`` = 1;
* for scale, the fp32 models: ``ORT fp32`` and ``OpenVINO fp32 (f32 hint)``.

For each thread count (1 and 2 by default) every variant is compiled, warmed up, then timed in
interleaved rounds (each round runs every variant ``--iterations`` times, so machine noise hits
all alike; before each variant's block the process idles ``--pause`` seconds and runs one untimed
inference, because ONNX Runtime's and OpenMP's worker threads spin-wait after their work and would
otherwise take the second core from the next variant: measured, refint8 simd on MobileNetV2 with
2 threads took 25 ms interleaved without the pause, 7.4 ms alone and with it); the table shows the median latency in ms per (model, threads) and each variant's
ratio to OpenVINO int8 with the f32 hint (the same arithmetic refint8 specifies).

    .venv/bin/python benchmarks/peers.py [--rounds 5] [--iterations 5] [--threads 1,2]
                                         [--model resnet50 --model mobilenetv2] [--backends numpy,simd]
                                         [--simd-isa avx512_vnni]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from agreement_resnet_mobilenet import DEFAULT_CACHE, IMAGE_SHAPE, MODELS, ensure_models

BASELINE = "OpenVINO int8 (f32 hint)"


@dataclass
class Variant:
    name: str
    run: Callable[[], object]
    slow: bool = False                        # the reference backend: few timed runs, no warm-up
    times_ms: list[float] = field(default_factory=list)
    note: str = ""


def refint8_variants(qdq, backends: Sequence[str] | None, threads: int, x: np.ndarray,
                     failures: list[str], simd_isas: Sequence[str] = ()) -> list[Variant]:
    """Every backend with its default configuration; the simd backend also once per ISA cap in
    simd_isas (e.g. avx512_vnni on an AMX machine)."""
    import refint8  # noqa: PLC0415
    from refint8.registry import default_registry  # noqa: PLC0415

    registry = default_registry()
    model = refint8.read_model(qdq)
    variants = []
    for backend in backends if backends is not None else registry.names():
        usable, reason = registry.usable(backend)
        if not usable:
            failures.append(f"refint8 {backend}: not usable here: {reason}")
            continue
        for isa in [None, *(simd_isas if backend == "simd" else ())]:
            label = f"refint8 {backend}" + (f" ({isa})" if isa else "")
            config = {"threads": threads, **({"isa": isa} if isa else {})}
            try:
                compiled = refint8.compile(model, backend=backend, config=config)
                feed = {next(iter(compiled.inputs)): x}
                if backend != "reference":
                    compiled.infer(feed)     # a broken kernel fails here, not in the timed loop
            except Exception as exc:
                failures.append(f"{label} ({threads} thread(s)): {type(exc).__name__}: {exc}")
                continue
            variants.append(Variant(label, lambda c=compiled, f=feed: c.infer(f), slow=backend == "reference"))
    return variants


def openvino_variant(name: str, path, threads: int, x: np.ndarray, hint: str | None) -> Variant:
    import openvino as ov  # noqa: PLC0415

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    used = compiled.get_property("INFERENCE_PRECISION_HINT")
    return Variant(name, lambda: request.infer({0: x}), note=f"precision hint {used}")


def ort_variant(name: str, path, threads: int, x: np.ndarray) -> Variant:
    import onnxruntime as ort  # noqa: PLC0415

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return Variant(name, lambda: session.run(None, feed))


def time_variants(variants: list[Variant], rounds: int, iterations: int, reference_iterations: int,
                  pause: float, warmup: int = 3) -> None:
    for v in variants:
        if not v.slow:
            for _ in range(warmup):
                v.run()
    for r in range(rounds):
        for v in variants:
            count = (reference_iterations if r == 0 else 0) if v.slow else iterations
            if count:
                # Thread pools spin-wait for a while after their work (ONNX Runtime's, OpenMP's):
                # let the previous variant's threads go to sleep, or they take the other core.
                time.sleep(pause)
                if not v.slow:
                    v.run()      # and wake this variant's own threads (not timed)
            for _ in range(count):
                start = time.perf_counter()
                v.run()
                v.times_ms.append((time.perf_counter() - start) * 1e3)


def cpu_busy_seconds() -> float | None:
    """CPU-seconds all processes have been busy since boot (Linux ``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, action="append", help="default: both")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=5, help="timed inferences per variant per round")
    parser.add_argument("--reference-iterations", type=int, default=1,
                        help="timed inferences of the reference backend (first round only)")
    parser.add_argument("--backends", help="comma-separated refint8 backends (default: all installed)")
    parser.add_argument("--no-fp32", action="store_true", help="skip the fp32 models")
    parser.add_argument("--simd-isa", default="",
                        help="comma-separated ISA caps, each an extra simd variant (e.g. avx512_vnni)")
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds of idle time before each variant's block (default 0.2)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    args = parser.parse_args(argv)
    from pathlib import Path  # noqa: PLC0415

    models = ensure_models(Path(args.cache), args.model or MODELS)
    thread_counts = [int(t) for t in args.threads.split(",")]
    backends = args.backends.split(",") if args.backends else None
    x = np.random.default_rng(2).standard_normal(IMAGE_SHAPE).astype(np.float32)
    busy_before, own_before, wall_before = cpu_busy_seconds(), own_cpu_seconds(), time.perf_counter()
    results: dict[tuple[str, str, int], Variant] = {}
    failures: list[str] = []
    order: list[str] = []
    for threads in thread_counts:
        for name, (fp32, qdq) in models.items():
            start = time.perf_counter()
            variants = refint8_variants(qdq, backends, threads, x, failures,
                                        [i for i in args.simd_isa.split(",") if i])
            variants += [openvino_variant("OpenVINO int8 (default hint)", qdq, threads, x, None),
                         openvino_variant(BASELINE, qdq, threads, x, "f32"),
                         ort_variant("ORT int8 (QDQ)", qdq, threads, x)]
            if not args.no_fp32:
                variants += [openvino_variant("OpenVINO fp32 (f32 hint)", fp32, threads, x, "f32"),
                             ort_variant("ORT fp32", fp32, threads, x)]
            time_variants(variants, args.rounds, args.iterations, args.reference_iterations, args.pause)
            for v in variants:
                results[(v.name, name, threads)] = v
                if v.name not in order:
                    order.append(v.name)
            print(f"timed {name} with {threads} thread(s) in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)

    columns = [(name, t) for name in models for t in thread_counts]
    header = ["engine"] + [f"{name} {t}T ms" for name, t in columns] + \
             [f"{name} {t}T / OV" for name, t in columns]
    rows = [header]
    for engine in order:
        cells, ratios = [], []
        for name, t in columns:
            v = results.get((engine, name, t))
            base = results.get((BASELINE, name, t))
            if v is None or not v.times_ms:
                cells.append("-")
                ratios.append("-")
                continue
            median = statistics.median(v.times_ms)
            cells.append(f"{median:.1f}" if median >= 10 else f"{median:.2f}")
            ratios.append(f"{median / statistics.median(base.times_ms):.1f}x")
        rows.append([engine] + cells + ratios)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"median latency, batch 1, {args.rounds} interleaved rounds x {args.iterations} inferences "
          f"(reference backend: {args.reference_iterations}); ratio = latency / {BASELINE}")
    for i, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    busy_after, wall = cpu_busy_seconds(), time.perf_counter() - wall_before
    if busy_before is not None and busy_after is not None:
        others = max(0.0, (busy_after - busy_before) - (own_cpu_seconds() - own_before))
        print(f"machine: {os.cpu_count()} CPUs; other processes used {others / wall:.2f} CPUs on average "
              f"during the {wall:.0f} s run (more than ~0.1: the timings are disturbed)")
    notes = sorted({f"{v.name}: {v.note}" for v in results.values() if v.note})
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"failed: {failure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

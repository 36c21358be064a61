"""ResNet-50 (batch 1, 224x224, random seeded weights): numpy backend vs the reference.

Runs, in one process and in interleaved rounds (so machine noise hits every variant alike):

* ``reference int8``: the quantized model on the reference backend (slow: a few seconds per run);
* ``numpy int8``:     the quantized model on the numpy backend;
* ``numpy fp32``:     the same quantized model on the numpy backend without LPT,
  ``compile(model, backend="numpy", lpt=False)``: every layer fp32, FakeQuantize run as fp32 ops
  (weights included, on every inference);
* ``numpy fp32 plain``: ``resnet50()``, the fp32 model without any FakeQuantize, on the numpy
  backend: the stricter baseline (nothing but convolutions, bias adds, ReLUs and pools).

Prints the median time of each, the ratios, whether numpy int8 is bit-identical to the reference,
and the slowest layers of the numpy int8 run. Targets: numpy int8 >= 20x faster than the
reference and no slower than numpy fp32 (reported against both fp32 variants).

    .venv/bin/python benchmarks/numpy_vs_reference.py [--rounds 7] [--reference-rounds 2] [--threads 1]

``--threads`` is the numpy backend's ``threads`` option (OpenBLAS threads, process-wide), 1 by
default: on the shared 2-vCPU machines a 2-thread GEMM stalls whenever the other core is busy,
which makes timings swing by 10x; ``--threads 0`` keeps NumPy's default.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from refint8.models import quantized_resnet50, resnet50
from refint8.runtime.compiled_model import compile_model


def timed(compiled, inputs) -> tuple[float, dict]:
    start = time.perf_counter()
    outputs = compiled.infer(inputs)
    return time.perf_counter() - start, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the numpy variants")
    parser.add_argument("--reference-rounds", type=int, default=2,
                        help="rounds (out of --rounds) that also run the reference")
    parser.add_argument("--top", type=int, default=12, help="slowest numpy int8 layers to list")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenBLAS threads for the numpy backend (0: NumPy's default)")
    args = parser.parse_args()
    config = {"threads": args.threads} if args.threads else {}

    start = time.perf_counter()
    model = quantized_resnet50()
    print(f"built quantized_resnet50 in {time.perf_counter() - start:.1f} s")
    variants = {}
    plain = resnet50()
    for label, source, backend, lpt in (
            ("reference int8", model, "reference", True), ("numpy int8", model, "numpy", True),
            ("numpy fp32", model, "numpy", False), ("numpy fp32 plain", plain, "numpy", False)):
        start = time.perf_counter()
        variants[label] = compile_model(source, backend=backend, lpt=lpt,
                                        config=config if backend == "numpy" else None)
        print(f"compiled {label:17s} in {time.perf_counter() - start:.2f} s")
    print(f"numpy backend: {variants['numpy int8'].backend.threads_note}")
    x = {"input": np.random.default_rng(7).random((1, 3, 224, 224), dtype=np.float32)}

    for compiled in variants.values():  # warm-up (first-touch allocations, BLAS threads)
        if compiled is not variants["reference int8"]:
            compiled.infer(x)
    times: dict[str, list[float]] = {label: [] for label in variants}
    outputs: dict[str, dict] = {}
    reference_every = max(1, args.rounds // max(1, args.reference_rounds))
    for round_index in range(args.rounds):
        for label, compiled in variants.items():
            if label == "reference int8" and (round_index % reference_every or
                                              len(times[label]) >= args.reference_rounds):
                continue
            seconds, outputs[label] = timed(compiled, x)
            times[label].append(seconds)

    median = {label: statistics.median(values) for label, values in times.items()}
    print()
    for label, values in times.items():
        print(f"{label:17s} median {median[label] * 1e3:9.1f} ms   runs "
              + " ".join(f"{v * 1e3:.0f}" for v in values))
    print()
    print(f"numpy int8 speed-up over reference int8: {median['reference int8'] / median['numpy int8']:.1f}x"
          "   (target >= 20x)")
    print(f"numpy int8 time / numpy fp32 time:        {median['numpy int8'] / median['numpy fp32']:.2f}"
          "    (target <= 1.00)")
    print(f"numpy int8 time / numpy fp32 plain time:  "
          f"{median['numpy int8'] / median['numpy fp32 plain']:.2f}    (target <= 1.00)")
    same = all(np.array_equal(outputs["reference int8"][k], outputs["numpy int8"][k])
               for k in outputs["reference int8"])
    print(f"numpy int8 output bit-identical to reference int8: {same}")

    rows = [r for r in variants["numpy int8"].perf_counts() if r.count and r.status.value == "EXECUTED"]
    rows.sort(key=lambda r: -r.real_time_us)
    print(f"\nslowest numpy int8 layers (total over {variants['numpy int8'].inferences} runs):")
    for r in rows[:args.top]:
        per_run = r.real_time_us / r.count / 1e3
        print(f"  {r.name:32s} {r.layer_type:14s} {r.exec_type:16s} {per_run:7.2f} ms/run")


if __name__ == "__main__":
    main()

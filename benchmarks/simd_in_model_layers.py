"""How much slower ResNet-50's convolutions run inside the model than re-run alone (a benchmark,
not a test).

Inside a model a layer finds its weights, tables and code as the previous inference left them;
``simd_efficiency.py`` re-runs one layer with everything hot, ``simd_cold_layers.py`` after
flushing every cache (also the interpreter's and the shared scratch, which a model keeps warm).
This script times each convolution step of quantized_resnet50() (fused steps included) from the
model's own counters, then re-runs the same step on the inputs it received, right after itself.
Single thread, wall time, medians over inferences. The model is compiled with ``sequences=False``
(each step's kernel called from the runtime's loop, which this script wraps to record inputs).

    python benchmarks/simd_in_model_layers.py [--inferences 15] [--isa avx512_vnni]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

import refint8
from refint8.models.resnet import quantized_resnet50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inferences", type=int, default=15)
    parser.add_argument("--isa", default=None, help="cap the simd variant (default: the best)")
    args = parser.parse_args()
    config = {"threads": 1} | ({"isa": args.isa} if args.isa else {})
    compiled = refint8.compile(quantized_resnet50(), backend="simd", config=config, sequences=False)
    x = {name: np.random.default_rng(0).random(t.shape).astype(np.float32)
         for name, t in compiled.model.input_types.items()}
    convolutions = [step for step in compiled._steps
                    if "Int8Convolution" in (step.node.type, getattr(step.producer, "type", None))]

    # one inference with each convolution step's inputs recorded (copies: slots are reused)
    inputs: dict[int, list] = {}
    originals = {id(step): step.kernel for step in convolutions}
    for step in convolutions:
        def record(values, step=step, run=step.kernel.run):
            inputs[id(step)] = [np.array(v) if isinstance(v, np.ndarray) else v for v in values]
            return run(values)
        step.kernel = dataclasses.replace(step.kernel, run=record)
    compiled.infer(x)
    for step in convolutions:
        step.kernel = originals[id(step)]

    in_model: dict[int, list[float]] = {id(step): [] for step in convolutions}
    for _ in range(args.inferences):
        compiled.reset_perf_counts()
        compiled.infer(x)
        rows = compiled.perf_counts()
        for step in convolutions:
            in_model[id(step)].append(rows[step.row].real_time_us / 1e3)
    print(f"ResNet-50 convolution steps, 1 thread, ms: inside the model vs re-run alone on the same inputs")
    print(f"  {'step':34s} {'input':16s} {'model':>7s} {'alone':>7s} {'ratio':>6s}")
    total_model = total_alone = 0.0
    for step in convolutions:
        alone = []
        for _ in range(args.inferences):
            start = time.perf_counter()
            step.kernel.run(inputs[id(step)])
            alone.append((time.perf_counter() - start) * 1e3)
        model_ms, alone_ms = statistics.median(in_model[id(step)]), statistics.median(alone)
        total_model += model_ms
        total_alone += alone_ms
        conv = step.producer or step.node
        shape = "x".join(str(d) for d in conv.inputs[0].type.shape[1:])
        print(f"  {conv.name[:34]:34s} {shape:16s} {model_ms:7.3f} {alone_ms:7.3f} {model_ms / alone_ms:6.2f}")
    print(f"  {'all convolution steps':34s} {'':16s} {total_model:7.2f} {total_alone:7.2f} "
          f"{total_model / total_alone:6.2f}")


if __name__ == "__main__":
    main()

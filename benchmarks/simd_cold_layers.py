"""How much slower ResNet-50's convolutions run cold, as inside a model, than re-run alone (a
benchmark, not a test).

Inside a model every layer finds its weights (and whatever else it touched in the previous
inference) out of cache; ``simd_efficiency.py`` re-runs a layer with everything hot. Per distinct
convolution of quantized_resnet50(), single thread, wall time, medians of several rounds:

* hot: run right after the same run;
* cold: run after reading a buffer larger than the caches;
* weights cold: the same, then the layer's input, output and the shared scratch read back into
  cache first (what stays cold: the weights, the plan's tables, the code, the TLB).

    python benchmarks/simd_cold_layers.py [--isa avx512_vnni] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from refint8.backend import BackendOptions
from refint8.registry import default_registry
from simd_efficiency import resnet_conv_nodes

FLUSH_BYTES = 96 << 20   # more than this machine's L2 and its share of L3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", default="avx512_vnni")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from refint8_backend_simd._plan import common

    backend = default_registry().create("simd", BackendOptions(isa=args.isa, threads=1))
    flush = np.ones(FLUSH_BYTES, np.uint8)
    rng = np.random.default_rng(0)
    print(f"{args.isa}, 1 thread: ms per run, hot; cold and weights-cold as ratios to hot")
    print(f"  {'layer':34s} {'weights MB':>10s} {'hot ms':>8s} {'cold':>6s} {'weights cold':>13s}")
    for node, _ in resnet_conv_nodes():
        n, c, h, w = node.inputs[0].type.shape
        oc, cg, kh, kw = node.inputs[1].type.shape
        info = np.iinfo(node.inputs[0].dtype)
        x = rng.integers(info.min, info.max + 1, size=(n, c, h, w)).astype(node.inputs[0].dtype)
        kernel = backend.kernel(node)
        out = kernel.run([x])[0]
        times: dict[str, list[float]] = {"hot": [], "cold": [], "weights": []}
        for _ in range(args.rounds):
            for case in times:
                if case != "hot":
                    flush.sum()
                if case == "weights":
                    x.sum(), out.sum(), common._ARENA.buffer.sum()
                start = time.perf_counter()
                out = kernel.run([x])[0]
                times[case].append(time.perf_counter() - start)
        hot, cold, weights = (statistics.median(times[k]) for k in ("hot", "cold", "weights"))
        label = f"{c}x{h}x{w} -> {oc} k{kh} s{node.attrs['strides'][0]}"
        print(f"  {label:34s} {oc * cg * kh * kw / 2**20:10.2f} {hot * 1e3:8.3f} {cold / hot:6.2f} {weights / hot:13.2f}")


if __name__ == "__main__":
    main()

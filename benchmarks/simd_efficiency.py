"""How close the simd backend's kernels come to the machine's limits (a benchmark, not a test).

1. Peaks: register-only loops of each instruction path (compiled in the simd extension and run in
   this process): SSE4.2 and AVX2/AVX-512 exact paths (pmaddwd on s16 operands + paddd), AVX-512
   VNNI vpdpbusd zmm, AMX tdpbusd with 2x2 tile blocking (only where AMX is usable).
2. Per layer: every distinct Int8Convolution of quantized_resnet50() (the lowered nodes, with their
   real post-ops) run alone, single-threaded, per ISA variant: GOPS (2 ops per MAC) and the fraction
   of the peak of the same path. On a shared machine the core's speed drifts with its neighbours'
   load, so each round measures the peak and then the layer, and the fraction is the median of
   the rounds' ratios (two adjacent measurements drift less than two distant ones). CPU time
   (time.process_time) is used throughout.
3. Per layer, the best variant with 2 OpenMP threads against 1: wall-clock time (both teams timed
   back to back in each round, the minimum over rounds) and the speedup. Layers shrink their team
   to one thread while other processes use the second CPU (r8_team), so on a busy machine the
   speedups fall to about 1.
4. End to end, quantized_resnet50() at 224x224: simd int8 (best variant) vs numpy fp32 (the fp32
   model) vs numpy int8, with 1 and 2 threads, if the numpy backend is installed; each case in a
   fresh process, every case once per round, medians over rounds.

    python benchmarks/simd_efficiency.py                # everything
    python benchmarks/simd_efficiency.py --variants avx512_vnni --no-e2e
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import refint8
from refint8.backend import BackendOptions
from refint8.registry import default_registry

PEAK_PATH = {
    "sse42": "pmaddwd xmm + paddd (exact s16)",
    "avx2": "vpmaddwd ymm + vpaddd (exact s16)",
    "avx512": "vpmaddwd zmm + vpaddd (exact s16)",
    "avx512_vnni": "vpdpbusd zmm",
    "amx": "tdpbusd 2x2 tiles",
}


def cpu_seconds(function, repeat: int, number: int) -> float:
    """Median CPU seconds per call over ``repeat`` rounds of ``number`` calls."""
    rounds = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            function()
        rounds.append((time.process_time() - start) / number)
    return statistics.median(rounds)


def peak_gops(lib, variant: str, repeat: int = 5, scale: float = 1.0) -> float:
    """GOPS of the variant's register-only loop: the median of ``repeat`` runs of 2M iterations
    (200k on AMX) times ``scale`` (about 13 ms per run at scale 1 on this machine's VNNI path)."""
    function = getattr(lib, f"r8_peak_{variant}")
    function(10_000)
    iters = int((200_000 if variant == "amx" else 2_000_000) * scale)
    macs = function(iters)
    if macs < 0:
        return float("nan")
    seconds = cpu_seconds(lambda: function(iters), repeat=repeat, number=1)
    return 2 * macs / seconds / 1e9


def amx_tile_step_table(lib, repeat: int) -> None:
    """The AMX convolution's tile step (4 tile loads, 4 products) in a loop with its operands in
    memory, against the register-only peak: the weights from L1 (2 KB) or streaming from L2
    (600 KB), the input rows on 64-byte lines or 4 bytes past them (a 3x3 tap's column shift)."""
    peak = peak_gops(lib, "amx", repeat)
    steps = 100_000
    print(f"\namx tile step (4 loads + 4 products, 2x2 tiles), 1 thread; peak {peak:.0f} GOPS")
    print(f"  {'weights':>10s} {'input rows':>18s} {'ns/step':>8s} {'of peak':>8s}")
    for a_bytes, where in ((2048, "L1, 2 KB"), (600 * 1024, "L2, 600 KB")):
        for offset in (0, 4):
            macs = lib.r8_amx_tile_steps(1000, a_bytes, offset)
            if macs < 0:
                return
            seconds = cpu_seconds(lambda: lib.r8_amx_tile_steps(steps, a_bytes, offset), repeat=repeat, number=1)
            gops = 2 * steps * 4 * 16384 / seconds / 1e9
            rows = "aligned" if offset == 0 else f"{offset} bytes past a line"
            print(f"  {where:>10s} {rows:>18s} {seconds / steps * 1e9:8.1f} {100 * gops / peak:7.1f}%")
    amx_tile_block_table(lib, repeat, peak)


def amx_tile_block_table(lib, repeat: int, peak: float) -> None:
    """The AMX convolution's block (32 output channels x 32 positions) on the tile unit alone:
    its accumulators loaded, `steps` tile steps with the operands in L1 (K = 64 a step), with and
    without the stores of its accumulators. The tiles complete in order, so a block of few steps
    (ResNet-50's 1x1 layers of 64 input channels: one) pays its stores nearly in full: the tile
    unit's own limit on those layers, before any requantization."""
    blocks = 20_000
    print("\namx block on the tile unit (accumulators loaded, tile steps, stores), 1 thread")
    print(f"  {'steps (K)':>10s} {'stores':>7s} {'ns/block':>9s} {'of peak':>8s}")
    for steps in (1, 4, 9):
        for store in (0, 1):
            if lib.r8_amx_tile_blocks(10, steps, store) < 0:
                return
            seconds = cpu_seconds(lambda: lib.r8_amx_tile_blocks(blocks, steps, store), repeat=repeat, number=1)
            gops = 2 * blocks * steps * 4 * 16384 / seconds / 1e9
            label = f"{steps} ({64 * steps})"
            print(f"  {label:>10s} {'yes' if store else 'no':>7s} {seconds / blocks * 1e9:9.1f} {100 * gops / peak:7.1f}%")


def resnet_conv_nodes():
    """The distinct Int8Convolution nodes of quantized_resnet50() (lowered for the simd backend)."""
    from refint8.models.resnet import quantized_resnet50

    # unfused: each convolution is measured alone (fused, the residual adds hide the conv3 layers)
    compiled = refint8.compile(quantized_resnet50(), backend="simd", config={"threads": 1}, fusion=False)
    seen, nodes = set(), []
    for step in compiled._steps:
        node = step.node
        if node.type != "Int8Convolution":
            continue
        key = (node.inputs[0].type.shape, node.inputs[1].type.shape, node.attrs["strides"],
               str(node.inputs[0].dtype), str(node.output_types[0].dtype))
        count = sum(1 for s in compiled._steps if s.node.type == "Int8Convolution" and
                    (s.node.inputs[0].type.shape, s.node.inputs[1].type.shape, s.node.attrs["strides"],
                     str(s.node.inputs[0].dtype), str(s.node.output_types[0].dtype)) == key)
        if key not in seen:
            seen.add(key)
            nodes.append((node, count))
    return nodes


def real_products(node) -> int:
    """The layer's multiply-adds whose input is a real one, not padding: what a kernel has to
    compute (the channel-lane kernel leaves out taps that read only padding, so counting every
    tap's products would put a 3x3 layer on a 7x7 plane above the peak)."""
    n, _, h, w = node.inputs[0].type.shape
    oc, cg, kh, kw = node.inputs[1].type.shape
    _, _, oh, ow = node.output_types[0].shape
    (sy, sx), (dy, dx) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
    pt, pl = node.attrs["pads_begin"]

    def real(outputs, k, stride, dilation, pad, size):   # real taps of each output row (column)
        o = np.arange(outputs)[:, None] * stride + np.arange(k)[None, :] * dilation - pad
        return ((o >= 0) & (o < size)).sum(axis=1)

    taps = real(oh, kh, sy, dy, pt, h).sum() * real(ow, kw, sx, dx, pl, w).sum()
    return int(n * oc * cg * taps)


def layer_table(variants, repeat: int) -> None:
    registry = default_registry()
    nodes = resnet_conv_nodes()
    rng = np.random.default_rng(0)
    for variant in variants:
        backend = registry.create("simd", BackendOptions(isa=variant, threads=1))
        peak = peak_gops(backend.lib, variant)
        print(f"\n{variant}: peak {peak:.0f} GOPS ({PEAK_PATH[variant]}, register-only, 1 thread)")
        print("  (MMAC: the products with a real input, padding taps left out; GOPS from them)")
        print(f"  {'layer (count)':44s} {'MMAC':>7s} {'ms':>8s} {'GOPS':>7s} {'peak':>7s} {'of peak':>8s}")
        total_macs = total_time = total_ideal = 0.0
        for node, count in nodes:
            n, c, h, w = node.inputs[0].type.shape
            oc, _, kh, _ = node.inputs[1].type.shape
            macs = real_products(node)
            kernel = backend.kernel(node)
            dtype = node.inputs[0].dtype
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max + 1, size=(n, c, h, w)).astype(dtype)
            kernel.run([x])
            number = max(1, int(0.02 / max(macs / (peak * 0.5e9), 1e-6)))
            times, peaks, ratios = [], [], []
            for _ in range(repeat):   # each round: the peak, then the layer right after it
                peaks.append(peak_gops(backend.lib, variant, repeat=1, scale=0.5))
                times.append(cpu_seconds(lambda: kernel.run([x]), repeat=1, number=number))
                ratios.append(2 * macs / times[-1] / 1e9 / peaks[-1])
            seconds, local_peak = statistics.median(times), statistics.median(peaks)
            gops = 2 * macs / seconds / 1e9
            total_macs += macs * count
            total_time += seconds * count
            total_ideal += 2 * macs * count / (local_peak * 1e9)
            label = f"{c}x{h}x{w} -> {oc} k{kh} s{node.attrs['strides'][0]} ({count})"
            print(f"  {label:44s} {macs / 1e6:7.1f} {seconds * 1e3:8.3f} {gops:7.1f} {local_peak:7.0f} "
                  f"{statistics.median(ratios):8.1%}")
        gops = 2 * total_macs / total_time / 1e9
        print(f"  {'all ResNet-50 convolutions':44s} {total_macs / 1e6:7.0f} {total_time * 1e3:8.2f} "
              f"{gops:7.1f} {'':7s} {total_ideal / total_time:8.1%}")


def wall_seconds(function, number: int) -> float:
    """Wall-clock seconds per call over ``number`` calls."""
    start = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - start) / number


def scaling_table(variant: str, repeat: int) -> None:
    registry = default_registry()
    nodes = resnet_conv_nodes()
    rng = np.random.default_rng(0)
    backends = {t: registry.create("simd", BackendOptions(isa=variant, threads=t)) for t in (1, 2)}
    print(f"\n{variant}: 2 threads against 1 (wall clock, minimum of {repeat} rounds)")
    print(f"  {'layer (count)':44s} {'1T ms':>8s} {'2T ms':>8s} {'speedup':>8s}")
    totals = {1: 0.0, 2: 0.0}
    for node, count in nodes:
        n, c, h, w = node.inputs[0].type.shape
        oc, _, kh, _ = node.inputs[1].type.shape
        kernels = {t: b.kernel(node) for t, b in backends.items()}
        info = np.iinfo(node.inputs[0].dtype)
        x = rng.integers(info.min, info.max + 1, size=(n, c, h, w)).astype(node.inputs[0].dtype)
        for kernel in kernels.values():
            kernel.run([x])
        number = max(1, int(0.01 / wall_seconds(lambda: kernels[1].run([x]), 1)))
        best = {1: float("inf"), 2: float("inf")}
        for _ in range(repeat):
            for t, kernel in kernels.items():
                kernel.run([x])   # untimed: wakes the team's other thread, asleep since its last round
                best[t] = min(best[t], wall_seconds(lambda k=kernel: k.run([x]), number))
        for t in totals:
            totals[t] += best[t] * count
        label = f"{c}x{h}x{w} -> {oc} k{kh} s{node.attrs['strides'][0]} ({count})"
        print(f"  {label:44s} {best[1] * 1e3:8.3f} {best[2] * 1e3:8.3f} {best[1] / best[2]:7.2f}x")
    print(f"  {'all ResNet-50 convolutions':44s} {totals[1] * 1e3:8.2f} {totals[2] * 1e3:8.2f} "
          f"{totals[1] / totals[2]:7.2f}x")


E2E_RUNS = {   # label -> (model factory name, backend)
    "simd int8": ("quantized_resnet50", "simd"),
    "numpy fp32": ("resnet50", "numpy"),
    "numpy int8": ("quantized_resnet50", "numpy"),
}


def e2e_case(label: str, threads: int, repeat: int) -> dict:
    """One variant at one thread count: median wall and CPU seconds per inference over ``repeat``
    inferences after a warm-up, and the convolutions' execTypes (run in its own process)."""
    from refint8.models import resnet

    factory, backend = E2E_RUNS[label]
    x = np.random.default_rng(5).random((1, 3, 224, 224), dtype=np.float32)
    compiled = refint8.compile(getattr(resnet, factory)(), backend=backend, config={"threads": threads})
    compiled.infer({"input": x})
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        compiled.infer({"input": x})
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    impl = sorted({row.exec_type for row in compiled._rows
                   if row.layer_type == "Convolution" and row.status.name == "EXECUTED"})
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "impl": impl}


def end_to_end(repeat: int, rounds: int) -> None:
    """Every (variant, threads) case in a fresh process, all cases once per round, ``rounds`` rounds;
    the medians over rounds. Fresh processes because NumPy's OpenBLAS thread count is process-wide and
    its worker threads (and OpenMP's) spin after parallel work: in one process, a 1-thread run after
    a 2-thread one measured two busy CPUs, and a 2-thread simd run next to spinning OpenBLAS
    workers took twice its time. Rounds spread the drifts of a shared machine over every case."""
    import json
    import subprocess
    import sys

    registry = default_registry()
    labels = ["simd int8"] + (["numpy fp32", "numpy int8"] if "numpy" in registry.backends else [])
    cases = [(label, threads) for threads in (1, 2) for label in labels]
    samples: dict[tuple[str, int], list[dict]] = {case: [] for case in cases}
    for _ in range(rounds):
        for label, threads in cases:
            out = subprocess.run([sys.executable, __file__, "--e2e-case", label, str(threads), str(repeat)],
                                 check=True, capture_output=True, text=True).stdout
            samples[(label, threads)].append(json.loads(out.strip().splitlines()[-1]))
    print(f"\nend to end, quantized_resnet50() 1x3x224x224 (ms per inference: median of {rounds} rounds of "
          f"{repeat} in a fresh process each; CPU ms)")
    wall = {case: statistics.median(r["wall"] for r in samples[case]) for case in cases}
    for threads in (1, 2):
        for label in labels:
            runs = samples[(label, threads)]
            cpu = statistics.median(r["cpu"] for r in runs)
            spread = ", ".join(f"{r['wall'] * 1e3:.1f}" for r in runs)
            print(f"  {label:11s} {threads} thread(s): {wall[(label, threads)] * 1e3:8.1f} ms "
                  f"(cpu {cpu * 1e3:8.1f} ms; rounds {spread})  conv execType {runs[0]['impl']}")
        for other in labels[1:]:
            print(f"  simd int8 vs {other}, {threads} thread(s): "
                  f"{wall[(other, threads)] / wall[('simd int8', threads)]:.1f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", help="comma-separated ISA variants (default: all available)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-layers", action="store_true")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 2-thread per-layer table")
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="end-to-end rounds (a process per case each)")
    parser.add_argument("--e2e-case", nargs=3, metavar=("LABEL", "THREADS", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.e2e_case:
        import json

        label, threads, repeat = args.e2e_case
        print(json.dumps(e2e_case(label, int(threads), int(repeat))))
        return
    registry = default_registry()
    probe = registry.create("simd", BackendOptions(threads=1))
    ok, reason = probe.usable()
    if not ok:
        raise SystemExit(f"simd backend not usable: {reason}")
    available = [v for v in probe.capabilities().isa_variants if v != "any"]
    variants = args.variants.split(",") if args.variants else available
    print("simd variants available here:", ", ".join(available))
    if not args.no_layers:
        layer_table([v for v in variants if v in available], args.repeat)
        if "amx" in variants and "amx" in available:
            amx_tile_step_table(probe.lib, args.repeat)
    if not args.no_scaling and os.cpu_count() and os.cpu_count() >= 2:
        scaling_table([v for v in variants if v in available][-1], args.repeat)
    if not args.no_e2e:
        end_to_end(args.repeat, args.rounds)


if __name__ == "__main__":
    main()

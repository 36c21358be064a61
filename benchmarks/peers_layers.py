"""Where refint8 stands against ONNX Runtime, stage by stage, on the same int8 file (a benchmark,
not a test).

``peers.py`` times whole inferences; this script asks which layers make the difference. In one
process it alternates inferences of ONNX Runtime (its own profiler on: each node's kernel time)
and of refint8 on the simd backend (its per-layer counters) on the QDQ file of peers.py, batch 1,
one random input, and keeps each layer's minimum over the rounds (the least disturbed of them:
the machine's noise comes in bursts). Layers are matched by their ONNX node names (ORT appends
``_token_<n>`` to the nodes it fuses; refint8 keeps the names of the nodes its layers come from)
and summed per stage: the first two components of the name (``/blocks/blocks.13``,
``/features/features.4``), so that a convolution and the residual add that ORT runs apart and
refint8 fuses into it land on the same row. Rows are listed in the model's order with both sums
and the ratio refint8 / ORT; the last line gives both totals and the median wall time of each
engine's inferences (ORT's with its profiler on). With ``--layers`` every node gets its own row
instead (a convolution refint8 fuses with its residual add then carries the add, which ORT lists
on a row of its own).

    .venv/bin/python benchmarks/peers_layers.py [--model resnet50] [--threads 1] [--rounds 60]
                                                [--isa avx512_vnni] [--layers]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from agreement_resnet_mobilenet import DEFAULT_CACHE, IMAGE_SHAPE, MODELS, ensure_models

#: the suffix ORT gives the nodes it builds from fused ones
_ORT_TOKEN = re.compile(r"_token_\d+$")


def stage(node_name: str) -> str:
    """The row a layer is summed into: the first two components of its node name (``/blocks/
    blocks.3/conv1/Conv`` -> ``/blocks/blocks.3``), or the whole name where it has fewer."""
    parts = node_name.strip("/").split("/")
    return "/" + "/".join(parts[:2]) if len(parts) > 2 else node_name


def ort_kernel_minima(profile: Path) -> dict[str, float]:
    """Each node's least kernel time in microseconds from an ORT profile (its ``*_kernel_time``
    events), under the name of the ONNX node it came from."""
    minima: dict[str, float] = collections.defaultdict(lambda: float("inf"))
    for event in json.loads(profile.read_text()):
        name = event.get("name", "")
        if event.get("cat") == "Node" and name.endswith("_kernel_time"):
            node = _ORT_TOKEN.sub("", name[: -len("_kernel_time")])
            minima[node] = min(minima[node], float(event["dur"]))
    return dict(minima)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, default="resnet50")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--isa", default=None, help="the simd backend's ISA cap (default: the best)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--layers", action="store_true", help="a row per node, not per stage")
    args = parser.parse_args()

    import onnxruntime as ort

    import refint8

    _, qdq = ensure_models(args.cache, [args.model])[args.model]
    x = np.random.default_rng(1).uniform(-2, 2, IMAGE_SHAPE).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    options.log_severity_level = 3
    session = ort.InferenceSession(str(qdq), options, providers=["CPUExecutionProvider"])
    ort_feed = {session.get_inputs()[0].name: x}
    config = {"threads": args.threads, **({"isa": args.isa} if args.isa else {})}
    model = refint8.compile(refint8.read_model(qdq), backend="simd", config=config)
    feed = {next(iter(model.inputs)): x}
    for _ in range(5):
        session.run(None, ort_feed)
        model.infer(feed)

    row_of = (lambda name: name) if args.layers else stage
    ours: dict[str, float] = collections.defaultdict(lambda: float("inf"))
    order: dict[str, int] = {}
    walls: dict[str, list[float]] = {"ORT": [], "refint8": []}
    for _ in range(args.rounds):
        start = time.perf_counter()
        session.run(None, ort_feed)
        walls["ORT"].append(time.perf_counter() - start)
        model.reset_perf_counts()
        start = time.perf_counter()
        model.infer(feed)
        walls["refint8"].append(time.perf_counter() - start)
        for row in model.perf_counts():
            ours[row.name] = min(ours[row.name], row.real_time_us)
            order.setdefault(row_of(row.name), len(order))
    theirs = ort_kernel_minima(Path(session.end_profiling()))

    rows: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for name, us in theirs.items():
        rows[row_of(name)][0] += us
    for name, us in ours.items():
        rows[row_of(name)][1] += us
    print(f"{args.model}, {args.threads} thread(s), {args.rounds} alternating rounds; each layer's "
          f"minimum{'' if args.layers else ', summed per stage'} (us)")
    print(f"  {'layer' if args.layers else 'stage':36s} {'ORT':>8s} {'refint8':>8s} {'refint8/ORT':>11s}")
    for name in sorted(rows, key=lambda r: order.get(r, len(order))):
        o, r = rows[name]
        if o + r >= 1.0:
            ratio = f"{r / o:11.2f}" if o > 0 and r > 0 else f"{'-':>11s}"
            print(f"  {name:36s} {o:8.0f} {r:8.0f} {ratio}")
    total_o, total_r = (sum(v[i] for v in rows.values()) for i in (0, 1))
    print(f"  {'all':36s} {total_o:8.0f} {total_r:8.0f} {total_r / total_o:11.2f}")
    print(f"median wall time: ORT {statistics.median(walls['ORT']) * 1e3:.2f} ms (profiler on), "
          f"refint8 {statistics.median(walls['refint8']) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()

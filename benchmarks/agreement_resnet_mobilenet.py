"""ResNet-50 and MobileNetV2, quantized by ONNX Runtime: refint8 against ONNX Runtime and OpenVINO.

The models (random seeded weights) are built in PyTorch, exported to ONNX and quantized with
``onnxruntime.quantization.quantize_static``; the same QDQ file then runs in

* refint8, ``refint8.read_model`` then ``refint8.compile`` on every installed backend;
* ONNX Runtime, literally (``ORT_DISABLE_ALL``: every Q/DQ as written, fp32 layers between them)
  and with its default optimizations (``ORT_ENABLE_ALL``: QLinear int8 kernels);
* OpenVINO, ``ov.Core().read_model`` of the same ONNX file (its frontend turns Q/DQ into
  FakeQuantize and LPT runs the layers in int8), CPU with ``INFERENCE_PRECISION_HINT=f32``;
* and, for scale, ONNX Runtime on the fp32 model before quantization;
* refint8's model of OpenVINO: the QDQ file with OpenVINO's residual-pattern rounding drop
  written into it (the Q/DQ pairs OpenVINO's runtime model shows it fused that way become
  ``Clip``: ``openvino_dropped_roundings``, ``model_openvino_rounding_drop``), run by the
  highest-priority backend and compared with OpenVINO only.

On the same 8 random inputs it prints, per pair of engines: top-1 agreement (how many of the 8
inputs get the same arg-max class), the output difference in quantization steps of the model's
output (the scale of the DequantizeLinear that produces it: max, mean, share of values exactly
equal) and the cosine similarity of the outputs.

The models (``--cache``, default ``.cache/models/`` at the repository root, not in git):

* ResNet-50 v1.5 (torchvision's layout: stride 2 in the 3x3 convolution of a bottleneck) and
  MobileNetV2 (width 1.0), defined below in ``torch.nn``, input ``[1, 3, 224, 224]``, 1000
  classes. Weights: torchvision's initialisation (He-normal fan-out convolutions, normal(0, 0.01)
  classifier) from ``torch.manual_seed(0)``; batch-norm scales and shifts random, their running
  statistics estimated on 8 random batches (so every layer's activations have a realistic range).
* exported with ``torch.onnx.export`` (opset 17; batch norm folded into the convolutions);
* quantized with ``quantize_static``: QDQ format, per-channel int8 weights, uint8 activations,
  MinMax calibration on 8 random standard-normal images (seed 1); the 8 test inputs use seed 2.

PyTorch is needed only to build the models, once: ``.venv/bin/pip install torch==2.13.0`` (the
CPU wheel; it is not a dependency of refint8). ``--model`` picks one, ``--backends`` a subset of
the installed backends (the reference backend takes about 4 s per ResNet-50 inference).

    .venv/bin/python benchmarks/agreement_resnet_mobilenet.py [--model resnet50|mobilenetv2]

The functions ``quantize``, ``Engines`` and ``compare`` work on any QDQ ONNX file with one input
and one output; spec_tests/io/test_agreement_script.py runs them on a tiny model in CI.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".cache" / "models"
IMAGE_SHAPE = (1, 3, 224, 224)
MODELS = ("resnet50", "mobilenetv2")


# -- the models, in PyTorch -------------------------------------------------------------------


def torch_model(name: str):
    """ResNet-50 v1.5 or MobileNetV2 in ``torch.nn``, random seeded weights, eval mode."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    class Bottleneck(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)   # v1.5: stride here
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or inplanes != planes * 4:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                                nn.BatchNorm2d(planes * 4))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet50(nn.Module):
        def __init__(self, classes: int = 1000) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
            blocks, inplanes = [], 64
            for planes, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for index in range(count):
                    blocks.append(Bottleneck(inplanes, planes, stride if index == 0 else 1))
                    inplanes = planes * 4
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))

    def conv_bn_relu6(inp: int, out: int, kernel: int, stride: int = 1, groups: int = 1):
        return nn.Sequential(nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups, bias=False),
                             nn.BatchNorm2d(out), nn.ReLU6())

    class InvertedResidual(nn.Module):
        def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = inp * expand
            layers = [conv_bn_relu6(inp, hidden, 1)] if expand != 1 else []
            layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                       nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and inp == out

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileNetV2(nn.Module):
        def __init__(self, classes: int = 1000) -> None:
            super().__init__()
            layers, inp = [conv_bn_relu6(3, 32, 3, 2)], 32
            for expand, out, count, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
                for index in range(count):
                    layers.append(InvertedResidual(inp, out, stride if index == 0 else 1, expand))
                    inp = out
            layers.append(conv_bn_relu6(320, 1280, 1))
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(1280, classes)

        def forward(self, x):
            return self.classifier(torch.flatten(self.pool(self.features(x)), 1))

    torch.manual_seed(0)
    model = {"resnet50": ResNet50, "mobilenetv2": MobileNetV2}[name]()
    for module in model.modules():       # torchvision's initialisation, plus random batch-norm affine
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0.0, 0.2)
            module.momentum = None       # running statistics: the plain average over the batches
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.randn(4, *IMAGE_SHAPE[1:]))
    return model.eval()


def export_onnx(name: str, path: Path) -> Path:
    """``torch.onnx.export`` (TorchScript exporter, opset 17), input ``input``, output ``logits``."""
    import torch  # noqa: PLC0415

    model = torch_model(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(IMAGE_SHAPE),), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"])
    return path


# -- quantization -------------------------------------------------------------------------------


def quantize(fp32_path: Path, qdq_path: Path, input_name: str, input_shape: Sequence[int],
             samples: int = 8, seed: int = 1) -> Path:
    """``quantize_static``: QDQ, per-channel int8 weights, uint8 activations, MinMax calibration on
    ``samples`` standard-normal inputs drawn with ``seed``."""
    from onnxruntime import quantization as q  # noqa: PLC0415

    rng = np.random.default_rng(seed)

    class Calibration(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{input_name: rng.standard_normal(input_shape).astype(np.float32)}
                                 for _ in range(samples)])

        def get_next(self):
            return next(self.batches, None)

    q.quantize_static(str(fp32_path), str(qdq_path), Calibration(), quant_format=q.QuantFormat.QDQ,
                      per_channel=True, activation_type=q.QuantType.QUInt8,
                      weight_type=q.QuantType.QInt8, calibrate_method=q.CalibrationMethod.MinMax)
    return qdq_path


def ensure_models(cache: Path = DEFAULT_CACHE, names: Sequence[str] = MODELS) -> dict[str, tuple[Path, Path]]:
    """``{name: (fp32.onnx, qdq.onnx)}``, built (needs torch) only if not in ``cache`` yet."""
    paths = {}
    for name in names:
        fp32, qdq = cache / f"{name}_fp32.onnx", cache / f"{name}_qdq.onnx"
        if not qdq.exists():
            start = time.perf_counter()
            if not fp32.exists():
                try:
                    export_onnx(name, fp32)
                except ImportError:
                    sys.exit(f"{name}: building the model needs PyTorch: .venv/bin/pip install torch==2.13.0")
            quantize(fp32, qdq, "input", IMAGE_SHAPE)
            print(f"built {qdq} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        paths[name] = (fp32, qdq)
    return paths


def openvino_dropped_roundings(compiled, qdq_path: Path) -> set[str]:
    """The QuantizeLinear nodes of ``qdq_path`` whose rounding OpenVINO's CPU plugin drops.

    OpenVINO's CPU plugin skips the rounding of a FakeQuantize that is the first post-op fused
    into a convolution when a fused residual Add (a "sum" post-op) and another FakeQuantize follow
    it (refint8.lpt.fuse_post_ops; the plugin's post-op composer: "drop rounding one special
    residual pattern"). The fusions are read from ``compiled``'s runtime model: a Convolution
    node's ``originalLayersNames`` lists the fused layers in order, under their ONNX node names
    (a Q/DQ pair becomes a FakeQuantize named after the QuantizeLinear).
    """
    import onnx  # noqa: PLC0415

    op_type: dict[str, str] = {}
    for node in onnx.load(str(qdq_path), load_external_data=False).graph.node:
        # OpenVINO names a layer after its ONNX node, or after its first output if it has no name
        op_type.setdefault(node.name or node.output[0], node.op_type)
    dropped = set()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) != "Convolution":
            continue
        names = info["originalLayersNames"].astype(str).split(",")
        fused = [(name, op_type[name]) for name in names if name in op_type]
        kinds = [kind for _, kind in fused]
        if "Conv" not in kinds:
            continue
        after = fused[kinds.index("Conv") + 1:]
        kinds = [kind for _, kind in after]
        if kinds and kinds[0] == "QuantizeLinear" and "Add" in kinds \
                and "QuantizeLinear" in kinds[kinds.index("Add"):]:
            dropped.add(after[0][0])
    return dropped


def model_openvino_rounding_drop(qdq_path: Path, out_path: Path, quantize_names: set[str]) -> int:
    """Write a copy of a QDQ file in which each named QuantizeLinear/DequantizeLinear pair is a
    ``Clip`` to the same range, ``[(qmin - z) * s, (qmax - z) * s]``: the clamp without rounding
    that OpenVINO computes there (see ``openvino_dropped_roundings``). refint8 running the copy is
    refint8's model of what OpenVINO computes. Returns how many pairs were replaced."""
    import onnx  # noqa: PLC0415
    from onnx import helper, numpy_helper  # noqa: PLC0415

    model = onnx.load(str(qdq_path))
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced = 0
    for q in [n for n in model.graph.node
              if n.op_type == "QuantizeLinear" and (n.name or n.output[0]) in quantize_names]:
        dqs = [n for n in consumers.get(q.output[0], []) if n.op_type == "DequantizeLinear"]
        if len(dqs) != 1 or len(q.input) < 3 or q.input[1] not in initializers or q.input[2] not in initializers:
            continue
        dq = dqs[0]
        scale = np.float32(initializers[q.input[1]])
        zero = initializers[q.input[2]]
        info = np.iinfo(zero.dtype)
        low = (np.float32(info.min) - np.float32(zero)) * scale
        high = (np.float32(info.max) - np.float32(zero)) * scale
        names = (f"{dq.output[0]}/clip_low", f"{dq.output[0]}/clip_high")
        model.graph.initializer.extend([numpy_helper.from_array(np.asarray(low, np.float32), names[0]),
                                        numpy_helper.from_array(np.asarray(high, np.float32), names[1])])
        clip = helper.make_node("Clip", [q.input[0], *names], [dq.output[0]], name=f"{dq.name}/clip")
        position = list(model.graph.node).index(dq)
        model.graph.node.remove(dq)
        model.graph.node.insert(position, clip)
        replaced += 1
    onnx.save(model, str(out_path))
    return replaced


# -- engines and comparison ---------------------------------------------------------------------


def output_step(qdq_path: Path, output: str) -> float | None:
    """The scale of the per-tensor DequantizeLinear producing ``output`` (None if there is none)."""
    import onnx  # noqa: PLC0415
    from onnx import numpy_helper  # noqa: PLC0415

    model = onnx.load(str(qdq_path), load_external_data=False)
    initializers = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] == output and node.input[1] in initializers:
            scale = numpy_helper.to_array(initializers[node.input[1]])
            if scale.size == 1:
                return float(scale)
    return None


@dataclass
class Engine:
    name: str
    run: Callable[[np.ndarray], np.ndarray]   # input -> output (float32)
    quantized: bool = True
    only_vs: str | None = None                # compare with this engine only (a model of it)


class Engines:
    """The engines that run one QDQ file (and the fp32 one, if given): name -> run(x)."""

    def __init__(self, qdq_path: Path, fp32_path: Path | None = None,
                 backends: Sequence[str] | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort  # noqa: PLC0415

        import refint8  # noqa: PLC0415
        from refint8.registry import default_registry  # noqa: PLC0415

        ort.set_default_logger_severity(3)   # not the "unused initializer" warnings of every load
        self.qdq_path = Path(qdq_path)
        session = self._ort(ort, qdq_path, False, threads)
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.step = output_step(self.qdq_path, self.output_name)
        self.skipped: list[str] = []
        self.engines: list[Engine] = []
        registry = default_registry()
        model = refint8.read_model(qdq_path)
        config = {"threads": threads} if threads else None
        for backend in backends if backends is not None else registry.names():
            usable, reason = registry.usable(backend)
            if not usable:
                self.skipped.append(f"refint8 {backend}: {reason}")
                continue
            try:
                compiled = refint8.compile(model, backend=backend, config=config)
            except Exception as exc:  # a broken backend build is recorded, not fatal
                self.skipped.append(f"refint8 {backend}: {type(exc).__name__}: {exc}")
                continue
            self.engines.append(Engine(f"refint8 {backend}", self._refint8_runner(compiled)))
        for label, optimize in (("ORT literal QDQ", False), ("ORT optimized", True)):
            self.engines.append(Engine(label, self._ort_runner(self._ort(ort, qdq_path, optimize, threads))))
        openvino = self._openvino(qdq_path, threads)
        self.engines.append(Engine("OpenVINO", self._openvino_runner(openvino)))
        #: QuantizeLinear names whose rounding OpenVINO drops (the residual pattern)
        self.dropped_roundings = openvino_dropped_roundings(openvino, self.qdq_path)
        ours = [e for e in self.engines if e.name.startswith("refint8 ")]
        if ours and self.dropped_roundings:   # the highest-priority backend runs the model of it
            best = max(ours, key=lambda e: registry.info(e.name.split()[1]).spec.priority).name.split()[1]
            modelled = self.qdq_path.with_name(self.qdq_path.stem + "_openvino_rounding_drop.onnx")
            model_openvino_rounding_drop(self.qdq_path, modelled, self.dropped_roundings)
            compiled = refint8.compile(refint8.read_model(modelled), backend=best, config=config)
            self.engines.append(Engine(f"refint8 {best} + OpenVINO's rounding drop",
                                       self._refint8_runner(compiled), only_vs="OpenVINO"))
        if fp32_path is not None:
            self.engines.append(Engine("fp32 (ORT)", self._ort_runner(self._ort(ort, fp32_path, True, threads)),
                                       quantized=False))

    @staticmethod
    def _ort(ort, path, optimize: bool, threads: int | None):
        options = ort.SessionOptions()
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        if threads:
            options.intra_op_num_threads = threads
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _refint8_runner(self, compiled):
        return lambda x: compiled.infer({self.input_name: x})[self.output_name]

    def _ort_runner(self, session):
        return lambda x: session.run(None, {self.input_name: x})[0]

    @staticmethod
    def _openvino(path, threads: int | None):
        import openvino as ov  # noqa: PLC0415

        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        return core.compile_model(core.read_model(str(path)), "CPU", config)

    @staticmethod
    def _openvino_runner(compiled):
        request = compiled.create_infer_request()
        return lambda x: np.array(request.infer({0: x})[compiled.output(0)])


@dataclass
class Agreement:
    a: str
    b: str
    top1: int            # inputs whose arg-max class agrees
    inputs: int
    max_steps: float     # |a - b| / step: max and mean over all values
    mean_steps: float
    equal: float         # share of values within half a step (the same quantized value)
    cosine: float

    def row(self) -> list[str]:
        return [f"{self.a} vs {self.b}", f"{self.top1}/{self.inputs}", f"{self.max_steps:.0f}",
                f"{self.mean_steps:.2f}", f"{self.equal:.1%}", f"{self.cosine:.4f}"]


def agreement(a: str, b: str, out_a: np.ndarray, out_b: np.ndarray, step: float) -> Agreement:
    a64, b64 = out_a.astype(np.float64), out_b.astype(np.float64)
    d = np.abs(a64 - b64).reshape(len(a64), -1) / step
    flat_a, flat_b = a64.reshape(len(a64), -1), b64.reshape(len(b64), -1)
    top1 = int((flat_a.argmax(1) == flat_b.argmax(1)).sum())
    cosine = float((flat_a * flat_b).sum() / np.sqrt((flat_a ** 2).sum() * (flat_b ** 2).sum()))
    return Agreement(a, b, top1, len(a64), float(np.rint(d).max()), float(d.mean()),
                     float((np.rint(d) == 0).mean()), cosine)


def compare(engines: Engines, inputs: Sequence[np.ndarray], *,
            slow: dict[str, int] | None = None) -> tuple[dict[str, np.ndarray], list[Agreement]]:
    """Run every engine on ``inputs``; the agreement of each refint8 backend with every peer and
    with the fp32 model, and of the peers with each other.

    ``slow`` limits an engine to its first N inputs (e.g. the reference backend on ResNet-50); its
    comparisons use those inputs only. Returns the outputs (``[inputs, ...]``) and the rows.
    """
    slow = slow or {}
    outputs: dict[str, np.ndarray] = {}
    for engine in engines.engines:
        count = min(len(inputs), slow.get(engine.name, len(inputs)))
        outputs[engine.name] = np.stack([np.asarray(engine.run(x), np.float32) for x in inputs[:count]])
    step = engines.step if engines.step is not None else 1.0
    names = [e.name for e in engines.engines]
    ours = [e.name for e in engines.engines if e.name.startswith("refint8") and e.only_vs is None]
    peers = [e.name for e in engines.engines if not e.name.startswith("refint8") and e.quantized]
    fp32 = [e.name for e in engines.engines if not e.quantized]
    pairs = [(a, b) for a in ours for b in peers + fp32]
    pairs += [(a, ours[0]) for a in ours[1:]]
    pairs += [(peers[i], peers[j]) for i in range(len(peers)) for j in range(i + 1, len(peers))]
    pairs += [(p, f) for p in peers for f in fp32]
    pairs += [(e.name, e.only_vs) for e in engines.engines if e.only_vs in outputs]
    rows = []
    for a, b in pairs:
        count = min(len(outputs[a]), len(outputs[b]))
        rows.append(agreement(a, b, outputs[a][:count], outputs[b][:count], step))
    return outputs, rows


def format_table(rows: Sequence[Agreement], title: str = "") -> str:
    header = ["pair", "top-1", "max steps", "mean steps", "equal", "cosine"]
    table = [header] + [r.row() for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [f"| {' | '.join(c.ljust(w) for c, w in zip(r, widths))} |" for r in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return (f"{title}\n" if title else "") + "\n".join(lines)


def random_inputs(shape: Sequence[int], count: int = 8, seed: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, action="append", help="default: both")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the ONNX files live")
    parser.add_argument("--backends", help="comma-separated refint8 backends (default: all installed)")
    parser.add_argument("--inputs", type=int, default=8, help="random inputs (default 8)")
    parser.add_argument("--reference-inputs", type=int, default=None,
                        help="inputs for the slow reference backend (default: all)")
    args = parser.parse_args(argv)
    backends = args.backends.split(",") if args.backends else None
    for name, (fp32, qdq) in ensure_models(args.cache, args.model or MODELS).items():
        start = time.perf_counter()
        engines = Engines(qdq, fp32, backends)
        slow = {"refint8 reference": args.reference_inputs} if args.reference_inputs else None
        outputs, rows = compare(engines, random_inputs(IMAGE_SHAPE, args.inputs), slow=slow)
        step = f"{engines.step:.5g}" if engines.step else "none (absolute)"
        print(format_table(rows, f"\n{name}: {args.inputs} inputs, output step {step} "
                                 f"({time.perf_counter() - start:.0f} s)"))
        if "fp32 (ORT)" in outputs and engines.step:
            top2 = np.sort(outputs["fp32 (ORT)"].reshape(args.inputs, -1), axis=1)[:, -2:]
            margins = (top2[:, 1] - top2[:, 0]) / engines.step
            print(f"margin between the two largest fp32 logits, in output steps: median "
                  f"{np.median(margins):.1f}, min {margins.min():.1f} (random weights: top-1 is "
                  "fragile where the margin is a few steps)")
        for note in engines.skipped:
            print(f"skipped: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""benchmarks/agreement_resnet_mobilenet.py's comparison, on a tiny torch-free model (CI runs it).

The script compares refint8 (every backend), ONNX Runtime (literal Q/DQ and optimized) and
OpenVINO (reading the same QDQ ONNX file) on ResNet-50 and MobileNetV2, which need PyTorch to
build. Here the same functions (``quantize``, ``Engines``, ``compare``, ``format_table``) run on a
small classifier built with ``onnx.helper`` (Conv, Relu, a residual Add, MaxPool,
GlobalAveragePool, Gemm; input ``[1, 3, 16, 16]``, 10 classes) quantized the same way.

Measured on the 8 inputs: every refint8 backend equals the others exactly, and equals ONNX
Runtime (literal and optimized) and OpenVINO on all 80 output values (8/8 top-1, 0 steps); all of
them differ from the fp32 model by up to 3 steps. Asserted: backends identical; against each peer
8/8 top-1 and at most 1 step apart (a near-tie flip is allowed). About 1 s.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is a test dependency")
pytest.importorskip("onnxruntime.quantization", reason="onnxruntime is a test dependency")
pytest.importorskip("openvino", reason="openvino is a test dependency")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "agreement_resnet_mobilenet.py"
SHAPE = (1, 3, 16, 16)


def load_script():
    spec = importlib.util.spec_from_file_location("agreement_resnet_mobilenet", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def tiny_classifier(path: Path) -> Path:
    rng = np.random.default_rng(5)

    def init(name, *shape, std=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return nh.from_array(rng.normal(0, std or (2.0 / fan_in) ** 0.5, shape).astype(np.float32), name)

    inits = [init("W1", 16, 3, 3, 3), init("B1", 16, std=0.1), init("W2", 16, 16, 3, 3),
             init("B2", 16, std=0.1), init("F", 10, 16, std=0.3), init("FB", 10, std=0.1)]
    nodes = [
        oh.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1] * 4, strides=[2, 2]),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("Conv", ["r1", "W2", "B2"], ["c2"], pads=[1] * 4),
        oh.make_node("Add", ["c2", "r1"], ["a"]),
        oh.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        oh.make_node("GlobalAveragePool", ["p"], ["g"]),
        oh.make_node("Flatten", ["g"], ["f"]),
        oh.make_node("Gemm", ["f", "F", "FB"], ["logits"], transB=1),
    ]
    graph = oh.make_graph(nodes, "tiny", [oh.make_tensor_value_info("x", T.FLOAT, list(SHAPE))],
                          [oh.make_tensor_value_info("logits", T.FLOAT, None)], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_the_comparison_of_the_script_on_a_tiny_model(tmp_path):
    script = load_script()
    fp32 = tiny_classifier(tmp_path / "tiny_fp32.onnx")
    qdq = script.quantize(fp32, tmp_path / "tiny_qdq.onnx", "x", SHAPE)
    engines = script.Engines(qdq, fp32)
    assert engines.step is not None and engines.step > 0        # the output is a DequantizeLinear's
    names = [e.name for e in engines.engines]
    assert {"ORT literal QDQ", "ORT optimized", "OpenVINO", "fp32 (ORT)"} <= set(names)
    ours = [n for n in names if n.startswith("refint8 ")]
    assert ours, f"no refint8 backend ran: {engines.skipped}"
    for note in engines.skipped:
        print(f"skipped: {note}")
    outputs, rows = script.compare(engines, script.random_inputs(SHAPE, 8))
    assert all(out.shape == (8, 1, 10) for out in outputs.values())
    table = script.format_table(rows, "tiny")
    print(table)
    assert "| pair" in table and "top-1" in table
    by_pair = {(r.a, r.b): r for r in rows}
    for name in ours[1:]:
        r = by_pair[(name, ours[0])]
        assert r.max_steps == 0 and r.top1 == 8, r
    for name in ours:
        for peer in ("ORT literal QDQ", "ORT optimized", "OpenVINO"):
            r = by_pair[(name, peer)]
            assert r.top1 == 8 and r.max_steps <= 1 and r.inputs == 8, r
        assert (name, "fp32 (ORT)") in by_pair
    assert ("ORT literal QDQ", "OpenVINO") in by_pair

"""benchmarks/agreement_resnet_mobilenet.py's comparison, on a tiny torch-free model (CI runs it).

The script compares refint8 (every backend), ONNX Runtime (literal Q/DQ and optimized) and
OpenVINO (reading the same QDQ ONNX file) on ResNet-50 and MobileNetV2, which need PyTorch to
build. Here the same functions (``quantize``, ``Engines``, ``compare``, ``format_table``,
``openvino_dropped_roundings``, ``model_openvino_rounding_drop``) run on a small classifier built
with ``onnx.helper`` (Conv, Relu, a ResNet-style residual block, GlobalAveragePool, Gemm; input
``[1, 3, 16, 16]``, 10 classes) quantized the same way.

Measured on the 8 inputs (80 output values): every refint8 backend equals the others, ONNX
Runtime literal and ONNX Runtime optimized exactly (8/8 top-1, 0 steps). OpenVINO fuses the
residual Add into the block's last convolution and drops the rounding of that convolution's Q/DQ
pair: 30% of the values differ, by up to 2 steps (8/8 top-1); refint8 running the file with that
pair replaced by a Clip (the model of the drop) equals OpenVINO exactly. Asserted: backends
identical; against ONNX Runtime 8/8 top-1, <= 1 step, >= 95% equal; against OpenVINO 1 to 3
steps and < 95% equal; the model of the drop against OpenVINO <= 1 step, >= 95% equal. About 1 s.
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
    """Conv -> Relu -> [Conv -> Relu -> Conv, + the block input] -> Conv -> GlobalAveragePool -> Gemm.

    The residual block has the shape OpenVINO fuses into one convolution with the rounding drop.
    """
    rng = np.random.default_rng(5)

    def init(name, *shape, std=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return nh.from_array(rng.normal(0, std or (2.0 / fan_in) ** 0.5, shape).astype(np.float32), name)

    c = 16
    inits = [init("W0", c, 3, 3, 3), init("B0", c, std=0.1), init("W1", c, c, 3, 3), init("B1", c, std=0.1),
             init("W2", c, c, 1, 1), init("B2", c, std=0.1), init("W3", c, c, 1, 1), init("B3", c, std=0.1),
             init("F", 10, c, std=0.3), init("FB", 10, std=0.1)]
    nodes = [
        oh.make_node("Conv", ["x", "W0", "B0"], ["c0"], pads=[1] * 4, strides=[2, 2]),
        oh.make_node("Relu", ["c0"], ["r0"]),
        oh.make_node("Conv", ["r0", "W1", "B1"], ["c1"], pads=[1] * 4),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("Conv", ["r1", "W2", "B2"], ["c2"]),
        oh.make_node("Add", ["c2", "r0"], ["a"]),
        oh.make_node("Conv", ["a", "W3", "B3"], ["c3"]),
        oh.make_node("GlobalAveragePool", ["c3"], ["g"]),
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
    ours = [e.name for e in engines.engines if e.name.startswith("refint8 ") and e.only_vs is None]
    # OpenVINO fuses the residual Add into the conv "c2" and drops the rounding of its Q/DQ pair
    assert engines.dropped_roundings == {"c2_QuantizeLinear"}
    modelled = [e.name for e in engines.engines if e.only_vs == "OpenVINO"]
    assert len(modelled) == 1
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
        for peer in ("ORT literal QDQ", "ORT optimized"):
            r = by_pair[(name, peer)]
            assert r.top1 == 8 and r.max_steps <= 1 and r.equal >= 0.95 and r.inputs == 8, r
        r = by_pair[(name, "OpenVINO")]             # OpenVINO departs: the rounding drop
        assert r.top1 == 8 and 1 <= r.max_steps <= 3 and r.equal < 0.95, r
        assert (name, "fp32 (ORT)") in by_pair
    assert ("ORT literal QDQ", "OpenVINO") in by_pair
    r = by_pair[(modelled[0], "OpenVINO")]          # ... which the model reproduces
    assert r.top1 == 8 and r.max_steps <= 1 and r.equal >= 0.95, r

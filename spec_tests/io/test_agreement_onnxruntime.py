"""Agreement with ONNX Runtime on small models quantized by ONNX Runtime's own quantizer.

Each fp32 model is built with ``onnx.helper`` and quantized with
``onnxruntime.quantization.quantize_static`` the usual way: QDQ format, per-channel int8 weights,
uint8 activations, MinMax calibration on 8 random samples (a ``CalibrationDataReader``). The QDQ
file is then run

* by ONNX Runtime literally: ``SessionOptions.graph_optimization_level = ORT_DISABLE_ALL``, so
  every QuantizeLinear/DequantizeLinear runs as written and the layers in between in fp32 (the
  definition of the QDQ graph);
* by refint8 (``refint8.read_model``: each Q/DQ pair is one FakeQuantize, integer weights a
  FakeQuantize on their dequantized values) on every installed backend, with LPT, so the
  quantized layers run in int8.

Every output is the output of a DequantizeLinear, so values lie on a grid and differences are
counted in its quantization steps, over 8 random inputs.

Measured (onnxruntime 1.32.0; the same on every backend), on the test's 8 inputs:
conv_relu_maxpool 0 of 8,192 values differ, residual_add 1 of 9,216 (0.011%), concat 0 of
18,432, gemm 6 of 2,048 (0.29%, all in one input); over 200 inputs the rates are 0.017%, 0.035%,
0.024% and 0.031%, always by 1 step. Asserted: at most 0.5% of values differ, by at most 1 step.
The differences are near-ties: ONNX Runtime's literal graph accumulates the convolutions and the
Gemm in float32 on dequantized values, and rounds with ``round(x / s) + z``, where refint8
accumulates integers exactly and rounds with FakeQuantize's ``(x - il) / (ih - il) * 255``; a
value within float32 error of a rounding midpoint may go either way, and a flipped activation
code moves every output of the next layer slightly (the 6 gemm values come from one flipped
activation code, each within 0.01 step of a midpoint). ONNX Runtime's optimized graph
(ORT_ENABLE_ALL: QLinear kernels) differs from its own literal run at about the same rates
(0.001% to 0.007% over 200 inputs); it is printed for information.
The file takes about 5 s.
"""

from __future__ import annotations

import numpy as np
import pytest

import refint8

onnx = pytest.importorskip("onnx", reason="onnx is a test dependency; install with the test extras")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency")
quantization = pytest.importorskip("onnxruntime.quantization")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

SAMPLES = 8


class Weights:
    """Seeded random initializers (He-normal weights, small biases)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.initializers = []

    def __call__(self, name: str, *shape: int, std: float | None = None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        value = self.rng.normal(0, std or (2.0 / fan_in) ** 0.5, shape).astype(np.float32)
        self.initializers.append(nh.from_array(value, name))
        return name


def save(path, nodes, input_shape, output, initializers):
    graph = oh.make_graph(nodes, path.stem, [oh.make_tensor_value_info("x", T.FLOAT, input_shape)],
                          [oh.make_tensor_value_info(output, T.FLOAT, None)], initializers)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def conv_relu_maxpool(w: Weights):
    return [
        oh.make_node("Conv", ["x", w("W1", 16, 8, 3, 3), w("B1", 16, std=0.1)], ["c1"], pads=[1] * 4),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        oh.make_node("Conv", ["p1", w("W2", 16, 16, 3, 3), w("B2", 16, std=0.1)], ["y"], pads=[1] * 4),
    ], [1, 8, 16, 16]


def residual_add(w: Weights):
    return [
        oh.make_node("Conv", ["x", w("W1", 16, 8, 3, 3), w("B1", 16, std=0.1)], ["c1"], pads=[1] * 4),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("Conv", ["r1", w("W2", 16, 16, 3, 3), w("B2", 16, std=0.1)], ["c2"], pads=[1] * 4),
        oh.make_node("Add", ["c2", "r1"], ["a"]),
        oh.make_node("Relu", ["a"], ["r2"]),
        oh.make_node("Conv", ["r2", w("W3", 8, 16, 1, 1), w("B3", 8, std=0.1)], ["y"]),
    ], [1, 8, 12, 12]


def concat(w: Weights):
    return [
        oh.make_node("Conv", ["x", w("W1", 8, 8, 3, 3), w("B1", 8, std=0.1)], ["c1"], pads=[1] * 4),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("Conv", ["x", w("W2", 8, 8, 1, 1), w("B2", 8, std=0.1)], ["c2"]),
        oh.make_node("Concat", ["r1", "c2"], ["cat"], axis=1),
        oh.make_node("Conv", ["cat", w("W3", 16, 16, 3, 3), w("B3", 16, std=0.1)], ["y"], pads=[1] * 4),
    ], [1, 8, 12, 12]


def gemm(w: Weights):
    return [
        oh.make_node("Conv", ["x", w("W1", 16, 8, 3, 3), w("B1", 16, std=0.1)], ["c1"], pads=[1] * 4,
                     strides=[2, 2]),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("Flatten", ["r1"], ["f"]),
        oh.make_node("Gemm", ["f", w("F", 256, 16 * 8 * 8), w("FB", 256, std=0.1)], ["y"], transB=1),
    ], [1, 8, 16, 16]


#: name -> (graph builder, the layer types refint8 must run in I8)
MODELS = {
    "conv_relu_maxpool": (conv_relu_maxpool, {"Convolution", "MaxPool"}),
    "residual_add": (residual_add, {"Convolution", "Eltwise"}),
    "concat": (concat, {"Convolution"}),
    "gemm": (gemm, {"Convolution", "FullyConnected"}),
}


def quantize(fp32_path, qdq_path, input_shape, seed: int = 0):
    """``quantize_static`` as its documentation shows it: QDQ, per-channel, u8 activations."""
    rng = np.random.default_rng(seed)

    class Calibration(quantization.CalibrationDataReader):
        def __init__(self):
            self.samples = iter([{"x": rng.standard_normal(input_shape).astype(np.float32)}
                                 for _ in range(8)])

        def get_next(self):
            return next(self.samples, None)

    quantization.quantize_static(str(fp32_path), str(qdq_path), Calibration(),
                                 quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                                 activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8,
                                 calibrate_method=quantization.CalibrationMethod.MinMax)
    return qdq_path


def output_step(path, output: str) -> float:
    """The scale of the DequantizeLinear that produces ``output``."""
    model = onnx.load(str(path))
    initializers = {i.name: nh.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] == output:
            return float(initializers[node.input[1]])
    raise AssertionError(f"{output} is not the output of a DequantizeLinear")


def ort_session(path, optimize: bool):
    options = ort.SessionOptions()
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_PREPARED: dict[str, tuple] = {}


def prepare(name, tmp_path_factory):
    """Quantize once per module; run ONNX Runtime (literal and optimized) on the 8 inputs."""
    if name not in _PREPARED:
        build, _ = MODELS[name]
        directory = tmp_path_factory.mktemp("agreement_ort")
        w = Weights(sum(map(ord, name)))
        nodes, shape = build(w)
        fp32 = save(directory / f"{name}.onnx", nodes, shape, "y", w.initializers)
        qdq = quantize(fp32, directory / f"{name}_qdq.onnx", shape)
        rng = np.random.default_rng(9)
        inputs = [rng.standard_normal(shape).astype(np.float32) for _ in range(SAMPLES)]
        output = ort_session(qdq, False).get_outputs()[0].name
        literal = np.stack([ort_session(qdq, False).run(None, {"x": x})[0] for x in inputs])
        optimized = np.stack([ort_session(qdq, True).run(None, {"x": x})[0] for x in inputs])
        _PREPARED[name] = (qdq, inputs, output, literal, optimized, output_step(qdq, output))
    return _PREPARED[name]


def steps(a, b, step):
    return np.rint(np.abs(a.astype(np.float64) - b.astype(np.float64)) / step)


def report(label: str, d: np.ndarray) -> None:
    print(f"{label}: {int((d > 0).sum())} of {d.size} values differ ({(d > 0).mean():.4%}), "
          f"max {int(d.max())} step(s)")


@pytest.fixture
def backend(installed_backend) -> str:
    """Every installed backend (spec_tests/io/conftest.py: one that cannot run is skipped with
    the reason printed)."""
    return installed_backend


@pytest.mark.parametrize("name", list(MODELS))
def test_agrees_with_onnxruntime_literal_qdq(name, backend, tmp_path_factory):
    """Measured: 0, 0.011%, 0, 0.29% of values differ (see above). Asserted: <= 0.5%, by <= 1 step."""
    qdq, inputs, output, literal, optimized, step = prepare(name, tmp_path_factory)
    compiled = refint8.compile(refint8.read_model(qdq), backend=backend)
    int8 = compiled.int8_layer_types()
    assert MODELS[name][1] <= int8, f"refint8 ran only {int8} in I8"
    ours = np.stack([compiled.infer({"x": x})[output] for x in inputs])
    d = steps(ours, literal, step)
    report(f"{name} [{backend}] vs ONNX Runtime literal Q/DQ", d)
    assert d.max() <= 1
    assert (d > 0).mean() <= 0.005
    report(f"{name} [{backend}] vs ONNX Runtime optimized (for information)", steps(ours, optimized, step))

"""ONNX (Q/DQ) in, checked against ONNX Runtime.

ONNX Runtime with ``ORT_DISABLE_ALL`` runs QuantizeLinear/DequantizeLinear as the float operators
the ONNX specification defines, which is what refint8's FakeQuantize reading claims to equal
(``lpt=False``). With its graph optimizations on, ONNX Runtime fuses Q/DQ into integer kernels
(QLinearConv, ...), which is compared with refint8's int8 path (``lpt=True``) within quantization
tolerance.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import refint8
from refint8.errors import UnsupportedError

onnx = pytest.importorskip("onnx", reason="onnx is a test dependency; install with the test extras")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402


def save(tmp_path, nodes, inputs, outputs, initializers=(), opset=13, name="model"):
    graph = oh.make_graph(nodes, name,
                          [oh.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [oh.make_tensor_value_info(n, T.FLOAT, None) for n in outputs],
                          [nh.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def ort_run(path, feeds, optimize=False):
    options = ort.SessionOptions()
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def ref_run(path, feeds, lpt=False):
    return refint8.compile(refint8.read_model(path), backend="reference", lpt=lpt).infer(feeds)


# -- the Q/DQ identity ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, zero_point", [(np.uint8, 128), (np.uint8, 3), (np.int8, 0), (np.int8, -5)])
def test_qdq_pair_is_one_fake_quantize(tmp_path, dtype, zero_point):
    scale = np.float32(0.0173)
    path = save(tmp_path, [
        oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
        oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq"),
    ], [("x", T.FLOAT, [2, 3, 16, 16])], ["y"], {"s": scale, "z": np.array(zero_point, dtype)})
    model = refint8.read_model(path)
    fq = model.node("dq")
    assert fq.type == "FakeQuantize" and fq.attrs["levels"] == 256
    qmin, qmax = (0, 255) if dtype == np.uint8 else (-128, 127)
    ranges = [fq.inputs[i].node.attrs["value"] for i in range(1, 5)]
    low = (np.float32(qmin) - np.float32(zero_point)) * scale
    high = (np.float32(qmax) - np.float32(zero_point)) * scale
    for r, expected in zip(ranges, (low, high, low, high)):
        assert r == expected
    x = (np.random.default_rng(0).standard_normal((2, 3, 16, 16)) * 2.5).astype(np.float32)
    ours = ref_run(path, {"x": x})["y"]
    theirs = ort_run(path, {"x": x})["y"]
    # Equal up to float32 rounding; an input within a few ulp of a tie may land one level apart.
    assert np.abs(ours - theirs).max() <= scale * 1.001
    assert np.mean(np.isclose(ours, theirs, rtol=0, atol=1e-6)) > 0.999


def test_rounding_is_half_to_even_in_both(tmp_path):
    path = save(tmp_path, [
        oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
    ], [("x", T.FLOAT, [8])], ["y"], {"s": np.float32(1.0), "z": np.uint8(0)})
    x = np.array([0.5, 1.5, 2.5, 3.5, 126.5, 127.5, 254.5, 255.5], np.float32)
    expected = np.array([0, 2, 2, 4, 126, 128, 254, 255], np.float32)
    np.testing.assert_array_equal(ort_run(path, {"x": x})["y"], expected)
    np.testing.assert_array_equal(ref_run(path, {"x": x})["y"], expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_per_axis_qdq(tmp_path, dtype):
    rng = np.random.default_rng(1)
    scale = (rng.random(4) * 0.05 + 0.01).astype(np.float32)
    zp = (rng.integers(0, 255, 4) if dtype == np.uint8 else rng.integers(-100, 100, 4)).astype(dtype)
    path = save(tmp_path, [
        oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
        oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, name="dq"),
    ], [("x", T.FLOAT, [1, 4, 8, 8])], ["y"], {"s": scale, "z": zp})
    fq = refint8.read_model(path).node("dq")
    assert fq.inputs[1].shape == (1, 4, 1, 1)
    x = (rng.standard_normal((1, 4, 8, 8)) * 3).astype(np.float32)
    ours, theirs = ref_run(path, {"x": x})["y"], ort_run(path, {"x": x})["y"]
    assert np.mean(np.isclose(ours, theirs, rtol=0, atol=1e-6)) > 0.999


def qdq_cnn(tmp_path):
    """A Q/DQ-quantized CNN in the layout ONNX Runtime's quantizer produces."""
    rng = np.random.default_rng(2)
    weights = rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    w_scale = (rng.random(8) * 0.01 + 0.002).astype(np.float32)
    x_scale = np.float32(4.0 / 255)
    bias = rng.integers(-300, 300, 8).astype(np.int32)
    fc = rng.integers(-127, 128, (10, 8)).astype(np.int8)
    inits = {
        "W": weights, "ws": w_scale, "wz": np.zeros(8, np.int8),
        "xs": x_scale, "xz": np.uint8(128), "B": bias, "bs": (x_scale * w_scale).astype(np.float32),
        "bz": np.zeros(8, np.int32), "rs": np.float32(0.02), "rz": np.uint8(0),
        "F": fc, "fs": np.float32(0.01), "fz": np.int8(0), "C": (np.arange(10) * 0.1).astype(np.float32),
    }
    nodes = [
        oh.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="input/q"),
        oh.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"], name="input/dq"),
        oh.make_node("DequantizeLinear", ["W", "ws", "wz"], ["Wd"], name="conv/weights", axis=0),
        oh.make_node("DequantizeLinear", ["B", "bs", "bz"], ["Bd"], name="conv/bias_dq", axis=0),
        oh.make_node("Conv", ["xd", "Wd", "Bd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        oh.make_node("Relu", ["c"], ["r"], name="relu"),
        oh.make_node("QuantizeLinear", ["r", "rs", "rz"], ["rq"], name="relu/q"),
        oh.make_node("DequantizeLinear", ["rq", "rs", "rz"], ["rd"], name="relu/dq"),
        oh.make_node("MaxPool", ["rd"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        oh.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        oh.make_node("Flatten", ["g"], ["f"], name="flatten"),
        oh.make_node("DequantizeLinear", ["F", "fs", "fz"], ["Fd"], name="fc/weights"),
        oh.make_node("Gemm", ["f", "Fd", "C"], ["y"], name="fc", transB=1),
        oh.make_node("Softmax", ["y"], ["probs"], name="softmax"),
    ]
    return save(tmp_path, nodes, [("x", T.FLOAT, [1, 3, 12, 12])], ["probs"], inits, name="qdq_cnn")


def test_qdq_cnn_against_onnxruntime(tmp_path):
    path = qdq_cnn(tmp_path)
    model = refint8.read_model(path)
    conv = model.node("conv")
    assert conv.inputs[0].node.type == "FakeQuantize"          # the activation Q/DQ pair
    weights = conv.inputs[1].node
    assert weights.type == "FakeQuantize" and weights.inputs[0].node.type == "Constant"
    assert weights.inputs[1].shape == (8, 1, 1, 1)               # per-output-channel grid
    bias = model.node("conv/bias").inputs[1].node
    assert bias.type == "Constant" and bias.attrs["value"].shape == (1, 8, 1, 1)
    x = np.random.default_rng(3).uniform(-2, 2, (1, 3, 12, 12)).astype(np.float32)
    theirs = ort_run(path, {"x": x})["probs"]
    np.testing.assert_allclose(ref_run(path, {"x": x})["probs"], theirs, rtol=0, atol=1e-6)
    # refint8's int8 path (LPT folds the weight FakeQuantize back to the int8 codes) against
    # OpenVINO running the same graph (written as IR) on its CPU plugin, int8 as well.
    compiled = refint8.compile(model, backend="reference")
    ours_int8 = compiled.infer({"x": x})["probs"]
    assert any(r.layer_type == "Convolution" and r.exec_type.endswith("_I8")
               for r in compiled.perf_counts())
    ov = pytest.importorskip("openvino")
    xml = refint8.write_model(model, tmp_path / "qdq_cnn.xml")
    ov_compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(ours_int8, ov_compiled({"x": x})[0], rtol=0, atol=1e-6)
    # The int8 path rounds the global average to a u8 code (an int8 layer follows it), so it is
    # within quantization error of ONNX Runtime's float Q/DQ evaluation, not equal to it.
    np.testing.assert_allclose(ours_int8, theirs, rtol=0, atol=1e-2)


def test_lone_dequantize_on_weights_folds_back_to_the_codes(tmp_path):
    """LPT's weight folding of the FakeQuantize recovers exactly the int8 codes of the file."""
    from refint8.lpt.weight_folding import fold

    path = qdq_cnn(tmp_path)
    model = refint8.read_model(path)
    folded = fold(model.node("conv").inputs[1].node, axis=0)
    weights = onnx.load(str(path)).graph.initializer
    codes = nh.to_array(next(t for t in weights if t.name == "W"))
    np.testing.assert_array_equal(folded.codes, codes)
    assert np.all(folded.zero_point == 0)
    np.testing.assert_allclose(folded.scale, nh.to_array(next(t for t in weights if t.name == "ws")),
                               rtol=1e-6)


# -- the other ops -------------------------------------------------------------------------------


def float_graph(tmp_path, opset=13):
    rng = np.random.default_rng(4)

    def r(*shape):
        return rng.normal(0, 0.4, shape).astype(np.float32)

    inits = {
        "W1": r(8, 3, 3, 3), "B1": r(8), "bn_s": (rng.random(8) + 0.5).astype(np.float32),
        "bn_b": r(8), "bn_m": r(8), "bn_v": (rng.random(8) + 0.1).astype(np.float32),
        "W2": r(8, 2, 3, 3), "lo": np.float32(-0.5), "hi": np.float32(2.0),
        "bn2_s": (rng.random(8) + 0.5).astype(np.float32), "bn2_b": r(8), "bn2_m": r(8),
        "bn2_v": (rng.random(8) + 0.1).astype(np.float32),
        "k": r(1, 8, 1, 1), "shape": np.array([0, 8, -1], np.int64), "G": r(10, 400), "GC": r(10),
        "M": r(10, 6), "ax0": np.array([0], np.int64),
        "scales": np.array([1, 1, 2, 2], np.float32),
    }
    nodes = [
        oh.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        oh.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn1"], name="bn1",
                     epsilon=1e-3),
        oh.make_node("Clip", ["bn1", "lo", "hi"], ["clip"], name="clip"),
        oh.make_node("Conv", ["clip", "W2"], ["c2"], name="conv2", group=4, strides=[2, 2],
                     auto_pad="SAME_UPPER"),
        oh.make_node("Relu", ["c2"], ["relu"], name="relu"),
        oh.make_node("BatchNormalization", ["relu", "bn2_s", "bn2_b", "bn2_m", "bn2_v"], ["bn2"], name="bn2"),
        oh.make_node("Resize", ["bn2", "", "scales"], ["up"], name="up", mode="linear",
                     coordinate_transformation_mode="half_pixel"),
        oh.make_node("AveragePool", ["up"], ["ap"], name="avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                     count_include_pad=1),
        oh.make_node("MaxPool", ["ap"], ["mp"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2],
                     ceil_mode=1),
        oh.make_node("Mul", ["mp", "k"], ["mul"], name="mul"),
        oh.make_node("Sigmoid", ["mul"], ["sig"], name="sigmoid"),
        oh.make_node("Tanh", ["mul"], ["tanh"], name="tanh"),
        oh.make_node("Sub", ["sig", "tanh"], ["sub"], name="sub"),
        oh.make_node("Exp", ["sub"], ["exp"], name="exp"),
        oh.make_node("Add", ["exp", "sig"], ["add"], name="add"),
        oh.make_node("Concat", ["add", "tanh"], ["cat"], name="concat", axis=1),
        oh.make_node("Reshape", ["cat", "shape"], ["rs"], name="reshape"),
        oh.make_node("Transpose", ["rs"], ["tr"], name="transpose", perm=[0, 2, 1]),
        oh.make_node("Unsqueeze", ["tr", "ax0"], ["us"], name="unsqueeze"),
        oh.make_node("Squeeze", ["us", "ax0"], ["sq"], name="squeeze"),
        oh.make_node("Identity", ["sq"], ["id"], name="identity"),
        oh.make_node("Flatten", ["id"], ["flat"], name="flatten", axis=1),
        oh.make_node("Constant", [], ["two"], name="const", value=nh.from_array(np.float32(2.0))),
        oh.make_node("Mul", ["flat", "two"], ["flat2"], name="double"),
        oh.make_node("Gemm", ["flat2", "G", "GC"], ["gemm"], name="gemm", transB=1, alpha=0.5, beta=2.0),
        oh.make_node("MatMul", ["gemm", "M"], ["mm"], name="matmul"),
        oh.make_node("Softmax", ["mm"], ["out"], name="softmax"),
    ]
    return save(tmp_path, nodes, [("x", T.FLOAT, [1, 3, 10, 10])], ["out", "ap"], inits, opset=opset,
                name="float_graph")


def test_float_ops_against_onnxruntime(tmp_path):
    path = float_graph(tmp_path)
    model = refint8.read_model(path)
    types = [n.type for n in model.nodes if n.type != "Constant"]
    # bn1 is folded into conv1 (its only consumer); bn2 follows a Relu and becomes Multiply + Add.
    assert "bn1" not in [n.name for n in model.nodes]
    assert model.node("bn2/scale").type == "Multiply" and model.node("bn2").type == "Add"
    assert types.count("Convolution") == 2 and "Interpolate" in types and "Clamp" in types
    x = np.random.default_rng(5).standard_normal((1, 3, 10, 10)).astype(np.float32)
    ours, theirs = ref_run(path, {"x": x}), ort_run(path, {"x": x})
    for name in ("out", "ap"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=2e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("mode, coordinate", [
    (mode, coordinate) for mode in ("nearest", "linear")
    for coordinate in ("half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn",
                       "align_corners")
    if not (mode == "linear" and coordinate == "tf_half_pixel_for_nn")  # nearest-only mode
])
def test_resize_modes_against_onnxruntime(tmp_path, mode, coordinate):
    inputs = ["x", "", "", "sizes"]
    inits = {"sizes": np.array([1, 2, 7, 11], np.int64)}
    path = save(tmp_path, [oh.make_node("Resize", inputs, ["y"], mode=mode,
                                        coordinate_transformation_mode=coordinate,
                                        nearest_mode="round_prefer_ceil")],
                [("x", T.FLOAT, [1, 2, 5, 4])], ["y"], inits, name=f"resize_{mode}_{coordinate}")
    x = np.random.default_rng(6).standard_normal((1, 2, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(ref_run(path, {"x": x})["y"], ort_run(path, {"x": x})["y"],
                               rtol=1e-5, atol=1e-6)


def test_resize_scales_and_opset10(tmp_path):
    x = np.random.default_rng(7).standard_normal((1, 2, 3, 5)).astype(np.float32)
    scales = {"scales": np.array([1, 1, 2, 3], np.float32)}
    p11 = save(tmp_path, [oh.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
               [("x", T.FLOAT, [1, 2, 3, 5])], ["y"], scales, name="resize11")
    p10 = save(tmp_path, [oh.make_node("Resize", ["x", "scales"], ["y"], mode="nearest")],
               [("x", T.FLOAT, [1, 2, 3, 5])], ["y"], scales, opset=10, name="resize10")
    for path in (p11, p10):
        np.testing.assert_array_equal(ref_run(path, {"x": x})["y"], ort_run(path, {"x": x})["y"])


def test_softmax_before_opset_13_flattens_from_axis(tmp_path):
    path = save(tmp_path, [oh.make_node("Softmax", ["x"], ["y"], axis=1)],
                [("x", T.FLOAT, [2, 3, 4])], ["y"], opset=11, name="softmax11")
    x = np.random.default_rng(8).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ref_run(path, {"x": x})["y"], ort_run(path, {"x": x})["y"], rtol=1e-6)


def test_quantized_input_tensor(tmp_path):
    """A DequantizeLinear on a uint8 graph input becomes Convert -> Subtract -> Multiply."""
    path = save(tmp_path, [oh.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])],
                [("x", T.UINT8, [1, 3, 4, 4])], ["y"], {"s": np.float32(0.5), "z": np.uint8(10)})
    x = np.random.default_rng(9).integers(0, 256, (1, 3, 4, 4)).astype(np.uint8)
    np.testing.assert_array_equal(ref_run(path, {"x": x})["y"], ort_run(path, {"x": x})["y"])


def test_dynamic_batch_needs_input_shapes(tmp_path):
    path = save(tmp_path, [oh.make_node("Relu", ["x"], ["y"])], [("x", T.FLOAT, ["N", 3])], ["y"])
    with pytest.raises(UnsupportedError, match="dynamic dimension 'N'.*input_shapes"):
        refint8.read_model(path)
    model = refint8.read_model(path, input_shapes={"x": [2, 3]})
    assert model.input_types["x"].shape == (2, 3)


def test_missing_onnx_package_is_a_clear_error(tmp_path, monkeypatch):
    path = save(tmp_path, [oh.make_node("Relu", ["x"], ["y"])], [("x", T.FLOAT, [3])], ["y"])
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(UnsupportedError, match=r"needs the optional package 'onnx' \(pip install onnx\)"):
        refint8.read_model(path)


def test_ceil_mode_window_in_padding_is_unsupported(tmp_path):
    # in=5, k=1, s=3, ceil: ceil(4/3) + 1 = 3 windows, starting at 0, 3 and 6. ONNX drops the
    # last (it starts past the input: 2 outputs); OpenVINO's MaxPool-1 keeps it (3 outputs).
    path = save(tmp_path, [oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1], strides=[3, 3],
                                        ceil_mode=1, name="pool")],
                [("x", T.FLOAT, [1, 1, 5, 5])], ["y"])
    with pytest.raises(UnsupportedError, match="ceil_torch") as info:
        refint8.read_model(path)
    assert info.value.node == "pool" and info.value.op == "MaxPool"


# -- a model quantized by ONNX Runtime's own quantizer ------------------------------------------


def small_float_net(tmp_path):
    rng = np.random.default_rng(10)

    def r(*shape):
        return rng.normal(0, 0.3, shape).astype(np.float32)

    inits = {"W1": r(16, 3, 3, 3), "B1": r(16), "bs": (rng.random(16) + 0.5).astype(np.float32),
             "bb": r(16), "bm": r(16), "bv": (rng.random(16) + 0.1).astype(np.float32),
             "W2": r(32, 16, 3, 3), "B2": r(32), "W3": r(32, 1, 3, 3), "B3": r(32),
             "sc": np.array([1, 1, 2, 2], np.float32), "F": r(10, 64), "FB": r(10)}
    nodes = [
        oh.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        oh.make_node("BatchNormalization", ["c1", "bs", "bb", "bm", "bv"], ["b1"], name="bn1"),
        oh.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        oh.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        oh.make_node("Conv", ["p1", "W2", "B2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        oh.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        oh.make_node("Conv", ["r2", "W3", "B3"], ["c3"], pads=[1, 1, 1, 1], group=32, name="dw"),
        oh.make_node("Add", ["c3", "r2"], ["a"], name="residual"),
        oh.make_node("Resize", ["a", "", "sc"], ["up"], mode="nearest", name="up"),
        oh.make_node("AveragePool", ["up"], ["ap"], kernel_shape=[2, 2], strides=[2, 2], name="ap"),
        oh.make_node("Concat", ["ap", "r2"], ["cat"], axis=1, name="cat"),
        oh.make_node("GlobalAveragePool", ["cat"], ["g"], name="gap"),
        oh.make_node("Flatten", ["g"], ["f"], name="flat"),
        oh.make_node("Gemm", ["f", "F", "FB"], ["y"], transB=1, name="fc"),
        oh.make_node("Softmax", ["y"], ["out"], name="softmax"),
    ]
    return save(tmp_path, nodes, [("x", T.FLOAT, [1, 3, 16, 16])], ["out"], inits, name="float_net")


def test_model_quantized_by_onnxruntime(tmp_path):
    quantization = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(11)

    class Calibration(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}
                                 for _ in range(8)])

        def get_next(self):
            return next(self.batches, None)

    path = tmp_path / "net_qdq.onnx"
    quantization.quantize_static(str(small_float_net(tmp_path)), str(path), Calibration(),
                                 quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                                 activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    model = refint8.read_model(path)
    compiled = refint8.compile(model, backend="reference")
    ov = pytest.importorskip("openvino")
    xml = refint8.write_model(model, tmp_path / "net_qdq.xml")
    ov_compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for _ in range(5):
        x = (rng.standard_normal((1, 3, 16, 16)) * 1.5).astype(np.float32)
        np.testing.assert_allclose(ref_run(path, {"x": x})["out"], ort_run(path, {"x": x})["out"],
                                   rtol=0, atol=1e-6)
        np.testing.assert_allclose(compiled.infer({"x": x})["out"], ov_compiled({"x": x})[0],
                                   rtol=0, atol=1e-6)
    int8 = {r.name for r in compiled.perf_counts() if r.exec_type.endswith("_I8")}
    assert {"conv1", "conv2", "dw", "pool1"} <= int8

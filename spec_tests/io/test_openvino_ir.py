"""OpenVINO IR in and out, checked against OpenVINO itself.

* Models built with ``refint8.opset`` are written as IR, opened by OpenVINO (``Core.read_model``),
  compiled on CPU with ``INFERENCE_PRECISION_HINT=f32`` and run: fp32 graphs agree within float
  tolerance; FakeQuantize graphs (which OpenVINO runs in int8) agree with refint8's ``lpt=False``
  reference within a fraction of a quantization step. Reading the written IR back gives a model
  whose outputs equal the original's bit for bit.
* IRs written by OpenVINO (``openvino.opset13`` and older opsets, ``ov.save_model`` with and without
  fp16 compression) are read by refint8 and compared with OpenVINO's CPU f32 inference.
"""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.errors import UnsupportedError
from refint8.models.zoo import builtin_model

ov = pytest.importorskip("openvino", reason="openvino is a test dependency; install with the test extras")
ovo = pytest.importorskip("openvino.opset13")
import openvino.opset1 as ovo1  # noqa: E402
import openvino.opset10 as ovo10  # noqa: E402
import openvino.opset14 as ovo14  # noqa: E402
import openvino.opset15 as ovo15  # noqa: E402

F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}


def ov_infer(xml_path, inputs):
    """OpenVINO CPU f32 inference of an IR file: outputs by tensor name, and the compiled model."""
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(xml_path)), "CPU", F32_HINT)
    results = compiled(inputs)
    return {out.get_any_name(): np.asarray(results[out]) for out in compiled.outputs}, compiled


def refint8_infer(model, inputs, lpt=False):
    return refint8.compile(model, backend="reference", lpt=lpt).infer(inputs)


def runtime_precisions(compiled, layer_type):
    return {op.get_rt_info()["runtimePrecision"].astype(str) for op in compiled.get_runtime_model().get_ops()
            if op.get_rt_info()["layerType"].astype(str) == layer_type}


def every_op_model() -> refint8.Model:
    """An fp32 graph with every op the writer supports (and most attribute variants)."""
    rng = np.random.default_rng(0)

    def w(*shape):
        return rng.normal(0, 0.3, shape).astype(np.float32)

    x = ops.parameter([1, 4, 10, 10], name="x")
    y = ops.convolution(x, w(8, 4, 3, 3), pads_begin=[1, 1], pads_end=[1, 1], name="conv")
    y = ops.add(y, w(1, 8, 1, 1), name="bias")
    y = ops.convolution(y, w(8, 2, 3, 3), strides=[2, 2], auto_pad="same_upper", group=4, name="gconv")
    y = ops.relu(y, name="relu")
    y = ops.max_pool(y, [3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1],
                     rounding_type="ceil", name="maxpool")
    y = ops.avg_pool(y, [2, 2], pads_begin=[1, 1], exclude_pad=True, name="avgpool")
    y = ops.interpolate(y, scales=[2.0, 2.0], axes=[2, 3], mode="linear_onnx",
                        coordinate_transformation_mode="align_corners", name="upsample")
    y = ops.interpolate(y, sizes=[5, 7], axes=[2, 3], nearest_mode="floor",
                        coordinate_transformation_mode="asymmetric", name="resize")
    mvn = ops.mvn(y, axes=[1, 2, 3], eps=1e-5, eps_mode="outside_sqrt", name="mvn")
    sig = ops.sigmoid(ops.clamp(mvn, -1.0, 1.5, name="clamp"), name="sigmoid")
    ex = ops.exp(ops.minimum(ops.tanh(mvn, name="tanh"), 0.5, name="min"), name="exp")
    mx = ops.maximum(sig, ex, name="max")
    y = ops.subtract(mx, ops.multiply(sig, 0.5, name="mul"), name="sub")
    y = ops.concat([y, mx], axis=1, name="concat")
    y = ops.reshape(y, [0, -1], special_zero=True, name="flatten")
    feat = ops.transpose(y, [1, 0], name="transpose")
    y = ops.squeeze(ops.squeeze(ops.unsqueeze(feat, [0, 3], name="unsqueeze"), [3], name="squeeze"),
                    name="squeeze_all")
    y = ops.matmul(ops.unsqueeze(y, [0], name="row"), w(5, 560), transpose_b=True, name="fc")
    probs = ops.softmax(y, axis=-1, name="softmax")
    codes = ops.convert(ops.convert(ops.multiply(probs, 100.0, name="percent"), "i32", name="to_i32"),
                        "f32", name="codes")
    return refint8.Model({"probs": probs, "codes": codes, "features": feat}, name="every_op")


def test_written_fp32_ir_runs_in_openvino_and_reads_back(tmp_path):
    model = every_op_model()
    xml = refint8.write_model(model, tmp_path / "every_op.xml")
    assert xml == tmp_path / "every_op.xml" and (tmp_path / "every_op.bin").exists()
    inputs = {"x": np.random.default_rng(1).standard_normal((1, 4, 10, 10)).astype(np.float32)}
    ours = refint8_infer(model, inputs)
    theirs, compiled = ov_infer(xml, inputs)
    assert set(theirs) == {"probs", "codes", "features"}
    assert [i.get_any_name() for i in compiled.inputs] == ["x"]
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=1e-5, err_msg=name)
    types = {op.get_type_name() for op in ov.Core().read_model(str(xml)).get_ops()}
    assert {"GroupConvolution", "Interpolate", "MVN", "Softmax", "Convert"} <= types

    back = refint8.read_model(xml)
    assert list(back.outputs) == ["probs", "codes", "features"]
    assert [p.name for p in back.parameters] == ["x"]
    assert sorted(n.type for n in back.nodes if n.type != "Constant") == \
        sorted(n.type for n in model.nodes if n.type != "Constant")
    assert back.node("gconv").attrs["group"] == 4
    again = refint8_infer(back, inputs)
    for name in ours:
        assert np.array_equal(ours[name], again[name]), name


@pytest.mark.parametrize("name", ["small_cnn", "inception"])
def test_written_fake_quantize_ir_runs_int8_in_openvino(tmp_path, name):
    model = builtin_model(name)
    xml = refint8.write_model(model, tmp_path / f"{name}.xml")
    rng = np.random.default_rng(2)
    inputs = {k: rng.random(t.shape, dtype=np.float32) for k, t in model.input_types.items()}
    ours = refint8_infer(model, inputs, lpt=False)
    theirs, compiled = ov_infer(xml, inputs)
    # OpenVINO's LPT recognised the quantization: its convolutions run on u8 activations.
    assert runtime_precisions(compiled, "Convolution") & {"u8", "i8"}
    for key, value in ours.items():
        scale = float(np.abs(value).max())
        np.testing.assert_allclose(value, theirs[key], atol=1e-3 * max(scale, 1.0), rtol=0)
    back = refint8.read_model(xml)
    again = refint8_infer(back, inputs, lpt=False)
    for key in ours:
        assert np.array_equal(ours[key], again[key])


def openvino_model():
    """An fp32 graph built with OpenVINO's own Python API, several op versions."""
    rng = np.random.default_rng(3)

    def c(*shape, dtype=np.float32):
        return ovo.constant(rng.normal(0, 0.3, shape).astype(dtype))

    x = ovo.parameter([1, 8, 12, 12], np.float32, name="image")
    y = ovo.convolution(x, c(16, 8, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    y = ovo.add(y, c(1, 16, 1, 1))
    y = ovo.group_convolution(y, c(4, 4, 4, 3, 3), [2, 2], [0, 0], [0, 0], [1, 1], auto_pad="same_lower")
    y = ovo.relu(y)
    y = ovo.max_pool(y, [1, 1], [1, 1], [0, 0], [0, 0], [2, 2]).output(0)       # MaxPool-8
    y = ovo14.max_pool(y, [1, 1], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)     # MaxPool-14
    y = ovo14.avg_pool(y, [1, 1], [1, 1], [1, 1], [3, 3], False)               # AvgPool-14
    y = ovo.avg_pool(y, [1, 1], [0, 0], [1, 1], [2, 2], True, "ceil")           # AvgPool-1
    y = ovo10.interpolate(y, ovo.constant(np.array([9, 9], np.int64)),          # Interpolate-4
                          ovo.constant(np.array([1.5, 1.5], np.float32)), "nearest", "scales",
                          axes=ovo.constant(np.array([2, 3], np.int64)))
    y = ovo.interpolate(y, ovo.constant(np.array([12, 10], np.int32)), "linear_onnx", "sizes",  # -11
                        axes=ovo.constant(np.array([2, 3], np.int64)),
                        coordinate_transformation_mode="pytorch_half_pixel")
    y = ovo.mvn(y, ovo.constant(np.array([2, 3], np.int64)), True, 1e-6, "inside_sqrt")
    y = ovo.clamp(y, -2.0, 2.0)
    a = ovo.sigmoid(y)
    b = ovo.tanh(y)
    y = ovo.concat([ovo.maximum(a, b), ovo.minimum(a, b), ovo.subtract(a, ovo.exp(b))], 1)
    y = ovo.multiply(y, ovo.constant(np.float32(0.5)))
    y = ovo.reshape(y, ovo.constant(np.array([1, 48, -1], np.int64)), False)
    y = ovo.transpose(y, ovo.constant(np.array([0, 2, 1], np.int64)))
    y = ovo.unsqueeze(y, ovo.constant(np.array([1], np.int64)))
    y = ovo.squeeze(y, ovo.constant(np.array([1], np.int64)))                   # Squeeze-1
    y = ovo15.squeeze(ovo.unsqueeze(y, ovo.constant(np.array([0], np.int64))))   # Squeeze-15, no axes
    y = ovo.matmul(y, c(48, 10), False, False)
    soft8 = ovo.softmax(y, -1)                                                   # Softmax-8
    soft1 = ovo1.softmax(y, 0)                                                   # Softmax-1
    soft1.set_friendly_name("softmax_v1")
    soft1.output(0).set_names({"softmax_v1"})
    soft8.output(0).set_names({"probabilities"})
    return ov.Model([soft8, soft1], [x], "ov_built")


@pytest.mark.parametrize("compress", [False, True], ids=["f32", "fp16-compressed"])
def test_reads_ir_saved_by_openvino(tmp_path, compress):
    xml = tmp_path / "ov_built.xml"
    ov.save_model(openvino_model(), str(xml), compress_to_fp16=compress)
    text = xml.read_text()
    assert ('element_type="f16"' in text) == compress
    model = refint8.read_model(xml)
    assert [p.name for p in model.parameters] == ["image"]
    assert set(model.outputs) == {"probabilities", "softmax_v1"}
    assert not any(n.type == "Convert" for n in model.nodes)  # f16 weights are folded to f32
    inputs = {"image": np.random.default_rng(4).standard_normal((1, 8, 12, 12)).astype(np.float32)}
    theirs, _ = ov_infer(xml, inputs)
    ours = refint8_infer(model, inputs)
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=2e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("zero_point", [False, True], ids=["symmetric", "zero-point"])
def test_reads_int8_compressed_weights_as_fake_quantize(tmp_path, zero_point):
    """``Const(i8) -> Convert [-> Subtract(zp)] -> Multiply(scale)`` weights: Constant + FakeQuantize."""
    rng = np.random.default_rng(5)
    codes = rng.integers(-127, 128, (16, 8, 3, 3)).astype(np.int8)
    zp = rng.integers(-3, 4, (16, 1, 1, 1)).astype(np.int8) if zero_point else np.zeros((16, 1, 1, 1), np.int8)
    scale = (rng.random((16, 1, 1, 1)) * 0.01 + 0.001).astype(np.float32)
    x = ovo.parameter([1, 8, 10, 10], np.float32, name="x")
    fq = ovo.fake_quantize(x, np.float32(0), np.float32(2), np.float32(0), np.float32(2), 256)
    w = ovo.convert(ovo.constant(codes), "f32")
    if zero_point:
        w = ovo.subtract(w, ovo.convert(ovo.constant(zp), "f32"))
    w = ovo.multiply(w, ovo.constant(scale))
    y = ovo.convolution(fq, w, [1, 1], [1, 1], [1, 1], [1, 1])
    xml = tmp_path / "int8_weights.xml"
    ov.save_model(ov.Model([y], [x], "int8_weights"), str(xml), compress_to_fp16=False)

    model = refint8.read_model(xml)
    conv = next(n for n in model.nodes if n.type == "Convolution")
    weights = conv.inputs[1].node
    assert weights.type == "FakeQuantize" and weights.attrs["levels"] == 256
    assert weights.inputs[0].node.type == "Constant"
    il = weights.inputs[1].node.attrs["value"]
    ih = weights.inputs[2].node.attrs["value"]
    np.testing.assert_array_equal(il, (np.float32(-128) - zp.astype(np.float32)) * scale)
    np.testing.assert_array_equal(ih, (np.float32(127) - zp.astype(np.float32)) * scale)
    inputs = {"x": (rng.random((1, 8, 10, 10)) * 2).astype(np.float32)}
    theirs, compiled = ov_infer(xml, inputs)
    ours = refint8_infer(model, inputs)
    np.testing.assert_allclose(next(iter(ours.values())), next(iter(theirs.values())), rtol=0, atol=1e-4)
    compiled_ref = refint8.compile(model, backend="reference")
    compiled_ref.infer(inputs)
    conv_rows = [r for r in compiled_ref.perf_counts() if r.layer_type == "Convolution"]
    assert conv_rows and conv_rows[0].exec_type.endswith("_I8")
    if not zero_point:  # OpenVINO's CPU plugin runs asymmetric (zero-point) weights in f32
        assert runtime_precisions(compiled, "Convolution") & {"u8", "i8"}


def test_group_convolution_with_quantized_5d_weights(tmp_path):
    """FakeQuantize on ``[G, O, I, KH, KW]`` weights (per-channel ranges) is regrouped to 4-D."""
    rng = np.random.default_rng(6)
    weights = rng.normal(0, 0.5, (8, 1, 1, 3, 3)).astype(np.float32)
    limit = np.abs(weights).reshape(8, -1).max(axis=1).reshape(8, 1, 1, 1, 1).astype(np.float32)
    x = ovo.parameter([1, 8, 9, 9], np.float32, name="x")
    fq = ovo.fake_quantize(x, np.float32(0), np.float32(3), np.float32(0), np.float32(3), 256)
    wq = ovo.fake_quantize(ovo.constant(weights), -limit, limit, -limit, limit, 255)
    y = ovo.group_convolution(ovo.relu(fq), wq, [1, 1], [1, 1], [1, 1], [1, 1])
    xml = tmp_path / "depthwise.xml"
    ov.save_model(ov.Model([y], [x], "depthwise"), str(xml), compress_to_fp16=False)
    model = refint8.read_model(xml)
    conv = next(n for n in model.nodes if n.type == "Convolution")
    assert conv.attrs["group"] == 8 and conv.inputs[1].shape == (8, 1, 3, 3)
    fq_w = conv.inputs[1].node
    assert fq_w.type == "FakeQuantize" and fq_w.inputs[1].shape == (8, 1, 1, 1)
    inputs = {"x": (rng.random((1, 8, 9, 9)) * 3).astype(np.float32)}
    theirs, _ = ov_infer(xml, inputs)
    ours = refint8_infer(model, inputs)
    np.testing.assert_allclose(next(iter(ours.values())), next(iter(theirs.values())), atol=1e-4, rtol=0)
    compiled = refint8.compile(model, backend="reference")
    compiled.infer(inputs)
    assert any(r.layer_type == "Convolution" and r.exec_type.endswith("_I8")
               for r in compiled.perf_counts())


def test_maxpool_indices_output_in_use_is_unsupported(tmp_path):
    x = ovo.parameter([1, 2, 4, 4], np.float32, name="x")
    pool = ovo.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2])
    xml = tmp_path / "indices.xml"
    ov.save_model(ov.Model([pool.output(0), ovo.convert(pool.output(1), "f32").output(0)], [x]), str(xml))
    with pytest.raises(UnsupportedError, match="indices output"):
        refint8.read_model(xml)


def test_compile_accepts_a_path(tmp_path):
    xml = refint8.write_model(builtin_model("small_cnn"), tmp_path / "m.xml")
    compiled = refint8.compile(str(xml), backend="reference")
    out = compiled.infer({"input": np.zeros((1, 3, 32, 32), np.float32)})
    assert out["output"].shape == (1, 32, 8, 8)


def test_write_rejects_a_lowered_model(tmp_path):
    lowered = refint8.compile(builtin_model("small_cnn"), backend="reference").model
    with pytest.raises(UnsupportedError, match="write the source model"):
        refint8.write_model(lowered, tmp_path / "lowered.xml")


def test_maxpool_with_dilations_is_unsupported(tmp_path):
    x = ovo.parameter([1, 2, 6, 6], np.float32, name="x")
    pool = ovo.max_pool(x, [1, 1], [2, 2], [0, 0], [0, 0], [2, 2])
    xml = tmp_path / "dilated.xml"
    ov.save_model(ov.Model([pool.output(0)], [x]), str(xml))
    with pytest.raises(UnsupportedError, match=r"attribute 'dilations' = \[2, 2\]: dilations other "
                                               r"than 1 are not supported"):
        refint8.read_model(xml)


def test_reads_ir_version_10(tmp_path):
    """IR v10 has the same layer syntax for this op subset; only the version number differs."""
    model = builtin_model("small_cnn")
    xml = refint8.write_model(model, tmp_path / "v10.xml")
    xml.write_text(xml.read_text().replace('version="11"', 'version="10"', 1))
    inputs = {"input": np.random.default_rng(8).random((1, 3, 32, 32), dtype=np.float32)}
    ours = refint8_infer(refint8.read_model(xml), inputs)
    assert np.array_equal(ours["output"], refint8_infer(model, inputs)["output"])

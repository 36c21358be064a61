"""Broken and unsupported model files: a refint8 error naming the file or node, never a crash.

A file that cannot be parsed (truncated or malformed XML, a missing or short ``.bin``, a corrupted
ONNX protobuf) is a ``ModelFileError`` naming the file and the problem; an op, attribute value or
element type refint8 does not support is an ``UnsupportedError`` naming the node and listing what
is supported.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.errors import ModelFileError, Refint8Error, UnsupportedError
from refint8.models.zoo import builtin_model


@pytest.fixture
def ir(tmp_path):
    """A small IR written by refint8: (xml path, bin path)."""
    x = ops.parameter([1, 3, 8, 8], name="x")
    w = np.random.default_rng(0).normal(0, 0.2, (4, 3, 3, 3)).astype(np.float32)
    y = ops.max_pool(ops.relu(ops.convolution(x, w, name="conv"), name="relu"), [2, 2], name="pool")
    xml = refint8.write_model(refint8.Model(y, name="small"), tmp_path / "small.xml")
    return xml, xml.with_suffix(".bin")


def edit(xml, pattern, replacement, count=1):
    text = xml.read_text()
    new, n = re.subn(pattern, replacement, text, count=count)
    assert n, f"pattern {pattern!r} not found"
    xml.write_text(new)


# -- OpenVINO IR ---------------------------------------------------------------------------------


def test_truncated_xml(ir):
    xml, _ = ir
    xml.write_bytes(xml.read_bytes()[: len(xml.read_bytes()) // 2])
    with pytest.raises(ModelFileError, match=r"small\.xml: malformed XML") as info:
        refint8.read_model(xml)
    assert "truncated" in str(info.value)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.33, 0.5, 0.77, 0.99])
def test_every_truncation_of_an_ir_is_a_model_file_error(tmp_path, fraction):
    xml = refint8.write_model(builtin_model("small_cnn"), tmp_path / "m.xml")
    data = xml.read_bytes()
    xml.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match=r"m\.xml"):
        refint8.read_model(xml)


def test_missing_bin(ir):
    xml, bin_path = ir
    bin_path.unlink()
    with pytest.raises(ModelFileError, match=r"small\.bin: the weights file of small\.xml is missing"):
        refint8.read_model(xml)


@pytest.mark.parametrize("keep", [0, 7, 100, 431])
def test_short_bin(ir, keep):
    xml, bin_path = ir
    bin_path.write_bytes(bin_path.read_bytes()[:keep])
    with pytest.raises(ModelFileError, match=r"small\.bin: too short for Const layer id \d+ "
                                             r"'conv/filters': it needs bytes \d+\.\.\d+ but the file "
                                             rf"has {keep} bytes"):
        refint8.read_model(xml)


def test_const_size_that_does_not_match_its_shape(ir):
    xml, _ = ir
    edit(xml, r'size="432"', 'size="400"')
    with pytest.raises(ModelFileError, match=r"size 400 does not match shape \[4, 3, 3, 3\] of f32"):
        refint8.read_model(xml)


def test_unknown_op_lists_the_supported_ops(ir):
    xml, _ = ir
    edit(xml, r'type="ReLU"', 'type="Swish"')
    with pytest.raises(UnsupportedError) as info:
        refint8.read_model(xml)
    message = str(info.value)
    assert "node 'relu' (Swish)" in message and "op type is not supported" in message
    assert re.search(r"supported IR ops: .*Convolution.*FakeQuantize.*ReLU", message)
    assert info.value.node == "relu" and info.value.op == "Swish"


def test_unsupported_op_version(ir):
    xml, _ = ir
    edit(xml, r'type="MaxPool" version="opset1"', 'type="MaxPool" version="opset99"')
    with pytest.raises(UnsupportedError, match=r"version opset99 is not supported; supported: "
                                               r"opset1, opset8, opset14"):
        refint8.read_model(xml)


@pytest.mark.parametrize("pattern, replacement, attribute, supported", [
    (r'rounding_type="floor"', 'rounding_type="ceil_torch"', "rounding_type", "floor, ceil"),
    (r'auto_pad="explicit"', 'auto_pad="pdpd"', "auto_pad", "explicit, same_upper"),
])
def test_unsupported_attribute_value(ir, pattern, replacement, attribute, supported):
    xml, _ = ir
    edit(xml, pattern, replacement)
    with pytest.raises(UnsupportedError) as info:
        refint8.read_model(xml)
    assert info.value.attribute == attribute
    assert f"supported: {supported}" in str(info.value)


def test_unsupported_interpolate_mode(tmp_path):
    x = ops.parameter([1, 1, 2, 2], name="x")
    xml = refint8.write_model(refint8.Model(ops.interpolate(x, sizes=[4, 4], axes=[2, 3], name="up")),
                              tmp_path / "up.xml")
    edit(xml, r'mode="nearest"', 'mode="cubic"')
    with pytest.raises(UnsupportedError, match=r"node 'up' \(Interpolate\): attribute 'mode' = "
                                               r"'cubic': unsupported value; supported: nearest, "
                                               r"linear_onnx, linear"):
        refint8.read_model(xml)


def test_unsupported_const_dtype(ir):
    xml, _ = ir
    edit(xml, r'element_type="f32" shape="4, 3, 3, 3" offset="0" size="432"',
         'element_type="bf16" shape="4, 3, 3, 3" offset="0" size="216"')
    with pytest.raises(UnsupportedError, match=r"attribute 'element_type' = 'bf16': element type not "
                                               r"supported; supported: f32, f16, f64, i8, u8"):
        refint8.read_model(xml)


def test_garbage_dtype_is_a_file_error(ir):
    xml, _ = ir
    edit(xml, r'element_type="f32" shape="4', 'element_type="q9" shape="4')
    with pytest.raises(ModelFileError, match=r"unknown element type 'q9'"):
        refint8.read_model(xml)


def test_unsupported_parameter_dtype_and_dynamic_shape(ir):
    xml, _ = ir
    original = xml.read_text()
    edit(xml, r'shape="1,3,8,8" element_type="f32"', 'shape="1,3,8,8" element_type="f16"')
    with pytest.raises(UnsupportedError, match=r"node 'x' \(Parameter\).*'f16'.*supported: f32, u8"):
        refint8.read_model(xml)
    xml.write_text(original)
    edit(xml, r'shape="1,3,8,8" element_type="f32"', 'shape="?,3,8,8" element_type="f32"')
    with pytest.raises(UnsupportedError, match="static shapes"):
        refint8.read_model(xml)


def test_structural_problems(ir):
    xml, _ = ir
    original = xml.read_text()
    for pattern, replacement, message in [
        (r'from-layer="0"', 'from-layer="77"', "refers to layer id 77, which does not exist"),
        (r'<net name="small" version="11">', '<net name="small" version="7">', "IR version 7"),
        (r'<net name="small" version="11">', '<net name="small">', "no 'version'"),
        (r"<net ", "<model ", "not an OpenVINO IR file"),
        (r'<edge from-layer="\d+" from-port="\d+" to-layer="\d+" to-port="\d+" />', "",
         "has no incoming edge"),
    ]:
        xml.write_text(original)
        if pattern == r"<net ":
            xml.write_text(original.replace("<net ", "<model ").replace("</net>", "</model>"))
        else:
            edit(xml, pattern, replacement)
        with pytest.raises(Refint8Error, match=re.escape(message)):
            refint8.read_model(xml)


def test_path_problems(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        refint8.read_model(tmp_path / "absent.xml")
    with pytest.raises(UnsupportedError, match=r"unknown model file suffix '\.pb'; supported: \.xml"):
        refint8.read_model(tmp_path / "model.pb")
    with pytest.raises(UnsupportedError, match="give a path ending in .xml"):
        refint8.write_model(builtin_model("small_cnn"), tmp_path / "model.onnx")


# -- ONNX ----------------------------------------------------------------------------------------

onnx = pytest.importorskip("onnx", reason="onnx is a test dependency; install with the test extras")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402


def onnx_file(tmp_path, nodes, initializers=(), name="m", input_type=T.FLOAT, opset=13):
    graph = oh.make_graph(nodes, name, [oh.make_tensor_value_info("x", input_type, [1, 2, 4, 4])],
                          [oh.make_tensor_value_info("y", T.FLOAT, None)], list(initializers))
    path = tmp_path / f"{name}.onnx"
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)]), str(path))
    return path


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_onnx(tmp_path, damage):
    w = nh.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    path = onnx_file(tmp_path, [oh.make_node("Conv", ["x", "w"], ["y"])], [w])
    data = path.read_bytes()
    path.write_bytes({"garbage": b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" * 7,
                      "truncated": data[: len(data) - 9], "empty": b""}[damage])
    with pytest.raises(ModelFileError, match=r"m\.onnx: "):
        refint8.read_model(path)


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.4, 0.6, 0.8, 0.95])
def test_every_truncation_of_an_onnx_file_is_a_refint8_error(tmp_path, fraction):
    w = nh.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    path = onnx_file(tmp_path, [oh.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                                oh.make_node("Relu", ["c"], ["y"], name="relu")], [w])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match=r"m\.onnx"):
        refint8.read_model(path)


def test_onnx_unknown_op_lists_the_supported_ops(tmp_path):
    path = onnx_file(tmp_path, [oh.make_node("LeakyRelu", ["x"], ["y"], name="act")])
    with pytest.raises(UnsupportedError) as info:
        refint8.read_model(path)
    assert info.value.node == "act" and info.value.op == "LeakyRelu"
    assert re.search(r"ONNX op is not supported; supported: .*Conv.*DequantizeLinear.*Resize",
                     str(info.value))


def test_onnx_unsupported_attribute_value(tmp_path):
    path = onnx_file(tmp_path, [oh.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic", name="up")],
                     [nh.from_array(np.array([1, 1, 2, 2], np.float32), "s")])
    with pytest.raises(UnsupportedError, match=r"node 'up' \(Resize\): attribute 'mode' = 'cubic': "
                                               r"unsupported value; supported: nearest, linear"):
        refint8.read_model(path)


def test_onnx_unknown_attribute(tmp_path):
    path = onnx_file(tmp_path, [oh.make_node("Relu", ["x"], ["y"], name="r", alpha=0.1)])
    with pytest.raises(UnsupportedError, match=r"attribute 'alpha'.*Relu supports: none"):
        refint8.read_model(path)


def test_onnx_unsupported_dtypes(tmp_path):
    bad = nh.from_array(np.ones(4, np.int16), "k")
    path = onnx_file(tmp_path, [oh.make_node("Add", ["x", "k"], ["y"])], [bad])
    with pytest.raises(UnsupportedError, match=r"initializer 'k' has element type INT16; supported: "
                                               r"FLOAT, FLOAT16"):
        refint8.read_model(path)
    path = onnx_file(tmp_path, [oh.make_node("Relu", ["x"], ["y"])], input_type=T.BFLOAT16, name="b")
    with pytest.raises(UnsupportedError, match=r"graph input 'x' has element type BFLOAT16"):
        refint8.read_model(path)
    path = onnx_file(tmp_path, [oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                                oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")],
                     [nh.from_array(np.float32(0.1), "s"), nh.from_array(np.int32(0), "z")],
                     name="q16")
    with pytest.raises(UnsupportedError, match=r"zero point of element type int32; supported: uint8, int8"):
        refint8.read_model(path)


def test_onnx_quantize_without_dequantize(tmp_path):
    path = onnx_file(tmp_path, [oh.make_node("QuantizeLinear", ["x", "s"], ["q"], name="q"),
                                oh.make_node("Relu", ["q"], ["y"], name="relu")],
                     [nh.from_array(np.float32(0.1), "s")])
    with pytest.raises(UnsupportedError, match=r"node 'relu' \(Relu\).*integer output of "
                                               r"QuantizeLinear 'q'"):
        refint8.read_model(path)


def test_onnx_dangling_tensor(tmp_path):
    path = onnx_file(tmp_path, [oh.make_node("Add", ["x", "nowhere"], ["y"], name="add")])
    with pytest.raises(ModelFileError, match=r"node 'add' \(Add\) reads tensor 'nowhere'"):
        refint8.read_model(path)

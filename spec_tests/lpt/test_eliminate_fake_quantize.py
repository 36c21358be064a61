"""LPT cleanup EliminateFakeQuantize (refint8.lpt.eliminate_fake_quantize): a FakeQuantize that maps
codes onto the same codes is removed, as OpenVINO removes it, also where its input range is off by
less than a code step (which then changes values the FakeQuantize would have changed)."""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.graph import Model
from refint8.lpt.eliminate_fake_quantize import type_bounds


def _pool_model(il: float, ih: float = 2.55, ol: float = 0.0, oh: float = 2.55, conv: bool = True) -> Model:
    """x -> FakeQuantize [0, 2.55] (256 levels: a code step of 0.01) -> MaxPool 1x1 ->
    FakeQuantize [il, ih] -> [ol, oh] -> 1x1 Convolution by 1: after LPT the second FakeQuantize
    reads the pool's u8 codes and gives codes to the int8 convolution."""
    c = lambda v: ops.constant(np.float32(v))  # noqa: E731
    x = ops.parameter([1, 1, 1, 4], name="x")
    y = ops.fake_quantize(x, c(0), c(2.55), c(0), c(2.55), 256, name="fq")
    y = ops.max_pool(y, kernel=[1, 1], strides=[1, 1], name="pool")
    y = ops.fake_quantize(y, c(il), c(ih), c(ol), c(oh), 256, name="requantize")
    if not conv:
        return Model(y, name="eliminate")
    w = ops.fake_quantize(ops.constant(np.ones((1, 1, 1, 1), np.float32)), c(-1), c(1), c(-1), c(1),
                          255, name="w")
    return Model(ops.convolution(y, w, name="conv"), name="eliminate")


X = np.float32([[[[0.5, 1.234, 2.0, 0.01]]]])


def _run(model: Model) -> tuple[refint8.CompiledModel, np.ndarray]:
    compiled = refint8.compile(model, backend="reference")
    return compiled, next(iter(compiled.infer({"x": X}).values()))[0, 0, 0]


def test_a_requantization_onto_the_same_codes_is_removed():
    compiled, out = _run(_pool_model(0.0))
    assert all(node.name != "requantize" for node in compiled.model.nodes)
    assert ("requantize", "FakeQuantize") in compiled.model.rt_info["optimized_out"]
    # the first FakeQuantize's levels: 0.5 is level 50, 1.234 level 123.4 -> 123, 2.0 level 200,
    # 0.01 level 1; each times the step 0.01
    np.testing.assert_allclose(out, np.float32([0.50, 1.23, 2.00, 0.01]), rtol=1e-6)


def test_an_input_low_within_a_code_step_is_removed_as_openvino_does():
    # il = 0.009 is 0.9 codes above 0: within d = 255/256 - 0 codes, and the FakeQuantize maps il
    # itself onto ol = 0, so OpenVINO removes it. Run, it would have mapped code 1 onto
    # round((1 - 0.9) / (255 - 0.9) * 255) = round(0.1004) = 0; removed, code 1 stays 1 (0.01).
    compiled, out = _run(_pool_model(0.009))
    assert all(node.name != "requantize" for node in compiled.model.nodes)
    np.testing.assert_allclose(out, np.float32([0.50, 1.23, 2.00, 0.01]), rtol=1e-6)


def test_an_input_low_beyond_a_code_step_keeps_the_fake_quantize():
    # il = 0.012 is 1.2 codes above 0 (more than d): the FakeQuantize stays and maps code 1
    # (1 <= il) onto ol = 0.
    compiled, out = _run(_pool_model(0.012))
    assert any(node.name == "requantize" for node in compiled.model.nodes)
    assert out[3] == 0.0


def test_the_output_range_moves_into_the_dequantization():
    # decomposed, the FakeQuantize maps codes onto codes 0..255 whatever its output range, whose
    # scale and zero point go after it: [0, 2.56] is a step of 2.56/255, [-1.28, 1.27] a step of
    # 0.01 with zero point 128; either way codes 50, 123, 200, 1 pass unchanged
    compiled, out = _run(_pool_model(0.0, oh=2.56))
    assert all(node.name != "requantize" for node in compiled.model.nodes)
    np.testing.assert_allclose(out, np.float32([50, 123, 200, 1]) * np.float32(2.56 / 255), rtol=1e-6)
    compiled, out = _run(_pool_model(0.0, ol=-1.28, oh=1.27))
    assert all(node.name != "requantize" for node in compiled.model.nodes)
    np.testing.assert_allclose(out, np.float32([-0.78, -0.05, 0.72, -1.27]), rtol=1e-6)


def test_a_change_of_type_is_kept():
    # the model's output: the FakeQuantize gives f32 from the pool's u8 codes
    compiled, out = _run(_pool_model(0.0, conv=False))
    assert any(node.name == "requantize" for node in compiled.model.nodes)
    np.testing.assert_allclose(out, np.float32([0.50, 1.23, 2.00, 0.01]), rtol=1e-6)


def test_a_change_of_type_is_kept_even_on_the_bounds():
    # i8 codes into a FakeQuantize with u8 output and every range on u8's bounds (0, 255): the
    # types differ, so it stays (it maps the negative codes onto 0)
    from refint8.graph import make_node
    from refint8.lpt import eliminate_fake_quantize
    from refint8.lpt.context import LptContext

    c = lambda v: ops.constant(np.float32(v))  # noqa: E731
    x = ops.parameter([1, 4], "i8", name="x")
    fq = make_node("FakeQuantize", [x, c(0), c(255), c(0), c(255)],
                   {"levels": 256, "auto_broadcast": "numpy", "output_type": "u8"}, "fq")
    model = Model(fq.output(0), name="types")
    assert fq.output_types[0].dtype == np.uint8
    assert not eliminate_fake_quantize.transform(LptContext(model), fq)
    assert any(node is fq for node in model.nodes)


@pytest.mark.parametrize("element_type, levels, bounds", [
    ("u8", 256, (0, 255)), ("u8", 255, (0, 255)), ("u8", 16, (0, 15)), ("u8", 15, (0, 255)),
    ("i8", 256, (-128, 127)), ("i8", 255, (-127, 127)), ("i8", 16, (-8, 7)), ("i8", 15, (-7, 127)),
])
def test_type_bounds_are_openvinos_data_precision_table(element_type, levels, bounds):
    # DataPrecision::getMinValue / getMaxValue: u8's maximum is 15 for 16 levels only, i8's is 7
    # for 16 levels only (so 15 levels of i8 give -7 .. 127)
    assert type_bounds(element_type, levels) == bounds

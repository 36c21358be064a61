"""The saturation report and the precision report, on hand-built models."""

from __future__ import annotations

import numpy as np

import refint8
from refint8 import opset as ops
from refint8.cli import main
from refint8.explain import precision_report
from refint8.saturation import saturation_report


def _one_by_one_conv(weights: list[float]) -> refint8.Model:
    """FQ [0, 2.55] (u8 codes = 100 * x) -> 1x1 conv over 2 channels, weights FQ [-1.27, 1.27]/255
    levels (i8 codes = 100 * w)."""
    x = ops.parameter([1, 2, 1, 1], name="input")
    q = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, levels=256, name="fq")
    w = np.array(weights, np.float32).reshape(1, 2, 1, 1)
    wq = ops.fake_quantize(w, -1.27, 1.27, -1.27, 1.27, levels=255, name="wfq")
    return refint8.Model(ops.convolution(q, wq, name="conv"))


def test_the_onednn_example_saturates_one_accumulator():
    # codes: activations 255, 255 (x = 2.55); weights 127, 127 (w = 1.27)
    # exact: 255*127 + 255*127 = 64770; s16 pair: min(64770, 32767) = 32767; difference 32003
    model = _one_by_one_conv([1.27, 1.27])
    rows = saturation_report(model, {"input": np.full((1, 2, 1, 1), 2.55, np.float32)})
    assert [(r.layer, r.accumulators, r.differing, r.max_difference) for r in rows] == [("conv", 1, 1, 32003)]


def test_no_saturation_when_pairs_stay_in_int16():
    # codes 255, 255 and weights 127, -127: the pair sum is 0, nothing saturates
    model = _one_by_one_conv([1.27, -1.27])
    rows = saturation_report(model, {"input": np.full((1, 2, 1, 1), 2.55, np.float32)})
    assert [(r.differing, r.max_difference) for r in rows] == [(0, 0)]


def test_explain_gives_int8_layers_and_fp32_reasons():
    x = ops.parameter([1, 2, 4, 4], name="input")
    q = ops.fake_quantize(x, 0.0, 2.55, 0.0, 2.55, levels=256, name="fq")
    w = np.ones((2, 2, 1, 1), np.float32)
    y = ops.convolution(q, ops.fake_quantize(w, -1.0, 1.0, -1.0, 1.0, levels=255, name="wfq"), name="conv")
    odd = ops.fake_quantize(ops.sigmoid(y, name="sigmoid"), 0.0, 1.0, 0.0, 1.0, levels=17, name="fq17")
    model = refint8.Model(ops.tanh(odd, name="tanh"))
    rows = {r.node: r for r in precision_report(refint8.compile(model, backend="reference"))}
    assert rows["conv"].precision == "I8" and rows["conv"].layer_type == "Convolution"
    assert rows["sigmoid"].precision == "FP32" and rows["sigmoid"].reason == "Sigmoid has no int8 semantics"
    assert rows["fq17"].reason == "levels 17 is not one of LPT's level sets (256, 255, 16, 15)"
    assert rows["fq"].reason == "quantizes its float32 input into u8 codes for the int8 layers after it"


def test_cli_explain_and_saturation(capsys):
    assert main(["explain", "small_cnn"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "I8" in out and "executed layers run in int8" in out
    assert main(["saturation", "small_cnn"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["layer", "type"]
    assert "conv1" in out

"""Properties of the whole LPT pipeline on random quantized graphs.

The graphs are built from the layers LPT supports and quantized the way a quantization tool places
FakeQuantize (refint8.models.quantizer, NNCF's default preset). The bound checked here is the one
stated in refint8.lpt: the int8 execution equals the FakeQuantize graph executed in fp32 up to
float32 rounding, except where a requantizing FakeQuantize receives a value within a few ulp of a
rounding tie: there the two executions may pick neighbouring levels (one quantization step), and
that difference propagates. Such near-ties are rare (the measured rate is asserted below).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refint8
from refint8 import lpt, opset as ops
from refint8.graph import Model, clone_model
from refint8.lowering import lower
from refint8.models.quantizer import quantize


def _conv(rng, x, oc, k, stride, group, name, activation):
    ic = x.shape[1]
    w = rng.normal(0, np.sqrt(2.0 / (ic // group * k * k)), (oc, ic // group, k, k)).astype(np.float32)
    b = rng.normal(0, 0.1, (1, oc, 1, 1)).astype(np.float32)
    y = ops.convolution(x, w, strides=[stride] * 2, pads_begin=[k // 2] * 2, pads_end=[k // 2] * 2,
                        group=group, name=name)
    y = ops.add(y, b, name=f"{name}/bias")
    if activation == "relu":
        y = ops.relu(y, name=f"{name}/relu")
    elif activation == "relu6":
        y = ops.relu6(y, name=f"{name}/relu6")
    return y


@st.composite
def quantized_graphs(draw):
    """(quantized model, input) built from supported layers, FakeQuantize placed NNCF-style."""
    seed = draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    channels = draw(st.sampled_from([1, 3, 8, 16]), label="channels")
    size = draw(st.integers(4, 10), label="size")
    x = ops.parameter([1, channels, size, size], name="input")
    y = x
    blocks = draw(st.lists(st.sampled_from(["conv", "depthwise", "pool", "reshape", "transpose"]),
                           min_size=1, max_size=4), label="blocks")
    for i, block in enumerate(blocks):
        c = y.shape[1]
        if block == "conv":
            oc = draw(st.sampled_from([1, 4, 8, 17]), label=f"oc{i}")
            k = draw(st.sampled_from([1, 3]), label=f"k{i}")
            stride = draw(st.sampled_from([1, 2]), label=f"stride{i}") if y.shape[2] > 3 else 1
            act = draw(st.sampled_from(["relu", "none", "relu6"]), label=f"act{i}")
            y = _conv(rng, y, oc, k, stride, 1, f"conv{i}", act)
        elif block == "depthwise":
            y = _conv(rng, y, c, 3, 1, c, f"dw{i}", "relu")
        elif block == "pool" and y.shape[2] >= 2:
            y = ops.max_pool(y, kernel=[2, 2], strides=[2, 2], name=f"pool{i}")
        elif block == "reshape":
            n, c, h, w = y.shape
            y = ops.reshape(ops.reshape(y, [n, c, h * w], name=f"flat{i}"), [n, c, h, w], name=f"unflat{i}")
        elif block == "transpose":
            y = ops.transpose(ops.transpose(y, [0, 2, 3, 1], name=f"nhwc{i}"), [0, 3, 1, 2], name=f"nchw{i}")
    # a final quantized layer so the last FakeQuantize is consumed by an int8 layer
    y = _conv(rng, y, 4, 1, 1, 1, "head", "none")
    model = Model(y, name="random")
    signed = draw(st.booleans(), label="signed_input")
    shape = (1, channels, size, size)
    make = (lambda: rng.normal(0, 1, shape)) if signed else (lambda: rng.random(shape))
    calibration = [{"input": make().astype(np.float32)} for _ in range(2)]
    return quantize(model, calibration), make().astype(np.float32)


def _both(model, image):
    int8 = refint8.compile(model, backend="reference")
    fp32 = refint8.compile(model, backend="reference", lpt=False)
    return int8, int8.infer({"input": image})["head/bias"], fp32.infer({"input": image})["head/bias"]


NEAR_TIE_EXAMPLES: list[int] = []


@given(quantized_graphs())
@settings(max_examples=40)
def test_int8_execution_equals_the_fake_quantize_graph(case):
    model, image = case
    compiled, y_int8, y_fp32 = _both(model, image)
    assert any(r.exec_type.endswith("_I8") for r in compiled.perf_counts()), "nothing ran in int8"
    scale = float(np.abs(y_fp32).max()) + 1e-6
    close = np.abs(y_int8 - y_fp32) <= 1e-5 * scale
    if not close.all():
        # a requantization near a tie picked the neighbouring level: allowed, but rare
        NEAR_TIE_EXAMPLES.append(int((~close).sum()))
        assert (~close).mean() <= 0.05, f"{(~close).sum()} of {close.size} outputs differ"


def test_near_ties_are_rare():
    """Across the random graphs above, at most a few examples met a near-tie requantization."""
    assert len(NEAR_TIE_EXAMPLES) <= 4, NEAR_TIE_EXAMPLES


def _structure(model: Model) -> list[tuple]:
    rows = []
    for node in model.nodes:
        attrs = {k: (v.tobytes() if isinstance(v, np.ndarray) else repr(v)) for k, v in node.attrs.items()}
        rows.append((node.name, node.type, tuple(i.name for i in node.inputs), tuple(sorted(attrs.items()))))
    return rows


@given(quantized_graphs())
@settings(max_examples=15)
def test_lpt_is_idempotent(case):
    model, _ = case
    once = lower(model)
    twice = lpt.transform(clone_model(once))
    assert _structure(twice) == _structure(once)


def test_a_graph_without_fake_quantize_is_unchanged():
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 8, 8], name="input")
    y = _conv(rng, x, 4, 3, 1, 1, "conv", "relu")
    y = ops.max_pool(y, kernel=[2, 2], strides=[2, 2], name="pool")
    model = Model(y)
    before = _structure(model)
    assert _structure(lpt.transform(model)) == before


@pytest.mark.parametrize("levels", [17, 254, 3])
def test_fp32_fallback_does_not_change_results(levels):
    """FakeQuantize with levels outside LPT's set: everything stays FP32, results identical."""
    rng = np.random.default_rng(1)
    x = ops.parameter([1, 3, 6, 6], name="input")
    q = ops.fake_quantize(x, 0.0, 1.0, 0.0, 1.0, levels=levels, name="fq")
    w = rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
    wq = ops.fake_quantize(w, -1.0, 1.0, -1.0, 1.0, levels=255, name="wfq")
    y = ops.convolution(q, wq, pads_begin=[1, 1], pads_end=[1, 1], name="conv")
    model = Model(y)
    int8 = refint8.compile(model, backend="reference")
    image = rng.random((1, 3, 6, 6), dtype=np.float32)
    got = int8.infer({"input": image})["conv"]
    want = refint8.compile(model, backend="reference", lpt=False).infer({"input": image})["conv"]
    np.testing.assert_array_equal(got, want)
    assert all(not r.exec_type.endswith("_I8") for r in int8.perf_counts())
    fq = int8.model.node("fq")
    assert fq.rt_info["fp32_reason"] == f"levels {levels} is not one of LPT's level sets (256, 255, 16, 15)"

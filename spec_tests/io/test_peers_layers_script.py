"""benchmarks/peers_layers.py's matching of layers: the stage a node's time is summed into, and each
node's least kernel time read from an ONNX Runtime profile (the script itself needs the peers'
models, built with PyTorch; these are its pure parts)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script():
    sys.path.insert(0, str(BENCHMARKS))   # (it imports the agreement script's model helpers)
    try:
        spec = importlib.util.spec_from_file_location("peers_layers", BENCHMARKS / "peers_layers.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_a_layer_is_summed_into_the_first_two_components_of_its_name():
    stage = load_script().stage
    assert stage("/blocks/blocks.3/conv1/Conv") == "/blocks/blocks.3"
    assert stage("/blocks/blocks.3/Add") == "/blocks/blocks.3"
    assert stage("/blocks/blocks.15/relu_2/Relu_output_0_DequantizeLinear") == "/blocks/blocks.15"
    assert stage("/features/features.4/body/body.0/body.0.0/Conv") == "/features/features.4"
    assert stage("/fc/Gemm") == "/fc/Gemm"                 # two components: the name itself
    assert stage("input_QuantizeLinear") == "input_QuantizeLinear"


def test_each_nodes_least_kernel_time_under_its_onnx_name(tmp_path):
    # two runs of a fused convolution (ORT's _token_ suffix), one of an add, and events that are
    # not a node's kernel time (the session's, a node's fence): 120 and 40 us
    events = [
        {"cat": "Session", "name": "model_run", "dur": 9000},
        {"cat": "Node", "name": "/blocks/blocks.0/conv1/Conv_token_8_kernel_time", "dur": 130},
        {"cat": "Node", "name": "/blocks/blocks.0/conv1/Conv_token_8_fence_before", "dur": 1},
        {"cat": "Node", "name": "/blocks/blocks.0/Add_kernel_time", "dur": 40},
        {"cat": "Node", "name": "/blocks/blocks.0/conv1/Conv_token_8_kernel_time", "dur": 120},
    ]
    profile = tmp_path / "ort.json"
    profile.write_text(json.dumps(events))
    minima = load_script().ort_kernel_minima(profile)
    assert minima == {"/blocks/blocks.0/conv1/Conv": 120.0, "/blocks/blocks.0/Add": 40.0}

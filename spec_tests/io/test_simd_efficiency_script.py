"""benchmarks/simd_efficiency.py's count of a layer's products (its pure part: the timing needs the
simd backend and minutes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from refint8 import opset
from refint8.graph import make_node

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script():
    spec = importlib.util.spec_from_file_location("simd_efficiency", BENCHMARKS / "simd_efficiency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conv(c, size, oc, k, stride, pad):
    x = opset.parameter([1, c, size, size], "u8", name="x")
    weights = opset.constant(np.zeros((oc, c, k, k), np.int8), name="w")
    return make_node("Int8Convolution", [x, weights], {"strides": (stride, stride), "dilations": (1, 1),
                                                        "pads_begin": (pad, pad), "pads_end": (pad, pad)}, name="conv")


def test_a_layer_counts_only_the_products_with_a_real_input():
    real_products = load_script().real_products
    # 3x3, pad 1, 7x7: per axis the edge outputs have 2 real taps, the 5 others 3 (19 of 21)
    assert real_products(conv(512, 7, 512, 3, 1, 1)) == 512 * 512 * 19 * 19
    # stride 2 from 56 to 28: only the first output row (column) reads padding: 2 + 27 * 3 = 83
    assert real_products(conv(128, 56, 128, 3, 2, 1)) == 128 * 128 * 83 * 83
    # 1x1: every product is real
    assert real_products(conv(64, 56, 256, 1, 1, 0)) == 64 * 256 * 56 * 56

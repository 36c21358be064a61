"""What the Int8Convolution and Int8MatMul spec tests share: building a layer node (a Parameter of
codes and a Constant of s8 weights, as LPT leaves them), computing it with the type inference
checked, and code arrays."""

from __future__ import annotations

import numpy as np

from refint8 import opset
from refint8.graph import Node, make_node
from refint8.int8 import INT8_OPS


def layer_node(op: str, q_shape, q_dtype: str, w, name: str, **attrs) -> Node:
    x = opset.parameter(list(q_shape), q_dtype, name=f"{name}/x")
    wc = opset.constant(np.asarray(w, dtype=np.int8), name=f"{name}/w")
    return make_node(op, [x, wc], attrs, name=name)


def run_layer(op: str, q, w, name: str, **attrs) -> np.ndarray:
    """Build the node (shape/dtype inference and checks), compute, check the inferred type."""
    q = np.asarray(q)
    w = np.asarray(w, dtype=np.int8)
    node = layer_node(op, q.shape, "u8" if q.dtype == np.uint8 else "i8", w, name, **attrs)
    (y,) = INT8_OPS[op].compute(node.attrs, q, w)
    assert y.dtype == node.output_types[0].dtype and y.shape == node.output_types[0].shape
    return y


def u8(values) -> np.ndarray:
    return np.asarray(values, dtype=np.uint8)


def i8(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int8)

"""The units of the suite: what is run, one Hypothesis test each.

A unit is identified by ``<op>[<variant>]`` (``Int8Convolution[u8]``, ``MaxPool[u8/i8]``,
``graph[cnn]``); the full test id used by skips/xfails files and the report is
``<level>::<op>[<variant>]`` (``kernels::Int8Convolution[u8]``). Levels:

kernels
    every int8 layer of ``refint8.int8.INT8_OPS``, every fp32 op of ``refint8.ops.OPS`` except
    Parameter and Constant, FakeQuantize in its three roles (f32 -> f32, quantization to u8/i8,
    requantization of codes), and the dtype-generic ops again on u8/i8 codes (precision I8).
graphs
    random quantized graphs through LPT, checked node by node in context and end to end.
capabilities
    the backend's declared :class:`~refint8.backend.Capabilities` are well-formed (the declared
    accumulation mode is also what every int8 kernel unit sets on its nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from refint8.int8 import INT8_OPS
from refint8.ops import OPS

from . import graphs as G
from . import strategies as S


@dataclass(frozen=True)
class Context:
    """What strategies need to know about the backend under test."""

    accumulation: str = "exact"


@dataclass(frozen=True)
class Unit:
    level: str
    op: str
    variant: str
    precision: str
    make: Callable[[Context], st.SearchStrategy] | None
    doc: str = ""

    @property
    def name(self) -> str:
        return f"{self.op}[{self.variant}]"

    @property
    def id(self) -> str:
        return f"{self.level}::{self.name}"


U8, I8 = np.dtype(np.uint8), np.dtype(np.int8)


def _k(op, variant, precision, make, doc="") -> Unit:
    return Unit("kernels", op, variant, precision, lambda c: make(c).filter(S.is_valid), doc)


KERNEL_UNITS: tuple[Unit, ...] = (
    # int8 layers
    _k("Int8Convolution", "u8", "I8", lambda c: S.int8_convolution(U8, c.accumulation),
       "u8 activations (LPT's default), zero points, groups/depthwise, requantization"),
    _k("Int8Convolution", "i8", "I8", lambda c: S.int8_convolution(I8, c.accumulation),
       "i8 activations (AMX table; s16 mode shifts them by +128)"),
    _k("Int8MatMul", "u8", "I8", lambda c: S.int8_matmul(U8, c.accumulation)),
    _k("Int8MatMul", "i8", "I8", lambda c: S.int8_matmul(I8, c.accumulation)),
    _k("Int8AvgPool", "u8/i8", "I8", lambda c: S.int8_avg_pool_case(),
       "integer average rounded half to even (exact ties with 2x2 windows), pad_value"),
    _k("Int8Add", "u8/i8", "I8", lambda c: S.int8_eltwise("Int8Add")),
    _k("Int8Multiply", "u8/i8", "I8", lambda c: S.int8_eltwise("Int8Multiply")),
    _k("Int8MVN", "u8/i8", "I8", lambda c: S.int8_mvn_case()),
    _k("Dequantize", "u8/i8/i32", "I8", lambda c: S.dequantize_case()),
    # FakeQuantize, three roles
    _k("FakeQuantize", "f32", "FP32", lambda c: S.fake_quantize_case("f32"),
       "f32 -> f32: ties, boundaries, degenerate/inverted ranges, NaN/inf, broadcasting"),
    _k("FakeQuantize", "quantize", "FP32", lambda c: S.fake_quantize_case("quantize"),
       "f32 -> u8/i8 codes (output_type): rounding and saturation"),
    _k("FakeQuantize", "requantize", "I8", lambda c: S.fake_quantize_case("requantize"),
       "u8/i8 codes -> f32 or codes: requantization"),
    # fp32 ops
    _k("Convert", "f32/f16/i32/i64/bool", "FP32", lambda c: S.convert_case(False)),
    _k("Convert", "u8/i8", "I8", lambda c: S.convert_case(True)),
    _k("Convolution", "f32", "FP32", lambda c: S.convolution_case()),
    _k("MatMul", "f32", "FP32", lambda c: S.matmul_case()),
    _k("Relu", "f32", "FP32", lambda c: S.relu_case(False)),
    _k("Relu", "u8/i8", "I8", lambda c: S.relu_case(True)),
    _k("Clamp", "f32", "FP32", lambda c: S.unary_case("Clamp", S.clamp_attrs)),
    _k("Sigmoid", "f32", "FP32", lambda c: S.unary_case("Sigmoid")),
    _k("Tanh", "f32", "FP32", lambda c: S.unary_case("Tanh")),
    _k("Exp", "f32", "FP32", lambda c: S.unary_case("Exp")),
    _k("Softmax", "f32", "FP32", lambda c: S.softmax_case()),
    _k("MVN", "f32", "FP32", lambda c: S.mvn_case()),
    _k("MaxPool", "f32", "FP32", lambda c: S.pool_case("MaxPool", "f32")),
    _k("MaxPool", "u8/i8", "I8", lambda c: S.pool_case("MaxPool", "codes")),
    _k("AvgPool", "f32", "FP32", lambda c: S.pool_case("AvgPool", "f32")),
    _k("Interpolate", "nearest", "FP32", lambda c: S.interpolate_case("nearest-f32")),
    _k("Interpolate", "nearest-u8/i8", "I8", lambda c: S.interpolate_case("nearest-codes")),
    _k("Interpolate", "linear", "FP32", lambda c: S.interpolate_case("linear")),
    *(_k(op, "f32", "FP32", (lambda o: lambda c: S.binary_case(o))(op))
      for op in ("Add", "Subtract", "Multiply", "Maximum", "Minimum")),
    *(_k(op, variant, precision, (lambda f, low: lambda c: f(low))(fn, low))
      for op, fn in (("Reshape", S.reshape_case), ("Transpose", S.transpose_case),
                     ("Squeeze", S.squeeze_case), ("Unsqueeze", S.unsqueeze_case),
                     ("Concat", S.concat_case))
      for variant, precision, low in (("f32/i32", "FP32", False), ("u8/i8", "I8", True))),
)

GRAPH_UNITS: tuple[Unit, ...] = tuple(
    Unit("graphs", "graph", kind, "I8+FP32", (lambda k: lambda c: G.graph_case(k))(kind),
         {"cnn": "conv chains: depthwise, strides, pools, nearest resize, fc head",
          "branches": "concat, residual add, multiply, MVN, transpose",
          "mlp": "fully connected layers"}[kind])
    for kind in G.GRAPH_KINDS
)

CAPABILITY_UNITS: tuple[Unit, ...] = (
    Unit("capabilities", "capabilities", "declared", "-", None,
         "Capabilities is well-formed: accumulation mode, ISA variants, usable()"),
)

UNITS: tuple[Unit, ...] = CAPABILITY_UNITS + KERNEL_UNITS + GRAPH_UNITS


def _check_coverage() -> None:
    """Every op of the specification has a kernel unit (a new op must get a strategy)."""
    covered = {u.op for u in KERNEL_UNITS}
    missing = (set(OPS) - {"Parameter", "Constant"} | set(INT8_OPS)) - covered
    if missing:
        raise AssertionError(f"refint8-conformance: no kernel unit for {sorted(missing)}")


_check_coverage()


def select(units, ops: str | None) -> list[Unit]:
    """Filter by ``--ops``: a comma list; each item is an op name, a unit name or id, or a regex."""
    import re

    if not ops:
        return list(units)
    items = [i.strip() for i in ops.split(",") if i.strip()]
    chosen: list[Unit] = []
    for item in items:
        exact = [u for u in units if item in (u.op, u.name, u.id, u.level)]
        if not exact:
            try:
                pattern = re.compile(item)
                exact = [u for u in units if pattern.search(u.id)]
            except re.error:
                exact = [u for u in units if item in u.id]
        chosen.extend(u for u in exact if u not in chosen)
    return [u for u in units if u in chosen]

"""ONNX models quantized with QuantizeLinear/DequantizeLinear (Q/DQ) pairs, read as FakeQuantize.

Needs the optional ``onnx`` package (``pip install onnx``); it is imported only when an ONNX file
is read, and its absence is a clear :class:`~refint8.errors.UnsupportedError`.

**The Q/DQ identity.** ONNX's ``QuantizeLinear`` computes ``q = saturate(round(x / s) + z)`` into
the integer range ``[qmin, qmax]`` of its output type (uint8: ``[0, 255]``, int8:
``[-128, 127]``), ``DequantizeLinear`` computes ``y = (q - z) * s``. In exact arithmetic the
pair is this one FakeQuantize::

    levels = qmax - qmin + 1                       (256)
    il = ol = (qmin - z) * s
    ih = oh = (qmax - z) * s

Proof: ``ih - il = (levels - 1) * s``, so inside the range FakeQuantize's level index is
``round((x - il) / (ih - il) * (levels - 1)) = round(x / s - (qmin - z)) = round(x / s) + z - qmin``
(``qmin - z`` is an integer), i.e. ``q - qmin``; its output ``(q - qmin) * s + il`` is
``(q - z) * s``. Below the range (``x <= il``) both give ``ol = (qmin - z) * s``, above it both give
``oh = (qmax - z) * s`` — the saturation. Both round half to even (ONNX: "rounding to nearest ties
to even"; FakeQuantize: ``nearbyint``). The two agree up to float32 rounding: ONNX divides by ``s``
while FakeQuantize divides ``x - il`` by ``ih - il``, so an input within a few ulp of a rounding
tie may land on the neighbouring level, and outputs may differ in the last bits.
With per-axis quantization (1-D ``s`` and ``z`` along ``axis``) the ranges are per-axis tensors of
the same rank as ``x`` (``C`` along ``axis``, 1 elsewhere). If the DequantizeLinear uses another
scale or zero point than its QuantizeLinear, the input range comes from the Q and the output range
from the DQ, the same formulas.

**A lone DequantizeLinear on constant int8/uint8 weights** (the usual QDQ form: weights are stored
as integers) becomes ``Constant(dequantized f32) -> FakeQuantize`` with the identity above
(:func:`refint8.io._common.integer_weights_as_fake_quantize`). We chose this over folding to a
plain float Constant because a FakeQuantize on constant weights is what LPT recognizes as
quantized weights: it folds it back into the original i8 codes and scales and the layer runs in
I8, as OpenVINO's CPU plugin runs the same model. In an fp32 run (``lpt=False``) the weights are
the dequantized values up to float32 rounding of the FakeQuantize output map (a few ulp).
A DequantizeLinear on a constant int32 tensor (a quantized bias) is folded to the float32 constant
``float32(q - z) * s``. A DequantizeLinear on a non-constant u8/i8 tensor (a quantized graph input)
becomes ``Convert(f32) -> Subtract(z) -> Multiply(s)``.

**Other ops** (attribute handling in each ``_op_*`` method): Conv (2-D; bias becomes an ``Add`` of a
``[1, C, 1, 1]`` constant), Gemm (MatMul with transposes, then ``Multiply(alpha)`` and
``Add(beta * C)``), MatMul, Relu, Clip (constant bounds), MaxPool, AveragePool (2-D; ``ceil_mode``
only where ONNX's output size equals OpenVINO's, i.e. no last window starting in the padding),
GlobalAveragePool (AvgPool over the whole plane; note: OpenVINO's own ONNX frontend makes it a
ReduceMean, whose int8 execution keeps the exact mean, while an AvgPool followed by an int8 layer
rounds the average to a code, in OpenVINO as in refint8's LPT: up to half a code step of difference
from reading the ONNX file with OpenVINO directly), Add, Mul, Sub, Max, Min (two inputs), Concat,
Reshape (constant shape; ``allowzero=0`` is ``special_zero``), Flatten (a Reshape), Transpose,
Squeeze, Unsqueeze, Resize (``nearest`` -> nearest, ``linear`` -> linear_onnx; coordinate modes
half_pixel, pytorch_half_pixel, asymmetric, tf_half_pixel_for_nn, align_corners; only the resized
axes are passed), Softmax (opset >= 13 semantics; for opset < 13 the "flatten from ``axis``"
semantics through Reshape when needed), Sigmoid, Tanh, Exp, BatchNormalization (folded into the
preceding Conv when that Conv's output feeds only it and its weights are plain float constants;
otherwise ``Multiply(a) -> Add(c)`` with ``a = scale / sqrt(var + eps)``, ``c = B - mean * a``,
computed in float64 and rounded to float32), Identity, Constant, initializers (f32, f16 and f64
widened to f32, i8, u8, i32, i64, bool).

Anything else — an op, an attribute value (``auto_pad``, ``mode``, ``dilations`` of pooling, a
blocked quantization, ...) or an element type refint8 does not support — is an
:class:`~refint8.errors.UnsupportedError` naming the node and op and listing what is supported. A
file that is not a valid ONNX protobuf is a :class:`~refint8.errors.ModelFileError`. Dynamic
dimensions must be fixed with ``input_shapes={"name": [..]}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import GraphError, ModelFileError, UnsupportedError
from ..graph import Model, Output
from ._common import (INTEGER_RANGES, NameTable, build, file_error, integer_weights_as_fake_quantize,
                      with_context)


def _import_onnx() -> Any:
    try:
        import onnx  # noqa: PLC0415
        from onnx import numpy_helper  # noqa: F401, PLC0415
    except ImportError:
        raise UnsupportedError("reading ONNX files needs the optional package 'onnx' "
                               "(pip install onnx)") from None
    return onnx


# -- values --------------------------------------------------------------------------------------


@dataclass
class _Value:
    """A tensor while reading: a graph output, a constant (not a node yet) or a QuantizeLinear result."""

    name: str
    output: Output | None = None
    const: np.ndarray | None = None
    quantized: "_Quantized | None" = None


@dataclass
class _Quantized:
    """The output of a QuantizeLinear: the float input and its quantization."""

    source: _Value
    scale: np.ndarray       # float32, per-tensor (shape ()) or per-axis (1-D)
    zero_point: np.ndarray  # integer, same shape as scale
    element_type: str       # "u8" | "i8"
    axis: int
    node: str


_CONST_DTYPES = {
    np.dtype(np.float32): np.float32, np.dtype(np.float16): np.float32,
    np.dtype(np.float64): np.float32, np.dtype(np.int8): None, np.dtype(np.uint8): None,
    np.dtype(np.int32): None, np.dtype(np.int64): None, np.dtype(np.bool_): None,
}
_INPUT_TYPES = {"FLOAT": "f32", "UINT8": "u8", "INT8": "i8", "INT32": "i32", "INT64": "i64"}

_RESIZE_COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "asymmetric",
                            "tf_half_pixel_for_nn", "align_corners")
_RESIZE_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")

#: ONNX op types this reader maps (see the module docstring).
SUPPORTED_OPS = (
    "AveragePool", "Add", "BatchNormalization", "Clip", "Concat", "Constant", "Conv",
    "DequantizeLinear", "Exp", "Flatten", "Gemm", "GlobalAveragePool", "Identity", "MatMul", "Max",
    "MaxPool", "Min", "Mul", "QuantizeLinear", "Relu", "Reshape", "Resize", "Sigmoid", "Softmax",
    "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
)


#: How many inputs each op takes: (required, most); None: any number.
_ARITY: dict[str, tuple[int, int | None]] = {
    "QuantizeLinear": (2, 3), "DequantizeLinear": (2, 3), "Conv": (2, 3), "Gemm": (2, 3),
    "MatMul": (2, 2), "Relu": (1, 1), "Clip": (1, 3), "MaxPool": (1, 1), "AveragePool": (1, 1),
    "GlobalAveragePool": (1, 1), "Add": (2, 2), "Sub": (2, 2), "Mul": (2, 2), "Max": (1, None),
    "Min": (1, None), "Concat": (1, None), "Reshape": (2, 2), "Flatten": (1, 1),
    "Transpose": (1, 1), "Squeeze": (1, 2), "Unsqueeze": (1, 2), "Resize": (1, 4),
    "Softmax": (1, 1), "Sigmoid": (1, 1), "Tanh": (1, 1), "Exp": (1, 1),
    "BatchNormalization": (5, 5), "Identity": (1, 1), "Constant": (0, 0),
}
_BATCHNORM_ATTRIBUTES = {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0, "spatial": 1}

#: Attributes that are lists of integers (the others take the kind of their default value).
_LIST_ATTRIBUTES = ("axes", "dilations", "kernel_shape", "pads", "perm", "strides")


def _attribute_kind(name: str, default: Any) -> str:
    if name in _LIST_ATTRIBUTES:
        return "list_of_integers"
    if isinstance(default, float):
        return "a_number"
    if isinstance(default, str):
        return "a_string"
    return "an_integer"  # int defaults, and None (Concat's axis)


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "list_of_integers":
        return isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value)
    if kind == "a_number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "a_string":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool)


class _OnnxReader:
    def __init__(self, path: Path, input_shapes: Mapping[str, Sequence[int]] | None) -> None:
        self.path = path
        self.input_shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
        self.names = NameTable()
        self.env: dict[str, _Value] = {}
        self.onnx = _import_onnx()
        self.bn_for_conv: dict[int, Any] = {}
        self.bn_folded: set[int] = set()

    # -- errors ------------------------------------------------------------------------------

    def fail(self, problem: str) -> ModelFileError:
        return file_error(self.path, problem)

    def unsupported(self, node: Any, reason: str, attribute: str | None = None,
                    value: Any = None) -> UnsupportedError:
        reason = f"{reason} (in {self.path})"
        name = self.node_label(node)
        if attribute is None:
            return UnsupportedError(reason, node=name, op=node.op_type)
        return UnsupportedError(reason, node=name, op=node.op_type, attribute=attribute, value=value)

    @staticmethod
    def node_label(node: Any) -> str:
        return node.name or (node.output[0] if node.output else node.op_type)

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> Any:
        onnx = self.onnx
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise self.fail("no such file") from None
        except OSError as exc:
            raise self.fail(f"cannot be read: {exc.strerror or exc}") from None
        if not data:
            raise self.fail("the file is empty")
        try:
            proto = onnx.load_model_from_string(data)
        except Exception as exc:  # protobuf DecodeError and friends
            raise self.fail(f"not a valid ONNX protobuf ({type(exc).__name__}: {exc}); the file "
                            "is truncated or corrupted") from None
        if not proto.HasField("graph") or not proto.graph.output:
            raise self.fail("not a valid ONNX model: it has no graph or the graph has no outputs "
                            "(truncated or corrupted?)")
        graph = proto.graph
        names = [n for n in graph.node for n in (n.name, n.op_type, n.domain, *n.input, *n.output)]
        names += [t.name for t in graph.initializer] + [v.name for v in (*graph.input, *graph.output)]
        if any(not isinstance(n, str) for n in names):
            raise self.fail("a name in the graph is not valid UTF-8 text (corrupted file)")
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
            try:
                from onnx.external_data_helper import load_external_data_for_model  # noqa: PLC0415
                load_external_data_for_model(proto, str(self.path.parent))
            except Exception as exc:
                raise self.fail(f"cannot load external tensor data: {type(exc).__name__}: {exc}") from None
        return proto

    def to_array(self, tensor: Any, what: str) -> np.ndarray:
        onnx = self.onnx
        type_name = onnx.TensorProto.DataType.Name(tensor.data_type) if tensor.data_type in \
            onnx.TensorProto.DataType.values() else str(tensor.data_type)
        try:
            array = onnx.numpy_helper.to_array(tensor)
        except Exception as exc:
            raise self.fail(f"{what} '{tensor.name}' ({type_name}) cannot be decoded: "
                            f"{type(exc).__name__}: {exc}") from None
        if array.dtype not in _CONST_DTYPES:
            raise UnsupportedError(
                f"{self.path}: {what} '{tensor.name}' has element type {type_name}; supported: "
                "FLOAT, FLOAT16, DOUBLE, INT8, UINT8, INT32, INT64, BOOL")
        widen = _CONST_DTYPES[array.dtype]
        return np.ascontiguousarray(array.astype(widen) if widen is not None else array)

    # -- the graph ---------------------------------------------------------------------------

    def read(self) -> Model:
        proto = self.load()
        graph = proto.graph
        self.opset = 1
        for entry in proto.opset_import:
            if entry.domain in ("", "ai.onnx"):
                self.opset = entry.version
        for init in graph.initializer:
            self.env[init.name] = _Value(init.name, const=self.to_array(init, "initializer"))
        parameters = []
        for info in graph.input:
            if info.name in self.env:
                continue  # an initializer listed as an input (IR < 4)
            parameters.append(self.parameter(info))
        nodes = self.needed_nodes(graph)
        self.plan_batchnorm_folding(graph, nodes)
        for node in nodes:
            self.convert_node(node)
        outputs: dict[str, Output] = {}
        for info in graph.output:
            if info.name not in self.env:
                raise self.fail(f"graph output '{info.name}' is not produced by any node, "
                                "initializer or input")
            value = self.env[info.name]
            if value.quantized is not None:
                raise UnsupportedError(f"{self.path}: graph output '{info.name}' is the integer "
                                       "output of a QuantizeLinear; refint8 needs a "
                                       "DequantizeLinear after it")
            outputs[info.name] = self.output(value)
        try:
            return Model(outputs, parameters, name=graph.name or self.path.stem)
        except GraphError as exc:
            raise with_context(exc, str(self.path)) from None

    def parameter(self, info: Any) -> Any:
        onnx = self.onnx
        ttype = info.type.tensor_type if info.type.HasField("tensor_type") else None
        if ttype is None:
            raise UnsupportedError(f"{self.path}: graph input '{info.name}' is not a tensor")
        type_name = onnx.TensorProto.DataType.Name(ttype.elem_type) if ttype.elem_type in \
            onnx.TensorProto.DataType.values() else str(ttype.elem_type)
        if type_name not in _INPUT_TYPES:
            raise UnsupportedError(f"{self.path}: graph input '{info.name}' has element type "
                                   f"{type_name}; supported: {', '.join(_INPUT_TYPES)}")
        if info.name in self.input_shapes:
            shape = self.input_shapes[info.name]
        else:
            if not ttype.HasField("shape"):
                raise UnsupportedError(f"{self.path}: graph input '{info.name}' has no shape; give "
                                       "it with input_shapes={name: shape}")
            shape = []
            for dim in ttype.shape.dim:
                if dim.HasField("dim_value") and dim.dim_value > 0:
                    shape.append(dim.dim_value)
                else:
                    label = dim.dim_param or "?"
                    raise UnsupportedError(
                        f"{self.path}: graph input '{info.name}' has a dynamic dimension "
                        f"'{label}'; refint8 needs static shapes: give them with "
                        "read_model(path, input_shapes={name: shape})")
        name = self.names.claim(info.name)
        node = build("Parameter", [], {"shape": shape, "element_type": _INPUT_TYPES[type_name]},
                     name, where=str(self.path))
        self.env[info.name] = _Value(name, output=node.output(0))
        return node

    def needed_nodes(self, graph: Any) -> list[Any]:
        """The nodes the graph outputs depend on, in file order (which ONNX requires topological)."""
        producer = {}
        for index, node in enumerate(graph.node):
            for out in node.output:
                if out:
                    producer[out] = index
        needed: set[int] = set()
        stack = [producer[o.name] for o in graph.output if o.name in producer]
        while stack:
            index = stack.pop()
            if index in needed:
                continue
            needed.add(index)
            for name in graph.node[index].input:
                if name in producer and producer[name] not in needed:
                    stack.append(producer[name])
        return [node for index, node in enumerate(graph.node) if index in needed]

    def plan_batchnorm_folding(self, graph: Any, nodes: list[Any]) -> None:
        """Find ``Conv -> BatchNormalization`` pairs where the Conv output feeds only the BN."""
        uses: dict[str, int] = {}
        for node in nodes:
            for name in node.input:
                uses[name] = uses.get(name, 0) + 1
        for o in graph.output:
            uses[o.name] = uses.get(o.name, 0) + 1
        self._used_names = set(uses)
        conv_of = {node.output[0]: node for node in nodes if node.op_type == "Conv"}
        for node in nodes:
            if node.op_type == "BatchNormalization" and node.input[0] in conv_of \
                    and uses.get(node.input[0]) == 1:
                self.bn_for_conv[id(conv_of[node.input[0]])] = node

    # -- helpers -----------------------------------------------------------------------------

    def output(self, value: _Value) -> Output:
        if value.quantized is not None:
            raise AssertionError("a quantized value has no float output")
        if value.output is None:
            node = build("Constant", [], {"value": value.const}, self.names.claim(value.name),
                         where=str(self.path))
            value.output = node.output(0)
        return value.output

    def inputs_of(self, node: Any) -> list[_Value | None]:
        values: list[_Value | None] = []
        for name in node.input:
            if name == "":
                values.append(None)
                continue
            if name not in self.env:
                raise self.fail(f"node '{self.node_label(node)}' ({node.op_type}) reads tensor "
                                f"'{name}', which no earlier node, initializer or graph input "
                                "produces (the graph is not topologically sorted or is incomplete)")
            value = self.env[name]
            if value.quantized is not None and node.op_type != "DequantizeLinear":
                raise self.unsupported(node, f"input '{name}' is the integer output of "
                                       f"QuantizeLinear '{value.quantized.node}'; refint8 reads "
                                       "QuantizeLinear only when a DequantizeLinear consumes it")
            values.append(value)
        return values

    def attributes(self, node: Any, allowed: Mapping[str, Any]) -> dict[str, Any]:
        """The node's attributes with defaults from ``allowed``; any other is Unsupported.

        A value of the wrong kind (e.g. a string where ONNX defines an integer: a corrupted
        file) is a ModelFileError.
        """
        onnx = self.onnx
        result = dict(allowed)
        for attr in node.attribute:
            if attr.name not in allowed:
                raise self.unsupported(
                    node, f"attribute not supported; {node.op_type} supports: "
                    f"{', '.join(allowed) or 'none'}", attr.name, onnx.helper.get_attribute_value(attr))
            value = onnx.helper.get_attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            kind = _attribute_kind(attr.name, allowed[attr.name])
            if not _has_kind(value, kind):
                raise self.fail(f"node '{self.node_label(node)}' ({node.op_type}): attribute "
                                f"'{attr.name}' = {value!r} is not {kind.replace('_', ' ')} "
                                "(corrupted file?)")
            result[attr.name] = list(value) if kind == "list_of_integers" else value
        return result

    @staticmethod
    def constant_value(value: _Value | None) -> np.ndarray | None:
        """The value of a constant, or of a FakeQuantize on constants (a DequantizeLinear of
        integer initializers: evaluated with the reference FakeQuantize); None otherwise."""
        if value is None:
            return None
        if value.const is not None:
            return value.const
        node = value.output.node if value.output is not None else None
        if node is not None and node.type == "FakeQuantize" and \
                all(src.node.type == "Constant" for src in node.inputs):
            from ..ops import get_op

            return get_op("FakeQuantize").compute(
                node.attrs, *[src.node.attrs["value"] for src in node.inputs])[0]
        return None

    def const(self, node: Any, value: _Value | None, what: str, *, kind: str = "any") -> np.ndarray:
        array = self.constant_value(value)
        if array is None:
            raise self.unsupported(node, f"{what} must be a constant (initializer or Constant)")
        if kind == "int" and array.dtype.kind not in "iu":
            raise self.unsupported(node, f"{what} must be an integer tensor, got {array.dtype}")
        if kind == "float" and array.dtype.kind != "f":
            raise self.unsupported(node, f"{what} must be a float tensor, got {array.dtype}")
        return array

    def make(self, node: Any, op_type: str, inputs: Sequence[_Value | Output], attrs: Mapping[str, Any],
             suffix: str = "") -> _Value:
        outs = [i if isinstance(i, Output) else self.output(i) for i in inputs]
        name = self.names.claim(self.node_label(node) + suffix)
        made = build(op_type, outs, attrs, name, where=f"{self.path}, ONNX node "
                     f"'{self.node_label(node)}' ({node.op_type})")
        return _Value(name, output=made.output(0))

    def constant(self, name: str, value: np.ndarray) -> _Value:
        """A constant value; its node (named ``name``, made unique) is created on first use."""
        return _Value(name, const=np.ascontiguousarray(value))

    @staticmethod
    def shape_of(value: _Value) -> tuple[int, ...]:
        if value.const is not None:
            return tuple(value.const.shape)
        return tuple(value.output.shape)  # type: ignore[union-attr]

    def set_outputs(self, node: Any, *values: _Value) -> None:
        for index, name in enumerate(node.output):
            if not name:
                continue
            if index >= len(values):
                raise self.unsupported(node, f"output {index} ('{name}') is not supported; only "
                                       f"the first {len(values)} output(s)")
            self.env[name] = values[index]

    def convert_node(self, node: Any) -> None:
        if node.domain not in ("", "ai.onnx"):
            raise self.unsupported(node, f"operator domain '{node.domain}' is not supported; "
                                   "supported: the default ONNX domain")
        handler = getattr(self, f"_op_{node.op_type}", None)
        if handler is None:
            raise self.unsupported(node, f"ONNX op is not supported; supported: {', '.join(SUPPORTED_OPS)}")
        least, most = _ARITY[node.op_type]
        count = len(node.input)
        if count < least or (most is not None and count > most) or "" in node.input[:least]:
            expected = f"{least}" if least == most else f"{least} to {most if most is not None else 'any'}"
            raise self.fail(f"node '{self.node_label(node)}' ({node.op_type}) has inputs "
                            f"{list(node.input)}; it takes {expected} (the first {least} required)")
        handler(node, self.inputs_of(node))

    def single_output(self, node: Any) -> None:
        extra = [name for name in node.output[1:] if name]
        if extra and any(self._is_used(name) for name in extra):
            raise self.unsupported(node, f"only the first output is supported; '{extra[0]}' is used")

    def _is_used(self, name: str) -> bool:
        return name in self._used_names

    # -- quantization ------------------------------------------------------------------------

    def _quantization(self, node: Any, inputs: list[_Value | None], data_shape: tuple[int, ...],
                      axis: int, zero_type: str | None) -> tuple[np.ndarray, np.ndarray, str, int]:
        """Scale (f32), zero point, element type and normalized axis of a Q or DQ node."""
        data_rank = len(data_shape)
        scale = self.const(node, inputs[1], "the scale (input 1)", kind="float").astype(np.float32)
        zp_value = inputs[2] if len(inputs) > 2 else None
        if zp_value is not None:
            zero_point = self.const(node, zp_value, "the zero point (input 2)")
            dtype = zero_point.dtype
            type_name = {np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8"}.get(dtype)
            if type_name is None:
                raise self.unsupported(node, f"zero point of element type {dtype}; supported: "
                                       "uint8, int8")
        else:
            type_name = zero_type or "u8"
            zero_point = np.zeros(scale.shape, np.int64)
        if zero_point.shape != scale.shape:
            raise self.unsupported(node, f"scale shape {list(scale.shape)} and zero point shape "
                                   f"{list(zero_point.shape)} differ")
        if scale.ndim > 1:
            raise self.unsupported(node, f"scale of shape {list(scale.shape)}: only per-tensor "
                                   "(scalar) and per-axis (1-D) quantization is supported")
        if scale.ndim == 1 and scale.shape[0] == 1:
            scale, zero_point = scale.reshape(()), zero_point.reshape(())
        if scale.ndim == 1:
            if not -data_rank <= axis < data_rank:
                raise self.unsupported(node, f"axis out of range for rank {data_rank}", "axis", axis)
            axis %= data_rank
            if scale.shape[0] != data_shape[axis]:
                raise self.fail(f"node '{self.node_label(node)}' ({node.op_type}): {scale.shape[0]} "
                                f"scales for axis {axis} of a tensor of shape {list(data_shape)}")
        return scale, zero_point.astype(np.int64), type_name, axis

    @staticmethod
    def _per_axis(array: np.ndarray, rank: int, axis: int) -> np.ndarray:
        if array.ndim == 0:
            return array
        shape = [1] * rank
        shape[axis] = array.shape[0]
        return array.reshape(shape)

    def _op_QuantizeLinear(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"axis": 1, "saturate": 1, "block_size": 0, "output_dtype": 0,
                                       "precision": 0})
        if attrs["block_size"]:
            raise self.unsupported(node, "blocked quantization is not supported", "block_size",
                                   attrs["block_size"])
        onnx = self.onnx
        zero_type = None
        if attrs["output_dtype"]:
            zero_type = {onnx.TensorProto.UINT8: "u8", onnx.TensorProto.INT8: "i8"}.get(attrs["output_dtype"])
            if zero_type is None:
                raise self.unsupported(node, "output type not supported; supported: UINT8, INT8",
                                       "output_dtype", attrs["output_dtype"])
        source = inputs[0]
        if source is None:
            raise self.fail(f"QuantizeLinear '{self.node_label(node)}' has no input")
        if source.const is not None and source.const.dtype.kind != "f" or \
                source.output is not None and source.output.dtype != np.float32:
            raise self.unsupported(node, "the input of QuantizeLinear must be float32")
        scale, zp, type_name, axis = self._quantization(node, inputs, self.shape_of(source),
                                                        attrs["axis"], zero_type)
        self.set_outputs(node, _Value(self.node_label(node), quantized=_Quantized(
            source, scale, zp, type_name, axis, self.node_label(node))))

    def _op_DequantizeLinear(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"axis": 1, "block_size": 0})
        if attrs["block_size"]:
            raise self.unsupported(node, "blocked quantization is not supported", "block_size",
                                   attrs["block_size"])
        x = inputs[0]
        if x is None:
            raise self.fail(f"DequantizeLinear '{self.node_label(node)}' has no input")
        name = self.node_label(node)
        if x.quantized is not None:
            q = x.quantized
            rank = len(self.shape_of(q.source))
            scale, zp, type_name, axis = self._quantization(node, inputs, self.shape_of(q.source),
                                                            attrs["axis"], q.element_type)
            if type_name != q.element_type:
                raise self.unsupported(node, f"its zero point is {type_name} but QuantizeLinear "
                                       f"'{q.node}' produces {q.element_type}")
            qmin, qmax = INTEGER_RANGES[type_name]

            def bounds(s: np.ndarray, z: np.ndarray, ax: int) -> tuple[np.ndarray, np.ndarray]:
                zf = z.astype(np.float32)
                low = (np.float32(qmin) - zf) * s
                high = (np.float32(qmax) - zf) * s
                return (self._per_axis(low.astype(np.float32), rank, ax),
                        self._per_axis(high.astype(np.float32), rank, ax))

            il, ih = bounds(q.scale, q.zero_point, q.axis)
            ol, oh = bounds(scale, zp, axis)
            ranges = [self.constant(f"{name}/{label}", r) for label, r in
                      (("input_low", il), ("input_high", ih), ("output_low", ol), ("output_high", oh))]
            value = self.make(node, "FakeQuantize", [q.source, *ranges], {"levels": qmax - qmin + 1})
            self.set_outputs(node, value)
            return
        rank = len(self.shape_of(x))
        if x.const is not None:
            codes = x.const
            if codes.dtype in (np.int8, np.uint8):
                zero_type = "i8" if codes.dtype == np.int8 else "u8"
                scale, zp, type_name, axis = self._quantization(node, inputs, codes.shape, attrs["axis"],
                                                                zero_type)
                if type_name != zero_type:
                    raise self.unsupported(node, f"zero point type {type_name} differs from the "
                                           f"data type {zero_type}")
                out = integer_weights_as_fake_quantize(
                    codes, type_name, self._per_axis(scale, rank, axis),
                    self._per_axis(zp, rank, axis), self.names.claim(name), names=self.names)
                self.set_outputs(node, _Value(out.node.name, output=out))
                return
            if codes.dtype == np.int32:
                scale = self.const(node, inputs[1], "the scale (input 1)", kind="float").astype(np.float32)
                zp_value = inputs[2] if len(inputs) > 2 else None
                zp = np.zeros(scale.shape, np.int64) if zp_value is None else \
                    self.const(node, zp_value, "the zero point (input 2)", kind="int").astype(np.int64)
                if zp.shape != scale.shape or scale.ndim > 1:
                    raise self.unsupported(node, f"scale shape {list(scale.shape)} and zero point "
                                           f"shape {list(zp.shape)}: only per-tensor or per-axis")
                if scale.ndim == 1 and scale.shape[0] != 1:
                    if not -rank <= attrs["axis"] < rank or scale.shape[0] != codes.shape[attrs["axis"]]:
                        raise self.fail(f"node '{name}' (DequantizeLinear): {scale.shape[0]} scales "
                                        f"for axis {attrs['axis']} of shape {list(codes.shape)}")
                    axis = attrs["axis"] % rank
                    scale, zp = self._per_axis(scale, rank, axis), self._per_axis(zp, rank, axis)
                else:
                    scale, zp = scale.reshape(()), zp.reshape(())
                values = (codes.astype(np.int64) - zp).astype(np.float32) * scale
                self.set_outputs(node, self.constant(name, values.astype(np.float32)))
                return
            raise self.unsupported(node, f"DequantizeLinear of a constant of element type "
                                   f"{codes.dtype}; supported: int8, uint8 (weights), int32 (bias)")
        dtype = x.output.dtype  # type: ignore[union-attr]
        if dtype not in (np.uint8, np.int8):
            raise self.unsupported(node, f"DequantizeLinear input of element type {dtype}; "
                                   "supported: the output of a QuantizeLinear, a uint8/int8 tensor")
        zero_type = "i8" if dtype == np.int8 else "u8"
        scale, zp, _, axis = self._quantization(node, inputs, self.shape_of(x), attrs["axis"],
                                                zero_type)
        value = self.make(node, "Convert", [x], {"destination_type": "f32"}, "/convert")
        if np.any(zp != 0):
            zp_const = self.constant(f"{name}/zero_point",
                                     self._per_axis(zp.astype(np.float32), rank, axis))
            value = self.make(node, "Subtract", [value, zp_const], {}, "/subtract")
        scale_const = self.constant(f"{name}/scale", self._per_axis(scale, rank, axis))
        self.set_outputs(node, self.make(node, "Multiply", [value, scale_const], {}))

    # -- layers ------------------------------------------------------------------------------

    def _pads(self, node: Any, attrs: dict[str, Any], spatial: int) -> dict[str, Any]:
        auto_pad = attrs["auto_pad"]
        table = {"NOTSET": "explicit", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower",
                 "VALID": "valid"}
        if auto_pad not in table:
            raise self.unsupported(node, f"unsupported value; supported: {', '.join(table)}",
                                   "auto_pad", auto_pad)
        pads = list(attrs["pads"] or [0] * (2 * spatial))
        if len(pads) != 2 * spatial:
            raise self.unsupported(node, f"needs {2 * spatial} entries", "pads", pads)
        return {"auto_pad": table[auto_pad], "pads_begin": pads[:spatial], "pads_end": pads[spatial:]}

    def _require_2d(self, node: Any, rank: int) -> None:
        if rank != 4:
            raise self.unsupported(node, f"only 2-D (NCHW, rank-4) data is supported, got rank {rank}")

    def _op_Conv(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"auto_pad": "NOTSET", "dilations": None, "group": 1,
                                       "kernel_shape": None, "pads": None, "strides": None})
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        self._require_2d(node, len(self.shape_of(x)))  # type: ignore[arg-type]
        w_shape = self.shape_of(w)  # type: ignore[arg-type]
        if attrs["kernel_shape"] is not None and list(attrs["kernel_shape"]) != list(w_shape[2:]):
            raise self.fail(f"Conv '{self.node_label(node)}': kernel_shape "
                            f"{list(attrs['kernel_shape'])} does not match the weights {list(w_shape)}")
        conv_attrs = {"strides": attrs["strides"] or [1, 1], "dilations": attrs["dilations"] or [1, 1],
                      "group": attrs["group"], **self._pads(node, attrs, 2)}
        bias_array = None
        if bias is not None:
            bias_array = self.const(node, bias, "the bias (input 2)", kind="float").astype(np.float32)
        bn = self.bn_for_conv.get(id(node))
        if bn is not None:
            folded = self._fold_batchnorm(bn, w, bias_array)  # type: ignore[arg-type]
            if folded is not None:
                w, bias_array = folded
                self.bn_folded.add(id(bn))
        y = self.make(node, "Convolution", [x, w], conv_attrs)  # type: ignore[list-item]
        if bias_array is not None:
            channels = self.shape_of(y)[1]
            b = self.constant(f"{self.node_label(node)}/bias_value",
                              bias_array.reshape(1, channels, 1, 1))
            y = self.make(node, "Add", [y, b], {}, "/bias")
        self.set_outputs(node, y)

    def _batchnorm_params(self, bn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``a = scale / sqrt(var + eps)`` and the constants, or None if they are not constant."""
        eps = float(self.attributes(bn, _BATCHNORM_ATTRIBUTES)["epsilon"])
        params = []
        for name in bn.input[1:5]:
            array = self.constant_value(self.env.get(name))
            if array is None or array.dtype.kind != "f":
                return None
            params.append(array.astype(np.float64).reshape(-1))
        scale, offset, mean, var = params
        a = scale / np.sqrt(var + np.float64(np.float32(eps)))
        return a, offset, mean

    def _fold_batchnorm(self, bn: Any, w: _Value, bias: np.ndarray | None) -> tuple[_Value, np.ndarray] | None:
        if w.const is None or w.const.dtype.kind != "f":
            return None  # quantized (FakeQuantize) or computed weights: keep the BN as Multiply/Add
        if len(bn.input) != 5:
            return None  # reported when the BatchNormalization itself is read
        attrs = self.attributes(bn, _BATCHNORM_ATTRIBUTES)
        if attrs["training_mode"] or attrs["spatial"] != 1:
            return None
        params = self._batchnorm_params(bn)
        if params is None:
            return None
        a, offset, mean = params
        if a.shape[0] != w.const.shape[0]:
            return None
        weights = (w.const.astype(np.float64) * a.reshape(-1, 1, 1, 1)).astype(np.float32)
        b = np.zeros(a.shape, np.float64) if bias is None else bias.astype(np.float64)
        new_bias = ((b - mean) * a + offset).astype(np.float32)
        return self.constant(f"{w.name}/batchnorm_folded", weights), new_bias

    def _op_BatchNormalization(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, _BATCHNORM_ATTRIBUTES)
        if attrs["training_mode"]:
            raise self.unsupported(node, "training mode is not supported", "training_mode", 1)
        if attrs["spatial"] != 1:
            raise self.unsupported(node, "only spatial=1 is supported", "spatial", attrs["spatial"])
        self.single_output(node)
        x = inputs[0]
        if id(node) in self.bn_folded:
            self.set_outputs(node, x)  # type: ignore[arg-type]
            return
        params = self._batchnorm_params(node)
        if params is None:
            raise self.unsupported(node, "scale, B, mean and var must be float constants")
        a, offset, mean = params
        rank = len(self.shape_of(x))  # type: ignore[arg-type]
        shape = (-1,) + (1,) * (rank - 2)
        name = self.node_label(node)
        mul = self.constant(f"{name}/scale_value", a.astype(np.float32).reshape(shape))
        add = self.constant(f"{name}/shift_value", (offset - mean * a).astype(np.float32).reshape(shape))
        y = self.make(node, "Multiply", [x, mul], {}, "/scale")  # type: ignore[list-item]
        self.set_outputs(node, self.make(node, "Add", [y, add], {}))

    def _op_Gemm(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
        a, b = inputs[0], inputs[1]
        c = inputs[2] if len(inputs) > 2 else None
        for v, label in ((a, "A"), (b, "B")):
            if len(self.shape_of(v)) != 2:  # type: ignore[arg-type]
                raise self.unsupported(node, f"{label} must be rank 2, got shape "
                                       f"{list(self.shape_of(v))}")  # type: ignore[arg-type]
        name = self.node_label(node)
        y = self.make(node, "MatMul", [a, b], {"transpose_a": bool(attrs["transA"]),  # type: ignore[list-item]
                                               "transpose_b": bool(attrs["transB"])},
                      "" if attrs["alpha"] == 1 and c is None else "/matmul")
        if attrs["alpha"] != 1.0:
            alpha = self.constant(f"{name}/alpha", np.array(attrs["alpha"], np.float32))
            y = self.make(node, "Multiply", [y, alpha], {}, "" if c is None else "/alpha")
        if c is not None and attrs["beta"] != 0.0:
            if c.const is not None:
                with np.errstate(all="ignore"):
                    beta_c = (np.float32(attrs["beta"]) * c.const.astype(np.float32)).astype(np.float32)
                term: _Value = self.constant(f"{name}/bias_value", beta_c)
            elif attrs["beta"] != 1.0:
                beta = self.constant(f"{name}/beta", np.array(attrs["beta"], np.float32))
                term = self.make(node, "Multiply", [c, beta], {}, "/beta")
            else:
                term = c
            y = self.make(node, "Add", [y, term], {})
        self.set_outputs(node, y)

    def _op_MatMul(self, node: Any, inputs: list[_Value | None]) -> None:
        self.attributes(node, {})
        self.set_outputs(node, self.make(node, "MatMul", inputs, {}))  # type: ignore[arg-type]

    def _unary(self, op_type: str) -> Any:
        def handler(node: Any, inputs: list[_Value | None]) -> None:
            self.attributes(node, {})
            self.set_outputs(node, self.make(node, op_type, inputs[:1], {}))  # type: ignore[arg-type]
        return handler

    def _op_Relu(self, node: Any, inputs: list[_Value | None]) -> None:
        self._unary("Relu")(node, inputs)

    def _op_Sigmoid(self, node: Any, inputs: list[_Value | None]) -> None:
        self._unary("Sigmoid")(node, inputs)

    def _op_Tanh(self, node: Any, inputs: list[_Value | None]) -> None:
        self._unary("Tanh")(node, inputs)

    def _op_Exp(self, node: Any, inputs: list[_Value | None]) -> None:
        self._unary("Exp")(node, inputs)

    def _op_Identity(self, node: Any, inputs: list[_Value | None]) -> None:
        self.attributes(node, {})
        self.set_outputs(node, inputs[0])  # type: ignore[arg-type]

    def _op_Constant(self, node: Any, inputs: list[_Value | None]) -> None:
        onnx = self.onnx
        if len(node.attribute) != 1:
            raise self.fail(f"Constant '{self.node_label(node)}' must have exactly one attribute")
        attr = node.attribute[0]
        if attr.name == "value":
            array = self.to_array(attr.t, "Constant value")
        elif attr.name in ("value_float", "value_floats"):
            array = np.array(onnx.helper.get_attribute_value(attr), np.float32)
        elif attr.name in ("value_int", "value_ints"):
            array = np.array(onnx.helper.get_attribute_value(attr), np.int64)
        else:
            raise self.unsupported(node, "attribute not supported; Constant supports: value, "
                                   "value_float(s), value_int(s)", attr.name, "...")
        self.set_outputs(node, self.constant(node.output[0], array))

    def _binary(self, op_type: str, node: Any, inputs: list[_Value | None]) -> None:
        self.attributes(node, {})
        if len(inputs) != 2:
            raise self.unsupported(node, f"{len(inputs)} inputs; only 2 are supported")
        self.set_outputs(node, self.make(node, op_type, inputs, {"auto_broadcast": "numpy"}))  # type: ignore[arg-type]

    def _op_Add(self, node: Any, inputs: list[_Value | None]) -> None:
        self._binary("Add", node, inputs)

    def _op_Sub(self, node: Any, inputs: list[_Value | None]) -> None:
        self._binary("Subtract", node, inputs)

    def _op_Mul(self, node: Any, inputs: list[_Value | None]) -> None:
        self._binary("Multiply", node, inputs)

    def _op_Max(self, node: Any, inputs: list[_Value | None]) -> None:
        self._binary("Maximum", node, inputs)

    def _op_Min(self, node: Any, inputs: list[_Value | None]) -> None:
        self._binary("Minimum", node, inputs)

    def _op_Clip(self, node: Any, inputs: list[_Value | None]) -> None:
        if self.opset < 11:
            attrs = self.attributes(node, {"min": -3.4028234663852886e38, "max": 3.4028234663852886e38})
            low, high = float(attrs["min"]), float(attrs["max"])
        else:
            self.attributes(node, {})
            bounds = []
            for index, default in ((1, -np.inf), (2, np.inf)):
                value = inputs[index] if len(inputs) > index else None
                if value is None:
                    bounds.append(default)
                else:
                    array = self.const(node, value, f"input {index} ({'min' if index == 1 else 'max'})")
                    if array.size != 1:
                        raise self.unsupported(node, f"input {index} must be a scalar")
                    bounds.append(float(array.reshape(-1)[0]))
            low, high = bounds
        self.set_outputs(node, self.make(node, "Clamp", inputs[:1], {"min": low, "max": high}))  # type: ignore[arg-type]

    def _pool(self, node: Any, inputs: list[_Value | None], op_type: str,
              attrs: dict[str, Any]) -> None:
        x = inputs[0]
        shape = self.shape_of(x)  # type: ignore[arg-type]
        self._require_2d(node, len(shape))
        if attrs["dilations"] is not None and any(d != 1 for d in attrs["dilations"]):
            raise self.unsupported(node, "dilations other than 1 are not supported", "dilations",
                                   list(attrs["dilations"]))
        kernel = list(attrs["kernel_shape"] or [])
        if len(kernel) != 2:
            raise self.unsupported(node, "kernel_shape must have 2 entries", "kernel_shape", kernel)
        strides = list(attrs["strides"] or [1, 1])
        pool_attrs = {"kernel": kernel, "strides": strides,
                      "rounding_type": "ceil" if attrs["ceil_mode"] else "floor",
                      **self._pads(node, attrs, 2)}
        if op_type == "AvgPool":
            pool_attrs["exclude_pad"] = not attrs["count_include_pad"]
        y = self.make(node, op_type, inputs[:1], pool_attrs)  # type: ignore[arg-type]
        expected = self._onnx_pool_shape(shape, kernel, strides, pool_attrs, attrs)
        if tuple(self.shape_of(y)[2:]) != expected:
            raise self.unsupported(
                node, f"ONNX gives output size {list(expected)} but OpenVINO's "
                f"{op_type}-1 gives {list(self.shape_of(y)[2:])}: with ceil_mode the last window "
                "would start in the padding (OpenVINO's ceil_torch rounding, not supported)",
                "ceil_mode", attrs["ceil_mode"])
        self.set_outputs(node, y)

    @staticmethod
    def _onnx_pool_shape(shape: tuple[int, ...], kernel: list[int], strides: list[int],
                         pool_attrs: dict[str, Any], attrs: dict[str, Any]) -> tuple[int, ...]:
        out = []
        for axis in range(2):
            size, k, s = shape[2 + axis], kernel[axis], strides[axis]
            auto_pad = pool_attrs["auto_pad"]
            if auto_pad in ("same_upper", "same_lower"):
                out.append(-(-size // s))
                continue
            if auto_pad == "valid":
                pb = pe = 0
            else:
                pb, pe = pool_attrs["pads_begin"][axis], pool_attrs["pads_end"][axis]
            span = size + pb + pe - k
            if attrs["ceil_mode"]:
                o = -(-span // s) + 1
                if (o - 1) * s >= size + pb:
                    o -= 1
            else:
                o = span // s + 1
            out.append(o)
        return tuple(out)

    def _op_MaxPool(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None,
                                       "kernel_shape": None, "pads": None, "storage_order": 0,
                                       "strides": None})
        self.single_output(node)
        self._pool(node, inputs, "MaxPool", attrs)

    def _op_AveragePool(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 0,
                                       "dilations": None, "kernel_shape": None, "pads": None,
                                       "strides": None})
        self._pool(node, inputs, "AvgPool", attrs)

    def _op_GlobalAveragePool(self, node: Any, inputs: list[_Value | None]) -> None:
        self.attributes(node, {})
        shape = self.shape_of(inputs[0])  # type: ignore[arg-type]
        self._require_2d(node, len(shape))
        self.set_outputs(node, self.make(node, "AvgPool", inputs[:1], {  # type: ignore[arg-type]
            "kernel": list(shape[2:]), "strides": [1, 1], "exclude_pad": True}))

    def _op_Concat(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"axis": None})
        if attrs["axis"] is None:
            raise self.fail(f"Concat '{self.node_label(node)}' has no axis attribute")
        self.set_outputs(node, self.make(node, "Concat", [i for i in inputs if i is not None],
                                         {"axis": attrs["axis"]}))

    def _op_Reshape(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"allowzero": 0})
        shape = [int(v) for v in self.const(node, inputs[1], "the shape (input 1)", kind="int").reshape(-1)]
        if attrs["allowzero"] and 0 in shape:
            raise self.unsupported(node, "allowzero=1 with a 0 in the shape (an empty tensor) is "
                                   "not supported", "allowzero", 1)
        self.set_outputs(node, self.make(node, "Reshape", inputs[:1], {  # type: ignore[arg-type]
            "shape": shape, "special_zero": not attrs["allowzero"]}))

    def _op_Flatten(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"axis": 1})
        shape = self.shape_of(inputs[0])  # type: ignore[arg-type]
        axis = attrs["axis"]
        if not -len(shape) <= axis <= len(shape):
            raise self.unsupported(node, f"axis out of range for rank {len(shape)}", "axis", axis)
        if axis < 0:
            axis += len(shape)
        outer = int(np.prod(shape[:axis], dtype=np.int64))
        inner = int(np.prod(shape[axis:], dtype=np.int64))
        self.set_outputs(node, self.make(node, "Reshape", inputs[:1], {"shape": [outer, inner]}))  # type: ignore[arg-type]

    def _op_Transpose(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"perm": None})
        self.set_outputs(node, self.make(node, "Transpose", inputs[:1], {"order": list(attrs["perm"] or [])}))  # type: ignore[arg-type]

    def _axes(self, node: Any, inputs: list[_Value | None], attrs: dict[str, Any]) -> list[int] | None:
        if self.opset >= 13:
            value = inputs[1] if len(inputs) > 1 else None
            if value is None:
                return None
            return [int(v) for v in self.const(node, value, "the axes (input 1)", kind="int").reshape(-1)]
        return None if attrs.get("axes") is None else list(attrs["axes"])

    def _op_Squeeze(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {} if self.opset >= 13 else {"axes": None})
        axes = self._axes(node, inputs, attrs)
        self.set_outputs(node, self.make(node, "Squeeze", inputs[:1], {"axes": axes or []}))  # type: ignore[arg-type]

    def _op_Unsqueeze(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {} if self.opset >= 13 else {"axes": None})
        axes = self._axes(node, inputs, attrs)
        if not axes:
            raise self.fail(f"Unsqueeze '{self.node_label(node)}' has no axes")
        self.set_outputs(node, self.make(node, "Unsqueeze", inputs[:1], {"axes": axes}))  # type: ignore[arg-type]

    def _op_Softmax(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {"axis": -1 if self.opset >= 13 else 1})
        x = inputs[0]
        shape = self.shape_of(x)  # type: ignore[arg-type]
        rank = len(shape)
        axis = attrs["axis"]
        if not -rank <= axis < max(rank, 1):
            raise self.unsupported(node, f"axis out of range for rank {rank}", "axis", axis)
        axis %= rank
        if self.opset >= 13 or axis == rank - 1 or all(d == 1 for d in shape[axis + 1:]):
            self.set_outputs(node, self.make(node, "Softmax", [x], {"axis": axis}))  # type: ignore[list-item]
            return
        # Softmax-1/11: softmax over the flattened dimensions [axis, rank).
        outer = int(np.prod(shape[:axis], dtype=np.int64))
        flat = self.make(node, "Reshape", [x], {"shape": [outer, -1]}, "/flatten")  # type: ignore[list-item]
        y = self.make(node, "Softmax", [flat], {"axis": 1}, "/softmax")
        self.set_outputs(node, self.make(node, "Reshape", [y], {"shape": list(shape)}))

    def _op_Resize(self, node: Any, inputs: list[_Value | None]) -> None:
        attrs = self.attributes(node, {
            "antialias": 0, "axes": None, "coordinate_transformation_mode": "half_pixel",
            "cubic_coeff_a": -0.75, "exclude_outside": 0, "extrapolation_value": 0.0,
            "keep_aspect_ratio_policy": "stretch", "mode": "nearest",
            "nearest_mode": "round_prefer_floor"})
        mode = {"nearest": "nearest", "linear": "linear_onnx"}.get(attrs["mode"])
        if mode is None:
            raise self.unsupported(node, "unsupported value; supported: nearest, linear", "mode",
                                   attrs["mode"])
        coordinate = attrs["coordinate_transformation_mode"]
        nearest_mode = attrs["nearest_mode"]
        if self.opset < 11:  # Resize-10: Upsample semantics
            coordinate, nearest_mode = "asymmetric", "floor"
        if coordinate not in _RESIZE_COORDINATE_MODES:
            raise self.unsupported(node, f"unsupported value; supported: "
                                   f"{', '.join(_RESIZE_COORDINATE_MODES)}",
                                   "coordinate_transformation_mode", coordinate)
        if mode == "nearest" and nearest_mode not in _RESIZE_NEAREST_MODES:
            raise self.unsupported(node, f"unsupported value; supported: "
                                   f"{', '.join(_RESIZE_NEAREST_MODES)}", "nearest_mode", nearest_mode)
        if attrs["antialias"]:
            raise self.unsupported(node, "antialias is not supported", "antialias", 1)
        if attrs["exclude_outside"]:
            raise self.unsupported(node, "exclude_outside is not supported", "exclude_outside", 1)
        x = inputs[0]
        shape = self.shape_of(x)  # type: ignore[arg-type]
        rank = len(shape)
        axes = list(range(rank)) if attrs["axes"] is None else [a % rank for a in attrs["axes"]]
        if self.opset < 11:
            scales_value, sizes_value = (inputs[1] if len(inputs) > 1 else None), None
        else:
            scales_value = inputs[2] if len(inputs) > 2 else None
            sizes_value = inputs[3] if len(inputs) > 3 else None
        if scales_value is not None and scales_value.const is not None and scales_value.const.size == 0:
            scales_value = None
        common = {"mode": mode, "coordinate_transformation_mode": coordinate,
                  "nearest_mode": nearest_mode if mode == "nearest" else "round_prefer_floor"}
        if sizes_value is not None:
            if attrs["keep_aspect_ratio_policy"] != "stretch" and attrs["axes"] is not None:
                raise self.unsupported(node, "unsupported value; supported: stretch",
                                       "keep_aspect_ratio_policy", attrs["keep_aspect_ratio_policy"])
            sizes = [int(v) for v in self.const(node, sizes_value, "sizes (input 3)", kind="int").reshape(-1)]
            if len(sizes) != len(axes):
                raise self.fail(f"Resize '{self.node_label(node)}': {len(sizes)} sizes for "
                                f"{len(axes)} axes")
            picked = [(a, s) for a, s in zip(axes, sizes) if s != shape[a]]
            if not picked:
                self.set_outputs(node, x)  # type: ignore[arg-type]
                return
            resize = {"shape_calculation_mode": "sizes", "axes": [a for a, _ in picked],
                      "sizes": [s for _, s in picked]}
        elif scales_value is not None:
            scales = self.const(node, scales_value, "scales", kind="float").astype(np.float32).reshape(-1)
            if len(scales) != len(axes):
                raise self.fail(f"Resize '{self.node_label(node)}': {len(scales)} scales for "
                                f"{len(axes)} axes")
            picked = [(a, float(s)) for a, s in zip(axes, scales) if s != np.float32(1)]
            if not picked:
                self.set_outputs(node, x)  # type: ignore[arg-type]
                return
            resize = {"shape_calculation_mode": "scales", "axes": [a for a, _ in picked],
                      "scales": [s for _, s in picked]}
        else:
            raise self.fail(f"Resize '{self.node_label(node)}' has neither scales nor sizes")
        y = self.make(node, "Interpolate", [x], {**common, **resize})  # type: ignore[list-item]
        if resize["shape_calculation_mode"] == "scales":
            expected = [int(np.floor(np.float32(shape[a]) * np.float32(s))) for a, s in picked]
            got = [self.shape_of(y)[a] for a, _ in picked]
            if expected != got:
                raise self.unsupported(node, f"scales {[s for _, s in picked]} give ONNX output "
                                       f"sizes {expected} but OpenVINO's Interpolate gives {got}")
        self.set_outputs(node, y)


def read_onnx(path: str | os.PathLike, input_shapes: Mapping[str, Sequence[int]] | None = None) -> Model:
    """Read an ONNX model (Q/DQ quantized or float) into a refint8 Model.

    ``input_shapes`` fixes graph inputs' shapes (needed for dynamic dimensions). Raises
    :class:`~refint8.errors.ModelFileError` for a file that is not a valid ONNX model and
    :class:`~refint8.errors.UnsupportedError` for what refint8 does not support (see the module
    docstring), including a missing ``onnx`` package.
    """
    reader = _OnnxReader(Path(path), input_shapes)
    return reader.read()


__all__ = ["SUPPORTED_OPS", "read_onnx"]

"""OpenVINO IR (``.xml`` topology + ``.bin`` weights, IR v10 and v11): reader and writer.

Reading maps every layer onto refint8's representation; where OpenVINO takes a constant *input*
(a shape, an order, axes, sizes, scales), refint8 has an attribute, and the constant is read into
it. Layer by layer (``type``/``version`` as the IR writes them):

============================  ================================================================
IR layer                      refint8
============================  ================================================================
Parameter-1                   Parameter (static shape; f32, u8, i8, i32, i64)
Const-1                       Constant (f32, f16, f64, i8, u8, i32, i64, boolean; f16 and f64
                              are widened to f32, as refint8 computes every float in f32)
Result-1                      a model output, named by the Result's ``output_names``, else the
                              producer port's tensor name, else the producer's layer name
Convert-1                     Convert; on a constant it is folded: ``Const(f16) -> Convert(f32)``
                              (fp16-compressed weights) becomes one f32 Constant named after the
                              Convert
FakeQuantize-1                FakeQuantize
Convolution-1                 Convolution (group 1)
GroupConvolution-1            Convolution with ``group = G``: filters ``[G, OC/G, IC/G, KH, KW]``
                              become ``[OC, IC/G, KH, KW]`` (a constant or a FakeQuantize,
                              Convert or elementwise chain on constants is reshaped, ranges
                              included; anything else gets a Reshape node)
MatMul-1                      MatMul
ReLU-1, Clamp-1, Sigmoid-1,   Relu, Clamp, Sigmoid, Tanh, Exp
Tanh-1, Exp-1
Reshape-1, Transpose-1,       Reshape (``shape``), Transpose (``order``), Squeeze/Unsqueeze
Squeeze-1/15, Unsqueeze-1     (``axes``): the constant second input becomes the attribute
MaxPool-1/8/14                MaxPool; v8/v14 only with dilations 1 and the indices output
                              (port 2) unused; ``ceil_torch`` rounding is not supported
AvgPool-1/14                  AvgPool (``exclude-pad`` is ``exclude_pad``)
Add/Subtract/Multiply/        the same binary op (``auto_broadcast`` numpy or none)
Maximum/Minimum-1
Concat-1                      Concat
Interpolate-4/11              Interpolate: sizes, scales and axes constant inputs become
                              attributes; pads must be 0 and ``antialias`` false; modes nearest,
                              linear, linear_onnx
MVN-6                         MVN (axes constant input becomes the attribute)
SoftMax-1/8                   Softmax
============================  ================================================================

Integer weights stored compressed, ``Const(i8/u8) -> Convert(f32) [-> Subtract(zero point)] ->
Multiply(scale)``, are read as ``Constant(dequantized f32) -> FakeQuantize`` with the integer grid
(see :func:`refint8.io._common.integer_weights_as_fake_quantize`), so LPT sees quantized weights
as OpenVINO's does. Any other op, version, attribute value or element type is an
:class:`~refint8.errors.UnsupportedError` naming the layer; a file that cannot be parsed (bad XML, a
missing or too short ``.bin``, an edge to a missing layer, a cycle) is a
:class:`~refint8.errors.ModelFileError` naming the file and the problem.

Writing (:func:`write_ir`) emits IR v11 for the same subset, from a refint8 Model as built (not a
compiled/lowered one): Convolution with ``group > 1`` becomes GroupConvolution (constant filters
reshaped to 5-D, other filters through a Reshape layer), Softmax is SoftMax-8, Interpolate is
Interpolate-11, MVN is MVN-6, MaxPool/AvgPool are version 1, Transpose's empty order is written as
the reversed axes. Parameter and output names become tensor names, so OpenVINO's
``model.input("x")`` / ``compiled.output("y")`` find them.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..errors import GraphError, ModelFileError, UnsupportedError
from ..graph import Model, Node, Output
from ..ops.convert import convert as convert_values
from ._common import NameTable, build, file_error, integer_weights_as_fake_quantize, with_context

IR_VERSIONS = ("10", "11")

#: OpenVINO element type -> NumPy dtype, for the types a Const may hold.
CONST_TYPES: dict[str, np.dtype] = {
    "f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "f64": np.dtype("<f8"),
    "i8": np.dtype("i1"), "u8": np.dtype("u1"), "i32": np.dtype("<i4"), "i64": np.dtype("<i8"),
    "boolean": np.dtype("?"),
}
#: Element types a Parameter may have.
PARAMETER_TYPES = ("f32", "u8", "i8", "i32", "i64")
#: Element types OpenVINO knows but refint8 does not read (so they are Unsupported, not malformed).
KNOWN_TYPES = ("bf16", "f8e4m3", "f8e5m2", "f8e8m0", "f4e2m1", "nf4", "i4", "u4", "u1", "u2", "u3",
               "u6", "i16", "u16", "u32", "u64", "string", "dynamic", "undefined")

#: IR layer type -> accepted versions.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "Parameter": ("opset1",), "Const": ("opset1",), "Result": ("opset1",),
    "Convert": ("opset1",), "FakeQuantize": ("opset1",), "Convolution": ("opset1",),
    "GroupConvolution": ("opset1",), "MatMul": ("opset1",), "ReLU": ("opset1",),
    "Clamp": ("opset1",), "Reshape": ("opset1",), "Transpose": ("opset1",),
    "Squeeze": ("opset1", "opset15"), "Unsqueeze": ("opset1",),
    "MaxPool": ("opset1", "opset8", "opset14"), "AvgPool": ("opset1", "opset14"),
    "Add": ("opset1",), "Subtract": ("opset1",), "Multiply": ("opset1",),
    "Maximum": ("opset1",), "Minimum": ("opset1",), "Concat": ("opset1",),
    "Interpolate": ("opset4", "opset11"), "MVN": ("opset6",), "SoftMax": ("opset1", "opset8"),
    "Sigmoid": ("opset1",), "Tanh": ("opset1",), "Exp": ("opset1",),
}
#: Spellings of the same op (IR v10 and some writers use these).
ALIASES = {"Relu": "ReLU", "Softmax": "SoftMax", "Constant": "Const"}


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass
class _Port:
    id: str
    precision: str | None
    names: list[str]
    dims: list[str]


@dataclass
class _Layer:
    id: str
    name: str
    type: str
    version: str
    data: dict[str, str]
    inputs: list[_Port]
    outputs: list[_Port]
    #: filled from the edges: (source layer id, source output index) per input
    sources: list[tuple[str, int] | None] = field(default_factory=list)
    #: how many edges leave each output
    fanout: list[int] = field(default_factory=list)


@dataclass
class _Value:
    """What a layer output is while reading: a graph output, or a constant not yet a node.

    ``codes``/``element_type``/``zero_point`` follow an integer constant through ``Convert`` and
    ``Subtract`` (the compressed-weights chain) until a ``Multiply`` by the scale.
    """

    name: str
    output: Output | None = None
    const: np.ndarray | None = None
    codes: np.ndarray | None = None
    element_type: str | None = None
    zero_point: np.ndarray | None = None
    #: how many consumers the layer output has in the file
    fanout: int = 1


def _broadcasts_to(small: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    try:
        return tuple(np.broadcast_shapes(small, shape)) == tuple(shape)
    except ValueError:
        return False


def _split_names(text: str) -> list[str]:
    """Tensor names of a port: comma separated, ``\\,`` is a comma inside a name."""
    names, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] == ",":
            current += ","
            i += 2
            continue
        if text[i] == ",":
            names.append(current.strip())
            current = ""
        else:
            current += text[i]
        i += 1
    if current.strip():
        names.append(current.strip())
    return [n for n in names if n]


class _IRReader:
    def __init__(self, xml_path: Path, bin_path: Path | None = None) -> None:
        self.xml_path = Path(xml_path)
        self.bin_path = Path(bin_path) if bin_path is not None else self.xml_path.with_suffix(".bin")
        self._bin: bytes | None = None
        self.names = NameTable()
        self.values: dict[tuple[str, int], _Value] = {}
        self.fanout_of_node: dict[int, int] = {}

    # -- errors and attribute parsing --------------------------------------------------------

    def fail(self, problem: str) -> ModelFileError:
        return file_error(self.xml_path, problem)

    def where(self, layer: _Layer) -> str:
        return f"{self.xml_path}, layer id {layer.id} '{layer.name}' ({layer.type})"

    def unsupported(self, layer: _Layer, reason: str, attribute: str | None = None,
                    value: Any = None) -> UnsupportedError:
        reason = f"{reason} (in {self.where(layer)})"
        if attribute is None:
            return UnsupportedError(reason, node=layer.name, op=layer.type)
        return UnsupportedError(reason, node=layer.name, op=layer.type, attribute=attribute,
                                value=value)

    def attr(self, layer: _Layer, key: str, default: Any = ...) -> str:
        if key in layer.data:
            return layer.data[key]
        if default is ...:
            raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}): attribute "
                            f"'{key}' is missing")
        return default

    def ints(self, layer: _Layer, key: str, default: Any = ...) -> tuple[int, ...]:
        text = self.attr(layer, key, default)
        if not isinstance(text, str):
            return text
        try:
            return tuple(int(v) for v in text.replace(" ", "").split(",") if v != "")
        except ValueError:
            raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}): attribute "
                            f"'{key}' = {text!r} is not a list of integers") from None

    def number(self, layer: _Layer, key: str, default: Any = ..., kind: type = float) -> Any:
        text = self.attr(layer, key, default)
        if not isinstance(text, str):
            return text
        try:
            return kind(text.strip())
        except ValueError:
            raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}): attribute "
                            f"'{key}' = {text!r} is not a number") from None

    def flag(self, layer: _Layer, key: str, default: Any = ...) -> bool:
        text = self.attr(layer, key, default)
        if isinstance(text, bool):
            return text
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}): attribute '{key}' = "
                        f"{text!r} is not true/false")

    # -- the file ----------------------------------------------------------------------------

    def parse(self) -> tuple[str, list[_Layer], dict[str, _Layer]]:
        try:
            text = self.xml_path.read_bytes()
        except FileNotFoundError:
            raise file_error(self.xml_path, "no such file") from None
        except OSError as exc:
            raise file_error(self.xml_path, f"cannot be read: {exc.strerror or exc}") from None
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise self.fail(f"malformed XML: {exc} (truncated or not an OpenVINO IR file?)") from None
        if root.tag != "net":
            raise self.fail(f"the root element is <{root.tag}>, not <net>: not an OpenVINO IR file")
        version = root.get("version")
        if version is None:
            raise self.fail("<net> has no 'version' attribute")
        if version not in IR_VERSIONS:
            raise UnsupportedError(f"{self.xml_path}: IR version {version} is not supported; "
                                   f"supported: {', '.join(IR_VERSIONS)}")
        layers_el = root.find("layers")
        edges_el = root.find("edges")
        if layers_el is None:
            raise self.fail("<net> has no <layers> element")
        layers: list[_Layer] = []
        by_id: dict[str, _Layer] = {}
        for el in layers_el.findall("layer"):
            layer = self._parse_layer(el)
            if layer.id in by_id:
                raise self.fail(f"two layers have id {layer.id}")
            by_id[layer.id] = layer
            layers.append(layer)
        for el in [] if edges_el is None else edges_el.findall("edge"):
            self._parse_edge(el, by_id)
        for layer in layers:
            for index, source in enumerate(layer.sources):
                if source is None:
                    raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}): input "
                                    f"port {layer.inputs[index].id} has no incoming edge")
        return root.get("name") or self.xml_path.stem, layers, by_id

    def _parse_layer(self, el: ET.Element) -> _Layer:
        lid, ltype = el.get("id"), el.get("type")
        if lid is None or ltype is None:
            raise self.fail(f"a <layer> lacks 'id' or 'type' (attributes: {dict(el.attrib)})")
        data_el = el.find("data")
        data = dict(data_el.attrib) if data_el is not None else {}

        def ports(tag: str) -> list[_Port]:
            group = el.find(tag)
            result = []
            for port in [] if group is None else group.findall("port"):
                if port.get("id") is None:
                    raise self.fail(f"layer id {lid}: a <port> in <{tag}> has no 'id'")
                result.append(_Port(port.get("id"), port.get("precision"),
                                    _split_names(port.get("names", "")),
                                    [(d.text or "").strip() for d in port.findall("dim")]))
            return result

        ltype = ALIASES.get(ltype, ltype)
        layer = _Layer(lid, el.get("name") or f"layer_{lid}", ltype, el.get("version", ""), data,
                       ports("input"), ports("output"))
        if ltype == "Result" and el.get("output_names"):
            layer.data.setdefault("__output_names", el.get("output_names"))
        layer.sources = [None] * len(layer.inputs)
        layer.fanout = [0] * len(layer.outputs)
        return layer

    def _parse_edge(self, el: ET.Element, by_id: dict[str, _Layer]) -> None:
        keys = ("from-layer", "from-port", "to-layer", "to-port")
        values = [el.get(k) for k in keys]
        if any(v is None for v in values):
            raise self.fail(f"an <edge> lacks one of {', '.join(keys)}: {dict(el.attrib)}")
        src_id, src_port, dst_id, dst_port = values
        for lid in (src_id, dst_id):
            if lid not in by_id:
                raise self.fail(f"an edge refers to layer id {lid}, which does not exist")
        src, dst = by_id[src_id], by_id[dst_id]
        out_index = next((i for i, p in enumerate(src.outputs) if p.id == src_port), None)
        in_index = next((i for i, p in enumerate(dst.inputs) if p.id == dst_port), None)
        if out_index is None:
            raise self.fail(f"an edge leaves port {src_port} of layer id {src_id} '{src.name}', "
                            "which has no such output port")
        if in_index is None:
            raise self.fail(f"an edge enters port {dst_port} of layer id {dst_id} '{dst.name}', "
                            "which has no such input port")
        if dst.sources[in_index] is not None:
            raise self.fail(f"input port {dst_port} of layer id {dst_id} '{dst.name}' has two "
                            "incoming edges")
        dst.sources[in_index] = (src_id, out_index)
        src.fanout[out_index] += 1

    def weights(self) -> bytes:
        if self._bin is None:
            try:
                self._bin = self.bin_path.read_bytes()
            except FileNotFoundError:
                raise file_error(self.bin_path, f"the weights file of {self.xml_path.name} is "
                                 "missing (expected beside the .xml, same name)") from None
            except OSError as exc:
                raise file_error(self.bin_path, f"cannot be read: {exc.strerror or exc}") from None
        return self._bin

    # -- graph construction ------------------------------------------------------------------

    def read(self) -> Model:
        model_name, layers, by_id = self.parse()
        order = self._order(layers, by_id)
        parameters: list[Node] = []
        outputs: dict[str, Output] = {}
        for layer in order:
            self._check_supported(layer)
            if layer.type == "Result":
                if len(layer.sources) != 1:
                    raise self.fail(f"Result layer id {layer.id} '{layer.name}' has "
                                    f"{len(layer.sources)} inputs, expected 1")
                src_id, index = layer.sources[0]  # type: ignore[misc]
                value = self.values[(src_id, index)]
                key = self._output_name(layer, by_id[src_id], index)
                if key in outputs:
                    raise self.fail(f"two results are named '{key}'")
                outputs[key] = self.output(value)
                continue
            inputs = [self.values[s] for s in layer.sources]  # type: ignore[index]
            results = self._convert_layer(layer, inputs)
            for index, value in enumerate(results):
                self.values[(layer.id, index)] = value
                value.fanout = layer.fanout[index] if index < len(layer.fanout) else 0
                if value.output is not None:
                    self.fanout_of_node[id(value.output.node)] = layer.fanout[index]
            if layer.type == "Parameter":
                parameters.append(results[0].output.node)  # type: ignore[union-attr]
        if not outputs:
            raise self.fail("the model has no Result layer")
        try:
            return Model(outputs, parameters, name=model_name)
        except GraphError as exc:
            raise with_context(exc, str(self.xml_path)) from None

    def _order(self, layers: list[_Layer], by_id: dict[str, _Layer]) -> list[_Layer]:
        """Layers a Result depends on, producers first, plus every Parameter (document order)."""
        order: list[_Layer] = []
        state: dict[str, int] = {}
        roots = [l for l in layers if l.type == "Parameter"] + [l for l in layers if l.type == "Result"]
        for root in roots:
            stack = [(root, 0)]
            while stack:
                layer, next_input = stack.pop()
                if next_input == 0:
                    if state.get(layer.id) == 2:
                        continue
                    state[layer.id] = 1
                if next_input < len(layer.sources):
                    stack.append((layer, next_input + 1))
                    child = by_id[layer.sources[next_input][0]]  # type: ignore[index]
                    if state.get(child.id) == 1:
                        raise self.fail(f"the graph has a cycle through layer id {child.id} "
                                        f"'{child.name}'")
                    if child.id not in state:
                        stack.append((child, 0))
                else:
                    state[layer.id] = 2
                    order.append(layer)
        return order

    def _check_supported(self, layer: _Layer) -> None:
        versions = SUPPORTED.get(layer.type)
        if versions is None:
            raise UnsupportedError(
                f"layer id {layer.id} in {self.xml_path}: op type is not supported; supported IR "
                f"ops: {', '.join(sorted(SUPPORTED))}", node=layer.name, op=layer.type)
        if layer.version and layer.version not in versions:
            raise self.unsupported(layer, f"version {layer.version} is not supported; supported: "
                                   f"{', '.join(versions)}")

    def _output_name(self, result: _Layer, producer: _Layer, index: int) -> str:
        names = _split_names(result.data.get("__output_names", ""))
        if names:
            return names[0]
        port_names = producer.outputs[index].names
        if port_names:
            return port_names[0]
        return producer.name if len(producer.outputs) == 1 else f"{producer.name}:{index}"

    # -- values ------------------------------------------------------------------------------

    def output(self, value: _Value) -> Output:
        """The graph output of ``value``, creating its Constant node on first use."""
        if value.output is None:
            if value.const is None:
                raise AssertionError(f"value {value.name} has neither an output nor a constant")
            node = build("Constant", [], {"value": value.const}, self.names.claim(value.name),
                         where=str(self.xml_path))
            value.output = node.output(0)
            self.fanout_of_node[id(node)] = value.fanout
        return value.output

    def node(self, layer: _Layer, op_type: str, inputs: Sequence[_Value | Output],
             attrs: dict[str, Any], name: str | None = None) -> _Value:
        outs = [i if isinstance(i, Output) else self.output(i) for i in inputs]
        node_name = self.names.claim(name or layer.name)
        node = build(op_type, outs, attrs, node_name, where=self.where(layer))
        return _Value(node_name, output=node.output(0))

    def const_input(self, layer: _Layer, inputs: list[_Value], index: int, what: str,
                    integer: bool = True) -> np.ndarray:
        value = inputs[index]
        if value.const is None:
            raise self.unsupported(layer, f"{what} (input {index}) must be a constant; refint8 "
                                   "takes it as an attribute")
        array = value.const
        if integer and array.dtype.kind not in "iu":
            raise self.unsupported(layer, f"{what} (input {index}) must be an integer constant, "
                                   f"got {array.dtype}")
        return array

    # -- layers ------------------------------------------------------------------------------

    def _convert_layer(self, layer: _Layer, inputs: list[_Value]) -> list[_Value]:
        handler: Callable[[_Layer, list[_Value]], Any] = getattr(self, f"_layer_{layer.type}", None)  # type: ignore[assignment]
        if handler is None:  # SUPPORTED lists it, so it is one of the simple ops
            handler = self._simple
        result = handler(layer, inputs)
        values = result if isinstance(result, list) else [result]
        if len(values) != max(len(layer.outputs), 1) and layer.type != "MaxPool":
            raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}) has "
                            f"{len(layer.outputs)} output ports, expected {len(values)}")
        return values

    def _expect_inputs(self, layer: _Layer, inputs: list[_Value], *counts: int) -> None:
        if len(inputs) not in counts:
            raise self.fail(f"layer id {layer.id} '{layer.name}' ({layer.type}) has {len(inputs)} "
                            f"inputs, expected {' or '.join(map(str, counts))}")

    def _layer_Parameter(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        element_type = self.attr(layer, "element_type")
        if element_type not in PARAMETER_TYPES:
            raise self.unsupported(layer, f"element type not supported for a Parameter; "
                                   f"supported: {', '.join(PARAMETER_TYPES)}",
                                   "element_type", element_type)
        text = self.attr(layer, "shape")
        try:
            shape = [int(d) for d in text.replace(" ", "").split(",") if d != ""]
        except ValueError:
            shape = None
        if shape is None or any(d < 1 for d in shape):
            raise self.unsupported(layer, "dynamic or empty dimensions are not supported (refint8 "
                                   "needs static shapes)", "shape", text)
        port = layer.outputs[0] if layer.outputs else None
        wanted = port.names[0] if port is not None and port.names else layer.name
        name = self.names.claim(wanted)
        node = build("Parameter", [], {"shape": shape, "element_type": element_type}, name,
                     where=self.where(layer))
        return _Value(name, output=node.output(0))

    def _layer_Const(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        element_type = self.attr(layer, "element_type")
        if element_type not in CONST_TYPES:
            if element_type in KNOWN_TYPES:
                raise self.unsupported(layer, f"element type not supported; supported: "
                                       f"{', '.join(CONST_TYPES)}", "element_type", element_type)
            raise self.fail(f"layer id {layer.id} '{layer.name}' (Const): unknown element type "
                            f"{element_type!r}")
        dtype = CONST_TYPES[element_type]
        shape = self.ints(layer, "shape", "")
        if any(d < 0 for d in shape):
            raise self.fail(f"layer id {layer.id} '{layer.name}' (Const): negative dimension in "
                            f"shape {list(shape)}")
        offset = self.number(layer, "offset", kind=int)
        size = self.number(layer, "size", kind=int)
        count = int(np.prod(shape, dtype=np.int64))
        expected = count * dtype.itemsize
        if size != expected:
            raise self.fail(f"layer id {layer.id} '{layer.name}' (Const): size {size} does not "
                            f"match shape {list(shape)} of {element_type} ({expected} bytes)")
        blob = self.weights()
        if offset < 0 or offset + size > len(blob):
            raise file_error(self.bin_path, f"too short for Const layer id {layer.id} "
                             f"'{layer.name}': it needs bytes {offset}..{offset + size} but the "
                             f"file has {len(blob)} bytes (truncated?)")
        array = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape)
        array = array.astype(dtype.newbyteorder("="))
        return _Value(layer.name, const=array)

    def _layer_Convert(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 1)
        destination = self.attr(layer, "destination_type")
        supported = ("f32", "u8", "i8", "i32", "i64")
        if destination not in supported:
            raise self.unsupported(layer, f"unsupported value; supported: {', '.join(supported)}",
                                   "destination_type", destination)
        source = inputs[0]
        if source.const is not None:  # fold: a compressed constant and its decompression
            value = convert_values(source.const, destination)
            folded = _Value(layer.name, const=value)
            if destination == "f32" and source.const.dtype in (np.int8, np.uint8):
                folded.codes = source.const
                folded.element_type = dtypes.type_name(source.const.dtype)
            return folded
        return self.node(layer, "Convert", inputs, {"destination_type": destination})

    def _layer_FakeQuantize(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 5)
        return self.node(layer, "FakeQuantize", inputs, {
            "levels": self.number(layer, "levels", kind=int),
            "auto_broadcast": self.attr(layer, "auto_broadcast", "numpy").lower(),
        })

    def _conv_attrs(self, layer: _Layer) -> dict[str, Any]:
        auto_pad = self.attr(layer, "auto_pad", "explicit").lower()
        return {
            "strides": self.ints(layer, "strides"),
            "pads_begin": self.ints(layer, "pads_begin"),
            "pads_end": self.ints(layer, "pads_end"),
            "dilations": self.ints(layer, "dilations"),
            "auto_pad": "explicit" if auto_pad == "notset" else auto_pad,
        }

    def _layer_Convolution(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        return self.node(layer, "Convolution", inputs, self._conv_attrs(layer))

    def _layer_GroupConvolution(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        attrs = self._conv_attrs(layer)
        filters = inputs[1]
        shape = filters.const.shape if filters.const is not None else filters.output.shape  # type: ignore[union-attr]
        if len(shape) != 5:
            raise self.unsupported(layer, f"GroupConvolution filters must be 5-D [G, OC/G, IC/G, "
                                   f"KH, KW], got shape {list(shape)}")
        groups, per_group = shape[0], shape[1]
        target = (groups * per_group,) + tuple(shape[2:])
        if filters.const is not None:
            grouped: _Value | Output = _Value(filters.name, const=filters.const.reshape(target))
        else:
            grouped = self._regroup(filters.output, groups, per_group)  # type: ignore[arg-type]
            if grouped is None:
                grouped = self.node(layer, "Reshape", [filters], {"shape": list(target)},
                                    name=f"{layer.name}/filters_reshape").output  # type: ignore[assignment]
        attrs["group"] = groups
        return self.node(layer, "Convolution", [inputs[0], grouped], attrs)  # type: ignore[list-item]

    def _regroup(self, out: Output, groups: int, per_group: int) -> Output | None:
        """A 4-D ``[G*O, I, KH, KW]`` version of the 5-D weight subgraph ending at ``out``.

        Handles constants, and FakeQuantize, Convert and elementwise binary ops whose inputs are
        constants or such subgraphs; constants of a broadcast shape (ranges, scales) are regrouped
        alike. Returns None for anything else (the caller then inserts a Reshape).
        """
        node = out.node
        full = (groups, per_group)

        def name_for(n: Node) -> str:  # reuse the name if the 5-D node has no other consumer
            if self.fanout_of_node.get(id(n), 1) <= 1:
                return n.name
            return self.names.claim(f"{n.name}/grouped")

        def constant_operand(src: Output) -> Output | None:
            value = src.node.constant_value()
            if value is None or value.ndim > 5:
                return None
            v = value.reshape((1,) * (5 - value.ndim) + value.shape)
            if v.shape[:2] == (1, 1):
                v = v.reshape(v.shape[1:])
            else:
                v = np.broadcast_to(v, full + v.shape[2:]).reshape((-1,) + v.shape[2:])
            return build("Constant", [], {"value": np.ascontiguousarray(v)}, name_for(src.node),
                         where=str(self.xml_path)).output(0)

        if node.type == "Constant":
            return constant_operand(out)
        if node.type == "Reshape" and node.inputs[0].shape == (groups * per_group,) + out.shape[2:]:
            return node.inputs[0]
        if node.type not in ("FakeQuantize", "Convert", "Add", "Subtract", "Multiply", "Maximum",
                             "Minimum"):
            return None
        new_inputs: list[Output] = []
        for src in node.inputs:
            if src.node.constant_value() is not None:
                new = constant_operand(src)
            elif len(src.shape) == 5 and src.shape[:2] == full:
                new = self._regroup(src, groups, per_group)
            else:
                new = None
            if new is None:
                return None
            new_inputs.append(new)
        return build(node.type, new_inputs, dict(node.attrs), name_for(node),
                     where=str(self.xml_path)).output(0)

    def _layer_MatMul(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        return self.node(layer, "MatMul", inputs, {
            "transpose_a": self.flag(layer, "transpose_a", False),
            "transpose_b": self.flag(layer, "transpose_b", False),
        })

    def _simple(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        op = {"ReLU": "Relu", "SoftMax": "Softmax"}.get(layer.type, layer.type)
        if op in ("Relu", "Sigmoid", "Tanh", "Exp"):
            self._expect_inputs(layer, inputs, 1)
            return self.node(layer, op, inputs, {})
        if op in ("Add", "Subtract", "Multiply", "Maximum", "Minimum"):
            self._expect_inputs(layer, inputs, 2)
            return self._binary(layer, op, inputs)
        raise AssertionError(layer.type)

    def _binary(self, layer: _Layer, op: str, inputs: list[_Value]) -> _Value:
        auto_broadcast = self.attr(layer, "auto_broadcast", "numpy").lower()
        a, b = inputs
        if auto_broadcast == "numpy" and op == "Subtract" and a.codes is not None \
                and a.zero_point is None and b.const is not None and b.const.dtype.kind == "f" \
                and np.all(np.isfinite(b.const)) and np.all(b.const == np.rint(b.const)) \
                and _broadcasts_to(b.const.shape, a.const.shape):  # type: ignore[union-attr]
            return _Value(layer.name, const=(a.const - b.const.astype(np.float32)).astype(np.float32),  # type: ignore[operator]
                          codes=a.codes, element_type=a.element_type, zero_point=b.const)
        if auto_broadcast == "numpy" and op == "Multiply":
            for x, s in ((a, b), (b, a)):
                if x.codes is not None and s.const is not None and s.const.dtype.kind == "f" \
                        and _broadcasts_to(s.const.shape, x.const.shape):  # type: ignore[union-attr]
                    scale = s.const.astype(np.float32)
                    dequantized = (x.const * scale).astype(np.float32)  # type: ignore[operator]
                    name = self.names.claim(layer.name)
                    out = integer_weights_as_fake_quantize(
                        x.codes, x.element_type, scale, x.zero_point, name,  # type: ignore[arg-type]
                        dequantized=dequantized, names=self.names)
                    return _Value(name, output=out)
        return self.node(layer, op, inputs, {"auto_broadcast": auto_broadcast})

    def _layer_Clamp(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 1)
        return self.node(layer, "Clamp", inputs, {"min": self.number(layer, "min"),
                                                  "max": self.number(layer, "max")})

    def _layer_Reshape(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        shape = self.const_input(layer, inputs, 1, "the target shape")
        return self.node(layer, "Reshape", inputs[:1], {
            "shape": [int(v) for v in shape.reshape(-1)],
            "special_zero": self.flag(layer, "special_zero", False),
        })

    def _layer_Transpose(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        order = self.const_input(layer, inputs, 1, "the order")
        return self.node(layer, "Transpose", inputs[:1], {"order": [int(v) for v in order.reshape(-1)]})

    def _layer_Squeeze(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 1, 2)
        axes = () if len(inputs) == 1 else self.const_input(layer, inputs, 1, "the axes").reshape(-1)
        if len(inputs) == 2 and len(axes) == 0:
            raise self.unsupported(layer, "an empty axes input is not supported (give no axes "
                                   "input to squeeze every dimension of size 1)")
        return self.node(layer, "Squeeze", inputs[:1], {"axes": [int(v) for v in axes]})

    def _layer_Unsqueeze(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        axes = self.const_input(layer, inputs, 1, "the axes")
        return self.node(layer, "Unsqueeze", inputs[:1], {"axes": [int(v) for v in axes.reshape(-1)]})

    def _pool_attrs(self, layer: _Layer) -> dict[str, Any]:
        auto_pad = self.attr(layer, "auto_pad", "explicit").lower()
        return {
            "kernel": self.ints(layer, "kernel"),
            "strides": self.ints(layer, "strides"),
            "pads_begin": self.ints(layer, "pads_begin"),
            "pads_end": self.ints(layer, "pads_end"),
            "rounding_type": self.attr(layer, "rounding_type", "floor").lower(),
            "auto_pad": "explicit" if auto_pad == "notset" else auto_pad,
        }

    def _layer_MaxPool(self, layer: _Layer, inputs: list[_Value]) -> list[_Value]:
        self._expect_inputs(layer, inputs, 1)
        attrs = self._pool_attrs(layer)
        expected = 2 if layer.version in ("opset8", "opset14") else 1
        if len(layer.outputs) != expected:
            raise self.fail(f"layer id {layer.id} '{layer.name}' (MaxPool {layer.version}) has "
                            f"{len(layer.outputs)} output ports, expected {expected}")
        if layer.version in ("opset8", "opset14"):
            dilations = self.ints(layer, "dilations", (1, 1))
            if any(d != 1 for d in dilations):
                raise self.unsupported(layer, "dilations other than 1 are not supported",
                                       "dilations", list(dilations))
            if len(layer.fanout) > 1 and layer.fanout[1] > 0:
                raise self.unsupported(layer, "the indices output (output port "
                                       f"{layer.outputs[1].id}) is used; refint8's MaxPool has "
                                       "only the values output")
        value = self.node(layer, "MaxPool", inputs, attrs)
        return [value] + [_Value(f"{layer.name}:indices")] * (len(layer.outputs) - 1)

    def _layer_AvgPool(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 1)
        attrs = self._pool_attrs(layer)
        attrs["exclude_pad"] = self.flag(layer, "exclude-pad", False)
        return self.node(layer, "AvgPool", inputs, attrs)

    def _layer_Concat(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        return self.node(layer, "Concat", inputs, {"axis": self.number(layer, "axis", kind=int)})

    def _layer_Interpolate(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        v4 = layer.version == "opset4"
        self._expect_inputs(layer, inputs, *((3, 4) if v4 else (2, 3)))
        mode = self.attr(layer, "mode").lower()
        shape_mode = self.attr(layer, "shape_calculation_mode").lower()
        if self.flag(layer, "antialias", False):
            raise self.unsupported(layer, "antialias is not supported", "antialias", True)
        for key in ("pads_begin", "pads_end"):
            pads = self.ints(layer, key, ())
            if any(p != 0 for p in pads):
                raise self.unsupported(layer, "pads other than 0 are not supported", key, list(pads))
        attrs: dict[str, Any] = {
            "mode": mode,
            "shape_calculation_mode": shape_mode,
            "coordinate_transformation_mode": self.attr(layer, "coordinate_transformation_mode",
                                                        "half_pixel").lower(),
            "nearest_mode": self.attr(layer, "nearest_mode", "round_prefer_floor").lower(),
        }
        if v4:
            sizes_index, scales_index, axes_index = 1, 2, 3
        else:
            sizes_index = scales_index = 1
            axes_index = 2
        if shape_mode == "sizes":
            attrs["sizes"] = [int(v) for v in self.const_input(layer, inputs, sizes_index, "sizes").reshape(-1)]
        elif shape_mode == "scales":
            scales = self.const_input(layer, inputs, scales_index, "scales", integer=False)
            attrs["scales"] = [float(v) for v in scales.astype(np.float32).reshape(-1)]
        if len(inputs) > axes_index:
            attrs["axes"] = [int(v) for v in self.const_input(layer, inputs, axes_index, "axes").reshape(-1)]
        return self.node(layer, "Interpolate", inputs[:1], attrs)

    def _layer_MVN(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 2)
        axes = self.const_input(layer, inputs, 1, "the axes")
        return self.node(layer, "MVN", inputs[:1], {
            "axes": [int(v) for v in axes.reshape(-1)],
            "normalize_variance": self.flag(layer, "normalize_variance"),
            "eps": self.number(layer, "eps"),
            "eps_mode": self.attr(layer, "eps_mode").lower(),
        })

    def _layer_SoftMax(self, layer: _Layer, inputs: list[_Value]) -> _Value:
        self._expect_inputs(layer, inputs, 1)
        return self.node(layer, "Softmax", inputs, {"axis": self.number(layer, "axis", kind=int)})


def read_ir(xml_path: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> Model:
    """Read an OpenVINO IR (v10/v11) into a refint8 Model; the weights are ``<stem>.bin`` beside it.

    Raises :class:`~refint8.errors.ModelFileError` for a missing, truncated or malformed file and
    :class:`~refint8.errors.UnsupportedError` for an op, version, attribute value or element type
    refint8 does not support (see the module docstring).
    """
    return _IRReader(Path(xml_path), None if bin_path is None else Path(bin_path)).read()


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

_PRECISION = {"f32": "FP32", "f16": "FP16", "f64": "FP64", "u8": "U8", "i8": "I8", "i32": "I32",
              "i64": "I64", "boolean": "BOOL"}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


class _IRWriter:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.layers: list[ET.Element] = []
        self.edges: list[tuple[int, int, int, int]] = []
        self.blob = bytearray()
        self.next_id = 0
        #: refint8 output -> (layer id, port id)
        self.ports: dict[Output, tuple[int, int]] = {}
        self.tensor_names: dict[Output, list[str]] = {}
        self.used_names: set[str] = set()

    def layer_name(self, wanted: str) -> str:
        name, k = wanted, 1
        while name in self.used_names:
            k += 1
            name = f"{wanted}_{k}"
        self.used_names.add(name)
        return name

    def add_layer(self, name: str, ltype: str, version: str, data: dict[str, Any] | None,
                  inputs: Sequence[tuple[int, int, str, tuple[int, ...]]],
                  outputs: Sequence[tuple[str, tuple[int, ...], list[str]]]) -> tuple[int, list[int]]:
        """Add a layer; ``inputs`` are (source layer, source port, type, shape); returns out ports."""
        lid = self.next_id
        self.next_id += 1
        el = ET.Element("layer", {"id": str(lid), "name": self.layer_name(name), "type": ltype,
                                  "version": version})
        if data is not None:
            ET.SubElement(el, "data", {k: _fmt(v) for k, v in data.items()})
        port = 0
        if inputs:
            group = ET.SubElement(el, "input")
            for src_layer, src_port, etype, shape in inputs:
                p = ET.SubElement(group, "port", {"id": str(port), "precision": _PRECISION[etype]})
                for d in shape:
                    ET.SubElement(p, "dim").text = str(d)
                self.edges.append((src_layer, src_port, lid, port))
                port += 1
        out_ports = []
        if outputs:
            group = ET.SubElement(el, "output")
            for etype, shape, names in outputs:
                attrs = {"id": str(port), "precision": _PRECISION[etype]}
                if names:
                    attrs["names"] = ",".join(n.replace(",", "\\,") for n in names)
                p = ET.SubElement(group, "port", attrs)
                for d in shape:
                    ET.SubElement(p, "dim").text = str(d)
                out_ports.append(port)
                port += 1
        self.layers.append(el)
        return lid, out_ports

    def const(self, name: str, value: np.ndarray) -> tuple[int, int, str, tuple[int, ...]]:
        """A Const layer; returns it as an input tuple for add_layer."""
        value = np.ascontiguousarray(value)
        etype = dtypes.type_name(value.dtype)
        if etype not in CONST_TYPES or etype in ("f16", "f64"):
            raise UnsupportedError(f"cannot write a constant of element type {etype}", node=name,
                                   op="Constant")
        data = value.astype(value.dtype.newbyteorder("<")).tobytes()
        while len(self.blob) % 8:  # keep every constant 8-byte aligned
            self.blob.append(0)
        offset = len(self.blob)
        self.blob.extend(data)
        lid, ports = self.add_layer(name, "Const", "opset1",
                                    {"element_type": etype, "shape": list(value.shape),
                                     "offset": offset, "size": len(data)},
                                    [], [(etype, value.shape, [])])
        return lid, ports[0], etype, tuple(value.shape)

    def source(self, out: Output) -> tuple[int, int, str, tuple[int, ...]]:
        lid, port = self.ports[out]
        return lid, port, dtypes.type_name(out.dtype), out.shape

    def emit(self, node: Node) -> None:
        t, a = node.type, node.attrs
        ins = [self.source(i) for i in node.inputs]
        outs = [(dtypes.type_name(o.dtype), o.shape, self.tensor_names.get(o, []))
                for o in node.outputs]
        version, data, ltype = "opset1", None, t
        ints = lambda v: [int(x) for x in v]  # noqa: E731
        if t == "Parameter":
            data = {"shape": ",".join(str(d) for d in a["shape"]), "element_type": a["element_type"]}
        elif t == "Constant":
            lid, port, _, _ = self.const(node.name, a["value"])
            # const() registered the layer; attach tensor names if the constant is a model output
            names = self.tensor_names.get(node.output(0))
            if names:
                self.layers[-1].find("output/port").set("names", ",".join(names))  # type: ignore[union-attr]
            self.ports[node.output(0)] = (lid, port)
            return
        elif t == "Convert":
            data = {"destination_type": a["destination_type"]}
        elif t == "FakeQuantize":
            if a.get("output_type", "f32") != "f32":
                raise UnsupportedError("a FakeQuantize with integer output_type exists only in "
                                       "lowered graphs; write the source model", node=node.name, op=t)
            data = {"levels": a["levels"], "auto_broadcast": a["auto_broadcast"]}
        elif t == "Convolution":
            data = {"strides": ints(a["strides"]), "dilations": ints(a["dilations"]),
                    "pads_begin": ints(a["pads_begin"]), "pads_end": ints(a["pads_end"]),
                    "auto_pad": a["auto_pad"]}
            if a["group"] > 1:
                ltype = "GroupConvolution"
                g = a["group"]
                w = node.inputs[1]
                shape5 = (g, w.shape[0] // g) + tuple(w.shape[1:])
                value = w.node.constant_value()
                if value is not None:
                    ins[1] = self.const(f"{w.node.name}/grouped", value.reshape(shape5))
                else:
                    target = self.const(f"{node.name}/filters_shape", np.array(shape5, np.int64))
                    lid, ports = self.add_layer(f"{node.name}/filters_reshape", "Reshape", "opset1",
                                                {"special_zero": False}, [ins[1], target],
                                                [(ins[1][2], shape5, [])])
                    ins[1] = (lid, ports[0], ins[1][2], shape5)
        elif t == "MatMul":
            data = {"transpose_a": a["transpose_a"], "transpose_b": a["transpose_b"]}
        elif t == "Relu":
            ltype = "ReLU"
        elif t in ("Sigmoid", "Tanh", "Exp"):
            pass
        elif t == "Clamp":
            data = {"min": float(a["min"]), "max": float(a["max"])}
        elif t in ("Add", "Subtract", "Multiply", "Maximum", "Minimum"):
            data = {"auto_broadcast": a["auto_broadcast"]}
        elif t == "Concat":
            data = {"axis": a["axis"]}
        elif t == "Softmax":
            ltype, version, data = "SoftMax", "opset8", {"axis": a["axis"]}
        elif t == "Reshape":
            data = {"special_zero": a["special_zero"]}
            ins.append(self.const(f"{node.name}/shape", np.array(ints(a["shape"]), np.int64)))
        elif t == "Transpose":
            order = ints(a["order"]) or list(reversed(range(len(node.inputs[0].shape))))
            ins.append(self.const(f"{node.name}/order", np.array(order, np.int64)))
        elif t == "Squeeze":
            if a["axes"]:
                ins.append(self.const(f"{node.name}/axes", np.array(ints(a["axes"]), np.int64)))
        elif t == "Unsqueeze":
            ins.append(self.const(f"{node.name}/axes", np.array(ints(a["axes"]), np.int64)))
        elif t in ("MaxPool", "AvgPool"):
            data = {"strides": ints(a["strides"]), "pads_begin": ints(a["pads_begin"]),
                    "pads_end": ints(a["pads_end"]), "kernel": ints(a["kernel"]),
                    "rounding_type": a["rounding_type"], "auto_pad": a["auto_pad"]}
            if t == "AvgPool":
                data["exclude-pad"] = a["exclude_pad"]
        elif t == "Interpolate":
            version = "opset11"
            rank = len(node.inputs[0].shape)
            data = {"mode": a["mode"], "shape_calculation_mode": a["shape_calculation_mode"],
                    "coordinate_transformation_mode": a["coordinate_transformation_mode"],
                    "nearest_mode": a["nearest_mode"], "antialias": False,
                    "pads_begin": [0] * rank, "pads_end": [0] * rank, "cube_coeff": -0.75}
            if a["shape_calculation_mode"] == "sizes":
                ins.append(self.const(f"{node.name}/sizes", np.array(ints(a["sizes"]), np.int64)))
            else:
                ins.append(self.const(f"{node.name}/scales", np.array(a["scales"], np.float32)))
            if a["axes"] is not None:
                ins.append(self.const(f"{node.name}/axes", np.array(ints(a["axes"]), np.int64)))
        elif t == "MVN":
            version = "opset6"
            data = {"eps": float(a["eps"]), "normalize_variance": a["normalize_variance"],
                    "eps_mode": a["eps_mode"].upper()}
            ins.append(self.const(f"{node.name}/axes", np.array(ints(a["axes"]), np.int64)))
        else:
            raise UnsupportedError(
                "cannot be written to OpenVINO IR (write the source model, not a compiled/lowered "
                f"one); writable ops: {', '.join(sorted(WRITABLE))}", node=node.name, op=t)
        lid, ports = self.add_layer(node.name, ltype, version, data, ins, outs)
        for out, port in zip(node.outputs, ports):
            self.ports[out] = (lid, port)

    def write(self) -> tuple[bytes, bytes]:
        model = self.model
        for p in model.parameters:
            self.tensor_names.setdefault(p.output(0), []).append(p.name)
        for key, out in model.outputs.items():
            names = self.tensor_names.setdefault(out, [])
            if key not in names:
                names.append(key)
        emitted: set[int] = set()
        for node in [*model.parameters, *model.nodes]:
            if id(node) in emitted:
                continue
            emitted.add(id(node))
            self.emit(node)
        for key, out in model.outputs.items():
            self.add_layer(f"{key}/sink_port_0" if key in self.used_names else key, "Result",
                           "opset1", None, [self.source(out)], [])
        net = ET.Element("net", {"name": model.name, "version": "11"})
        layers = ET.SubElement(net, "layers")
        layers.extend(self.layers)
        edges = ET.SubElement(net, "edges")
        for fl, fp, tl, tp in self.edges:
            ET.SubElement(edges, "edge", {"from-layer": str(fl), "from-port": str(fp),
                                          "to-layer": str(tl), "to-port": str(tp)})
        ET.indent(net, space="\t")
        xml = b'<?xml version="1.0"?>\n' + ET.tostring(net, encoding="utf-8") + b"\n"
        return xml, bytes(self.blob)


#: refint8 op types :func:`write_ir` can write.
WRITABLE = ("Parameter", "Constant", "Convert", "FakeQuantize", "Convolution", "MatMul", "Relu",
            "Clamp", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "AvgPool", "Add",
            "Subtract", "Multiply", "Maximum", "Minimum", "Concat", "Interpolate", "MVN",
            "Softmax", "Sigmoid", "Tanh", "Exp")


def write_ir(model: Model, xml_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``model`` as OpenVINO IR v11: ``xml_path`` and the weights beside it (``.bin``).

    Returns the two paths. Raises :class:`~refint8.errors.UnsupportedError` for a node that has no
    IR form (an int8 layer of a lowered graph, for example).
    """
    if not isinstance(model, Model):
        raise TypeError(f"write_model expects a refint8 Model, got {type(model).__name__}")
    xml_path = Path(xml_path)
    bin_path = xml_path.with_suffix(".bin")
    xml, blob = _IRWriter(model).write()
    xml_path.write_bytes(xml)
    bin_path.write_bytes(blob)
    return xml_path, bin_path


__all__ = ["SUPPORTED", "WRITABLE", "read_ir", "write_ir"]

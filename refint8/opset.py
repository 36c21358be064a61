"""Builder functions, one per op, in the spirit of OpenVINO's ``opset`` Python API.

Each function creates a node and returns its output, so graphs are written as nested calls::

    from refint8 import opset as ops
    x = ops.parameter([1, 3, 32, 32], name="input")
    y = ops.convolution(x, weights, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1])
    model = refint8.Model(ops.relu(y))

Wherever a tensor input is expected, a NumPy array or a Python number is accepted and becomes a
``Constant`` node (float arrays become f32). Node names are optional; unnamed nodes get
``<OpType>_<n>``. Attribute names follow OpenVINO's opset (``exclude-pad`` is ``exclude_pad``).
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from .graph import Node, Output, make_node

TensorLike = Union[Output, Node, np.ndarray, float, int, Sequence[float]]


def _out(value: TensorLike, name_hint: str | None = None) -> Output:
    if isinstance(value, Output):
        return value
    if isinstance(value, Node):
        return value.output(0)
    array = np.asarray(value)
    if array.dtype.kind == "f" or array.dtype.kind in "iu" and not isinstance(value, np.ndarray):
        array = array.astype(np.float32)
    return constant(array, name=name_hint)


def _node(op_type: str, inputs: Sequence[TensorLike], attrs: dict[str, Any], name: str | None) -> Output:
    hint = None if name is None else name
    resolved = [
        _out(v, None if hint is None else f"{hint}/{label}")
        for v, label in zip(inputs, _input_labels(op_type, len(inputs)))
    ]
    return make_node(op_type, resolved, attrs, name).output(0)


def _input_labels(op_type: str, count: int) -> list[str]:
    from .ops import get_op

    names = list(get_op(op_type).input_names)
    return [names[i] if i < len(names) else f"input{i}" for i in range(count)]


# -- graph inputs and constants ------------------------------------------------------------------


def parameter(shape: Sequence[int], element_type: str = "f32", name: str | None = None) -> Output:
    """A graph input of static ``shape`` and ``element_type`` (``f32``, ``u8``, ``i8``, ...)."""
    return make_node("Parameter", [], {"shape": list(shape), "element_type": element_type}, name).output(0)


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Output:
    """A constant tensor; float64/float16 values are stored as f32."""
    array = np.asarray(value, dtype=dtype)
    return make_node("Constant", [], {"value": array}, name).output(0)


def convert(x: TensorLike, destination_type: str, name: str | None = None) -> Output:
    return _node("Convert", [x], {"destination_type": destination_type}, name)


# -- quantization ----------------------------------------------------------------------------------


def fake_quantize(
    x: TensorLike,
    input_low: TensorLike,
    input_high: TensorLike,
    output_low: TensorLike,
    output_high: TensorLike,
    levels: int,
    auto_broadcast: str = "numpy",
    name: str | None = None,
) -> Output:
    return _node(
        "FakeQuantize",
        [x, input_low, input_high, output_low, output_high],
        {"levels": levels, "auto_broadcast": auto_broadcast},
        name,
    )


# -- layers with weights ---------------------------------------------------------------------------


def convolution(
    data: TensorLike,
    filters: TensorLike,
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    dilations: Sequence[int] = (1, 1),
    auto_pad: str = "explicit",
    group: int = 1,
    name: str | None = None,
) -> Output:
    """2-D convolution, NCHW data and ``[OC, IC/group, KH, KW]`` filters (``group`` > 1: grouped)."""
    return _node(
        "Convolution",
        [data, filters],
        {
            "strides": strides, "pads_begin": pads_begin, "pads_end": pads_end,
            "dilations": dilations, "auto_pad": auto_pad, "group": group,
        },
        name,
    )


def group_convolution(data: TensorLike, filters: np.ndarray | TensorLike, **kwargs: Any) -> Output:
    """OpenVINO's GroupConvolution: filters ``[G, OC/G, IC/G, KH, KW]`` become a grouped Convolution."""
    if isinstance(filters, np.ndarray) and filters.ndim == 5:
        groups = filters.shape[0]
        filters = filters.reshape((-1,) + filters.shape[2:])
        kwargs["group"] = groups
    return convolution(data, filters, **kwargs)


def matmul(
    a: TensorLike, b: TensorLike, transpose_a: bool = False, transpose_b: bool = False,
    name: str | None = None,
) -> Output:
    return _node("MatMul", [a, b], {"transpose_a": transpose_a, "transpose_b": transpose_b}, name)


# -- activations -----------------------------------------------------------------------------------


def relu(x: TensorLike, name: str | None = None) -> Output:
    return _node("Relu", [x], {}, name)


def clamp(x: TensorLike, min: float, max: float, name: str | None = None) -> Output:
    return _node("Clamp", [x], {"min": min, "max": max}, name)


def relu6(x: TensorLike, name: str | None = None) -> Output:
    """ReLU6 is Clamp(0, 6)."""
    return clamp(x, 0.0, 6.0, name=name)


def sigmoid(x: TensorLike, name: str | None = None) -> Output:
    return _node("Sigmoid", [x], {}, name)


def tanh(x: TensorLike, name: str | None = None) -> Output:
    return _node("Tanh", [x], {}, name)


def exp(x: TensorLike, name: str | None = None) -> Output:
    return _node("Exp", [x], {}, name)


def softmax(x: TensorLike, axis: int = 1, name: str | None = None) -> Output:
    return _node("Softmax", [x], {"axis": axis}, name)


# -- data movement ---------------------------------------------------------------------------------


def reshape(x: TensorLike, shape: Sequence[int], special_zero: bool = False, name: str | None = None) -> Output:
    return _node("Reshape", [x], {"shape": shape, "special_zero": special_zero}, name)


def transpose(x: TensorLike, order: Sequence[int] = (), name: str | None = None) -> Output:
    return _node("Transpose", [x], {"order": order}, name)


def squeeze(x: TensorLike, axes: Sequence[int] = (), name: str | None = None) -> Output:
    return _node("Squeeze", [x], {"axes": axes}, name)


def unsqueeze(x: TensorLike, axes: Sequence[int], name: str | None = None) -> Output:
    return _node("Unsqueeze", [x], {"axes": axes}, name)


def concat(inputs: Sequence[TensorLike], axis: int, name: str | None = None) -> Output:
    return _node("Concat", list(inputs), {"axis": axis}, name)


# -- pooling and resampling ------------------------------------------------------------------------


def max_pool(
    x: TensorLike,
    kernel: Sequence[int],
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    rounding_type: str = "floor",
    auto_pad: str = "explicit",
    name: str | None = None,
) -> Output:
    return _node(
        "MaxPool",
        [x],
        {"kernel": kernel, "strides": strides, "pads_begin": pads_begin, "pads_end": pads_end,
         "rounding_type": rounding_type, "auto_pad": auto_pad},
        name,
    )


def avg_pool(
    x: TensorLike,
    kernel: Sequence[int],
    strides: Sequence[int] = (1, 1),
    pads_begin: Sequence[int] = (0, 0),
    pads_end: Sequence[int] = (0, 0),
    exclude_pad: bool = False,
    rounding_type: str = "floor",
    auto_pad: str = "explicit",
    name: str | None = None,
) -> Output:
    return _node(
        "AvgPool",
        [x],
        {"kernel": kernel, "strides": strides, "pads_begin": pads_begin, "pads_end": pads_end,
         "exclude_pad": exclude_pad, "rounding_type": rounding_type, "auto_pad": auto_pad},
        name,
    )


def interpolate(
    x: TensorLike,
    *,
    sizes: Sequence[int] | None = None,
    scales: Sequence[float] | None = None,
    axes: Sequence[int] | None = None,
    mode: str = "nearest",
    coordinate_transformation_mode: str = "half_pixel",
    nearest_mode: str = "round_prefer_floor",
    name: str | None = None,
) -> Output:
    """Resample over ``axes`` (default: all) to ``sizes`` or by ``scales`` (give exactly one)."""
    attrs: dict[str, Any] = {
        "mode": mode,
        "coordinate_transformation_mode": coordinate_transformation_mode,
        "nearest_mode": nearest_mode,
        "shape_calculation_mode": "sizes" if sizes is not None else "scales",
    }
    if sizes is not None:
        attrs["sizes"] = sizes
    if scales is not None:
        attrs["scales"] = scales
    if axes is not None:
        attrs["axes"] = axes
    return _node("Interpolate", [x], attrs, name)


def mvn(
    x: TensorLike,
    axes: Sequence[int],
    normalize_variance: bool = True,
    eps: float = 1e-9,
    eps_mode: str = "inside_sqrt",
    name: str | None = None,
) -> Output:
    return _node(
        "MVN",
        [x],
        {"axes": axes, "normalize_variance": normalize_variance, "eps": eps, "eps_mode": eps_mode},
        name,
    )


# -- elementwise binary ------------------------------------------------------------------------------


def _binary(op_type: str, a: TensorLike, b: TensorLike, auto_broadcast: str, name: str | None) -> Output:
    return _node(op_type, [a, b], {"auto_broadcast": auto_broadcast}, name)


def add(a: TensorLike, b: TensorLike, auto_broadcast: str = "numpy", name: str | None = None) -> Output:
    return _binary("Add", a, b, auto_broadcast, name)


def subtract(a: TensorLike, b: TensorLike, auto_broadcast: str = "numpy", name: str | None = None) -> Output:
    return _binary("Subtract", a, b, auto_broadcast, name)


def multiply(a: TensorLike, b: TensorLike, auto_broadcast: str = "numpy", name: str | None = None) -> Output:
    return _binary("Multiply", a, b, auto_broadcast, name)


def maximum(a: TensorLike, b: TensorLike, auto_broadcast: str = "numpy", name: str | None = None) -> Output:
    return _binary("Maximum", a, b, auto_broadcast, name)


def minimum(a: TensorLike, b: TensorLike, auto_broadcast: str = "numpy", name: str | None = None) -> Output:
    return _binary("Minimum", a, b, auto_broadcast, name)

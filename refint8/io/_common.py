"""What the readers share: unique node names, checked node creation, integer weights as FakeQuantize.

Integer weights (an ONNX ``DequantizeLinear`` on a constant int8/uint8 tensor, an OpenVINO
``Convert(Constant i8/u8) [-> Subtract(zero point)] -> Multiply(scale)`` decompression chain) are
read as a float32 ``Constant`` holding the dequantized values followed by a ``FakeQuantize`` whose
grid is exactly the integer grid (see :func:`integer_weights_as_fake_quantize`). A FakeQuantize on
constant weights is the form refint8's LPT (like OpenVINO's) folds back into i8 codes and
per-channel scales, so an int8 layer that consumes them can run in I8.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import GraphError, ModelFileError
from ..graph import Node, Output, make_node

#: The integer range of each quantized element type.
INTEGER_RANGES: dict[str, tuple[int, int]] = {"u8": (0, 255), "i8": (-128, 127)}


class NameTable:
    """Hands out unique node names: the wanted name, or ``name_<k>`` when it is taken."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, wanted: str) -> str:
        name = wanted or "node"
        k = 1
        while name in self._used:
            k += 1
            name = f"{wanted}_{k}"
        self._used.add(name)
        return name


def build(op_type: str, inputs: Sequence[Output], attrs: Mapping[str, Any], name: str,
          *, where: str) -> Node:
    """``make_node``, with ``where`` (file and source node) added to a GraphError's message."""
    try:
        return make_node(op_type, list(inputs), dict(attrs), name)
    except GraphError as exc:
        raise with_context(exc, where) from None


def with_context(exc: GraphError, where: str) -> GraphError:
    """The same kind of error, its reason followed by ``(in <where>)``."""
    kwargs: dict[str, Any] = {"node": exc.node, "op": exc.op}
    if exc.attribute is not None:
        kwargs.update(attribute=exc.attribute, value=exc.value)
    return type(exc)(f"{exc.reason} (in {where})", **kwargs)


def constant(value: np.ndarray, name: str) -> Output:
    return make_node("Constant", [], {"value": np.asarray(value)}, name).output(0)


def integer_weights_as_fake_quantize(
    codes: np.ndarray,
    element_type: str,
    scale: np.ndarray,
    zero_point: np.ndarray | None,
    name: str,
    *,
    dequantized: np.ndarray | None = None,
    names: NameTable | None = None,
) -> Output:
    """``(codes - zero_point) * scale`` as ``FakeQuantize(Constant(dequantized), il, ih, ol, oh)``.

    ``codes`` is an ``element_type`` (``"u8"``/``"i8"``) array, ``scale`` and ``zero_point``
    arrays that broadcast to it (NumPy rules). With ``[qmin, qmax]`` the range of the element type:

    * the Constant (``<name>/dequantized``) holds ``dequantized`` if given (the float32 values the
      source format computes, e.g. OpenVINO's f32 ``Subtract`` and ``Multiply``), else
      ``(float32(codes) - float32(zero_point)) * float32(scale)`` in float32;
    * ``levels = qmax - qmin + 1`` (256), ``il = ol = (qmin - zero_point) * scale`` and
      ``ih = oh = (qmax - zero_point) * scale`` in float32, of the broadcast shape of ``scale``
      and ``zero_point``.

    The FakeQuantize is the identity on the integer grid: for ``x = (q - z) * s`` its level index
    is ``round((x - il) / (ih - il) * (qmax - qmin)) = q - qmin`` (exact up to float32 rounding,
    which is far below half a level), and its output ``(q - qmin) / (L - 1) * (oh - ol) + ol`` is
    ``(q - z) * s`` up to float32 rounding (a few ulp). ``names`` makes the node names unique.
    LPT folds it back to the codes ``q`` with
    zero point ``z`` and scale ``s`` (same rounding caveat).
    """
    qmin, qmax = INTEGER_RANGES[element_type]
    s = np.asarray(scale, dtype=np.float32)
    z = np.zeros((), np.float32) if zero_point is None else np.asarray(zero_point).astype(np.float32)
    if dequantized is None:
        dequantized = (codes.astype(np.float32) - z) * s
    low = (np.float32(qmin) - z) * s
    high = (np.float32(qmax) - z) * s
    low, high = np.broadcast_arrays(low, high)
    low = np.ascontiguousarray(low, dtype=np.float32)
    high = np.ascontiguousarray(high, dtype=np.float32)
    claim = names.claim if names is not None else (lambda n: n)
    x = constant(np.asarray(dequantized, np.float32), claim(f"{name}/dequantized"))
    il = constant(low, claim(f"{name}/input_low"))
    ih = constant(high, claim(f"{name}/input_high"))
    ol = constant(low, claim(f"{name}/output_low"))
    oh = constant(high, claim(f"{name}/output_high"))
    return make_node("FakeQuantize", [x, il, ih, ol, oh], {"levels": qmax - qmin + 1}, name).output(0)


def file_error(path: Any, problem: str) -> ModelFileError:
    return ModelFileError(f"refint8: {path}: {problem}")

"""The base class of every op and the attribute schema that validates attributes.

An op module defines one subclass of :class:`Op`. The class states the op's inputs and attributes;
``infer`` checks a node and returns its output types; ``compute`` is the fp32 reference semantics on
NumPy arrays. The module also exports a plain function (for example ``convolution(x, w, ...)``)
whose docstring is the specification: arguments, shapes, formula and errors. ``compute`` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from ..errors import GraphError, UnsupportedError
from ..graph import InferContext, TensorType

REQUIRED = object()


@dataclass(frozen=True)
class Attr:
    """Schema of one attribute.

    ``kind`` is one of ``int``, ``ints``, ``float``, ``floats``, ``bool``, ``str``, ``array``, ``any``;
    ``choices`` restricts a ``str`` attribute; ``default`` is :data:`REQUIRED` for a mandatory one.
    """

    kind: str
    default: Any = REQUIRED
    choices: tuple[str, ...] | None = None
    doc: str = ""

    def normalize(self, value: Any, *, name: str, node: str, op: str) -> Any:
        def bad(reason: str) -> GraphError:
            return GraphError(reason, node=node, op=op, attribute=name, value=value)

        kind = self.kind
        if kind == "any":
            return value
        if kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise bad("must be an integer")
            return int(value)
        if kind == "float":
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise bad("must be a number")
            return float(value)
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise bad("must be true or false")
            return bool(value)
        if kind == "str":
            if not isinstance(value, str):
                raise bad("must be a string")
            if self.choices is not None and value not in self.choices:
                raise UnsupportedError(
                    f"unsupported value; supported: {', '.join(self.choices)}",
                    node=node, op=op, attribute=name, value=value,
                )
            return value
        if kind in ("ints", "floats"):
            if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
                raise bad("must be a list of " + ("integers" if kind == "ints" else "numbers"))
            items = list(np.asarray(value).reshape(-1).tolist()) if isinstance(value, np.ndarray) else list(value)
            scalar = Attr("int" if kind == "ints" else "float")
            return tuple(scalar.normalize(v, name=name, node=node, op=op) for v in items)
        if kind == "array":
            if not isinstance(value, np.ndarray):
                raise bad("must be a NumPy array")
            return value
        raise AssertionError(f"unknown attribute kind {kind}")


class Op:
    """Base class of an op definition (a class, never instantiated)."""

    #: Op type name, as in OpenVINO's opset (``"Convolution"``).
    type_name: ClassVar[str]
    #: Names of the inputs, in order.
    input_names: ClassVar[tuple[str, ...]] = ()
    #: How many trailing inputs may be omitted.
    optional_inputs: ClassVar[int] = 0
    #: Attribute schema.
    attributes: ClassVar[Mapping[str, Attr]] = {}

    @classmethod
    def normalize_attrs(cls, attrs: dict[str, Any], *, node: str) -> dict[str, Any]:
        unknown = sorted(set(attrs) - set(cls.attributes))
        if unknown:
            raise UnsupportedError(
                f"unknown attribute; {cls.type_name} takes: {', '.join(cls.attributes) or 'none'}",
                node=node, op=cls.type_name, attribute=unknown[0], value=attrs[unknown[0]],
            )
        result: dict[str, Any] = {}
        for key, spec in cls.attributes.items():
            if key in attrs and attrs[key] is not None:
                result[key] = spec.normalize(attrs[key], name=key, node=node, op=cls.type_name)
            elif spec.default is REQUIRED:
                raise GraphError("required attribute is missing", node=node, op=cls.type_name,
                                 attribute=key)
            else:
                result[key] = spec.default
        return result

    @classmethod
    def check_input_count(cls, ctx: InferContext) -> None:
        most = len(cls.input_names)
        least = most - cls.optional_inputs
        got = len(ctx.inputs)
        if not least <= got <= most:
            expected = str(most) if least == most else f"{least} to {most}"
            ctx.fail(f"takes {expected} inputs ({', '.join(cls.input_names)}), got {got}")

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        raise NotImplementedError(f"{cls.type_name}.infer")

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError(f"{cls.type_name}.compute")


def normalize_axis(ctx: InferContext, axis: int, rank: int, attribute: str = "axis") -> int:
    """Map a possibly negative axis into ``[0, rank)``; out of range is a GraphError."""
    if not -rank <= axis < rank:
        ctx.fail(f"axis out of range for rank {rank}", attribute=attribute, value=axis)
    return axis % rank


def broadcast_shapes(ctx: InferContext, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of two shapes, or a GraphError naming both."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        ctx.fail(f"shapes {list(a)} and {list(b)} do not broadcast (numpy rules)")

"""The graph IR: typed nodes, their outputs, and a model that owns them.

A :class:`Node` is one operation: a name, an op type (``"Convolution"``), attributes, a list of
inputs (each an :class:`Output` of another node) and the inferred :class:`TensorType` of each of its
outputs. Nodes are created through :func:`make_node` (or the builder functions of
:mod:`refint8.opset`), which normalises the attributes against the op's schema and runs the op's
shape and dtype inference, so an invalid node is rejected the moment it is built, with an error
naming the node, the attribute and the value.

A :class:`Model` is the set of nodes reachable from its outputs, in topological order. Building it
checks that node names are unique, that the graph has no cycle, and that every ``Parameter`` the
outputs depend on is one of the model's parameters.

Constants are nodes of type ``Constant`` (attribute ``value``, a NumPy array); graph inputs are nodes
of type ``Parameter`` (attributes ``shape`` and ``element_type``).
"""

from __future__ import annotations

import copy as copy_module
import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, NoReturn, Sequence

import numpy as np

from . import dtypes
from .errors import _UNSET, GraphError

_creation_counter = itertools.count()


@dataclass(frozen=True)
class TensorType:
    """Element type and static shape of a tensor."""

    dtype: np.dtype
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        return f"{dtypes.type_name(self.dtype)}{list(self.shape)}"


@dataclass(frozen=True, eq=False)
class Output:
    """Output ``index`` of ``node``: what another node consumes as an input."""

    node: "Node"
    index: int = 0

    @property
    def type(self) -> TensorType:
        return self.node.output_types[self.index]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype

    @property
    def name(self) -> str:
        """``node`` for a single-output node, ``node:index`` otherwise."""
        if len(self.node.output_types) == 1:
            return self.node.name
        return f"{self.node.name}:{self.index}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Output) and other.node is self.node and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.node), self.index))

    def __repr__(self) -> str:
        return f"Output({self.name}: {self.type})"


class Node:
    """One operation of a graph. Build nodes with :func:`make_node`, not directly."""

    def __init__(
        self,
        op_type: str,
        name: str,
        inputs: list[Output],
        attrs: dict[str, Any],
        output_types: list[TensorType],
    ) -> None:
        self.type = op_type
        self.name = name
        self.inputs = inputs
        self.attrs = attrs
        self.output_types = output_types
        #: Free-form facts attached by transformations (fused nodes, precision reasons, ...).
        self.rt_info: dict[str, Any] = {}
        self.creation_index = next(_creation_counter)

    def output(self, index: int = 0) -> Output:
        return Output(self, index)

    @property
    def outputs(self) -> list[Output]:
        return [Output(self, i) for i in range(len(self.output_types))]

    def constant_value(self) -> np.ndarray | None:
        """The value of a ``Constant`` node, ``None`` for any other node."""
        return self.attrs["value"] if self.type == "Constant" else None

    def __repr__(self) -> str:
        ins = ", ".join(i.name for i in self.inputs)
        outs = ", ".join(str(t) for t in self.output_types)
        return f"<{self.type} '{self.name}' ({ins}) -> {outs}>"


class InferContext:
    """What an op's ``infer`` sees: the node's name, attributes, input types and constant inputs."""

    def __init__(self, op_type: str, name: str, inputs: Sequence[Output], attrs: Mapping[str, Any]):
        self.op_type = op_type
        self.name = name
        self.inputs = list(inputs)
        self.attrs = attrs

    @property
    def input_types(self) -> list[TensorType]:
        return [i.type for i in self.inputs]

    def input_type(self, index: int) -> TensorType:
        return self.inputs[index].type

    def constant(self, index: int) -> np.ndarray | None:
        """Value of input ``index`` if it is produced by a ``Constant`` node, else ``None``."""
        if index >= len(self.inputs):
            return None
        return self.inputs[index].node.constant_value()

    def fail(self, reason: str, *, attribute: str | None = None, value: Any = _UNSET) -> NoReturn:
        raise GraphError(reason, node=self.name, op=self.op_type, attribute=attribute, value=value)

    def require_dtype(self, index: int, *allowed: np.dtype, what: str | None = None) -> None:
        dtype = self.input_type(index).dtype
        if dtype not in [np.dtype(a) for a in allowed]:
            names = "/".join(dtypes.type_name(a) for a in allowed)
            label = what or f"input {index}"
            self.fail(
                f"{label} must be {names}, got {dtypes.type_name(dtype)}",
                attribute=f"input[{index}]",
                value=self.inputs[index].name,
            )

    def require_rank(self, index: int, *ranks: int, what: str | None = None) -> None:
        shape = self.input_type(index).shape
        if len(shape) not in ranks:
            label = what or f"input {index}"
            self.fail(
                f"{label} must have rank {' or '.join(map(str, ranks))}, got shape {list(shape)}",
                attribute=f"input[{index}]",
                value=self.inputs[index].name,
            )


_used_names: dict[str, int] = {}


def _fresh_name(op_type: str) -> str:
    count = _used_names.get(op_type, 0) + 1
    _used_names[op_type] = count
    return f"{op_type}_{count}"


def make_node(
    op_type: str,
    inputs: Sequence[Output],
    attrs: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Node:
    """Create a node: look up the op, normalise its attributes, check its inputs, infer its outputs.

    Raises :class:`~refint8.errors.GraphError` naming the node, attribute and value on any problem,
    and :class:`~refint8.errors.UnsupportedError` for an unknown op type or attribute.
    """
    from .ops import get_op

    node_name = name if name is not None else _fresh_name(op_type)
    op = get_op(op_type, node=node_name)
    for position, item in enumerate(inputs):
        if not isinstance(item, Output):
            raise GraphError(
                f"input {position} is {type(item).__name__}, not a node output (dangling input)",
                node=node_name,
                op=op_type,
            )
    normalized = op.normalize_attrs(dict(attrs or {}), node=node_name)
    ctx = InferContext(op_type, node_name, inputs, normalized)
    op.check_input_count(ctx)
    output_types = op.infer(ctx)
    return Node(op_type, node_name, list(inputs), normalized, list(output_types))


def reinfer(node: Node) -> None:
    """Re-run inference of ``node`` after its inputs changed (used by graph transformations)."""
    from .ops import get_op

    op = get_op(node.type, node=node.name)
    ctx = InferContext(node.type, node.name, node.inputs, node.attrs)
    op.check_input_count(ctx)
    node.output_types = list(op.infer(ctx))


@dataclass
class Model:
    """A graph: the nodes reachable from ``outputs``, checked and topologically ordered.

    ``outputs`` may be one output, a sequence (named after their producers) or a mapping
    ``name -> output``. ``parameters`` fixes the order of the graph inputs; when omitted, every
    reachable ``Parameter`` is an input, in creation order.
    """

    outputs: dict[str, Output]
    parameters: list[Node] = field(default_factory=list)
    name: str = "model"
    nodes: list[Node] = field(default_factory=list, init=False)
    rt_info: dict[str, Any] = field(default_factory=dict, init=False)

    def __init__(
        self,
        outputs: Output | Sequence[Output] | Mapping[str, Output],
        parameters: Sequence[Node | Output] | None = None,
        name: str = "model",
    ) -> None:
        if isinstance(outputs, Output):
            outputs = [outputs]
        if isinstance(outputs, Mapping):
            named = dict(outputs)
            for key, out in named.items():
                if not isinstance(out, Output):
                    raise GraphError(f"model output '{key}' = {out!r} is not a node output")
        else:
            named = {}
            for out in outputs:
                if not isinstance(out, Output):
                    raise GraphError(f"model output {out!r} is not a node output")
                if out.name in named:
                    raise GraphError("the same output is listed twice", node=out.node.name)
                named[out.name] = out
        if not named:
            raise GraphError("a model needs at least one output")
        self.outputs = named
        self.name = name
        #: Facts attached by compilation (e.g. ``optimized_out``: nodes removed, for the counters).
        self.rt_info: dict[str, Any] = {}
        self._explicit_parameters = None
        if parameters is not None:  # Nodes, or the Outputs opset.parameter returns
            self._explicit_parameters = [p.node if isinstance(p, Output) else p for p in parameters]
            seen: set[int] = set()
            for p in self._explicit_parameters:
                if not isinstance(p, Node):
                    raise GraphError(f"model parameter {p!r} is not a Parameter node")
                if id(p) in seen:   # one input bound twice would shadow the first binding
                    raise GraphError("the same Parameter is listed twice", node=p.name, op=p.type)
                seen.add(id(p))
        self.refresh()

    # -- structure -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Recompute the node list from the outputs (after a transformation rewired the graph)."""
        self.nodes = _topological_order(self.outputs.values())
        names: dict[str, Node] = {}
        for node in self.nodes:
            if node.name in names:
                raise GraphError(
                    "two nodes have this name; node names must be unique", node=node.name
                )
            names[node.name] = node
        self._by_name = names
        reachable = [n for n in self.nodes if n.type == "Parameter"]
        if self._explicit_parameters is None:
            self.parameters = sorted(reachable, key=lambda n: n.creation_index)
        else:
            listed = {id(p) for p in self._explicit_parameters}
            for p in self._explicit_parameters:
                if p.type != "Parameter":
                    raise GraphError("listed as a model parameter but is not a Parameter",
                                     node=p.name, op=p.type)
            for p in reachable:
                if id(p) not in listed:
                    raise GraphError(
                        "the graph uses this Parameter but it is not one of the model's "
                        "parameters (dangling input)",
                        node=p.name,
                        op="Parameter",
                    )
            self.parameters = list(self._explicit_parameters)

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise GraphError("no node of this name in the model", node=name) from None

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def consumers(self) -> dict[Output, list[tuple[Node, int]]]:
        """Map each output to the (node, input position) pairs that consume it."""
        users: dict[Output, list[tuple[Node, int]]] = {}
        for node in self.nodes:
            for position, src in enumerate(node.inputs):
                users.setdefault(src, []).append((node, position))
        return users

    def replace_uses(self, old: Output, new: Output) -> None:
        """Make every consumer of ``old`` (including model outputs) consume ``new`` instead."""
        for node in self.nodes:
            for position, src in enumerate(node.inputs):
                if src == old:
                    node.inputs[position] = new
        for key, out in self.outputs.items():
            if out == old:
                self.outputs[key] = new

    def validate(self) -> None:
        """Re-run shape and dtype inference of every node, in order (raises GraphError)."""
        self.refresh()
        for node in self.nodes:
            reinfer(node)

    @property
    def input_types(self) -> dict[str, TensorType]:
        return {p.name: p.output_types[0] for p in self.parameters}

    def summary(self) -> str:
        lines = [f"Model '{self.name}': {len(self.nodes)} nodes"]
        for node in self.nodes:
            if node.type == "Constant":
                continue
            lines.append(f"  {node!r}")
        lines.append("  outputs: " + ", ".join(f"{k} <- {v.name}" for k, v in self.outputs.items()))
        return "\n".join(lines)


def _topological_order(roots: Iterable[Output]) -> list[Node]:
    """Nodes reachable from ``roots``, producers before consumers; a cycle is a GraphError."""
    order: list[Node] = []
    state: dict[int, int] = {}  # id(node) -> 1 while on the DFS stack, 2 when finished
    for root in roots:
        stack: list[tuple[Node, int]] = [(root.node, 0)]
        path: list[Node] = []
        while stack:
            node, next_input = stack.pop()
            if next_input == 0:
                if state.get(id(node)) == 2:
                    continue
                state[id(node)] = 1
                path.append(node)
            if next_input < len(node.inputs):
                stack.append((node, next_input + 1))
                child = node.inputs[next_input].node
                child_state = state.get(id(child))
                if child_state == 1:
                    cycle = path[path.index(child):] + [child]
                    raise GraphError(
                        "the graph has a cycle: " + " -> ".join(n.name for n in cycle),
                        node=child.name,
                        op=child.type,
                    )
                if child_state is None:
                    stack.append((child, 0))
            else:
                state[id(node)] = 2
                path.pop()
                order.append(node)
    return order


def clone_model(model: Model) -> Model:
    """A deep copy of the graph structure (constant arrays are shared: they are read-only)."""
    mapping: dict[int, Node] = {}
    for node in model.nodes:
        copy = Node(
            node.type,
            node.name,
            [Output(mapping[id(src.node)], src.index) for src in node.inputs],
            dict(node.attrs),
            list(node.output_types),
        )
        copy.rt_info = copy_module.deepcopy(node.rt_info)
        mapping[id(node)] = copy
    for p in model.parameters:  # a listed parameter the outputs do not use is not in model.nodes
        if id(p) not in mapping:
            mapping[id(p)] = Node(p.type, p.name, [], dict(p.attrs), list(p.output_types))
            mapping[id(p)].rt_info = dict(p.rt_info)
    outputs = {k: Output(mapping[id(v.node)], v.index) for k, v in model.outputs.items()}
    parameters = [mapping[id(p)] for p in model.parameters]
    clone = Model(outputs, parameters, name=model.name)
    clone.rt_info = dict(model.rt_info)
    return clone

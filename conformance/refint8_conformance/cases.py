"""A test case: one node (op type, attributes, input arrays) or one graph recipe, and its files.

A kernel case is built into a real graph node (``Parameter`` nodes for data, ``Constant`` nodes
for weights and ranges, as LPT leaves them) so the backend's ``kernel(node)`` sees exactly what a
compiled model would give it. Cases are saved as ``<name>.json`` (op, attributes with post-ops
serialized, input descriptions, the unit, seed and failure) and ``<name>.npz`` (every array), and
:func:`load_case` reads them back for ``refint8 conformance --replay``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refint8 import dtypes
from refint8.graph import Node, make_node
from refint8.int8 import post_ops as post
from refint8.int8.post_ops import describe as describe_post_ops

FORMAT = "refint8-conformance-case/1"


@dataclass
class Case:
    """One node to run: ``op`` with ``attrs`` on ``inputs`` (``constant[i]``: input i is a Constant)."""

    op: str
    attrs: dict[str, Any]
    inputs: list[np.ndarray]
    constant: tuple[bool, ...] = ()
    #: Which corner the strategy aimed at (shown with a counterexample).
    note: str = ""
    #: Quantize post-op statistics: ``(saturated, total)`` outputs beyond the requantization range.
    saturation: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if not self.constant:
            self.constant = tuple(False for _ in self.inputs)

    def node(self, name: str = "node") -> Node:
        sources = []
        for i, (value, const) in enumerate(zip(self.inputs, self.constant)):
            if const:
                sources.append(make_node("Constant", [], {"value": value}, f"{name}/in{i}").output(0))
            else:
                sources.append(make_node("Parameter", [], {
                    "shape": list(value.shape), "element_type": dtypes.type_name(value.dtype)},
                    f"{name}/in{i}").output(0))
        return make_node(self.op, sources, self.attrs, name)

    @property
    def size(self) -> int:
        return sum(int(a.size) for a in self.inputs)

    def __repr__(self) -> str:  # short: Hypothesis reprs every example it reports
        shapes = ", ".join(f"{dtypes.type_name(a.dtype)}{list(a.shape)}" for a in self.inputs)
        return f"Case({self.op}, {shapes}; {self.note})"

    def summary(self, limit: int = 12) -> str:
        """A readable multi-line description (the printed counterexample)."""
        lines = [f"op: {self.op}" + (f"   ({self.note})" if self.note else "")]
        for key, value in self.attrs.items():
            lines.append(f"  {key} = {_attr_text(key, value, limit)}")
        for i, (value, const) in enumerate(zip(self.inputs, self.constant)):
            kind = "constant" if const else "input"
            lines.append(f"  {kind} {i}: {dtypes.type_name(value.dtype)}{list(value.shape)} = "
                         f"{_array_text(value, limit)}")
        return "\n".join(lines)


def _array_text(value: np.ndarray, limit: int) -> str:
    flat = value.reshape(-1)
    with np.printoptions(precision=9, threshold=limit, edgeitems=limit // 2, linewidth=10**6):
        text = np.array2string(flat, separator=", ")
    return text if flat.size <= limit else text + f" ({flat.size} values)"


def _attr_text(key: str, value: Any, limit: int) -> str:
    if key == "post_ops":
        parts = []
        for op in value:
            name = type(op).__name__
            if isinstance(op, (post.Multiply, post.Add, post.Subtract)):
                parts.append(f"{name}({_array_text(op.operand, 6)})")
            elif isinstance(op, post.FakeQuantize):
                extra = f", {op.element_type}" if isinstance(op, post.Quantize) else ""
                parts.append(f"{name}(levels={op.levels}{extra}, il={_array_text(op.input_low, 4)}, "
                             f"ih={_array_text(op.input_high, 4)}, ol={_array_text(op.output_low, 4)}, "
                             f"oh={_array_text(op.output_high, 4)})")
            elif isinstance(op, post.Clamp):
                parts.append(f"Clamp({op.low!r}, {op.high!r})")
            else:
                parts.append(name)
        return " -> ".join(parts) or "()"
    if isinstance(value, np.ndarray):
        return f"array{list(value.shape)} {_array_text(value, limit)}"
    return repr(value)


# -- serialization --------------------------------------------------------------------------------


class _Arrays:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, key: str, value: np.ndarray) -> dict[str, str]:
        self.arrays[key] = np.asarray(value)
        return {"$array": key}


def _encode(value: Any, key: str, store: _Arrays) -> Any:
    if isinstance(value, np.ndarray):
        return store.add(key, value)
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if key.endswith("post_ops") and isinstance(value, (list, tuple)):
        return {"$post_ops": [_encode_post_op(op, f"{key}/{i}", store) for i, op in enumerate(value)]}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{key}/{i}", store) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _encode(v, f"{key}/{k}", store) for k, v in value.items()}
    return value


def _encode_post_op(op: Any, key: str, store: _Arrays) -> dict[str, Any]:
    kind = type(op).__name__
    for base in (post.Quantize, post.FakeQuantize, post.Multiply, post.Add, post.Subtract,
                 post.Relu, post.Clamp):
        if isinstance(op, base):       # subclasses (broken backends' wrappers) save as their base
            kind = base.__name__
            break
    out: dict[str, Any] = {"type": kind}
    if isinstance(op, (post.Multiply, post.Add, post.Subtract)):
        out["operand"] = store.add(f"{key}/operand", op.operand)
    elif isinstance(op, post.Clamp):
        out.update(low=float(op.low), high=float(op.high))
    elif isinstance(op, post.FakeQuantize):
        for name in ("input_low", "input_high", "output_low", "output_high"):
            out[name] = store.add(f"{key}/{name}", getattr(op, name))
        out["levels"] = int(op.levels)
        if isinstance(op, post.Quantize):
            out["element_type"] = op.element_type
    return out


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if "$array" in value:
            return np.array(arrays[value["$array"]])
        if "$post_ops" in value:
            return tuple(_decode_post_op(op, arrays) for op in value["$post_ops"])
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_decode(v, arrays) for v in value)
    return value


def _decode_post_op(spec: dict[str, Any], arrays: Any) -> Any:
    kind = spec["type"]
    if kind in ("Multiply", "Add", "Subtract"):
        return getattr(post, kind)(np.array(arrays[spec["operand"]["$array"]]))
    if kind == "Relu":
        return post.Relu()
    if kind == "Clamp":
        return post.Clamp(spec["low"], spec["high"])
    ranges = [np.array(arrays[spec[n]["$array"]]) for n in ("input_low", "input_high", "output_low",
                                                             "output_high")]
    if kind == "Quantize":
        return post.Quantize(*ranges, spec["levels"], spec["element_type"])
    return post.FakeQuantize(*ranges, spec["levels"])


def save_case(path_stem: Path, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
              *, case: Case | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.npz``; ``payload`` is the metadata (unit, seed, ...)."""
    store = _Arrays()
    document = dict(payload)
    document["format"] = FORMAT
    if case is not None:
        document["kind"] = "kernel"
        document["op"] = case.op
        document["note"] = case.note
        document["attrs"] = {k: _encode(v, f"attr/{k}", store) for k, v in case.attrs.items()}
        document["post_ops_text"] = describe_post_ops(case.attrs.get("post_ops", ()))
        document["inputs"] = []
        for i, (value, const) in enumerate(zip(case.inputs, case.constant)):
            store.add(f"input{i}", value)
            document["inputs"].append({"array": f"input{i}", "dtype": dtypes.type_name(value.dtype),
                                       "shape": list(value.shape), "constant": bool(const)})
    for key, value in (arrays or {}).items():
        store.add(key, value)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    json_path = path_stem.with_suffix(".json")
    npz_path = path_stem.with_suffix(".npz")
    np.savez(npz_path, **store.arrays)
    json_path.write_text(json.dumps(document, indent=2, default=_json_default) + "\n")
    return json_path, npz_path


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


@dataclass
class LoadedCase:
    document: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    case: Case | None = None


def load_case(path: str | Path) -> LoadedCase:
    """Read a saved case (``.json`` or ``.npz`` path, or the common stem)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".npz") else path
    document = json.loads(stem.with_suffix(".json").read_text())
    if document.get("format") != FORMAT:
        raise ValueError(f"{stem}.json is not a refint8 conformance case (format "
                         f"{document.get('format')!r}, expected {FORMAT!r})")
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    loaded = LoadedCase(document, arrays)
    if document.get("kind") == "kernel":
        attrs = {k: _decode(v, arrays) for k, v in document["attrs"].items()}
        inputs = [arrays[i["array"]] for i in document["inputs"]]
        constant = tuple(bool(i["constant"]) for i in document["inputs"])
        loaded.case = Case(document["op"], attrs, inputs, constant, note=document.get("note", ""))
    return loaded

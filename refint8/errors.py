"""Errors raised by refint8.

Every error a user can trigger is a :class:`Refint8Error`. Errors about a graph name the node, and
where it applies the attribute and the offending value, so that a bad model is diagnosed from the
message alone, never from a traceback deep inside NumPy or C.
"""

from __future__ import annotations

from typing import Any

_UNSET = object()


class Refint8Error(Exception):
    """Base class of every error refint8 raises on purpose; its message starts with ``refint8:``."""

    def __init__(self, message: str = "", *args: object) -> None:
        if not message.startswith("refint8:"):
            message = "refint8: " + message
        super().__init__(message, *args)


class GraphError(Refint8Error):
    """A graph, node or attribute is invalid.

    The message reads ``node 'conv1' (Convolution): attribute 'strides' = (0, 1): <reason>``; the
    parts are also available as ``node``, ``op``, ``attribute`` and ``value``.
    """

    def __init__(
        self,
        reason: str,
        *,
        node: str | None = None,
        op: str | None = None,
        attribute: str | None = None,
        value: Any = _UNSET,
    ) -> None:
        self.reason = reason
        self.node = node
        self.op = op
        self.attribute = attribute
        self.value = None if value is _UNSET else value
        parts = []
        if node is not None:
            parts.append(f"node '{node}'" + (f" ({op})" if op else ""))
        elif op is not None:
            parts.append(f"op {op}")
        if attribute is not None:
            where = f"attribute '{attribute}'"
            if value is not _UNSET:
                where += f" = {_short(value)}"
            parts.append(where)
        elif value is not _UNSET:
            parts.append(f"value {_short(value)}")
        parts.append(reason)
        super().__init__("refint8: " + ": ".join(parts))


class UnsupportedError(GraphError):
    """The graph uses an operation, attribute value or data type refint8 does not support."""


class InputError(Refint8Error):
    """Inputs given to ``infer`` (or to a function of the reference) are unusable."""


class BackendError(Refint8Error):
    """Backend discovery, selection or a backend's kernel failed."""


class ConfigError(Refint8Error):
    """The configuration (argument, environment, pyproject.toml or refint8.toml) is invalid."""


class ModelFileError(Refint8Error):
    """A model file is missing, truncated or malformed."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if hasattr(value, "shape") and hasattr(value, "dtype") and len(text) > limit:
        return f"array(shape={tuple(value.shape)}, dtype={value.dtype})"
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Backend discovery through the ``refint8.backends`` entry-point group.

The registry loads every installed plugin lazily, on first use, with pluggy. Built-in backends
(``reference``, ``numpy``, ``simd``) are found exactly like third-party ones: refint8 itself never
imports a backend by name. A plugin that fails to import produces a warning and the others still
work; two plugins offering the same backend name is an error naming both distributions.

Environment switches:
- ``REFINT8_LOAD_PLUGINS=dist1,dist2`` loads only those distributions' entry points
  (an empty value loads none);
- ``REFINT8_TRACE_PLUGINS=1`` prints each hook call and its result.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .backend import Backend, BackendOptions, BackendSpec
from .errors import BackendError


@dataclass(frozen=True)
class BackendInfo:
    """A discovered backend: its spec and the distribution that provides it."""

    spec: BackendSpec
    distribution: str
    version: str
    entry_point: str

    @property
    def name(self) -> str:
        return self.spec.name


class BackendRegistry:
    """All backends offered by installed plugins (plus any registered by hand, e.g. in tests)."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._origins: dict[str, tuple[str, str, str]] = {}  # plugin name -> (dist, version, ep)
        self._load_entry_points = load_entry_points
        self._loaded = False
        self._instances: dict[tuple[str, str], Backend] = {}
        self.load_warnings: list[str] = []
        self._trace = bool(os.environ.get("REFINT8_TRACE_PLUGINS"))
        if self._trace:
            self._pm.trace.root.setwriter(lambda message: print(message, end="", file=sys.stderr))
            self._pm.enable_tracing()

    # -- loading -----------------------------------------------------------------------------

    def register(self, plugin: Any, *, distribution: str = "<local>", version: str = "",
                 name: str | None = None) -> None:
        """Register a plugin object (module or instance implementing the hooks) directly."""
        plugin_name = name or f"{distribution}:{getattr(plugin, '__name__', id(plugin))}"
        self._pm.register(plugin, name=plugin_name)
        self._origins[plugin_name] = (distribution, version, plugin_name)
        self.__dict__.pop("backends", None)

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self._load_entry_points:
            return
        only = os.environ.get("REFINT8_LOAD_PLUGINS")
        allowed = None if only is None else {d.strip() for d in only.split(",") if d.strip()}
        for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "<unknown>"
            version = ep.dist.version if ep.dist is not None else ""
            if allowed is not None and dist not in allowed:
                continue
            plugin_name = f"{dist}:{ep.name}"
            if self._pm.has_plugin(plugin_name):
                continue
            try:
                plugin = ep.load()
                self._pm.register(plugin, name=plugin_name)
            except Exception as exc:  # a broken third-party plugin must not break the others
                message = (f"refint8: backend plugin '{ep.name}' from distribution '{dist}' failed "
                           f"to load and is ignored: {type(exc).__name__}: {exc}")
                self.load_warnings.append(message)
                warnings.warn(message, RuntimeWarning, stacklevel=3)
                continue
            self._origins[plugin_name] = (dist, version, ep.value)

    # -- querying ----------------------------------------------------------------------------

    @cached_property
    def backends(self) -> dict[str, BackendInfo]:
        """Every offered backend by name; a name offered twice is a BackendError."""
        self._ensure_loaded()
        found: dict[str, BackendInfo] = {}
        for impl in self._pm.hook.refint8_backends.get_hookimpls():
            dist, version, where = self._origins.get(impl.plugin_name, (impl.plugin_name, "", ""))
            try:
                specs: Iterable[BackendSpec] = impl.function() or ()
                specs = list(specs)
                if self._trace:  # the hook is called directly, so pluggy's tracing does not see it
                    print(f"refint8_backends [{impl.plugin_name}] -> {specs!r}", file=sys.stderr)
            except Exception as exc:
                message = (f"refint8: plugin from distribution '{dist}' raised in refint8_backends "
                           f"and is ignored: {type(exc).__name__}: {exc}")
                self.load_warnings.append(message)
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                continue
            for spec in specs:
                if not isinstance(spec, BackendSpec):
                    raise BackendError(f"plugin from distribution '{dist}' returned {spec!r}, "
                                       "not a refint8.backend.BackendSpec")
                if spec.name in found:
                    other = found[spec.name]
                    raise BackendError(
                        f"backend name '{spec.name}' is provided by two distributions: "
                        f"'{other.distribution}' ({other.entry_point}) and '{dist}' ({where}); "
                        "uninstall one of them"
                    )
                found[spec.name] = BackendInfo(spec, dist, version, where)
        return found

    def names(self) -> list[str]:
        return sorted(self.backends)

    def info(self, name: str) -> BackendInfo:
        try:
            return self.backends[name]
        except KeyError:
            available = ", ".join(self.names()) or "none installed"
            raise BackendError(f"unknown backend '{name}'; available backends: {available}") from None

    def create(self, name: str, options: BackendOptions | None = None) -> Backend:
        """The backend instance for ``name`` (cached per options)."""
        key = (name, repr(options))
        if key not in self._instances:
            info = self.info(name)
            try:
                backend = info.spec.factory(options or BackendOptions())
            except Exception as exc:
                raise BackendError(f"backend '{name}' from '{info.distribution}' failed to start: "
                                   f"{type(exc).__name__}: {exc}") from exc
            self._instances[key] = backend
        return self._instances[key]

    def usable(self, name: str, options: BackendOptions | None = None) -> tuple[bool, str]:
        try:
            return self.create(name, options).usable()
        except BackendError as exc:
            return False, str(exc)

    def ranked(self) -> list[str]:
        """Every backend name, highest declared priority first."""
        return [info.name for info in sorted(self.backends.values(),
                                             key=lambda i: (-i.spec.priority, i.name))]

    def best(self) -> str:
        """The usable backend with the highest declared priority."""
        ranked = sorted(self.backends.values(), key=lambda i: (-i.spec.priority, i.name))
        for info in ranked:
            if self.usable(info.name)[0]:
                return info.name
        raise BackendError("no usable backend is installed; install refint8's reference backend "
                           "(pip install backends/reference)")


_default: BackendRegistry | None = None


def default_registry() -> BackendRegistry:
    """The process-wide registry of installed plugins, loaded on first use."""
    global _default
    if _default is None:
        _default = BackendRegistry()
    return _default


def reset_default_registry() -> None:
    """Forget the loaded plugins (the next use re-reads the entry points)."""
    global _default
    _default = None

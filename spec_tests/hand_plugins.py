"""A plugin object registered by hand (no installed package): what a backend's entry point module
provides, for the runtime tests that need a backend of their own."""

from __future__ import annotations

import refint8
from refint8.backend import Backend, BackendSpec
from refint8.registry import BackendRegistry


class SpecsPlugin:
    """Implements the ``refint8_backends`` hook with the given specs."""

    def __init__(self, *specs: BackendSpec) -> None:
        self.specs = specs

    @refint8.hookimpl
    def refint8_backends(self):
        return list(self.specs)


def register_instance(registry: BackendRegistry, name: str, backend: Backend) -> BackendRegistry:
    """``registry`` with ``backend`` (this very object) registered as ``name``, from ``name-dist``."""
    registry.register(SpecsPlugin(BackendSpec(name, lambda options: backend)), distribution=f"{name}-dist")
    return registry

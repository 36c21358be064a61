"""The hooks a refint8 plugin implements (pluggy project name ``refint8``).

A backend package declares an entry point in the ``refint8.backends`` group pointing at a module
(or object) that implements the hooks below with ``@refint8.hookimpl``. Built-in backends are
registered exactly the same way; refint8's runtime never imports a backend by name.

Example ``pyproject.toml`` of a backend package::

    [project.entry-points."refint8.backends"]
    mybackend = "refint8_mybackend"

and its module::

    import refint8
    from refint8.backend import Backend, BackendSpec, Kernel

    class MyBackend(Backend):
        name = "mybackend"
        def kernel(self, node):
            if node.type == "Relu":
                return Kernel(lambda inputs: [np.maximum(inputs[0], 0)], "mine_any")
            return None          # everything else: the fallback backend

    @refint8.hookimpl
    def refint8_backends():
        return [BackendSpec("mybackend", lambda options: MyBackend(), priority=10)]
"""

from __future__ import annotations

from typing import Iterable

import pluggy

from .backend import BackendSpec

PROJECT = "refint8"
ENTRY_POINT_GROUP = "refint8.backends"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def refint8_backends() -> Iterable[BackendSpec]:
    """Return the backends this plugin provides, as :class:`~refint8.backend.BackendSpec` objects.

    Called once per registry load. Each spec's ``name`` must be unique across every installed
    plugin: two plugins offering the same name is an error naming both distributions. The factory
    is called lazily, only when the backend is selected or listed, so importing the plugin must be
    cheap and must not fail on machines the backend cannot run on (report that from
    ``Backend.usable`` instead).
    """

"""The ``installed_backend`` fixture: every refint8 backend installed here, one test per backend.

A backend that cannot run on this machine (``usable()`` says no), or whose plugin failed to load
(a broken build: the registry keeps the warning), is skipped with the reason printed, never
silently left out.
"""

from __future__ import annotations

import pytest

from refint8.registry import default_registry


def _params() -> list:
    registry = default_registry()
    params = [pytest.param(name, id=name) for name in registry.names()]
    params += [pytest.param(f"broken-plugin-{i}: {warning}", id=f"broken-plugin-{i}")
               for i, warning in enumerate(registry.load_warnings)]
    return params


@pytest.fixture(params=_params())
def installed_backend(request) -> str:
    name = request.param
    if name.startswith("broken-plugin-"):
        print(f"skipped: {name}")
        pytest.skip(name)
    usable, reason = default_registry().usable(name)
    if not usable:
        print(f"backend '{name}' skipped: {reason}")
        pytest.skip(f"backend '{name}' cannot run here: {reason}")
    return name

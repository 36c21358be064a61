"""From the model a user gives to the graph the runtime executes.

``lower`` copies the model (the user's graph is never modified) and, when the model contains
FakeQuantize layers that LPT can use, runs the Low Precision Transformations (:mod:`refint8.lpt`)
with the backend's precision restrictions. Every node of the result runs either in int8 (its first
input is u8/i8) or in fp32; an fp32 node that could have been int8 carries the reason in
``node.rt_info["fp32_reason"]``.
"""

from __future__ import annotations

from . import lpt
from .backend import Capabilities
from .graph import Model, clone_model


def lower(model: Model, capabilities: Capabilities | None = None, *, enable_lpt: bool = True) -> Model:
    """A lowered copy of ``model`` for a backend with ``capabilities``."""
    lowered = clone_model(model)
    if not enable_lpt:
        return lowered
    capabilities = capabilities or Capabilities()
    return lpt.transform(lowered, capabilities.precision_restrictions,
                         accumulation=capabilities.accumulation)

"""The ``reference`` backend: refint8's own readable kernels, registered like any other plugin.

Every node runs the reference computation of its op (``refint8.ops`` for fp32 ops, the int8 layer
semantics for int8 layers). execType ``ref_any_<PRECISION>``. It is the slowest backend and the one
whose results all others must reproduce.
"""

from __future__ import annotations

import refint8
from refint8.backend import Backend, BackendSpec, Capabilities, Kernel
from refint8.graph import Node
from refint8.ops import get_op


class ReferenceBackend(Backend):
    name = "reference"

    def capabilities(self) -> Capabilities:
        return Capabilities(accumulation="exact", summary="every op of the specification")

    def kernel(self, node: Node) -> Kernel:
        op = get_op(node.type, node=node.name)
        attrs = node.attrs
        return Kernel(lambda inputs: op.compute(attrs, *inputs), "ref_any")


@refint8.hookimpl
def refint8_backends() -> list[BackendSpec]:
    return [
        BackendSpec(
            "reference",
            lambda options: ReferenceBackend(),
            priority=0,
            description="refint8's readable reference kernels (the oracle)",
        )
    ]

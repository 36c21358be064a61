"""Parameter: a graph input.

Attributes: ``shape`` (list of positive ints, static) and ``element_type`` (``f32``, ``u8``, ``i8``,
``i32``, ``i64``). No inputs; one output of that type. Inference feeds the value given for the
parameter's name, which must have exactly this shape and element type.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Attr, Op


class Parameter(Op):
    type_name = "Parameter"
    input_names = ()
    attributes = {
        "shape": Attr("ints", doc="static shape; every dimension >= 1"),
        "element_type": Attr("str", "f32", choices=("f32", "u8", "i8", "i32", "i64")),
    }

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        shape = ctx.attrs["shape"]
        if any(d < 1 for d in shape):
            ctx.fail("every dimension must be >= 1 (dynamic shapes are not supported)",
                     attribute="shape", value=list(shape))
        return [TensorType(dtypes.element_type(ctx.attrs["element_type"]), shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        raise AssertionError("a Parameter is fed, never computed")

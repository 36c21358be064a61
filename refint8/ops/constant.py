"""Constant: a tensor stored in the graph (weights, ranges, biases).

Attribute ``value``: a NumPy array of a supported element type. f16 and f64 arrays are converted to
f32, as refint8 computes every float in f32. The node keeps a read-only copy, so later changes to
the caller's array do not change the graph. No inputs; one output with the array's shape and type.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import dtypes
from ..graph import InferContext, TensorType
from ._base import Attr, Op


class Constant(Op):
    type_name = "Constant"
    input_names = ()
    attributes = {"value": Attr("array")}

    @classmethod
    def infer(cls, ctx: InferContext) -> list[TensorType]:
        value = ctx.attrs["value"]
        # First inference: take a private, frozen copy. A read-only array of the caller (a view
        # such as np.broadcast_to, or f16/f64) is copied and converted too; only the copy made
        # here (read-only, owning its data, not f16/f64) is kept as it is on re-inference.
        if value.flags.writeable or value.base is not None or value.dtype in (np.float16, np.float64):
            if value.dtype in (np.float16, np.float64):
                value = value.astype(np.float32)
            value = np.array(value, copy=True)
            value.setflags(write=False)
            ctx.attrs["value"] = value  # type: ignore[index]
        try:
            dtype = dtypes.element_type(value.dtype)
        except Exception:
            ctx.fail(f"element type {value.dtype} is not supported", attribute="value", value=value)
        return [TensorType(dtype, value.shape)]

    @classmethod
    def compute(cls, attrs: Mapping[str, Any], *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (attrs["value"],)

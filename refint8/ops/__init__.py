"""The fp32 semantics of every operation refint8 knows, one module per op.

The registry is an explicit list (no discovery): reading this file tells which ops exist. Each
module's op class states inputs, attributes and shape inference; its module-level function is the
readable reference computation whose docstring is the specification.
"""

from __future__ import annotations

from ..errors import UnsupportedError
from ._base import Attr, Op
from .parameter import Parameter
from .constant import Constant
from .convert import Convert
from .fake_quantize import FakeQuantize
from .convolution import Convolution
from .matmul import MatMul
from .relu import Relu
from .clamp import Clamp
from .reshape import Reshape
from .transpose import Transpose
from .squeeze import Squeeze
from .unsqueeze import Unsqueeze
from .max_pool import MaxPool
from .avg_pool import AvgPool
from .add import Add
from .subtract import Subtract
from .multiply import Multiply
from .maximum import Maximum
from .minimum import Minimum
from .concat import Concat
from .interpolate import Interpolate
from .mvn import MVN
from .softmax import Softmax
from .sigmoid import Sigmoid
from .tanh import Tanh
from .exp import Exp

#: Every op type refint8 supports, by name.
OPS: dict[str, type[Op]] = {
    op.type_name: op
    for op in (
        Parameter, Constant, Convert, FakeQuantize, Convolution, MatMul, Relu, Clamp, Reshape,
        Transpose, Squeeze, Unsqueeze, MaxPool, AvgPool, Add, Subtract, Multiply, Maximum,
        Minimum, Concat, Interpolate, MVN, Softmax, Sigmoid, Tanh, Exp,
    )
}


def get_op(op_type: str, *, node: str | None = None) -> type[Op]:
    """The op class for ``op_type`` (an fp32 op or an int8 layer of ``refint8.int8``).

    An unknown type is an UnsupportedError listing the supported ones.
    """
    if op_type in OPS:
        return OPS[op_type]
    from ..int8 import INT8_OPS  # int8 layers build on this package, so they load after it

    if op_type in INT8_OPS:
        return INT8_OPS[op_type]
    raise UnsupportedError(
        f"unknown op type; supported: {', '.join(sorted(OPS))}", node=node, op=op_type
    )


__all__ = ["Attr", "Op", "OPS", "get_op"]

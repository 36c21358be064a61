"""The int8 layers: the integer computation of every layer LPT lowers to low precision.

Data-movement layers (Reshape, Transpose/Permute, Squeeze, Unsqueeze, Concat), MaxPool, Relu and
nearest Interpolate are dtype-generic ops of ``refint8.ops``: on u8/i8 codes they are their own
int8 semantics. The layers below compute differently on integers and have their own modules.
Each module's docstring is the specification of the layer.
"""

from __future__ import annotations

from ..ops._base import Op
from .avg_pool import Int8AvgPool
from .convolution import Int8Convolution
from .dequantize import Dequantize
from .eltwise import Int8Add, Int8Multiply
from .matmul import Int8MatMul
from .mvn import Int8MVN

#: Int8 layer types by name.
INT8_OPS: dict[str, type[Op]] = {
    op.type_name: op
    for op in (Int8Convolution, Int8MatMul, Int8AvgPool, Int8Add, Int8Multiply, Int8MVN, Dequantize)
}

__all__ = ["INT8_OPS", "Dequantize", "Int8Add", "Int8AvgPool", "Int8Convolution", "Int8MVN",
           "Int8MatMul", "Int8Multiply"]

"""Element types of refint8 tensors and their OpenVINO names.

refint8 computes in a small set of element types: ``f32`` for every floating-point tensor (f16
constants of a model file are widened to f32 when the model is read), ``u8``/``i8`` for quantized
data, ``i32`` for integer accumulators and ``i64`` for shapes and indices.
"""

from __future__ import annotations

import numpy as np

from .errors import UnsupportedError

#: OpenVINO element-type name -> NumPy dtype, for the types a refint8 graph may carry.
ELEMENT_TYPES: dict[str, np.dtype] = {
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    "u8": np.dtype(np.uint8),
    "i8": np.dtype(np.int8),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "boolean": np.dtype(np.bool_),
}

F32 = ELEMENT_TYPES["f32"]
U8 = ELEMENT_TYPES["u8"]
I8 = ELEMENT_TYPES["i8"]
I32 = ELEMENT_TYPES["i32"]
I64 = ELEMENT_TYPES["i64"]

#: The element types of quantized (low-precision) data.
LOW_PRECISION = (U8, I8)

_NAMES = {dtype: name for name, dtype in ELEMENT_TYPES.items()}


def element_type(name_or_dtype: str | np.dtype | type) -> np.dtype:
    """Return the NumPy dtype for an element-type name (``"f32"``) or a NumPy dtype-like."""
    if isinstance(name_or_dtype, str) and name_or_dtype in ELEMENT_TYPES:
        return ELEMENT_TYPES[name_or_dtype]
    try:
        dtype = np.dtype(name_or_dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype not in _NAMES:
        raise UnsupportedError(
            f"element type {name_or_dtype!r} is not supported; supported: {', '.join(ELEMENT_TYPES)}"
        )
    return dtype


def type_name(dtype: np.dtype) -> str:
    """The OpenVINO name of a NumPy dtype (``float32`` -> ``"f32"``)."""
    return _NAMES.get(np.dtype(dtype), str(dtype))


def is_low_precision(dtype: np.dtype) -> bool:
    """True for u8 and i8, the element types int8 layers consume."""
    return np.dtype(dtype) in LOW_PRECISION

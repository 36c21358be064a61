"""Model files in and out: OpenVINO IR (``.xml`` + ``.bin``) and ONNX (``.onnx``, Q/DQ quantized).

``read_model(path)`` picks the reader by the file suffix:

* ``.xml``: OpenVINO IR v10/v11, weights in the ``.bin`` of the same name beside it
  (:mod:`refint8.io.openvino_ir`);
* ``.onnx``: ONNX, with QuantizeLinear/DequantizeLinear pairs read as FakeQuantize
  (:mod:`refint8.io.onnx_qdq`; needs the optional ``onnx`` package).

``write_model(model, path)`` writes OpenVINO IR v11 (``path`` ends in ``.xml``; the ``.bin`` goes
beside it).

A missing, truncated or malformed file is a :class:`~refint8.errors.ModelFileError` naming the file
and what is wrong; an op, attribute value or element type refint8 does not support is an
:class:`~refint8.errors.UnsupportedError` naming the node and listing what is supported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelFileError, UnsupportedError
from ..graph import Model

#: File suffix -> format name.
FORMATS = {".xml": "OpenVINO IR", ".onnx": "ONNX"}


def read_model(path: str | os.PathLike, **options: Any) -> Model:
    """Read a model file; the format comes from the suffix (``.xml``: OpenVINO IR, ``.onnx``: ONNX).

    ``options`` go to the reader: ``bin_path`` for IR; ``input_shapes`` (``{name: shape}``, to fix
    dynamic dimensions) for ONNX.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UnsupportedError(f"{path}: unknown model file suffix {path.suffix!r}; supported: "
                               + ", ".join(f"{s} ({name})" for s, name in FORMATS.items()))
    if not path.exists():
        raise ModelFileError(f"refint8: {path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"refint8: {path}: is a directory, not a model file")
    if suffix == ".xml":
        from .openvino_ir import read_ir

        return read_ir(path, **options)
    from .onnx_qdq import read_onnx

    return read_onnx(path, **options)


def write_model(model: Model, path: str | os.PathLike) -> Path:
    """Write ``model`` as OpenVINO IR v11 to ``path`` (``.xml``) and the ``.bin`` beside it."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        raise UnsupportedError(f"{path}: write_model writes OpenVINO IR; give a path ending in .xml")
    from .openvino_ir import write_ir

    return write_ir(model, path)[0]


def is_model_path(text: str | os.PathLike) -> bool:
    """True if ``text`` names a model file by its suffix (whether or not it exists)."""
    return Path(text).suffix.lower() in FORMATS


__all__ = ["FORMATS", "is_model_path", "read_model", "write_model"]

"""refint8: the executable specification of OpenVINO-style 8-bit integer inference.

- ``refint8.fake_quantize``: FakeQuantize's exact float32 arithmetic.
- ``refint8.opset``: builder functions for graphs; ``refint8.Model`` holds one.
- ``refint8.compile(model, backend=...)``: lower (LPT) and bind to a backend; ``.infer(inputs)``.
- ``refint8.read_model(path)`` / ``refint8.write_model(model, path)``: OpenVINO IR (``.xml``) and
  Q/DQ ONNX (``.onnx``) files in, OpenVINO IR out (:mod:`refint8.io`).
- ``refint8.ops``: the fp32 meaning of every op, one module each (their docstrings are the spec).
- ``refint8.hookspecs`` / ``refint8.backend``: how a backend plugs in.
"""

from __future__ import annotations

from . import opset
from .backend import Backend, BackendOptions, BackendSpec, Capabilities, Kernel, PlannedStep
from .config import Config, load_config
from .errors import (BackendError, ConfigError, GraphError, InputError, ModelFileError,
                     Refint8Error, UnsupportedError)
from .graph import Model, Node, Output, TensorType
from .hookspecs import hookimpl
from .io import read_model, write_model
from .ops.fake_quantize import fake_quantize
from .runtime import CompiledModel, compile_model

compile = compile_model  # noqa: A001  (refint8.compile mirrors openvino's Core.compile_model)

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendError", "BackendOptions", "BackendSpec", "Capabilities", "CompiledModel",
    "Config", "ConfigError", "GraphError", "InputError", "Kernel", "Model", "ModelFileError",
    "Node", "Output", "PlannedStep", "Refint8Error", "TensorType", "UnsupportedError", "compile",
    "compile_model", "fake_quantize", "hookimpl", "load_config", "opset", "read_model",
    "write_model",
]

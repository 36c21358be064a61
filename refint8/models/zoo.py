"""Built-in models by name, for the command line (``refint8 demo``, ``refint8 explain inception``)."""

from __future__ import annotations

from typing import Callable

from ..errors import InputError
from ..graph import Model
from .inception import quantized_inception_block
from .resnet import quantized_resnet50
from .small_cnn import small_fq_cnn

BUILTIN: dict[str, Callable[[], Model]] = {
    "inception": quantized_inception_block,
    "small_cnn": small_fq_cnn,
    "resnet50": quantized_resnet50,
}


def builtin_model(name: str) -> Model:
    try:
        return BUILTIN[name]()
    except KeyError:
        raise InputError(f"refint8: no built-in model '{name}'; built-in models: {', '.join(BUILTIN)}") from None

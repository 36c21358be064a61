"""Models and inputs for the command line: a file or a built-in name, random or .npz inputs."""

from __future__ import annotations

import argparse

import numpy as np


def _load_model(name: str):
    """A model file (``.xml`` OpenVINO IR, ``.onnx``) by path, else a built-in model by name."""
    import os

    from ..io import is_model_path, read_model
    from ..models.zoo import BUILTIN, builtin_model

    if name not in BUILTIN and (is_model_path(name) or os.path.exists(name)):
        return read_model(name)
    return builtin_model(name)


def _random_inputs(input_types, seed: int = 1) -> dict[str, np.ndarray]:
    """Random inputs for ``{name: TensorType}``: standard normal floats, uniform integer codes."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, t in input_types.items():
        if t.dtype == np.float32:
            inputs[name] = rng.standard_normal(t.shape, dtype=np.float32)
        else:
            info = np.iinfo(t.dtype)
            inputs[name] = rng.integers(info.min, info.max, t.shape, dtype=t.dtype, endpoint=True)
    return inputs


def _load_inputs(path: str, input_types) -> dict[str, np.ndarray]:
    """Inputs from an ``.npz``: by parameter name, or ``arr_0, arr_1, ...`` in parameter order.

    A float array for an f32 input is converted to float32 (``np.savez`` keeps float64).
    """
    from ..errors import InputError, ModelFileError

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"refint8: {path}: no such file") from None
    except Exception as exc:  # not a zip / not an npz / a damaged member
        raise ModelFileError(f"refint8: {path}: not a readable .npz archive ({type(exc).__name__}: "
                             f"{exc})") from None
    names = list(input_types)
    if set(arrays) != set(names):
        positional = [f"arr_{i}" for i in range(len(names))]
        if sorted(arrays) != sorted(positional):
            raise InputError(f"refint8: {path} holds arrays {sorted(arrays)}; the model's inputs "
                             f"are {names} (name them so, or save them positionally)")
        arrays = {name: arrays[key] for name, key in zip(names, positional)}
    for name, t in input_types.items():
        value = arrays[name]
        if t.dtype == np.float32 and value.dtype.kind == "f" and value.dtype != np.float32:
            arrays[name] = value.astype(np.float32)
    return {name: arrays[name] for name in names}


def _value_stats(value: np.ndarray) -> str:
    if value.size == 0:
        return "empty"
    wide = value.astype(np.float64)
    finite = wide[np.isfinite(wide)]
    text = (f"min {float(wide.min()):.6g}, max {float(wide.max()):.6g}, "
            f"mean {float(wide.mean()):.6g}")
    if finite.size != wide.size:
        text += f" ({wide.size - finite.size} non-finite)"
    return text


def _compile_for_cli(args: argparse.Namespace):
    from ..runtime import compile_model

    config = {"threads": args.threads} if getattr(args, "threads", None) else None
    return compile_model(_load_model(args.model), backend=args.backend, config=config)

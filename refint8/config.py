"""Configuration: which backend runs a model, and the options it gets.

Every setting is resolved from the first source that gives it, in this order:

1. an explicit argument (``refint8.compile(model, backend="numpy", config={...})`` or a CLI flag);
2. an environment variable: ``REFINT8_BACKEND``, ``REFINT8_FALLBACK`` (comma-separated),
   ``REFINT8_THREADS``, ``REFINT8_ISA``;
3. a file in the working directory: ``refint8.toml`` (top-level keys), else the
   ``[tool.refint8]`` table of ``pyproject.toml``;
4. the default: the best usable backend by declared priority; as fallback, the other installed
   backends by priority (so the reference comes last); threads and ISA chosen by the backend.

Keys: ``backend`` (str), ``fallback`` (list of backend names tried, in order, for nodes the
backend does not implement or when it is unusable on this CPU), ``threads`` (int >= 1), ``isa``
(one of ``sse42``, ``avx2``, ``avx512``, ``avx512_vnni``, ``amx``: the highest ISA variant a
backend may use). A table ``[tool.refint8.<backend name>]`` passes further options to that backend.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .backend import BackendOptions
from .errors import ConfigError

ISA_LEVELS = ("sse42", "avx2", "avx512", "avx512_vnni", "amx")
KEYS = ("backend", "fallback", "threads", "isa")


@dataclass(frozen=True)
class Config:
    backend: str | None = None
    #: ``None``: the other installed backends by descending priority (resolved at compile time).
    fallback: tuple[str, ...] | None = None
    threads: int | None = None
    isa: str | None = None
    #: Options for individual backends: ``{"simd": {"...": ...}}``.
    backend_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Where each setting came from (``argument``, ``environment``, a file path, ``default``).
    sources: Mapping[str, str] = field(default_factory=dict)

    def options_for(self, backend: str) -> BackendOptions:
        return BackendOptions(threads=self.threads, isa=self.isa,
                              extra=dict(self.backend_options.get(backend, {})))


def load_config(
    explicit: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
) -> Config:
    """Resolve the configuration from arguments, environment, files and defaults (see module doc)."""
    environ = os.environ if environ is None else environ
    directory = Path.cwd() if cwd is None else Path(cwd)
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if explicit:
        layers.append(("argument", _checked(dict(explicit), "argument")))
    layers.append(("environment", _from_environment(environ)))
    file_source, file_values = _from_files(directory)
    if file_source:
        layers.append((file_source, file_values))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        for source, layer in layers:
            if layer.get(key) is not None:
                values[key] = layer[key]
                sources[key] = source
                break
        else:
            sources[key] = "default"
    # Tables are backend options: the file's, updated key by key by the argument's.
    backend_options = {k: dict(v) for k, v in file_values.items() if isinstance(v, Mapping)}
    for k, v in (explicit or {}).items():
        if isinstance(v, Mapping):
            backend_options[k] = {**backend_options.get(k, {}), **v}
    return Config(
        backend=values.get("backend"),
        fallback=tuple(values["fallback"]) if "fallback" in values else None,
        threads=values.get("threads"),
        isa=values.get("isa"),
        backend_options=backend_options,
        sources=sources,
    )


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if environ.get("REFINT8_BACKEND"):
        raw["backend"] = environ["REFINT8_BACKEND"]
    if environ.get("REFINT8_FALLBACK") is not None and "REFINT8_FALLBACK" in environ:
        raw["fallback"] = [n.strip() for n in environ["REFINT8_FALLBACK"].split(",") if n.strip()]
    if environ.get("REFINT8_THREADS"):
        text = environ["REFINT8_THREADS"]
        if not text.strip().isdecimal():  # isdigit() accepts "²", which int() rejects
            raise ConfigError(f"refint8: REFINT8_THREADS must be a positive integer, got {text!r}")
        raw["threads"] = int(text)
    if environ.get("REFINT8_ISA"):
        raw["isa"] = environ["REFINT8_ISA"]
    return _checked(raw, "environment")


def _from_files(directory: Path) -> tuple[str | None, dict[str, Any]]:
    own = directory / "refint8.toml"
    if own.is_file():
        return str(own), _checked(_read_toml(own), str(own))
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("refint8")
        if table is not None:
            where = f"{pyproject} [tool.refint8]"
            if not isinstance(table, dict):
                raise ConfigError(f"refint8: {where} must be a table")
            return where, _checked(table, where)
    return None, {}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"refint8: {path} is not valid TOML: {exc}") from exc


def _checked(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Validate the known keys; sub-tables are backend options; anything else is an error."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            continue
        if key not in KEYS:
            raise ConfigError(f"refint8: {source}: unknown setting '{key}' = {value!r}; "
                              f"known settings: {', '.join(KEYS)}")
    if "backend" in values and values["backend"] is not None and not isinstance(values["backend"], str):
        raise ConfigError(f"refint8: {source}: backend must be a name, got {values['backend']!r}")
    if "fallback" in values and values["fallback"] is not None:
        chain = values["fallback"]
        if isinstance(chain, str):
            chain = [chain]
        if not isinstance(chain, (list, tuple)) or not all(isinstance(n, str) for n in chain):
            raise ConfigError(f"refint8: {source}: fallback must be a list of backend names, got {chain!r}")
        values["fallback"] = list(chain)
    if "threads" in values and values["threads"] is not None:
        threads = values["threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"refint8: {source}: threads must be an integer >= 1, got {threads!r}")
    if "isa" in values and values["isa"] is not None and values["isa"] not in ISA_LEVELS:
        raise ConfigError(f"refint8: {source}: isa {values['isa']!r} is not one of: {', '.join(ISA_LEVELS)}")
    return values

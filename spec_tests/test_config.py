"""Configuration: sources, precedence (argument > environment > file > default), and errors.

Every invalid value is a :class:`refint8.errors.ConfigError` whose message names where the value
came from and the value itself; an unknown backend name is a BackendError listing the installed
ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.config import ISA_LEVELS, KEYS, Config, load_config
from refint8.errors import BackendError, ConfigError
from refint8.registry import reset_default_registry

ENV_VARS = ("REFINT8_BACKEND", "REFINT8_FALLBACK", "REFINT8_THREADS", "REFINT8_ISA",
            "REFINT8_LOAD_PLUGINS", "REFINT8_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_default_registry()


def _load(tmp_path: Path, explicit=None, **environ: str) -> Config:
    return load_config(explicit, environ=environ, cwd=tmp_path)


def _pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "user"\nversion = "1"\n\n[tool.refint8]\n' + body)
    return path


# -- sources and precedence ------------------------------------------------------------------------


def test_defaults(tmp_path):
    config = _load(tmp_path)
    assert config == Config(backend=None, fallback=None, threads=None, isa=None,
                            backend_options={}, sources={key: "default" for key in KEYS})
    options = config.options_for("anything")
    assert (options.threads, options.isa, options.extra) == (None, None, {})


def test_each_setting_from_the_environment(tmp_path):
    config = _load(tmp_path, REFINT8_BACKEND="numpy", REFINT8_FALLBACK="simd, reference",
                   REFINT8_THREADS="4", REFINT8_ISA="avx2")
    assert (config.backend, config.fallback, config.threads, config.isa) == (
        "numpy", ("simd", "reference"), 4, "avx2")
    assert set(config.sources.values()) == {"environment"}


def test_empty_fallback_from_the_environment_means_no_fallback(tmp_path):
    assert _load(tmp_path, REFINT8_FALLBACK="").fallback == ()
    assert _load(tmp_path, REFINT8_FALLBACK="").sources["fallback"] == "environment"


def test_each_setting_from_pyproject(tmp_path):
    path = _pyproject(tmp_path, 'backend = "numpy"\nfallback = ["simd", "reference"]\n'
                                'threads = 2\nisa = "avx512_vnni"\n\n[tool.refint8.numpy]\nblock = 64\n')
    config = _load(tmp_path)
    assert (config.backend, config.fallback, config.threads, config.isa) == (
        "numpy", ("simd", "reference"), 2, "avx512_vnni")
    assert set(config.sources.values()) == {f"{path} [tool.refint8]"}
    assert config.backend_options == {"numpy": {"block": 64}}
    assert config.options_for("numpy").extra == {"block": 64}
    assert config.options_for("numpy").threads == 2
    assert config.options_for("simd").extra == {}


def test_each_setting_from_refint8_toml(tmp_path):
    path = tmp_path / "refint8.toml"
    path.write_text('backend = "simd"\nfallback = "reference"\nthreads = 1\nisa = "sse42"\n'
                    '[simd]\nprefetch = true\n')
    config = _load(tmp_path)
    assert (config.backend, config.fallback, config.threads, config.isa) == (
        "simd", ("reference",), 1, "sse42")
    assert set(config.sources.values()) == {str(path)}
    assert config.options_for("simd").extra == {"prefetch": True}


def test_refint8_toml_replaces_pyproject(tmp_path):
    _pyproject(tmp_path, 'backend = "numpy"\nthreads = 8\n')
    (tmp_path / "refint8.toml").write_text('backend = "simd"\n')
    config = _load(tmp_path)
    assert config.backend == "simd"
    # the files are not merged: the first file found is the file layer
    assert config.threads is None and config.sources["threads"] == "default"


def test_pyproject_without_tool_table_is_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black]\nline-length = 99\n')
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _load(tmp_path) == _load(empty)  # same as no file at all
    assert _load(tmp_path).sources["backend"] == "default"


def test_config_is_read_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "refint8.toml").write_text("threads = 5\n")
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(environ={}).threads is None
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}).threads == 5


def test_environment_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINT8_THREADS", "3")
    assert load_config(cwd=tmp_path).threads == 3


@pytest.mark.parametrize("key, arg, env_name, env, file", [
    ("backend", "a", "REFINT8_BACKEND", "e", '"f"'),
    ("threads", 1, "REFINT8_THREADS", "2", "3"),
    ("isa", "avx2", "REFINT8_ISA", "avx512", '"amx"'),
    ("fallback", ["a"], "REFINT8_FALLBACK", "e", '["f"]'),
])
def test_precedence_per_setting(tmp_path, key, arg, env_name, env, file):
    path = _pyproject(tmp_path, f"{key} = {file}\n")
    file_value = {"backend": "f", "threads": 3, "isa": "amx", "fallback": ("f",)}[key]
    env_value = {"backend": "e", "threads": 2, "isa": "avx512", "fallback": ("e",)}[key]
    arg_value = tuple(arg) if isinstance(arg, list) else arg

    def value(config: Config):
        return getattr(config, key), config.sources[key]

    assert value(_load(tmp_path)) == (file_value, f"{path} [tool.refint8]")
    assert value(_load(tmp_path, **{env_name: env})) == (env_value, "environment")
    assert value(_load(tmp_path, {key: arg}, **{env_name: env})) == (arg_value, "argument")
    # a setting the argument leaves unset still comes from the lower layers
    other = "isa" if key != "isa" else "threads"
    assert _load(tmp_path, {other: None}, **{env_name: env}).sources[key] == "environment"


def test_settings_resolve_independently(tmp_path):
    _pyproject(tmp_path, 'backend = "f"\nthreads = 3\n')
    config = _load(tmp_path, {"isa": "avx2"}, REFINT8_THREADS="2")
    assert (config.backend, config.threads, config.isa) == ("f", 2, "avx2")
    assert config.sources["isa"] == "argument" and config.sources["threads"] == "environment"
    assert config.sources["backend"].endswith("[tool.refint8]")
    assert config.sources["fallback"] == "default"


def test_backend_options_from_argument_and_file(tmp_path):
    # Tables in the argument are backend options too (they were accepted, then silently dropped).
    _pyproject(tmp_path, 'backend = "numpy"\n\n[tool.refint8.numpy]\nblock = 64\nunroll = 2\n')
    config = _load(tmp_path, {"numpy": {"block": 8}, "simd": {"prefetch": False}})
    assert config.options_for("numpy").extra == {"block": 8, "unroll": 2}
    assert config.options_for("simd").extra == {"prefetch": False}


# -- invalid values --------------------------------------------------------------------------------


def _error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert message.startswith("refint8: "), message
    return message


@pytest.mark.parametrize("source", ["argument", "refint8.toml", "pyproject"])
@pytest.mark.parametrize("body, value_text, what", [
    ({"bakend": "numpy"}, "'bakend' = 'numpy'", "unknown setting"),
    ({"threads": 0}, "got 0", "threads must be an integer >= 1"),
    ({"threads": -2}, "got -2", "threads must be an integer >= 1"),
    ({"threads": 2.0}, "got 2.0", "threads must be an integer >= 1"),
    ({"threads": True}, "got True", "threads must be an integer >= 1"),
    ({"threads": "4"}, "got '4'", "threads must be an integer >= 1"),
    ({"isa": "avx3"}, "'avx3'", "is not one of: " + ", ".join(ISA_LEVELS)),
    ({"backend": 3}, "got 3", "backend must be a name"),
    ({"fallback": [1, "reference"]}, "[1, 'reference']", "fallback must be a list of backend names"),
    # a known setting written as a table is not a backend-options table
    ({"threads": {"count": 2}}, "{'count': 2}", "threads must be an integer >= 1"),
    ({"backend": {"name": "numpy"}}, "{'name': 'numpy'}", "backend must be a name"),
    ({"isa": {"level": "avx2"}}, "{'level': 'avx2'}", "is not one of"),
    ({"fallback": {"reference": 1}}, "{'reference': 1}", "fallback must be a list of backend names"),
])
def test_bad_values_name_source_and_value(tmp_path, source, body, value_text, what):
    if source == "argument":
        where = "argument"
        call = lambda: _load(tmp_path, body)  # noqa: E731
    else:
        import json

        def toml_value(v):
            if isinstance(v, dict):
                return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
            if isinstance(v, bool):
                return "true" if v else "false"
            return json.dumps(v)

        text = "".join(f"{k} = {toml_value(v)}\n" for k, v in body.items())
        if source == "refint8.toml":
            (tmp_path / "refint8.toml").write_text(text)
            where = str(tmp_path / "refint8.toml")
        else:
            where = f"{_pyproject(tmp_path, text)} [tool.refint8]"
        call = lambda: _load(tmp_path)  # noqa: E731
    with pytest.raises(ConfigError) as caught:
        call()
    message = _error(caught)
    assert where in message
    assert value_text in message
    assert what in message


@pytest.mark.parametrize("variable, value, what", [
    ("REFINT8_THREADS", "0", "threads must be an integer >= 1, got 0"),
    ("REFINT8_THREADS", "four", "REFINT8_THREADS must be a positive integer, got 'four'"),
    ("REFINT8_THREADS", "-3", "REFINT8_THREADS must be a positive integer, got '-3'"),
    ("REFINT8_THREADS", "²", "REFINT8_THREADS must be a positive integer, got '²'"),
    ("REFINT8_ISA", "avx3", "isa 'avx3' is not one of"),
])
def test_bad_environment_values(tmp_path, variable, value, what):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, **{variable: value})
    message = _error(caught)
    assert what in message
    assert "environment" in message or variable in message


def test_unknown_setting_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, {"thread": 4})
    assert "known settings: backend, fallback, threads, isa" in str(caught.value)


@pytest.mark.parametrize("file_name", ["refint8.toml", "pyproject.toml"])
def test_invalid_toml_names_the_file(tmp_path, file_name):
    path = tmp_path / file_name
    path.write_text('[tool.refint8]\nbackend = "numpy\n')
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path)
    message = _error(caught)
    assert f"{path} is not valid TOML" in message
    assert "line 2" in message  # tomllib's position


def test_tool_refint8_must_be_a_table(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool]\nrefint8 = "numpy"\n')
    with pytest.raises(ConfigError, match="must be a table") as caught:
        _load(tmp_path)
    assert str(path) in str(caught.value)


def test_config_errors_surface_from_compile(tmp_path, monkeypatch):
    model = refint8.Model(ops.relu(ops.parameter([2], name="x")))
    monkeypatch.setenv("REFINT8_ISA", "avx1024")
    with pytest.raises(ConfigError, match="'avx1024'"):
        refint8.compile(model, backend="reference")
    monkeypatch.delenv("REFINT8_ISA")
    with pytest.raises(ConfigError, match="argument: threads must be an integer >= 1, got 0"):
        refint8.compile(model, config={"threads": 0})


# -- backend names ---------------------------------------------------------------------------------


def _model() -> refint8.Model:
    return refint8.Model(ops.relu(ops.parameter([2], name="x"), name="r"))


@pytest.mark.parametrize("route", ["argument", "environment", "file"])
def test_unknown_backend_lists_available(tmp_path, monkeypatch, route):
    kwargs = {}
    if route == "argument":
        kwargs["backend"] = "nope"
    elif route == "environment":
        monkeypatch.setenv("REFINT8_BACKEND", "nope")
    else:
        (tmp_path / "refint8.toml").write_text('backend = "nope"\n')
    with pytest.raises(BackendError) as caught:
        refint8.compile(_model(), **kwargs)
    message = str(caught.value)
    assert "unknown backend 'nope'" in message
    assert "available backends:" in message
    available = message.split("available backends:")[1]
    assert "reference" in [name.strip() for name in available.split(",")]


def test_compile_with_config_object_and_backend_argument(tmp_path):
    # backend= overrides only the backend of a ready Config; its other settings are kept.
    config = Config(fallback=(), threads=2, isa="avx2")
    compiled = refint8.compile(_model(), backend="reference", config=config)
    assert compiled.backend_name == "reference"
    assert (compiled.config.fallback, compiled.config.threads, compiled.config.isa) == (
        (), 2, "avx2")
    assert compiled.config.backend == "reference"
    assert compiled.config.sources["backend"] == "argument"


def test_compile_with_config_object(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINT8_BACKEND", "nope")  # a ready Config is used as is
    config = load_config({"backend": "reference", "threads": 3}, environ={}, cwd=tmp_path)
    compiled = refint8.compile(_model(), config=config)
    assert compiled.config is config
    x = np.array([-1.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(compiled.infer(x)["r"], [0.0, 2.0])

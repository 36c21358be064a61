"""Backends are plugins: found through the ``refint8.backends`` entry-point group, never by name.

The tests build small backend *distributions* in a temporary directory outside the repository
(a ``pyproject.toml`` declaring ``[project.entry-points."refint8.backends"]`` and a module with a
``@refint8.hookimpl``), install them with pip, and check what a user of a third-party backend
sees: discovery (``registry.names()``, ``refint8 backends``), selection by every configuration
route and its precedence, the fallback chain in the counters, duplicate names and broken plugins.

Two deliberate choices keep the rest of the test session (and anything else sharing the venv)
safe and the module fast (one ``pip`` run per group of packages, once per module):

* the packages are installed with ``pip install --target <dir>`` and made visible only to this
  process (``sys.path``) and to the CLI subprocesses (``PYTHONPATH``), test by test. They are real
  pip-installed distributions (``*.dist-info`` with ``entry_points.txt``) found by the same
  ``importlib.metadata`` scan as the ones in site-packages, but a plugin offering a duplicate name
  never leaks into other tests, and an interrupted run cannot leave a broken venv behind;
* each package carries a 60-line in-tree PEP 517 build backend (``backend-path``), so building
  needs neither the network nor a particular setuptools/wheel version (setuptools < 70.1 cannot
  build a wheel without the ``wheel`` package).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.backend import Backend, BackendSpec, Kernel
from refint8.errors import BackendError
from refint8.registry import BackendRegistry, default_registry, reset_default_registry

from plugin_packages import pip_install, write_package

ENV_VARS = ("REFINT8_BACKEND", "REFINT8_FALLBACK", "REFINT8_THREADS", "REFINT8_ISA",
            "REFINT8_LOAD_PLUGINS", "REFINT8_TRACE_PLUGINS")

# -- the packages ----------------------------------------------------------------------------------


TINY_MODULE = '''\
"""A minimal out-of-tree refint8 backend: Relu and Add, everything else to the fallback."""
import numpy as np

import refint8
from refint8.backend import Backend, BackendSpec, Capabilities, Kernel


class TinyBackend(Backend):
    name = "tiny"

    def __init__(self, options):
        self.options = options

    def capabilities(self):
        return Capabilities(summary="Relu, Add")

    def kernel(self, node):
        if node.type == "Relu":
            return Kernel(lambda inputs: [np.maximum(inputs[0], np.float32(0))], "tiny_any")
        if node.type == "Add" and node.attrs["auto_broadcast"] == "numpy":
            return Kernel(lambda inputs: [np.add(inputs[0], inputs[1])], "tiny_any")
        return None


@refint8.hookimpl
def refint8_backends():
    return [BackendSpec("tiny", TinyBackend, priority=1000, description="test plugin")]
'''

TWIN_MODULE = '''\
import refint8
from refint8.backend import BackendSpec


@refint8.hookimpl
def refint8_backends():
    from refint8_backend_reference import ReferenceBackend
    return [BackendSpec("twin", lambda options: ReferenceBackend())]
'''

BROKEN_MODULE = '''\
raise RuntimeError("boom: libtiny.so not found")
'''


PLUGIN_MODULES = ("refint8_tiny_backend", "refint8_twin_a", "refint8_twin_b",
                  "refint8_broken_backend")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Build and pip-install the test distributions, once per module (three pip runs in parallel).

    ``good``: refint8-tiny (backend ``tiny``, highest priority); ``twins``: refint8-twin-a and
    refint8-twin-b (both offer ``twin``); ``broken``: refint8-broken (its module raises on import).
    """
    source = tmp_path_factory.mktemp("plugin-src")
    repository = Path(refint8.__file__).resolve().parents[1]
    assert repository not in source.resolve().parents, "packages must live outside the repository"
    tiny = write_package(source, "refint8-tiny", "0.3.1", "tiny", "refint8_tiny_backend",
                          TINY_MODULE)
    twin_a = write_package(source, "refint8-twin-a", "1.0", "twin", "refint8_twin_a", TWIN_MODULE)
    twin_b = write_package(source, "refint8-twin-b", "2.0", "twin", "refint8_twin_b", TWIN_MODULE)
    broken = write_package(source, "refint8-broken", "0.0.1", "broken", "refint8_broken_backend",
                            BROKEN_MODULE)
    sites = tmp_path_factory.mktemp("plugin-site")
    targets = SimpleNamespace(good=sites / "good", twins=sites / "twins", broken=sites / "broken")
    jobs = [pip_install(targets.good, tiny), pip_install(targets.twins, twin_a, twin_b),
            pip_install(targets.broken, broken)]
    for job in jobs:
        output, _ = job.communicate(timeout=120)
        assert job.returncode == 0, f"pip install failed:\n{output}"
    yield targets
    for module in PLUGIN_MODULES:
        sys.modules.pop(module, None)
    reset_default_registry()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No refint8 settings from the caller's environment or working directory."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # Hermetic: only the reference and this file's test distributions load, whatever other
    # backends (numpy, simd, ...) the environment has installed.
    monkeypatch.setenv("REFINT8_LOAD_PLUGINS", ",".join(HERMETIC_DISTRIBUTIONS))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    reset_default_registry()
    yield
    reset_default_registry()


HERMETIC_DISTRIBUTIONS = ("refint8-backend-reference", "refint8-tiny", "refint8-twin-a",
                          "refint8-twin-b", "refint8-broken")


@pytest.fixture
def activate(monkeypatch: pytest.MonkeyPatch):
    """``activate(target, ...)``: make installed test distributions visible, for this test only."""

    def use(*targets: Path) -> None:
        for target in targets:
            monkeypatch.syspath_prepend(str(target))
        old = os.environ.get("PYTHONPATH")
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
            [*map(str, targets), *([old] if old else [])]))
        importlib.invalidate_caches()
        reset_default_registry()

    yield use
    for module in PLUGIN_MODULES:
        sys.modules.pop(module, None)
    reset_default_registry()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed ``refint8`` console script (``-m refint8.cli`` if there is none)."""
    script = Path(sys.executable).with_name("refint8")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "refint8.cli"]
    return subprocess.run([*command, *args], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)


def _model() -> refint8.Model:
    """Relu and Add (the tiny backend's) and Multiply (not the tiny backend's)."""
    x = ops.parameter([2, 3], name="x")
    y = ops.relu(x, name="relu")
    y = ops.add(y, np.array([[0.5, -1.0, 2.0]], dtype=np.float32), name="add")
    y = ops.multiply(y, np.float32(3.0), name="mul")
    return refint8.Model(y, name="tiny_test")


X = np.array([[-1.0, 0.25, 3.0], [2.0, -0.5, 0.0]], dtype=np.float32)
EXPECTED = ((np.maximum(X, 0) + np.array([[0.5, -1.0, 2.0]], np.float32)) * np.float32(3.0))


def _exec_types(compiled) -> dict[str, str]:
    return {row.name: row.exec_type for row in compiled.perf_counts()}


# -- discovery -------------------------------------------------------------------------------------


def test_installed_distribution_is_discovered(installed, activate):
    assert "tiny" not in default_registry().names()  # not visible before activation
    activate(installed.good)
    registry = default_registry()
    assert registry.names() == ["reference", "tiny"]
    info = registry.info("tiny")
    assert (info.distribution, info.version, info.entry_point) == (
        "refint8-tiny", "0.3.1", "refint8_tiny_backend")
    assert info.spec.priority == 1000
    assert importlib.metadata.version("refint8-tiny") == "0.3.1"
    assert registry.usable("tiny") == (True, "")
    assert registry.best() == "tiny"
    # The reference comes from its own distribution, through the same entry-point group.
    assert registry.info("reference").distribution == "refint8-backend-reference"


def test_cli_lists_out_of_tree_backend(installed, activate, tmp_path):
    activate(installed.good)
    result = _cli("backends", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {"reference", "tiny"}
    assert rows["tiny"][1:5] == ["0.3.1", "refint8-tiny", "1000", "yes"]
    assert "Relu, Add" in result.stdout
    assert result.stderr == ""


def test_cli_without_the_plugin_does_not_list_it(installed, tmp_path):
    result = _cli("backends", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tiny" not in result.stdout and "reference" in result.stdout


def test_load_plugins_filter(installed, activate, monkeypatch):
    activate(installed.good)
    monkeypatch.setenv("REFINT8_LOAD_PLUGINS", "refint8-backend-reference")
    assert BackendRegistry().names() == ["reference"]
    monkeypatch.setenv("REFINT8_LOAD_PLUGINS", "refint8-tiny, refint8-backend-reference")
    assert BackendRegistry().names() == ["reference", "tiny"]
    monkeypatch.setenv("REFINT8_LOAD_PLUGINS", "")
    empty = BackendRegistry()
    assert empty.names() == []
    with pytest.raises(BackendError, match="no usable backend is installed"):
        empty.best()


# -- selection by every configuration route ------------------------------------------------------


def test_default_selection_picks_highest_priority(installed, activate):
    activate(installed.good)
    compiled = refint8.compile(_model())
    assert compiled.backend_name == "tiny"
    assert compiled.config.backend is None
    assert compiled.config.sources["backend"] == "default"


@pytest.mark.parametrize("route", ["argument", "config_argument", "environment", "pyproject",
                                   "refint8.toml"])
def test_every_route_selects_the_plugin(installed, activate, monkeypatch, tmp_path, route):
    activate(installed.good)
    kwargs = {}
    if route == "argument":
        kwargs["backend"] = "tiny"
        expected_source = "argument"
    elif route == "config_argument":
        kwargs["config"] = {"backend": "tiny"}
        expected_source = "argument"
    elif route == "environment":
        monkeypatch.setenv("REFINT8_BACKEND", "tiny")
        expected_source = "environment"
    elif route == "pyproject":
        (tmp_path / "pyproject.toml").write_text(
            '[project]\nname = "user-project"\n\n[tool.refint8]\nbackend = "tiny"\n')
        monkeypatch.chdir(tmp_path)
        expected_source = f"{tmp_path / 'pyproject.toml'} [tool.refint8]"
    else:
        (tmp_path / "refint8.toml").write_text('backend = "tiny"\n')
        monkeypatch.chdir(tmp_path)
        expected_source = str(tmp_path / "refint8.toml")
    compiled = refint8.compile(_model(), **kwargs)
    assert compiled.backend_name == "tiny"
    assert compiled.config.backend == "tiny"
    assert compiled.config.sources["backend"] == expected_source
    np.testing.assert_array_equal(compiled.infer(X)["mul"], EXPECTED)


@pytest.mark.parametrize("file_name", ["pyproject.toml", "refint8.toml"])
def test_file_beats_default(installed, activate, monkeypatch, tmp_path, file_name):
    activate(installed.good)
    text = 'backend = "reference"\n'
    (tmp_path / file_name).write_text("[tool.refint8]\n" + text if file_name == "pyproject.toml"
                                      else text)
    monkeypatch.chdir(tmp_path)
    assert refint8.compile(_model()).backend_name == "reference"


def test_precedence_argument_environment_file_default(installed, activate, monkeypatch,
                                                       tmp_path):
    activate(installed.good)
    monkeypatch.chdir(tmp_path)

    def chosen(**kwargs) -> str:
        return refint8.compile(_model(), **kwargs).backend_name

    assert chosen() == "tiny"                                   # default: highest priority
    (tmp_path / "pyproject.toml").write_text('[tool.refint8]\nbackend = "reference"\n')
    assert chosen() == "reference"                              # file > default
    (tmp_path / "refint8.toml").write_text('backend = "tiny"\n')
    assert chosen() == "tiny"                                   # refint8.toml > pyproject.toml
    monkeypatch.setenv("REFINT8_BACKEND", "reference")
    assert chosen() == "reference"                              # environment > file
    assert chosen(backend="tiny") == "tiny"                     # argument > environment
    assert chosen(config={"backend": "tiny"}) == "tiny"
    monkeypatch.setenv("REFINT8_BACKEND", "tiny")
    assert chosen(backend="reference") == "reference"
    # backend= wins over config={"backend": ...} given in the same call
    assert chosen(backend="reference", config={"backend": "tiny"}) == "reference"


# -- the fallback chain ----------------------------------------------------------------------------


def test_counters_show_plugin_kernels_and_fallback(installed, activate):
    activate(installed.good)
    compiled = refint8.compile(_model(), backend="tiny")
    result = compiled.infer(X)["mul"]
    np.testing.assert_array_equal(result, EXPECTED)
    reference = refint8.compile(_model(), backend="reference").infer(X)["mul"]
    np.testing.assert_array_equal(result, reference)
    assert _exec_types(compiled) == {
        "x": "unknown_FP32", "relu": "tiny_any_FP32", "add": "tiny_any_FP32",
        "mul": "ref_any_FP32",
    }
    assert compiled.kernel_fallbacks == [("mul", "tiny", "reference")]
    table = compiled.format_perf_counts()
    assert "execType: tiny_any_FP32" in table and "execType: ref_any_FP32" in table


def test_empty_fallback_chain_is_an_error_naming_the_node(installed, activate, monkeypatch):
    activate(installed.good)
    monkeypatch.setenv("REFINT8_FALLBACK", "")
    with pytest.raises(BackendError) as caught:
        refint8.compile(_model(), backend="tiny")
    message = str(caught.value)
    assert "node 'mul'" in message and "Multiply" in message and "tried: tiny" in message


def test_unknown_fallback_is_an_error(installed, activate):
    activate(installed.good)
    with pytest.raises(BackendError, match="unknown backend 'nosuch'; available backends: "
                                           "reference, tiny"):
        refint8.compile(_model(), backend="tiny", config={"fallback": ["nosuch"]})


# -- duplicates and broken plugins -----------------------------------------------------------------


def test_duplicate_backend_name_names_both_distributions(installed, activate):
    activate(installed.twins)
    with pytest.raises(BackendError) as caught:
        default_registry().names()
    message = str(caught.value)
    assert "'twin'" in message
    assert "'refint8-twin-a'" in message and "'refint8-twin-b'" in message
    # Any use of the registry reports it, not only listing.
    with pytest.raises(BackendError, match="refint8-twin-a"):
        refint8.compile(_model(), backend="reference")


def test_cli_reports_duplicate_names(installed, activate, tmp_path):
    activate(installed.twins)
    result = _cli("backends", cwd=tmp_path)
    assert result.returncode == 2
    assert "refint8-twin-a" in result.stderr and "refint8-twin-b" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_plugin_warns_and_others_still_work(installed, activate):
    activate(installed.good, installed.broken)
    registry = default_registry()
    with pytest.warns(RuntimeWarning) as caught:
        names = registry.names()
    assert names == ["reference", "tiny"]
    messages = [str(w.message) for w in caught if "refint8-broken" in str(w.message)]
    assert len(messages) == 1
    assert "plugin 'broken'" in messages[0] and "distribution 'refint8-broken'" in messages[0]
    assert "RuntimeError: boom: libtiny.so not found" in messages[0]
    assert registry.load_warnings == messages
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no further warning once loaded
        compiled = refint8.compile(_model())
    assert compiled.backend_name == "tiny"
    np.testing.assert_array_equal(compiled.infer(X)["mul"], EXPECTED)


def test_cli_with_broken_plugin(installed, activate, tmp_path):
    activate(installed.broken)
    result = _cli("backends", cwd=tmp_path)
    assert result.returncode == 0
    assert "reference" in result.stdout and "broken" not in result.stdout
    assert "warning:" in result.stderr
    assert "'broken'" in result.stderr and "'refint8-broken'" in result.stderr


# -- plugins registered by hand --------------------------------------------------------------------


class _Plugin:
    """A plugin object implementing the hook (what an entry point's module provides)."""

    def __init__(self, specs=(), error: Exception | None = None):
        self.specs = list(specs)
        self.error = error

    @refint8.hookimpl
    def refint8_backends(self):
        if self.error is not None:
            raise self.error
        return self.specs


class _Identity(Backend):
    name = "identity"

    def __init__(self, options=None, usable=(True, "")):
        self._usable = usable

    def usable(self):
        return self._usable

    def kernel(self, node):
        if node.type == "Relu":
            return Kernel(lambda inputs: [np.maximum(inputs[0], np.float32(0))], "ident_any")
        return None


def _hand_registry(*plugins: tuple[object, str]) -> BackendRegistry:
    import refint8_backend_reference

    registry = BackendRegistry(load_entry_points=False)
    registry.register(refint8_backend_reference, distribution="refint8-backend-reference",
                      version="0.1.0")
    for plugin, dist in plugins:
        registry.register(plugin, distribution=dist)
    return registry


def test_hand_registered_duplicate_names_both():
    registry = _hand_registry(
        (_Plugin([BackendSpec("same", _Identity)]), "dist-one"),
        (_Plugin([BackendSpec("same", _Identity)]), "dist-two"),
    )
    with pytest.raises(BackendError, match="'same'.*'dist-one'.*'dist-two'|'same'.*'dist-two'.*'dist-one'"):
        registry.names()


def test_duplicate_of_the_reference_name():
    registry = _hand_registry((_Plugin([BackendSpec("reference", _Identity)]), "impostor"))
    with pytest.raises(BackendError) as caught:
        registry.info("reference")
    assert "'refint8-backend-reference'" in str(caught.value)
    assert "'impostor'" in str(caught.value)


def test_hook_that_raises_warns_and_is_skipped():
    registry = _hand_registry((_Plugin(error=ImportError("no module named cupy")), "gpu-dist"))
    with pytest.warns(RuntimeWarning, match="'gpu-dist'.*ImportError: no module named cupy"):
        assert registry.names() == ["reference"]


def test_hook_returning_a_non_spec_is_an_error():
    registry = _hand_registry((_Plugin(["not-a-spec"]), "sloppy-dist"))
    with pytest.raises(BackendError, match="'sloppy-dist' returned 'not-a-spec'"):
        registry.names()


def test_factory_failure_is_a_backend_error():
    def factory(options):
        raise OSError("cannot open /dev/accel")

    registry = _hand_registry((_Plugin([BackendSpec("accel", factory, priority=5)]), "accel-dist"))
    with pytest.raises(BackendError, match="backend 'accel' from 'accel-dist' failed to start: "
                                           "OSError: cannot open /dev/accel"):
        registry.create("accel")
    ok, reason = registry.usable("accel")
    assert not ok and "cannot open /dev/accel" in reason
    assert registry.best() == "reference"  # a backend that cannot start is skipped by default


def test_default_skips_unusable_backends():
    spec = BackendSpec("fancy", lambda o: _Identity(usable=(False, "needs avx512_vnni")),
                       priority=100)
    registry = _hand_registry((_Plugin([spec]), "fancy-dist"))
    assert registry.best() == "reference"


def test_unusable_explicit_backend_falls_back_with_a_warning():
    spec = BackendSpec("fancy", lambda o: _Identity(usable=(False, "needs avx512_vnni")))
    registry = _hand_registry((_Plugin([spec]), "fancy-dist"))
    with pytest.warns(RuntimeWarning, match="'fancy' is not usable here \\(needs avx512_vnni\\); "
                                            "using 'reference'"):
        compiled = refint8.compile(_model(), backend="fancy", registry=registry)
    assert compiled.backend_name == "reference"
    assert any("needs avx512_vnni" in note for note in compiled.notes)
    with pytest.raises(BackendError, match="not usable here: needs avx512_vnni; no usable fallback"):
        refint8.compile(_model(), backend="fancy", config={"fallback": []}, registry=registry)


def test_options_reach_the_factory(tmp_path, monkeypatch):
    seen = []

    def factory(options):
        seen.append(options)
        return _Identity()

    registry = _hand_registry((_Plugin([BackendSpec("ident", factory)]), "ident-dist"))
    (tmp_path / "refint8.toml").write_text('threads = 3\nisa = "avx2"\n[ident]\ntile = 8\n')
    monkeypatch.chdir(tmp_path)
    compiled = refint8.compile(_model(), backend="ident", registry=registry)
    assert seen[-1].threads == 3 and seen[-1].isa == "avx2" and seen[-1].extra == {"tile": 8}
    assert _exec_types(compiled)["relu"] == "ident_any_FP32"
    assert _exec_types(compiled)["add"] == "ref_any_FP32"


def test_trace_plugins_prints_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("REFINT8_TRACE_PLUGINS", "1")
    registry = BackendRegistry(load_entry_points=False)
    registry.register(_Plugin([BackendSpec("ident", _Identity)]), distribution="ident-dist",
                      name="ident-plugin")
    assert registry.names() == ["ident"]
    err = capsys.readouterr().err
    assert "refint8_backends" in err and "ident-plugin" in err and "'ident'" in err


def test_registry_cache_is_invalidated_by_register():
    registry = BackendRegistry(load_entry_points=False)
    assert registry.names() == []
    registry.register(_Plugin([BackendSpec("ident", _Identity)]), distribution="ident-dist")
    assert registry.names() == ["ident"]
    with pytest.raises(BackendError, match="unknown backend 'nope'; available backends: ident"):
        registry.info("nope")

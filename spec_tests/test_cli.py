"""The ``refint8`` command line: ``backends`` and ``demo``.

One test runs the installed console script in a subprocess (what a user types); the others call
``refint8.cli.main`` in-process, which is the same code without the interpreter start-up.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from refint8.cli import main
from refint8.registry import reset_default_registry

ENV_VARS = ("REFINT8_BACKEND", "REFINT8_FALLBACK", "REFINT8_THREADS", "REFINT8_ISA",
            "REFINT8_LOAD_PLUGINS", "REFINT8_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_default_registry()
    yield
    reset_default_registry()


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("refint8")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "refint8.cli"]
    return subprocess.run([*command, *args], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)


def _table(stdout: str) -> dict[str, dict[str, str]]:
    lines = stdout.splitlines()
    header = lines[0].split()
    assert header == ["name", "version", "distribution", "priority", "usable", "capabilities"]
    rows = {}
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=5)
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def test_backends_console_script(tmp_path):
    result = _run("backends", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _table(result.stdout)
    reference = rows["reference"]
    assert reference["version"] == importlib.metadata.version("refint8-backend-reference")
    assert reference["distribution"] == "refint8-backend-reference"
    assert reference["usable"] == "yes"
    assert reference["capabilities"].startswith("accumulation=exact; isa=any")
    assert result.stderr == ""


def test_backends_in_process(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert "reference" in rows
    assert rows["reference"]["priority"] == "0"


def test_backends_with_no_plugins_loaded(capsys, monkeypatch):
    monkeypatch.setenv("REFINT8_LOAD_PLUGINS", "")
    assert main(["backends"]) == 0
    assert _table(capsys.readouterr().out) == {}


def test_demo_prints_the_counter_table(capsys):
    assert main(["demo", "--backend", "reference", "--iterations", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert re.fullmatch(r"model 'inception_block' on backend 'reference': output 'output' "
                        r"\[1, 64, 1, 1\], mean -?\d+\.\d{6}", lines[0]), lines[0]
    assert lines[1] == "Performance counts: mean per inference over 2 inference(s), µs"
    rows = lines[2:-1]
    assert rows, out
    row = re.compile(r"^\S+\s+(EXECUTED|NOT_RUN|OPTIMIZED_OUT)\s+layerType: \S+\s+realTime: \d+"
                     r"\s+cpu: \d+\s+execType: \S+$")
    for line in rows:
        assert row.match(line), line
    assert any(line.startswith("input ") and "execType: unknown_" in line for line in rows)
    assert any("EXECUTED" in line and "execType: ref_any_" in line for line in rows)
    assert re.fullmatch(r"Total time: \d+ microseconds \(cpu: \d+\)", lines[-1])


def test_demo_counts_the_inferences_after_a_warm_up(capsys, monkeypatch):
    # the first inference pays one-time costs (threads, first touch, AMX state): run, then reset
    from refint8.runtime.compiled_model import CompiledModel

    calls = []
    original = CompiledModel.infer

    def counting(self, *args, **kwargs):
        calls.append(self.inferences)          # the counters' inference count before each call
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompiledModel, "infer", counting)
    assert main(["demo", "small_cnn", "--backend", "reference", "--iterations", "2"]) == 0
    assert calls == [0, 0, 1]                  # warm-up, reset, then the two counted ones
    assert "over 2 inference(s)" in capsys.readouterr().out


def test_demo_console_script(tmp_path):
    result = _run("demo", "--backend", "reference", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "on backend 'reference'" in result.stdout
    assert "over 3 inference(s)" in result.stdout  # the default iteration count
    assert "execType: ref_any_" in result.stdout and "Total time:" in result.stdout


def test_demo_uses_the_configuration(capsys, tmp_path):
    (tmp_path / "refint8.toml").write_text('backend = "reference"\n')
    assert main(["demo", "--iterations", "1"]) == 0
    assert "on backend 'reference'" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["flag", "environment", "file"])
def test_unknown_backend_exits_2(capsys, monkeypatch, tmp_path, how):
    args = ["demo"]
    if how == "flag":
        args += ["--backend", "nope"]
    elif how == "environment":
        monkeypatch.setenv("REFINT8_BACKEND", "nope")
    else:
        (tmp_path / "refint8.toml").write_text('backend = "nope"\n')
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert "unknown backend 'nope'; available backends: " in captured.err
    assert "reference" in captured.err


def test_unknown_backend_console_script(tmp_path):
    result = _run("demo", "--backend", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "unknown backend 'nope'; available backends: " in result.stderr
    assert "reference" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_configuration_exits_2(capsys, monkeypatch):
    monkeypatch.setenv("REFINT8_THREADS", "0")
    assert main(["demo", "--backend", "reference"]) == 2
    assert "threads must be an integer >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["demo", "--iterations", "x"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage: refint8" in capsys.readouterr().err


def test_demo_with_zero_iterations_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--backend", "reference", "--iterations", "0"])
    assert exit_info.value.code == 2
    assert "--iterations" in capsys.readouterr().err

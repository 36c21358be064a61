"""The ``refint8 conformance`` command and the pytest entry point of the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from refint8.cli import main as refint8_main


def _run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env or dict(os.environ))


def test_conformance_subcommand_json_report(tmp_path, capsys):
    report_file = tmp_path / "report.json"
    status = refint8_main(["conformance", "--backend", "reference", "--ops", "Relu,capabilities",
                           "--max-examples", "5", "--seed", "3", "--json", str(report_file),
                           "--failures-dir", str(tmp_path / "f")])
    out = capsys.readouterr().out
    assert status == 0
    assert "kernels::Relu[u8/i8]" in out and "EXPECTED_PASS" in out and "seed 3" in out
    report = json.loads(report_file.read_text())
    assert report["ok"] and report["seed"] == 3 and report["backend"] == "reference"
    assert {r["id"] for r in report["results"]} == {
        "capabilities::capabilities[declared]", "kernels::Relu[f32]", "kernels::Relu[u8/i8]"}
    assert report["tolerances"]["Convolution"]["mode"].startswith("bound")
    relu = next(r for r in report["results"] if r["id"] == "kernels::Relu[f32]")
    assert relu["examples"] == 5 and relu["backend_ms"] is not None


def test_usage_errors(capsys):
    assert refint8_main(["conformance", "--backend", "reference", "--ops", "NoSuchOp"]) == 2
    assert "selects no unit" in capsys.readouterr().err
    assert refint8_main(["conformance", "--backend", "no-such-backend", "--ops", "Relu"]) == 2
    assert "unknown backend 'no-such-backend'" in capsys.readouterr().err


def test_list_and_tolerances(capsys):
    assert refint8_main(["conformance", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "kernels::Int8Convolution[u8]" in listing and "graphs::graph[cnn]" in listing
    assert refint8_main(["conformance", "--tolerances"]) == 0
    assert "Int8Convolution" in capsys.readouterr().out


def test_missing_suite_gives_install_hint(tmp_path):
    code = ("import sys; sys.modules['refint8_conformance'] = None; "
            "from refint8.cli import main; sys.exit(main(['conformance', '--backend', 'reference']))")
    result = _run("-c", code, cwd=tmp_path)
    assert result.returncode == 2
    assert "pip install conformance/" in result.stderr


def test_pytest_entry_point(tmp_path):
    """``pytest --pyargs refint8_conformance --backend NAME`` (the pytest11 plugin's options)."""
    xfails = tmp_path / "xfails.txt"
    xfails.write_text("Relu[u8  # pretend this is a known bug\n")
    result = _run("-m", "pytest", "--pyargs", "refint8_conformance", "--backend", "reference",
                  "--ops", "Relu", "--max-examples", "5", "--conformance-seed", "1",
                  "--xfails-file", str(xfails), "-p", "no:cacheprovider", "-q", "-rA", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 failed, 1 passed" in result.stdout
    assert "UNEXPECTED_PASS: kernels::Relu[u8/i8]" in result.stdout

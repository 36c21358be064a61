"""``refint8 run`` and ``refint8 bench``: model files or built-in models, inputs, counters, reports."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refint8
from refint8.cli import _Progress, latency_summary, main
from refint8.models.zoo import builtin_model
from refint8.registry import reset_default_registry

ENV_VARS = ("REFINT8_BACKEND", "REFINT8_FALLBACK", "REFINT8_THREADS", "REFINT8_ISA",
            "REFINT8_LOAD_PLUGINS", "REFINT8_TRACE_PLUGINS")

OUTPUT_LINE = re.compile(r"^output '(?P<name>[^']+)': shape \[(?P<shape>[\d, ]*)\], dtype (?P<dtype>\w+), "
                         r"min (?P<min>\S+), max (?P<max>\S+), mean (?P<mean>\S+)$")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_default_registry()
    yield
    reset_default_registry()


@pytest.fixture(scope="module")
def small_ir(tmp_path_factory) -> Path:
    return refint8.write_model(builtin_model("small_cnn"), tmp_path_factory.mktemp("ir") / "small.xml")


def outputs_of(stdout: str) -> dict[str, dict[str, str]]:
    return {m["name"]: m.groupdict() for m in map(OUTPUT_LINE.match, stdout.splitlines()) if m}


# -- run -----------------------------------------------------------------------------------------


def test_run_builtin_prints_output_statistics(capsys):
    assert main(["run", "small_cnn", "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "model 'small_fq_cnn' on backend 'reference'"
    stats = outputs_of(out)["output"]
    assert stats["shape"] == "1, 32, 8, 8" and stats["dtype"] == "float32"
    assert 0.0 <= float(stats["min"]) <= float(stats["mean"]) <= float(stats["max"]) <= 1.0
    assert "Performance counts" not in out


def test_run_model_file_with_inputs_matches_the_api(capsys, small_ir, tmp_path):
    x = np.random.default_rng(7).random((1, 3, 32, 32), dtype=np.float32)
    np.savez(tmp_path / "named.npz", input=x.astype(np.float64))  # float64 is converted
    np.savez(tmp_path / "positional.npz", x)
    expected = refint8.compile(small_ir, backend="reference").infer({"input": x})["output"]
    for npz in ("named.npz", "positional.npz"):
        assert main(["run", str(small_ir), "--backend", "reference", "--inputs", npz,
                     "--perf-counts"]) == 0
        out = capsys.readouterr().out
        stats = outputs_of(out)["output"]
        assert float(stats["mean"]) == pytest.approx(float(expected.mean()), rel=1e-5)
        assert float(stats["max"]) == pytest.approx(float(expected.max()), rel=1e-5)
        assert "Performance counts: mean per inference over 1 inference(s)" in out
        assert re.search(r"^conv1\s+EXECUTED\s+layerType: Convolution .*execType: ref_any_I8$",
                         out, re.M)


def test_run_seed_changes_random_inputs(capsys):
    means = []
    for seed in ("1", "1", "2"):
        assert main(["run", "small_cnn", "--backend", "reference", "--seed", seed]) == 0
        means.append(outputs_of(capsys.readouterr().out)["output"]["mean"])
    assert means[0] == means[1] != means[2]


def test_run_onnx_file(capsys, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph.node.insert(0, helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
    graph.node[1].input[0] = "xf"
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert main(["run", str(path), "--backend", "reference"]) == 2  # Cast is not supported
    err = capsys.readouterr().err
    assert err.startswith("error: refint8: node 'xf' (Cast): ONNX op is not supported; supported:")

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert main(["run", str(path), "--backend", "reference"]) == 0
    stats = outputs_of(capsys.readouterr().out)["y"]
    assert stats["shape"] == "2, 3" and float(stats["min"]) >= 0.0


@pytest.mark.parametrize("args, message", [
    (["run", "missing.xml"], "missing.xml: no such file"),
    (["run", "nope"], "no built-in model 'nope'"),
    (["run", "small_cnn", "--inputs", "absent.npz"], "absent.npz: no such file"),
])
def test_run_errors_exit_2(capsys, args, message):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and message in captured.err


def test_run_with_wrongly_named_inputs(capsys, tmp_path):
    np.savez(tmp_path / "bad.npz", image=np.zeros((1, 3, 32, 32), np.float32))
    assert main(["run", "small_cnn", "--backend", "reference", "--inputs", "bad.npz"]) == 2
    err = capsys.readouterr().err
    assert "holds arrays ['image']; the model's inputs are ['input']" in err


def test_run_console_script(small_ir, tmp_path):
    script = Path(sys.executable).with_name("refint8")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "refint8.cli"]
    result = subprocess.run([*command, "run", str(small_ir), "--backend", "reference"], cwd=tmp_path,
                            env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "output 'output': shape [1, 32, 8, 8], dtype float32" in result.stdout


# -- bench ---------------------------------------------------------------------------------------


def test_bench_iterations_with_json_and_csv(capsys, small_ir, tmp_path):
    assert main(["bench", str(small_ir), "--backend", "reference", "--iterations", "4",
                 "--json", "report.json", "--csv", "layers.csv"]) == 0
    out = capsys.readouterr().out
    assert "Count:      4 iterations" in out
    for label in ("Median:", "P90:", "P99:", "Min:", "Throughput:"):
        assert label in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["iterations"] == 4 and report["backend"] == "reference"
    assert report["min_ms"] <= report["median_ms"] <= report["p90_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert report["throughput_fps"] > 0
    conv = next(layer for layer in report["layers"] if layer["name"] == "conv1")
    assert conv["exec_type"] == "ref_any_I8" and conv["count"] == 4 and conv["real_time_us_mean"] > 0
    with open(tmp_path / "layers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows] == [layer["name"] for layer in report["layers"]]
    assert set(rows[0]) == {"name", "status", "layer_type", "exec_type", "real_time_us_mean",
                            "cpu_time_us_mean", "count"}


def test_bench_time_limit_and_threads(capsys):
    assert main(["bench", "small_cnn", "--backend", "reference", "--time", "0.2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    count = int(re.search(r"Count:\s+(\d+) iterations", out).group(1))
    duration = float(re.search(r"Duration:\s+([\d.]+) ms", out).group(1))
    assert count >= 1 and duration >= 200.0
    assert "1 thread(s)" in out


def test_bench_limits_are_exclusive(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "small_cnn", "--iterations", "3", "--time", "1"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_latency_summary():
    summary = latency_summary([4.0, 1.0, 3.0, 2.0, 5.0], wall_seconds=0.02)
    assert summary["iterations"] == 5
    assert summary["median_ms"] == 3.0 and summary["min_ms"] == 1.0 and summary["max_ms"] == 5.0
    assert summary["p90_ms"] == pytest.approx(4.6) and summary["p99_ms"] == pytest.approx(4.96)
    assert summary["throughput_fps"] == pytest.approx(250.0)


def test_progress_appears_only_for_long_runs():
    stream = io.StringIO()
    progress = _Progress("10 s", after=1.0, stream=stream)
    progress.update(0.5, 0.05, 3)
    assert stream.getvalue() == ""
    progress.update(2.0, 0.2, 12)
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\r[######") and "20.0%  12 iterations, 2.0 s of 10 s" in text
    assert text.endswith("\n")

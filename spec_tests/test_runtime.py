"""The runtime: compile, infer, input checking, per-layer counters, and the backend contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.backend import Backend, BackendSpec, Kernel
from refint8.errors import BackendError, InputError
from refint8.models import small_fq_cnn
from refint8.registry import BackendRegistry, reset_default_registry
from refint8.runtime import LayerCounter, Status, format_perf_counts, perf_counts_to_json

from hand_plugins import SpecsPlugin

ENV_VARS = ("REFINT8_BACKEND", "REFINT8_FALLBACK", "REFINT8_THREADS", "REFINT8_ISA",
            "REFINT8_LOAD_PLUGINS", "REFINT8_TRACE_PLUGINS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_default_registry()


A = np.array([[1.0, -2.0, 3.5], [0.0, 4.0, -1.0]], dtype=np.float32)
B = np.array([[-1.0, 2.0, 0.5], [3.0, -4.0, 2.0]], dtype=np.float32)


def two_input_model() -> refint8.Model:
    """``out = (a - relu(b)) * 2``: order-sensitive in its two inputs."""
    a = ops.parameter([2, 3], name="a")
    b = ops.parameter([2, 3], name="b")
    y = ops.subtract(a, ops.relu(b, name="relu"), name="sub")
    return refint8.Model(ops.multiply(y, np.float32(2.0), name="out"), name="two_inputs")


def expected(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - np.maximum(b, 0)) * np.float32(2.0)


def one_input_model() -> refint8.Model:
    x = ops.parameter([2, 3], name="x")
    return refint8.Model(ops.relu(ops.add(x, np.float32(1.0), name="add"), name="out"))


# -- inference -------------------------------------------------------------------------------------


def test_inputs_by_name_positional_and_single_array():
    compiled = refint8.compile(two_input_model(), backend="reference")
    assert list(compiled.inputs) == ["a", "b"]
    assert compiled.inputs["a"] == refint8.TensorType(np.float32, (2, 3))
    assert list(compiled.outputs) == ["out"]
    by_name = compiled.infer({"b": B, "a": A})
    assert list(by_name) == ["out"]
    np.testing.assert_array_equal(by_name["out"], expected(A, B))
    np.testing.assert_array_equal(compiled.infer([A, B])["out"], expected(A, B))
    np.testing.assert_array_equal(compiled.infer((B, A))["out"], expected(B, A))
    np.testing.assert_array_equal(compiled([A, B])["out"], expected(A, B))  # __call__

    single = refint8.compile(one_input_model(), backend="reference")
    np.testing.assert_array_equal(single.infer(A)["out"], np.maximum(A + 1, 0))
    np.testing.assert_array_equal(single.infer([A])["out"], np.maximum(A + 1, 0))


def test_positional_inputs_follow_the_model_parameter_order():
    # The graph reaches b before a, but the model's parameters say (a, b): positional binding
    # must follow the parameters, not the topological order of the graph.
    a = ops.parameter([2, 3], name="a")
    b = ops.parameter([2, 3], name="b")
    explicit = refint8.Model(ops.subtract(b, a, name="d"), parameters=[a.node, b.node])
    assert [p.name for p in explicit.parameters] == ["a", "b"]
    implicit = refint8.Model(ops.subtract(b, a, name="d"))  # creation order: a, b
    assert [p.name for p in implicit.parameters] == ["a", "b"]
    for model in (explicit, implicit):
        compiled = refint8.compile(model, backend="reference")
        assert list(compiled.inputs) == ["a", "b"]
        np.testing.assert_array_equal(compiled.infer([A, B])["d"], B - A)
    reordered = refint8.Model(ops.subtract(b, a, name="d2"), parameters=[b.node, a.node])
    compiled = refint8.compile(reordered, backend="reference")
    assert list(compiled.inputs) == ["b", "a"]
    np.testing.assert_array_equal(compiled.infer([A, B])["d2"], A - B)


def test_unused_parameter_is_still_an_input():
    x = ops.parameter([2, 3], name="x")
    unused = ops.parameter([4], name="unused")
    model = refint8.Model(ops.relu(x, name="r"), parameters=[x.node, unused.node])
    compiled = refint8.compile(model, backend="reference")
    assert list(compiled.inputs) == ["x", "unused"]
    result = compiled.infer({"x": A, "unused": np.zeros(4, np.float32)})
    np.testing.assert_array_equal(result["r"], np.maximum(A, 0))
    with pytest.raises(InputError, match="missing \\['unused'\\]"):
        compiled.infer({"x": A})


@pytest.mark.parametrize("inputs, fragments", [
    ({"a": A}, ["missing ['b']", "unexpected []"]),
    ({"a": A, "b": B, "c": B}, ["missing []", "unexpected ['c']"]),
    ({"a": A, "B": B}, ["missing ['b']", "unexpected ['B']"]),
    ([A], ["takes 2 inputs ['a', 'b']", "got 1"]),
    ([A, B, A], ["takes 2 inputs ['a', 'b']", "got 3"]),
    (A, ["takes 2 inputs ['a', 'b']", "got 1"]),
    ({"a": A, "b": B.T}, ["input 'b' has shape [3, 2]", "expects [2, 3]"]),
    ({"a": A[:1], "b": B}, ["input 'a' has shape [1, 3]", "expects [2, 3]"]),
    ({"a": A, "b": B.astype(np.float64)}, ["input 'b' has dtype float64", "expects f32"]),
    ({"a": A.astype(np.int8), "b": B}, ["input 'a' has dtype int8", "expects f32"]),
    ({"a": A.tolist(), "b": B}, ["input 'a' must be a NumPy array, got list"]),
    ([A, 1.5], ["input 'b' must be a NumPy array, got float"]),
])
def test_bad_inputs_are_rejected_naming_the_input(inputs, fragments):
    compiled = refint8.compile(two_input_model(), backend="reference")
    with pytest.raises(InputError) as caught:
        compiled.infer(inputs)
    for fragment in fragments:
        assert fragment in str(caught.value)
    # nothing ran and nothing was counted
    assert compiled.inferences == 0
    assert all(row.count == 0 for row in compiled.perf_counts())


def test_compile_rejects_a_non_model():
    with pytest.raises(InputError, match="compile expects a refint8 Model, got Output"):
        refint8.compile(ops.relu(ops.parameter([1])), backend="reference")


def test_outputs_are_fresh_per_inference():
    compiled = refint8.compile(two_input_model(), backend="reference")
    first = compiled.infer([A, B])["out"]
    kept = first.copy()
    second = compiled.infer([B, A])["out"]
    np.testing.assert_array_equal(first, kept)  # an earlier result is not overwritten
    np.testing.assert_array_equal(second, expected(B, A))


# -- counters --------------------------------------------------------------------------------------


def _rows(compiled) -> dict[str, LayerCounter]:
    return {row.name: row for row in compiled.perf_counts()}


def test_counters_accumulate_and_reset_is_explicit():
    compiled = refint8.compile(two_input_model(), backend="reference")
    rows = _rows(compiled)
    assert set(rows) == {"a", "b", "relu", "sub", "out"}
    assert {n: (r.status, r.layer_type, r.exec_type) for n, r in rows.items()} == {
        "a": (Status.NOT_RUN, "Parameter", "unknown_FP32"),
        "b": (Status.NOT_RUN, "Parameter", "unknown_FP32"),
        "relu": (Status.EXECUTED, "Relu", "ref_any_FP32"),
        "sub": (Status.EXECUTED, "Subtract", "ref_any_FP32"),
        "out": (Status.EXECUTED, "Multiply", "ref_any_FP32"),
    }
    assert all(r.count == 0 and r.real_time_us == 0 for r in rows.values())

    compiled.infer([A, B])
    after_one = {n: (r.real_time_us, r.cpu_time_us) for n, r in _rows(compiled).items()}
    for _ in range(2):
        compiled.infer([A, B])
    rows = _rows(compiled)
    assert compiled.inferences == 3
    assert all(r.count == 3 for r in rows.values())
    for name in ("relu", "sub", "out"):
        row = rows[name]
        assert row.real_time_us > after_one[name][0] > 0  # totals grow with every inference
        assert row.cpu_time_us >= after_one[name][1] >= 0
        assert row.mean_real_time_us == pytest.approx(row.real_time_us / 3)
        assert row.mean_cpu_time_us == pytest.approx(row.cpu_time_us / 3)
    assert rows["a"].real_time_us == 0 and rows["a"].mean_real_time_us == 0

    # A new inference never resets them; only reset_perf_counts does.
    compiled.infer([A, B])
    assert all(r.count == 4 for r in compiled.perf_counts())
    compiled.reset_perf_counts()
    assert compiled.inferences == 0
    assert all((r.count, r.real_time_us, r.cpu_time_us) == (0, 0.0, 0.0)
               for r in compiled.perf_counts())
    assert all(r.mean_real_time_us == 0.0 for r in compiled.perf_counts())
    compiled.infer([A, B])
    assert compiled.inferences == 1
    assert all(r.count == 1 for r in compiled.perf_counts())
    assert _rows(compiled)["relu"].status is Status.EXECUTED  # reset keeps the rows


def test_an_inference_that_fails_midway_leaves_the_counters_untouched():
    # every row counts the same inferences: the steps that ran before the failure are not counted
    class FailsOnSecondCall(Backend):
        calls = 0

        def kernel(self, node):
            if node.type != "Multiply":
                return None

            def run(inputs):
                FailsOnSecondCall.calls += 1
                if FailsOnSecondCall.calls == 2:
                    raise InputError("refint8: second call refused")
                return [inputs[0] * inputs[1]]
            return Kernel(run, "flaky_any")

    registry = _registry("good")
    registry.register(SpecsPlugin(BackendSpec("flaky", lambda options: FailsOnSecondCall())), distribution="f")
    compiled = refint8.compile(two_input_model(), backend="flaky", registry=registry)
    compiled.infer([A, B])
    with pytest.raises(InputError, match="second call refused"):
        compiled.infer([A, B])       # "relu" and "sub" ran, then "out" (the Multiply) failed
    assert compiled.inferences == 1
    assert {r.name: r.count for r in compiled.perf_counts()} == {"a": 1, "b": 1, "relu": 1, "sub": 1, "out": 1}
    compiled.infer([A, B])
    assert {r.count for r in compiled.perf_counts()} == {2}


def test_counters_are_per_compiled_model():
    model = two_input_model()
    first = refint8.compile(model, backend="reference")
    second = refint8.compile(model, backend="reference")
    first.infer([A, B])
    first.infer([A, B])
    second.infer([A, B])
    assert {r.count for r in first.perf_counts()} == {2}
    assert {r.count for r in second.perf_counts()} == {1}


def test_json_export():
    compiled = refint8.compile(two_input_model(), backend="reference")
    compiled.infer([A, B])
    compiled.infer([A, B])
    data = json.loads(compiled.perf_counts_json())
    assert [item["name"] for item in data] == [r.name for r in compiled.perf_counts()]
    fields = {"name", "status", "layer_type", "exec_type", "real_time_us", "cpu_time_us",
              "count", "mean_real_time_us", "mean_cpu_time_us"}
    for item, row in zip(data, compiled.perf_counts()):
        assert set(item) == fields
        assert item["status"] == row.status.value
        assert (item["layer_type"], item["exec_type"], item["count"]) == (
            row.layer_type, row.exec_type, 2)
        assert item["real_time_us"] == pytest.approx(row.real_time_us)
        assert item["mean_real_time_us"] == pytest.approx(row.real_time_us / 2)
        assert item["mean_cpu_time_us"] == pytest.approx(row.cpu_time_us / 2)
    by_name = {item["name"]: item for item in data}
    assert by_name["relu"]["status"] == "EXECUTED" and by_name["a"]["status"] == "NOT_RUN"
    assert by_name["relu"]["exec_type"] == "ref_any_FP32"


ROW = re.compile(r"^(?P<name>\S+)\s+(?P<status>EXECUTED|NOT_RUN|OPTIMIZED_OUT)\s+"
                 r"layerType: (?P<type>\S+)\s+realTime: (?P<real>\d+)\s+cpu: (?P<cpu>\d+)\s+"
                 r"execType: (?P<exec>\S+)$")


def test_printed_table_has_the_openvino_layout():
    compiled = refint8.compile(two_input_model(), backend="reference")
    for _ in range(3):
        compiled.infer([A, B])
    lines = compiled.format_perf_counts().splitlines()
    assert lines[0].startswith("Performance counts") and "3 inference(s)" in lines[0]
    rows = compiled.perf_counts()
    body = lines[1:-1]
    assert len(body) == len(rows)
    for line, row in zip(body, rows):
        match = ROW.match(line)
        assert match, line
        assert (match["name"], match["status"], match["type"], match["exec"]) == (
            row.name, row.status.value, row.layer_type, row.exec_type)
        assert int(match["real"]) == round(row.mean_real_time_us)
        assert int(match["cpu"]) == round(row.mean_cpu_time_us)
    # columns are aligned
    for label in ("layerType:", "realTime:", "cpu:", "execType:"):
        assert len({line.index(label) for line in body}) == 1, label
    total = re.fullmatch(r"Total time: (\d+) microseconds \(cpu: (\d+)\)", lines[-1])
    assert total, lines[-1]
    assert int(total[1]) == round(sum(r.mean_real_time_us for r in rows))
    assert int(total[2]) == round(sum(r.mean_cpu_time_us for r in rows))


def test_format_perf_counts_of_given_rows():
    rows = [
        LayerCounter("input", Status.NOT_RUN, "Parameter", "unknown_FP32", count=4),
        LayerCounter("a_rather_long_layer_name/with/scopes", Status.EXECUTED, "Convolution",
                     "ref_any_I8", real_time_us=1002.0, cpu_time_us=400.0, count=4),
        LayerCounter("relu1", Status.NOT_RUN, "Relu", "undef", count=4),
        LayerCounter("pool1/fq", Status.OPTIMIZED_OUT, "FakeQuantize", "undef"),
        LayerCounter("fc", Status.EXECUTED, "MatMul", "numpy_any_FP32", real_time_us=12.0,
                     cpu_time_us=9.0, count=4),
    ]
    text = format_perf_counts(rows, inferences=4)
    lines = text.splitlines()
    assert lines[0] == "Performance counts: mean per inference over 4 inference(s), µs"
    conv = ROW.match(lines[2])
    assert conv and conv["real"] == "250" and conv["cpu"] == "100"  # 1002/4 rounds to 250
    assert ROW.match(lines[5])["real"] == "3"
    assert ROW.match(lines[4])["status"] == "OPTIMIZED_OUT"
    assert lines[-1] == "Total time: 254 microseconds (cpu: 102)"  # round(250.5 + 3), round(100 + 2.25)
    assert len({line.index("layerType:") for line in lines[1:-1]}) == 1
    assert format_perf_counts(rows).splitlines()[0].startswith("input")  # no header without count
    data = json.loads(perf_counts_to_json(rows))
    assert data[1]["mean_real_time_us"] == 250.5 and data[3]["mean_real_time_us"] == 0.0


# -- the user's model is left alone ----------------------------------------------------------------


def _snapshot(model: refint8.Model):
    def attr(value):
        if isinstance(value, np.ndarray):
            return ("array", value.dtype.str, value.shape, value.tobytes())
        return repr(value)

    return (
        [(id(n), n.name, n.type, [(id(i.node), i.index) for i in n.inputs],
          {k: attr(v) for k, v in n.attrs.items()}, list(n.output_types), repr(n.rt_info))
         for n in model.nodes],
        {k: (id(v.node), v.index) for k, v in model.outputs.items()},
        [id(p) for p in model.parameters],
        repr(model.rt_info),
        model.name,
    )


def test_compile_does_not_modify_the_model():
    model = small_fq_cnn(seed=0)  # FakeQuantize layers: what the Low Precision Transformations rewrite
    before = _snapshot(model)
    compiled = refint8.compile(model, backend="reference")
    image = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    compiled.infer({"input": image})
    assert _snapshot(model) == before
    assert compiled.source is model
    assert compiled.model is not model
    assert {id(n) for n in compiled.model.nodes}.isdisjoint({id(n) for n in model.nodes})
    # and with the Low Precision Transformations off
    refint8.compile(model, backend="reference", lpt=False).infer({"input": image})
    assert _snapshot(model) == before


def test_same_model_compiles_twice_with_identical_results():
    model = two_input_model()
    first = refint8.compile(model, backend="reference").infer([A, B])["out"]
    second = refint8.compile(model, backend="reference").infer([A, B])["out"]
    np.testing.assert_array_equal(first, second)


# -- the kernel contract ---------------------------------------------------------------------------


class _Sloppy(Backend):
    """Runs Relu with a deliberately broken kernel; everything else to the fallback."""

    name = "sloppy"

    def __init__(self, mode: str):
        self.mode = mode

    def kernel(self, node):
        if node.type != "Relu":
            return None
        if self.mode == "compile_raises":
            raise KeyError("no table for Relu")
        results = {
            "dtype": lambda x: [np.maximum(x, 0).astype(np.float64)],
            "shape": lambda x: [np.maximum(x, 0).reshape(-1)],
            "count": lambda x: [np.maximum(x, 0), np.maximum(x, 0)],
            "none": lambda x: None,
            "bare": lambda x: np.maximum(x, np.float32(0)),
            "not_array": lambda x: [np.maximum(x, 0).tolist()],
            "scalar": lambda x: [float(x.max())],
            "raises": lambda x: 1 / 0,
            "good": lambda x: [np.maximum(x, np.float32(0))],
        }[self.mode]
        return Kernel(lambda inputs: results(inputs[0]), "sloppy_any")


def _registry(mode: str) -> BackendRegistry:
    import refint8_backend_reference

    registry = BackendRegistry(load_entry_points=False)
    registry.register(refint8_backend_reference, distribution="refint8-backend-reference")
    registry.register(SpecsPlugin(BackendSpec("sloppy", lambda options: _Sloppy(mode))),
                      distribution="sloppy-dist")
    return registry


def test_hand_registered_backend_runs_with_fallback():
    compiled = refint8.compile(two_input_model(), backend="sloppy", registry=_registry("good"))
    np.testing.assert_array_equal(compiled.infer([A, B])["out"], expected(A, B))
    assert {r.name: r.exec_type for r in compiled.perf_counts()}["relu"] == "sloppy_any_FP32"
    assert {r.name: r.exec_type for r in compiled.perf_counts()}["sub"] == "ref_any_FP32"
    assert compiled.kernel_fallbacks == [("sub", "sloppy", "reference"),
                                         ("out", "sloppy", "reference")]


@pytest.mark.parametrize("mode, fragments", [
    ("dtype", ["returned float64[2, 3]", "expected f32[2, 3]"]),
    ("shape", ["returned f32[6]", "expected f32[2, 3]"]),
    ("count", ["returned 2 outputs", "expected 1"]),
    ("none", ["returned a NoneType", "expected a sequence of 1 array(s)"]),
    ("bare", ["returned a ndarray", "expected a sequence of 1 array(s)"]),
    ("not_array", ["returned a list", "expected f32[2, 3]"]),
    ("scalar", ["returned a float", "expected f32[2, 3]"]),
    ("raises", ["ZeroDivisionError"]),
])
def test_broken_kernel_is_a_backend_error_naming_backend_and_node(mode, fragments):
    compiled = refint8.compile(two_input_model(), backend="sloppy", registry=_registry(mode))
    with pytest.raises(BackendError) as caught:
        compiled.infer([A, B])
    message = str(caught.value)
    assert "backend 'sloppy'" in message and "node 'relu'" in message
    for fragment in fragments:
        assert fragment in message


def test_kernel_that_fails_to_compile_is_a_backend_error():
    with pytest.raises(BackendError) as caught:
        refint8.compile(two_input_model(), backend="sloppy", registry=_registry("compile_raises"))
    message = str(caught.value)
    assert "backend 'sloppy' failed to compile node 'relu' (Relu)" in message
    assert "KeyError" in message


def test_node_without_any_kernel():
    registry = BackendRegistry(load_entry_points=False)
    registry.register(SpecsPlugin(BackendSpec("sloppy", lambda options: _Sloppy("good"))),
                      distribution="sloppy-dist")
    with pytest.raises(BackendError, match="no backend implements node 'sub' \\(Subtract, FP32\\); "
                                           "tried: sloppy"):
        refint8.compile(two_input_model(), backend="sloppy", config={"fallback": []},
                        registry=registry)
    # the default chain is every other installed backend: here there is none
    with pytest.raises(BackendError, match="no backend implements node 'sub' \\(Subtract, FP32\\); "
                                           "tried: sloppy$"):
        refint8.compile(two_input_model(), backend="sloppy", registry=registry)


def test_default_fallback_chain_is_the_other_backends_by_priority():
    registry = BackendRegistry(load_entry_points=False)
    registry.register(SpecsPlugin(BackendSpec("sloppy", lambda options: _Sloppy("good"), priority=5)),
                      distribution="sloppy-dist")
    registry.register(SpecsPlugin(BackendSpec("low", lambda options: _Sloppy("good"), priority=1)),
                      distribution="low-dist")
    registry.register(SpecsPlugin(BackendSpec("high", lambda options: _Sloppy("good"), priority=9)),
                      distribution="high-dist")
    assert registry.ranked() == ["high", "sloppy", "low"]
    with pytest.raises(BackendError, match="tried: low, high, sloppy$"):
        refint8.compile(two_input_model(), backend="low", registry=registry)


def test_refint8_errors_from_a_kernel_keep_their_type_and_gain_the_node():
    class Strict(Backend):
        def kernel(self, node):
            def run(inputs):
                raise InputError("refint8: value out of range")
            return Kernel(run, "strict_any") if node.type == "Relu" else None

    registry = _registry("good")
    registry.register(SpecsPlugin(BackendSpec("strict", lambda options: Strict())), distribution="s")
    compiled = refint8.compile(two_input_model(), backend="strict", registry=registry)
    with pytest.raises(InputError, match="value out of range") as info:
        compiled.infer([A, B])
    assert str(info.value) == "refint8: value out of range"  # the original error, not re-wrapped
    assert info.value.__notes__ == ["while running node 'relu' (Relu) on backend 'strict'"]

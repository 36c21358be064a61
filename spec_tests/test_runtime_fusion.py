"""The runtime's fusion contract: which node pairs it offers a backend, how a fused kernel is
called, placed and counted, and how its errors name both nodes (refint8.backend, "Fusion contract")."""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.backend import Backend, Kernel
from refint8.errors import BackendError, InputError
from refint8.ops import get_op
from refint8.registry import BackendRegistry
from refint8.runtime import Status

from hand_plugins import register_instance

A = np.array([[1.0, -2.0, 3.5], [0.0, 4.0, -1.0]], dtype=np.float32)
B = np.array([[-1.0, 2.0, 0.5], [3.0, -4.0, 2.0]], dtype=np.float32)
#: (a - relu(b)) * 2, worked by hand for A and B
A_MINUS_RELU_B_TWICE = np.array([[2.0, -8.0, 6.0], [-6.0, 8.0, -6.0]], dtype=np.float32)


def two_input_model() -> refint8.Model:
    """``out = (a - relu(b)) * 2``: relu feeds only sub; sub feeds only out (a model output)."""
    a = ops.parameter([2, 3], name="a")
    b = ops.parameter([2, 3], name="b")
    y = ops.subtract(a, ops.relu(b, name="relu"), name="sub")
    return refint8.Model(ops.multiply(y, np.float32(2.0), name="out"), name="two_inputs")


def _reference_kernel(node) -> Kernel:
    op = get_op(node.type)
    return Kernel(lambda inputs: op.compute(node.attrs, *inputs), "fusing_any")


class Fusing(Backend):
    """Runs every node by the reference and fuses the pairs whose (producer, consumer) types it is
    given, recording what each fused kernel receives."""

    def __init__(self, pairs: set[tuple[str, str]], fail: str = "") -> None:
        self.pairs = pairs
        self.fail = fail
        self.offered: list[tuple[str, str]] = []
        self.received: list[list[np.ndarray]] = []

    def kernel(self, node):
        return _reference_kernel(node)

    def fuse(self, producer, consumer):
        self.offered.append((producer.name, consumer.name))
        if (producer.type, consumer.type) not in self.pairs:
            return None
        if self.fail == "compile":
            raise KeyError("no fused table")
        first, second = _reference_kernel(producer), _reference_kernel(consumer)
        link = producer.output(0)
        n = len(producer.inputs)

        def run(inputs):
            self.received.append(list(inputs))
            if self.fail == "run":
                raise InputError("refint8: fused value out of range")
            (middle,) = first.run(inputs[:n])
            rest = iter(inputs[n:])
            return second.run([middle if i == link else next(rest) for i in consumer.inputs])
        return Kernel(run, "fusing_any")


def _compile(model: refint8.Model, backend: Fusing, **kwargs) -> refint8.CompiledModel:
    registry = register_instance(BackendRegistry(load_entry_points=False), "fusing", backend)
    return refint8.compile(model, backend="fusing", registry=registry, config={"fallback": []}, **kwargs)


def test_a_fused_pair_gets_the_producer_inputs_then_the_consumer_others_and_is_counted_once():
    backend = Fusing({("Relu", "Subtract")})
    compiled = _compile(two_input_model(), backend)
    assert compiled.fusions == {"sub": "relu"}
    out = compiled.infer([A, B])["out"]
    np.testing.assert_array_equal(out, A_MINUS_RELU_B_TWICE)
    # relu's input b, then sub's inputs other than relu's output: a
    (received,) = backend.received
    assert len(received) == 2
    np.testing.assert_array_equal(received[0], B)
    np.testing.assert_array_equal(received[1], A)
    rows = {row.name: row for row in compiled.perf_counts()}
    assert (rows["relu"].status, rows["relu"].exec_type, rows["relu"].count) == \
        (Status.EXECUTED, "fusing_any_FP32", 1)
    assert rows["relu"].real_time_us > 0
    assert (rows["sub"].status, rows["sub"].layer_type, rows["sub"].exec_type) == \
        (Status.NOT_RUN, "Subtract", "undef")
    assert rows["out"].status is Status.EXECUTED
    # the table lists the fused layer as not run, as OpenVINO does
    (line,) = [row for row in compiled.format_perf_counts().splitlines() if row.startswith("sub ")]
    assert "NOT_RUN" in line and "undef" in line


def test_fusion_off_keeps_one_kernel_per_node_with_the_same_result():
    backend = Fusing({("Relu", "Subtract")})
    compiled = _compile(two_input_model(), backend, fusion=False)
    assert compiled.fusions == {} and backend.offered == []
    np.testing.assert_array_equal(compiled.infer([A, B])["out"], A_MINUS_RELU_B_TWICE)
    assert all(row.status is Status.EXECUTED for row in compiled.perf_counts()
               if row.layer_type != "Parameter")


def test_only_single_reader_non_output_producers_are_offered():
    x = ops.parameter([2, 3], name="x")
    shared = ops.relu(x, name="shared")                       # read by two nodes
    twice = ops.add(shared, shared, name="twice")              # reads its producer in two inputs
    negated = ops.multiply(x, np.float32(-1.0), name="negated")
    kept = ops.relu(negated, name="kept")                      # a model output: never a producer
    y = ops.subtract(twice, shared, name="y")
    model = refint8.Model({"y": y, "kept": kept})
    backend = Fusing(set())
    compiled = _compile(model, backend)
    offered = set(backend.offered)
    assert ("shared", "twice") not in offered and ("shared", "y") not in offered
    assert not any(producer == "kept" for producer, _ in offered)
    assert not any(producer == "y" for producer, _ in offered)
    assert ("negated", "kept") in offered and ("twice", "y") in offered
    assert compiled.fusions == {}


def test_each_node_is_in_at_most_one_pair():
    # r1 -> r2 -> r3 -> out: (r1, r2) is fused, so r2 is not offered again as a producer
    x = ops.parameter([2, 3], name="x")
    y = ops.relu(ops.relu(ops.relu(x, name="r1"), name="r2"), name="r3")
    backend = Fusing({("Relu", "Relu")})
    compiled = _compile(refint8.Model(ops.multiply(y, np.float32(2.0), name="out")), backend)
    assert compiled.fusions == {"r2": "r1"}
    assert ("r2", "r3") not in backend.offered and ("r3", "out") in backend.offered
    np.testing.assert_array_equal(compiled.infer(B)["out"], np.array(
        [[0.0, 4.0, 1.0], [6.0, 0.0, 4.0]], np.float32))


def test_a_fusion_that_fails_to_compile_is_a_backend_error_naming_both_nodes():
    with pytest.raises(BackendError) as caught:
        _compile(two_input_model(), Fusing({("Relu", "Subtract")}, fail="compile"))
    message = str(caught.value)
    assert "backend 'fusing' failed to fuse node 'relu' (Relu) into 'sub' (Subtract)" in message
    assert "KeyError" in message


def test_errors_of_a_fused_kernel_name_both_nodes():
    compiled = _compile(two_input_model(), Fusing({("Relu", "Subtract")}, fail="run"))
    with pytest.raises(InputError) as caught:
        compiled.infer([A, B])
    assert caught.value.__notes__ == [
        "while running node 'relu' (Relu) fused with node 'sub' (Subtract) on backend 'fusing'"]
    assert compiled.inferences == 0


def test_the_precision_report_names_where_a_fused_layer_runs():
    from refint8.explain import precision_report

    compiled = _compile(two_input_model(), Fusing({("Relu", "Subtract")}))
    rows = {row.node: row for row in precision_report(compiled)}
    assert rows["sub"].reason.endswith("runs fused into 'relu' (one kernel)")
    assert "fused" not in rows["out"].reason


def test_the_fused_step_runs_where_the_consumer_inputs_are_ready():
    # sub's other input `scaled` is computed after relu: the fused (relu, sub) step must run at
    # sub's place, not relu's (it would find no value for `scaled` there)
    a = ops.parameter([2, 3], name="a")
    b = ops.parameter([2, 3], name="b")
    r = ops.relu(b, name="relu")
    scaled = ops.multiply(a, np.float32(3.0), name="scaled")
    model = refint8.Model(ops.subtract(r, scaled, name="sub"), parameters=[a.node, b.node])
    order = [n.name for n in model.nodes]
    assert order.index("relu") < order.index("scaled") < order.index("sub")
    backend = Fusing({("Relu", "Subtract")})
    compiled = _compile(model, backend)
    assert compiled.fusions == {"sub": "relu"}
    np.testing.assert_array_equal(compiled.infer([A, B])["sub"], np.maximum(B, 0) - A * np.float32(3.0))


def test_int8_layer_types_count_a_fused_layer_with_its_producer():
    from refint8.models import small_fq_cnn

    model = small_fq_cnn()
    plain = refint8.compile(model, backend="reference")
    assert plain.int8_layer_types() == {"Convolution"}
    # conv3 (I8) runs the fp32 Sigmoid after it inside its kernel: the Sigmoid ran, at its own
    # precision (its input is the dequantized f32), so it is no int8 layer
    compiled = _compile(model, Fusing({("Int8Convolution", "Sigmoid")}))
    assert compiled.fusions == {"output": "conv3"}
    rows = {row.name: row for row in compiled.perf_counts()}
    assert rows["output"].status is Status.NOT_RUN and rows["conv3"].exec_type == "fusing_any_I8"
    assert compiled.int8_layer_types() == {"Convolution"}
    x = np.random.default_rng(0).uniform(-1, 1, compiled.inputs["input"].shape).astype(np.float32)
    np.testing.assert_array_equal(compiled.infer(x)["output"], plain.infer(x)["output"])
    # (spec_tests/backends/test_simd_backend.py: the int8 Eltwise fused into a convolution counts)

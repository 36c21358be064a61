"""The runtime's sequence contract: which runs of steps it offers a backend, how a sequence is run,
counted and checked, and how its errors name the failing step (refint8.backend, "Sequence
contract")."""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.backend import Backend, Kernel, PlannedStep
from refint8.errors import BackendError, InputError
from refint8.ops import get_op
from refint8.registry import BackendRegistry
from refint8.runtime import Status

from hand_plugins import register_instance

X = np.array([[1.0, -2.0, 3.5], [0.0, 4.0, -1.0]], dtype=np.float32)
#: relu(relu(x) * 2 - 1) for X, worked by hand: relu(x) = [[1, 0, 3.5], [0, 4, 0]]
CHAIN_OF_X = np.array([[1.0, 0.0, 6.0], [0.0, 7.0, 0.0]], dtype=np.float32)


def chain_model() -> refint8.Model:
    """``out = relu(relu(x) * 2 - 1)``: four steps in a row (Relu, Multiply, Subtract, Relu)."""
    x = ops.parameter([2, 3], name="x")
    doubled = ops.multiply(ops.relu(x, name="first"), np.float32(2.0), name="double")
    return refint8.Model(ops.relu(ops.subtract(doubled, np.float32(1.0), name="less"), name="out"),
                         name="chain")


class Sequencing(Backend):
    """Runs every node but those of type ``skip`` by the reference; its sequences run the steps'
    kernels in order with fixed timings (wall 1000 + i, cpu 2000 + i ns for the i-th step), and
    record what they were offered and how often they ran."""

    def __init__(self, skip: str = "", fail_at: int = -1, wrong_dtype_at: int = -1,
                 timings_as: str = "pairs") -> None:
        self.skip, self.fail_at, self.wrong_dtype_at = skip, fail_at, wrong_dtype_at
        #: "pairs": a pair per step; "arrays": the first two steps' as one int64 array, then
        #: pairs; "wrong": triples in one array (not timings)
        self.timings_as = timings_as
        self.offered: list[list[PlannedStep]] = []
        self.runs = 0

    def kernel(self, node):
        if node.type == self.skip:
            return None
        op = get_op(node.type)
        return Kernel(lambda inputs: op.compute(node.attrs, *inputs), "seq_any")

    def sequence(self, steps):
        self.offered.append(list(steps))

        def run(slots, timings):
            self.runs += 1
            for i, step in enumerate(steps):
                if i == self.fail_at:
                    raise InputError("refint8: value out of range in the sequence")
                results = step.kernel.run([slots[s] for s in step.inputs])
                for slot, value in zip(step.outputs, results):
                    slots[slot] = value.astype(np.float64) if i == self.wrong_dtype_at else value
                if self.timings_as == "pairs" or i >= 2:
                    timings.append((1000 + i, 2000 + i))
                elif i == 1:
                    pairs = [(1000, 2000), (1001, 2001)]
                    timings.append(np.array(pairs if self.timings_as == "arrays" else [p + (0,) for p in pairs]))
        return run


def _compile(backend: Sequencing, **kwargs) -> refint8.CompiledModel:
    # the installed backends too (the reference: the fallback)
    registry = register_instance(BackendRegistry(), "sequencing", backend)
    return refint8.compile(chain_model(), backend="sequencing", registry=registry,
                           config={"fallback": ["reference"]}, fusion=False, **kwargs)


def test_a_run_of_steps_is_offered_whole_and_its_timings_are_the_steps_counters():
    backend = Sequencing()
    compiled = _compile(backend)
    (offered,) = backend.offered
    assert [len(s.inputs) for s in offered] == [1, 2, 2, 1]
    # each step's slots: what it reads is what an earlier step wrote (or the parameter's slot)
    written = {offered[0].inputs[0]}
    for step in offered:
        assert step.inputs[0] in written
        written.update(step.outputs)
    assert compiled.sequences == [["first", "double", "less", "out"]]
    np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)
    np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)
    assert backend.runs == 2
    rows = {row.name: row for row in compiled.perf_counts()}
    for i, name in enumerate(["first", "double", "less", "out"]):
        row = rows[name]
        assert (row.status, row.count, row.exec_type) == (Status.EXECUTED, 2, "seq_any_FP32")
        assert (row.real_time_us, row.cpu_time_us) == (2 * (1000 + i) / 1000, 2 * (2000 + i) / 1000)


def test_timings_may_come_as_arrays_of_several_steps():
    # the first two steps' timings as one (2, 2) int64 array, the others as pairs: the same counters
    compiled = _compile(Sequencing(timings_as="arrays"))
    for _ in range(3):
        np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)
    rows = {row.name: row for row in compiled.perf_counts()}
    for i, name in enumerate(["first", "double", "less", "out"]):
        assert (rows[name].count, rows[name].real_time_us, rows[name].cpu_time_us) == (
            3, 3 * (1000 + i) / 1000, 3 * (2000 + i) / 1000)


def test_timings_that_are_not_pairs_are_a_backend_error():
    compiled = _compile(Sequencing(timings_as="wrong"))
    with pytest.raises(BackendError, match=r"not \(wall_ns, cpu_ns\) pairs .*shape \(2, 3\)"):
        compiled.infer([X])
    assert compiled.inferences == 0


def test_a_sequence_output_read_after_it_is_checked_at_every_run():
    # a wrong array after runs that passed is still caught ('double' is read after the run by
    # 'less', which the reference runs)
    backend = Sequencing(skip="Subtract")
    compiled = _compile(backend)
    for _ in range(2):
        np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)
    backend.wrong_dtype_at = 1
    with pytest.raises(BackendError, match=r"returned float64\[2, 3\] for node 'double'"):
        compiled.infer([X])


def test_perf_counts_are_a_snapshot_and_reset_zeroes_them():
    compiled = _compile(Sequencing())
    compiled.infer([X])
    before = {row.name: row for row in compiled.perf_counts()}
    compiled.infer([X])
    after = {row.name: row for row in compiled.perf_counts()}
    assert (before["first"].count, before["first"].real_time_us) == (1, 1.0)
    assert (after["first"].count, after["first"].real_time_us) == (2, 2.0)
    assert after["x"].count == 2 and after["x"].status is Status.NOT_RUN   # an idle row counts too
    compiled.reset_perf_counts()
    assert all((row.count, row.real_time_us, row.cpu_time_us) == (0, 0.0, 0.0) for row in compiled.perf_counts())


def test_sequences_off_never_offers_one_and_gives_the_same_result():
    backend = Sequencing()
    compiled = _compile(backend, sequences=False)
    np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)
    assert backend.offered == [] and backend.runs == 0 and compiled.sequences == []


def test_a_step_of_another_backend_splits_the_runs_and_a_lone_step_is_not_offered():
    backend = Sequencing(skip="Subtract")       # 'less' falls back to the reference
    compiled = _compile(backend)
    (offered,) = backend.offered                # first, double; then 'out' alone: not offered
    assert len(offered) == 2 and compiled.sequences == [["first", "double"]]
    np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)
    rows = {row.name: row for row in compiled.perf_counts()}
    assert rows["less"].exec_type == "ref_any_FP32" and rows["out"].exec_type == "seq_any_FP32"


def test_an_error_inside_a_sequence_names_the_step_after_the_last_timed_one():
    compiled = _compile(Sequencing(fail_at=2))
    with pytest.raises(InputError, match="out of range") as info:
        compiled.infer([X])
    assert any("node 'less' (Subtract)" in note and "sequencing" in note for note in info.value.__notes__)
    # an inference that raised counts nowhere
    assert all(row.count == 0 for row in compiled.perf_counts() if row.status is Status.EXECUTED)


def test_a_sequence_output_of_the_wrong_dtype_is_a_backend_error_naming_its_step():
    # 'double' is the last step of the run [first, double]; 'less' (the reference) reads it after
    compiled = _compile(Sequencing(skip="Subtract", wrong_dtype_at=1))
    with pytest.raises(BackendError, match=r"returned float64\[2, 3\] for node 'double' \(Multiply\), expected f32"):
        compiled.infer([X])


def test_each_output_says_whether_the_runtime_reads_it_after_the_sequence():
    whole = Sequencing()
    _compile(whole)
    assert [step.read_after for step in whole.offered[0]] == [(False,), (False,), (False,), (True,)]
    split = Sequencing(skip="Subtract")          # 'less' runs outside and reads 'double'
    _compile(split)
    assert [step.read_after for step in split.offered[0]] == [(False,), (True,)]


def test_outputs_read_only_inside_a_sequence_are_the_backends_own():
    # an output only the sequence reads is not checked: the float64 'double' goes into 'less',
    # whose kernel gives float32 again; a sequence that stores only what is read after gives the
    # model's result
    np.testing.assert_array_equal(_compile(Sequencing(wrong_dtype_at=1)).infer([X])["out"], CHAIN_OF_X)
    backend = Sequencing()
    compiled = _compile(backend)
    (steps,) = backend.offered

    def keeps_to_itself(slots, timings):
        values = dict(enumerate(slots))
        for step in steps:
            for slot, value in zip(step.outputs, step.kernel.run([values[s] for s in step.inputs])):
                values[slot] = value
                if step.is_read_after(0):
                    slots[slot] = value
            timings.append((1, 1))
        assert [slots[o] is not None for step in steps for o in step.outputs] == [False, False, False, True]
    compiled._program[0].run = keeps_to_itself
    np.testing.assert_array_equal(compiled.infer([X])["out"], CHAIN_OF_X)


def test_a_sequence_that_times_too_few_steps_is_a_backend_error():
    backend = Sequencing()
    compiled = _compile(backend)
    compiled._program[0].run = lambda slots, timings: None
    with pytest.raises(BackendError, match="timed 0 of the 4 steps"):
        compiled.infer([X])


def test_a_refint8_error_inside_a_sequence_is_raised_as_itself_not_chained_to_itself():
    compiled = _compile(Sequencing(fail_at=0))
    with pytest.raises(InputError) as info:
        compiled.infer([X])
    assert info.value.__cause__ is None
    assert any("node 'first' (Relu)" in note for note in info.value.__notes__)


def test_any_other_exception_inside_a_sequence_is_a_backend_error_naming_the_step():
    compiled = _compile(Sequencing())

    def broken(slots, timings):
        timings.append((1, 1))
        raise KeyError("lost table")
    compiled._program[0].run = broken
    with pytest.raises(BackendError, match=r"kernel for node 'double' \(Multiply\) failed: KeyError") as info:
        compiled.infer([X])
    assert isinstance(info.value.__cause__, KeyError)

"""The simd backend's sequences (_plan/sequence.py, the runtime's sequence contract): consecutive
steps run by one C call (r8_run_steps) give the results, counters and errors of the same kernels
run one by one from the runtime's loop."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import refint8
from refint8.backend import PlannedStep
from refint8.errors import InputError
from refint8.int8.post_ops import Multiply, Quantize
from refint8.registry import default_registry

REGISTRY = default_registry()
_PROBE = REGISTRY.create("simd")
pytestmark = pytest.mark.skipif(not _PROBE.usable()[0], reason=f"simd unusable: {_PROBE.usable()[1]}")
VARIANTS = list(_PROBE.capabilities().isa_variants) if _PROBE.usable()[0] else []


def _resnet():
    from refint8.models.resnet import quantized_resnet50

    # 32x32: every kind of step of the real model (fused residual adds, MaxPool, AvgPool, Reshape,
    # FullyConnected), small enough to compile twice per variant
    return quantized_resnet50(image_size=32, calibration_samples=1)


@pytest.fixture(scope="module")
def resnet():
    return _resnet()


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (1, 3, 32, 32)).astype(np.float32)


def _compile(model, variant: str, sequences: bool, threads: int = 1):
    return refint8.compile(model, backend="simd", config={"isa": variant, "threads": threads},
                           sequences=sequences)


def _logits(compiled, x: np.ndarray) -> np.ndarray:
    (out,) = compiled.infer([x]).values()
    return out


@pytest.fixture(params=["C copy", "NumPy view"])
def reshape(request, monkeypatch):
    """How a sequence runs the model's Reshape (the Flatten before FullyConnected): as r8_copy in
    the run of C steps, or, above RESHAPE_COPY_BYTES, from Python between two runs."""
    from refint8_backend_simd._plan import movement

    if request.param == "NumPy view":
        monkeypatch.setattr(movement, "RESHAPE_COPY_BYTES", 0)
    return request.param


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_model_runs_as_sequences_with_the_results_and_counters_of_its_kernels(resnet, variant, reshape):
    one_by_one, sequenced = _compile(resnet, variant, False), _compile(resnet, variant, True)
    kinds = [type(entry).__name__ for entry in sequenced._program]
    assert kinds == ["_Sequence"], kinds       # every step is the simd backend's: one sequence
    runner = sequenced._program[0].run
    c_runs = sum(1 for part in runner.program if not isinstance(part, PlannedStep))
    assert c_runs == (1 if reshape == "C copy" else 2), runner.program   # (2: around the Reshape)
    for seed in (0, 1):
        x = _image(seed)
        expected, got = one_by_one.infer([x]), sequenced.infer([x])
        for name in expected:
            assert got[name].tobytes() == expected[name].tobytes(), (variant, name)
    rows = [row for row in sequenced.perf_counts() if row.status.name == "EXECUTED"]
    assert [(r.name, r.exec_type) for r in rows] == \
        [(r.name, r.exec_type) for r in one_by_one.perf_counts() if r.status.name == "EXECUTED"]
    assert all(row.count == 2 and row.real_time_us > 0 for row in rows)


def test_outputs_that_stay_in_the_sequence_share_memory_only_after_their_last_reader(resnet):
    # _assign_buffers, 1 thread: two C steps' outputs may overlap only if every step reading the
    # earlier one runs before the later one writes; the caller's outputs (escaping) never overlap
    # another
    run = _compile(resnet, VARIANTS[-1], True)._program[0].run
    last_read = list(range(len(run.plans)))
    for source in run.inputs:
        if source.producer is not None:
            last_read[source.producer] = max(last_read[source.producer], source.step)
    buffers, escaping = run.buffers, set(run.escaping)
    overlapping = 0
    for i in range(len(buffers)):
        for j in range(i + 1, len(buffers)):
            if np.shares_memory(buffers[i], buffers[j]):
                overlapping += 1
                assert i not in escaping and j not in escaping, (i, j)
                assert last_read[i] < j, (i, j, last_read[i])
    assert overlapping > len(buffers) // 2     # ResNet's activations do share blocks
    # with 2 threads every output keeps its own array
    buffers = _compile(resnet, VARIANTS[-1], True, threads=2)._program[0].run.buffers
    assert not any(np.shares_memory(buffers[i], buffers[j])
                   for i in range(len(buffers)) for j in range(i + 1, len(buffers)))


def test_an_output_the_caller_keeps_is_not_overwritten_by_the_next_inference(resnet):
    compiled = _compile(resnet, VARIANTS[-1], True)
    reference = _compile(resnet, VARIANTS[-1], False)
    first = _logits(compiled, _image(0))
    second = _logits(compiled, _image(1))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, _logits(reference, _image(0)))
    np.testing.assert_array_equal(second, _logits(reference, _image(1)))
    # the next inference writes a fresh array for the output kept, its old one for the others
    third = _logits(compiled, _image(2))
    assert third is not second
    np.testing.assert_array_equal(second, _logits(reference, _image(1)))


def test_inferences_from_two_threads_at_once_are_each_right(resnet):
    compiled = _compile(resnet, VARIANTS[-1], True)
    expected = {seed: _logits(_compile(resnet, VARIANTS[-1], False), _image(seed)) for seed in (0, 1)}
    failures: list[str] = []

    def work(seed: int) -> None:
        for _ in range(3):
            if not np.array_equal(_logits(compiled, _image(seed)), expected[seed]):
                failures.append(f"seed {seed}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def _conv(x_shape, oc, post_ops, name):
    from refint8 import opset
    from refint8.graph import make_node

    x = opset.parameter(list(x_shape), "u8", name=f"{name}_in")
    w = opset.constant(np.ones((oc, x_shape[1], 1, 1), np.int8))
    return make_node("Int8Convolution", [x, w], {
        "strides": (1, 1), "pads_begin": (0, 0), "pads_end": (0, 0), "dilations": (1, 1), "group": 1,
        "input_zero_point": None, "weight_zero_point": None, "post_ops": post_ops,
        "accumulation": "exact"}, name=name)


U8 = Quantize(np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256, element_type="u8")


def _two_convolutions(second_posts, read_after=((), ())):
    """A SequenceRun of two 1x1 convolutions, slot 0 -> 1 -> 2 (the first copies its input's
    single channel: weights 1, codes kept by the u8 Quantize), each step's PlannedStep.read_after
    as given (default: every output read after)."""
    backend = REGISTRY.create("simd", refint8.BackendOptions(threads=1))
    first = backend.kernel(_conv((1, 1, 3, 4), 1, (U8,), "first"))
    second = backend.kernel(_conv((1, 1, 3, 4), 2, second_posts, "second"))
    steps = [PlannedStep(first, (0,), (1,), read_after[0]), PlannedStep(second, (1,), (2,), read_after[1])]
    return backend.sequence(steps)


def test_only_the_outputs_read_after_the_sequence_go_into_the_slots():
    # the first convolution's output stays in the sequence's buffer, where the second reads it
    x = np.arange(12, dtype=np.uint8).reshape(1, 1, 3, 4)
    expected = np.minimum(2 * x.astype(np.int32), 255).astype(np.uint8)
    for read_after, written in [(((False,), (True,)), [False, True]), (((), ()), [True, True])]:
        run = _two_convolutions((Multiply(np.float32(2.0)), U8), read_after)
        for _ in range(2):
            slots = [x, None, None]
            run(slots, [])
            assert [value is not None for value in slots[1:]] == written, read_after
            for channel in (0, 1):
                np.testing.assert_array_equal(slots[2][0, channel], expected[0, 0])


def test_a_nan_in_the_second_step_stops_after_timing_the_first():
    run = _two_convolutions((Multiply(np.float32(np.inf)), U8))     # 0 * inf: NaN at the Quantize
    slots = [np.zeros((1, 1, 3, 4), np.uint8), None, None]
    timings: list[np.ndarray] = []
    with pytest.raises(InputError, match="NaN"):
        run(slots, timings)
    # one C run: its finished steps' (wall_ns, cpu_ns) as one array
    assert len(timings) == 1 and timings[0].shape == (1, 2) and timings[0][0, 0] > 0


def test_a_run_shares_its_cpu_time_out_over_its_steps_by_wall_time():
    # r8_run_steps reads the CPU clock (a system call) at the start and end of a run only: step i
    # gets round(cpu * (wall_0 + .. + wall_i) / wall_total) less the shares before it, the last
    # step the rest
    run = _two_convolutions((Multiply(np.float32(2.0)), U8))
    slots = [np.ones((1, 1, 3, 4), np.uint8), None, None]
    for _ in range(3):
        timings: list[np.ndarray] = []
        run(slots, timings)
        (times,) = timings
        wall, cpu = times[:, 0].tolist(), times[:, 1].tolist()
        first = int(float(sum(cpu)) * float(wall[0]) / float(sum(wall)) + 0.5)
        assert min(wall) > 0 and cpu == [first, sum(cpu) - first]


def test_an_input_from_outside_that_is_not_c_contiguous_is_read_as_its_values():
    run = _two_convolutions((Multiply(np.float32(2.0)), U8))
    codes = np.arange(12, dtype=np.uint8).reshape(1, 1, 4, 3)
    x = codes.transpose(0, 1, 3, 2)                  # (1, 1, 3, 4), not C-contiguous
    assert not x.flags.c_contiguous
    slots = [x, None, None]
    timings: list[np.ndarray] = []
    run(slots, timings)
    expected = np.minimum(2 * x.astype(np.int32), 255).astype(np.uint8)
    np.testing.assert_array_equal(slots[1][0, 0], x[0, 0])
    for channel in (0, 1):
        np.testing.assert_array_equal(slots[2][0, channel], expected[0, 0])
    assert sum(len(t) for t in timings) == 2


@pytest.mark.parametrize("variant", sorted({VARIANTS[0], VARIANTS[-1]} | ({"avx512_vnni"} & set(VARIANTS))))
def test_each_node_is_planned_once_whether_its_pair_is_fused_or_declined(resnet, monkeypatch, variant):
    # SimdBackend.fuse builds both plans of a residual pair to decide. Where only the convolution
    # requantizes, or its kernel cannot run the add's requantization in place (all but avx512 and
    # avx512_vnni), it declines, and the next fuse() of the same Int8Add (the first block's, with
    # the downsample) and kernel() take those plans instead of building them again; on avx512 and
    # avx512_vnni the pairs are fused and the consumer's plan goes into the pair's
    from refint8_backend_simd import _plan

    built: list[str] = []
    for plan_type in (_plan.ConvPlan, _plan.ElementwisePlan):
        original = plan_type.__init__

        def counting(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            built.append(args[3].name)       # (ffi, lib, variant, node, ...)

        monkeypatch.setattr(plan_type, "__init__", counting)
    compiled = _compile(resnet, variant, True)
    planned = {n.name for s in compiled._steps for n in (s.node, s.producer) if n is not None
               and n.type in ("Int8Convolution", "Int8Add")}
    assert bool(compiled.fusions) == (variant in ("avx512", "avx512_vnni"))
    assert sorted(name for name in built if name in planned) == sorted(planned)   # each once


@pytest.mark.skipif("avx512_vnni" not in VARIANTS, reason="the channel-lane kernel is avx512_vnni's")
def test_each_convolution_points_at_the_weights_the_next_step_reads_first(resnet):
    # _link_prefetches: r8_conv.pf_next is the next C step with weights: a channel-lane
    # convolution's first block of 64 output channels (kh*kw*ceil(Cg/4) cells of 64 x 4 bytes),
    # a position-kernel convolution's whole packing (every chunk of positions reads all of it:
    # G*ceil(OCg/CONV_NR) blocks of kh*kw*ceil(Cg/4) cells of CONV_NR x 4 bytes) or the
    # FullyConnected's (K padded to whole cells, N to whole blocks: at least K x N bytes)
    from refint8_backend_simd._plan.common import CONV_NR

    run = _compile(resnet, "avx512_vnni", True)._program[0].run
    ffi = run.ffi
    conv_type, mm_type = ffi.typeof("r8_conv *"), ffi.typeof("r8_mm *")

    def first_read(plan):
        """(kind, pointer, bytes or the least bytes) of a step with weights, else None."""
        p = plan.params
        if ffi.typeof(p) is mm_type:
            return "fully connected", p.w, p.K * p.N
        if ffi.typeof(p) is not conv_type:
            return None
        geo = getattr(plan, "conv", plan).geometry   # (a fused pair's: its convolution's)
        cells = geo.kh * geo.kw * -(-geo.cg // 4)
        if p.w_oc != ffi.NULL:
            return "lanes", p.w_oc, cells * 64 * 4
        return "positions", p.w, geo.group * -(-geo.ocg // CONV_NR) * cells * CONV_NR * 4

    reads = [first_read(plan) for plan, _ in run.plans]
    seen = set()
    for i, (plan, _) in enumerate(run.plans):
        if ffi.typeof(plan.params) is not conv_type:
            continue
        following = next((r for r in reads[i + 1:] if r is not None), None)
        if following is None:
            assert plan.params.pf_next == ffi.NULL and plan.params.pf_next_bytes == 0, i
            continue
        kind, pointer, size = following
        seen.add(kind)
        assert plan.params.pf_next == ffi.cast("const char *", pointer), i
        if kind == "fully connected":
            assert plan.params.pf_next_bytes >= size, (i, plan.params.pf_next_bytes, size)
        else:
            assert plan.params.pf_next_bytes == size, (i, kind, plan.params.pf_next_bytes, size)
    assert seen == {"lanes", "positions", "fully connected"}, seen

"""Meta-tests of the conformance suite: it must catch deliberately broken backends.

Each broken backend is a thin wrapper around the reference that changes ONE thing a real kernel
gets wrong. They are registered by hand (``BackendRegistry(load_entry_points=False)`` and
``register``) and run through the suite's DEFAULT run (default strategies, default selection of
units; only the example count is small, and shrinking is off except where the counterexample
itself is checked). Each must be caught in the unit where the bug lives, and nowhere it cannot
show. The reference must pass against itself, and a minimal out-of-tree backend installed with
pip must pass its kernels and be NOT_SUPPORTED elsewhere, through the ``refint8 conformance``
command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import refint8
import refint8.int8.avg_pool as int8_avg_pool_module
from refint8 import dtypes
from refint8.backend import Backend, BackendSpec, Capabilities, Kernel
from refint8.int8 import post_ops as post
from refint8.ops import get_op
from refint8.ops.fake_quantize import fake_quantize as reference_fake_quantize
from plugin_packages import pip_install, write_package
from refint8.registry import BackendRegistry

from refint8_conformance import Verdict, run

#: Small example counts keep the whole module well under CI's budget; the strategies put the
#: corners early (see refint8_conformance.strategies), so these suffice for every bug below.
EXAMPLES = 15
SEED = 20240607


# -- broken backends: the reference with one thing changed ----------------------------------------


class ReferenceLike(Backend):
    """The reference kernels; subclasses override ``compute`` (or ``accumulation``)."""

    name = "reference-like"
    accumulation = "exact"

    def capabilities(self) -> Capabilities:
        return Capabilities(accumulation=self.accumulation)

    def compute(self, node, inputs):
        return get_op(node.type).compute(node.attrs, *inputs)

    def kernel(self, node):
        return Kernel(lambda inputs: self.compute(node, inputs), "broken_any")


def _with_post_ops(node, inputs, replace):
    """Compute ``node`` with its post-ops passed through ``replace(post_ops) -> post_ops``."""
    attrs = dict(node.attrs)
    attrs["post_ops"] = tuple(replace(tuple(attrs["post_ops"])))
    return get_op(node.type).compute(attrs, *inputs)


def _half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))


def _fake_quantize_with(x, il, ih, ol, oh, levels, rounding=np.rint, clamp=True):
    """OpenVINO's FakeQuantize formula with a replaceable rounding and an optional boundary clamp."""
    x = np.asarray(x, np.float32)
    il, ih, ol, oh = (_fit(np.asarray(r, np.float32), x.ndim) for r in (il, ih, ol, oh))
    steps = np.float32(levels - 1)
    with np.errstate(all="ignore"):
        q = rounding(((x - il) / (ih - il)) * steps)
        y = ((q / steps) * (oh - ol)) + ol
    if clamp:
        y = np.where(x <= np.where(ih < il, ih, il), ol, np.where(x > np.where(il < ih, ih, il), oh, y))
    return np.broadcast_to(y, x.shape).astype(np.float32)


def _fit(r, rank):
    """A range of higher rank than the data drops its leading 1s (as the reference aligns it)."""
    return r.reshape(r.shape[r.ndim - rank:]) if r.ndim > rank else r


class _HalfAwayQuantize(post.Quantize):
    def apply(self, y):
        f = _fake_quantize_with(y, self.input_low, self.input_high, self.output_low, self.output_high,
                                self.levels, rounding=_half_away)
        info = np.iinfo(np.dtype(dtypes.element_type(self.element_type)))
        return np.clip(_half_away(f), info.min, info.max).astype(info.dtype)


class _WrappingQuantize(post.Quantize):
    def apply(self, y):
        f = _fake_quantize_with(y, self.input_low, self.input_high, self.output_low, self.output_high,
                                self.levels, clamp=False)
        dtype = dtypes.element_type(self.element_type)
        with np.errstate(all="ignore"):
            return np.rint(np.nan_to_num(f)).astype(np.int64).astype(dtype)   # wraps: no saturation


def _swap_quantize(cls):
    def replace(ops):
        return [cls(o.input_low, o.input_high, o.output_low, o.output_high, o.levels, o.element_type)
                if isinstance(o, post.Quantize) else o for o in ops]
    return replace


class HalfAwayRequantization(ReferenceLike):
    """Requantization rounds half AWAY from zero (C's roundf) instead of half to even."""

    name = "broken-half-away"

    def compute(self, node, inputs):
        if "post_ops" in node.attrs:
            return _with_post_ops(node, inputs, _swap_quantize(_HalfAwayQuantize))
        if node.type == "FakeQuantize" and node.attrs["output_type"] != "f32":
            op = _HalfAwayQuantize(*inputs[1:], node.attrs["levels"], node.attrs["output_type"])
            return (op.apply(np.asarray(inputs[0], np.float32)),)
        return super().compute(node, inputs)


class WrapInsteadOfSaturate(ReferenceLike):
    """Requantized codes wrap around (astype) instead of saturating at 255 / -128..127."""

    name = "broken-wrap"

    def compute(self, node, inputs):
        if "post_ops" in node.attrs:
            return _with_post_ops(node, inputs, _swap_quantize(_WrappingQuantize))
        if node.type == "FakeQuantize" and node.attrs["output_type"] != "f32":
            op = _WrappingQuantize(*inputs[1:], node.attrs["levels"], node.attrs["output_type"])
            return (op.apply(np.asarray(inputs[0], np.float32)),)
        return super().compute(node, inputs)


class PadWithCodeZero(ReferenceLike):
    """Int8Convolution pads with the code 0 instead of the activation zero point."""

    name = "broken-pad-zero"

    def compute(self, node, inputs):
        if node.type != "Int8Convolution":
            return super().compute(node, inputs)
        (pt, pl), (pb, pr) = node.attrs["pads_begin"], node.attrs["pads_end"]
        q = np.pad(inputs[0], ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=0)
        attrs = dict(node.attrs, pads_begin=(0, 0), pads_end=(0, 0))
        return get_op(node.type).compute(attrs, q, inputs[1])


class ScaleIndexOffByOne(ReferenceLike):
    """The per-channel dequantization scale of channel c is taken from channel c - 1."""

    name = "broken-scale-index"

    def compute(self, node, inputs):
        if "post_ops" not in node.attrs:
            return super().compute(node, inputs)

        def replace(ops):
            out, done = [], False
            for o in ops:
                if isinstance(o, post.Multiply) and not done and o.operand.size > 1:
                    axis = int(np.argmax(o.operand.shape))
                    o = post.Multiply(np.roll(o.operand, 1, axis=axis))
                    done = True
                out.append(o)
            return out
        return _with_post_ops(node, inputs, replace)


class BiasBeforeScale(ReferenceLike):
    """Dequantization in the wrong order: the bias Add is applied before the scale Multiply."""

    name = "broken-bias-order"

    def compute(self, node, inputs):
        if "post_ops" not in node.attrs:
            return super().compute(node, inputs)

        def replace(ops):
            ops = list(ops)
            for i in range(len(ops) - 1):
                if isinstance(ops[i], post.Multiply) and isinstance(ops[i + 1], (post.Add, post.Subtract)):
                    ops[i], ops[i + 1] = ops[i + 1], ops[i]
                    break
            return ops
        return _with_post_ops(node, inputs, replace)


class ConcatInputsSwapped(ReferenceLike):
    """Concat joins its inputs in reverse order (scales/branches mixed up)."""

    name = "broken-concat"

    def compute(self, node, inputs):
        if node.type == "Concat" and len(inputs) >= 2:
            return get_op("Concat").compute(node.attrs, *inputs[::-1])
        return super().compute(node, inputs)


class SequenceReusesOneBuffer(ReferenceLike):
    """Runs consecutive steps as sequences (the runtime's sequence contract) whose outputs share one
    buffer per shape and dtype: an output still to be read by a later step is overwritten by the
    steps in between (each kernel alone is right)."""

    name = "broken-sequence"

    def sequence(self, steps):
        def run(slots, timings):
            buffers: dict[tuple, np.ndarray] = {}
            for step in steps:
                results = step.kernel.run([slots[s] for s in step.inputs])
                for slot, value in zip(step.outputs, results):
                    value = np.asarray(value)
                    buffer = buffers.setdefault((value.shape, value.dtype.str), np.empty_like(value))
                    buffer[...] = value
                    slots[slot] = buffer
                timings.append((0, 0))
        return run


class SequenceKeepsFirstResults(ReferenceLike):
    """Sequences that compute on their first call only and give the same outputs ever after (a
    stale cache: right on the first inference, wrong on every later one with other inputs)."""

    name = "broken-stale-sequence"

    def sequence(self, steps):
        kept: dict[int, np.ndarray] = {}

        def run(slots, timings):
            for step in steps:
                if step.outputs[0] not in kept:
                    results = step.kernel.run([slots[s] for s in step.inputs])
                    kept.update(zip(step.outputs, results))
                for slot in step.outputs:
                    slots[slot] = kept[slot]
                timings.append((0, 0))
        return run


class DeclaresS16ComputesExact(ReferenceLike):
    """Declares the non-VNNI ``s16_pairs`` accumulation but computes exact sums."""

    name = "broken-declares-s16"
    accumulation = "s16_pairs"

    def compute(self, node, inputs):
        if "accumulation" in node.attrs:
            return get_op(node.type).compute(dict(node.attrs, accumulation="exact"), *inputs)
        return super().compute(node, inputs)


class DeclaresExactComputesS16(ReferenceLike):
    """Declares exact accumulation but saturates s16 pairs (vpmaddubsw without VNNI)."""

    name = "broken-declares-exact"

    def compute(self, node, inputs):
        if "accumulation" in node.attrs:
            return get_op(node.type).compute(dict(node.attrs, accumulation="s16_pairs"), *inputs)
        return super().compute(node, inputs)


def _half_up_quotient(total, divisor):
    quotient, remainder = np.divmod(total, divisor)
    return quotient + (2 * remainder >= divisor)


class AvgPoolHalfUp(ReferenceLike):
    """Int8AvgPool rounds the average half UP instead of half to even."""

    name = "broken-avgpool"

    def compute(self, node, inputs):
        if node.type == "Int8AvgPool":
            with mock.patch.object(int8_avg_pool_module, "round_half_even_quotient", _half_up_quotient):
                return super().compute(node, inputs)
        return super().compute(node, inputs)


class FakeQuantizeOrder(ReferenceLike):
    """FakeQuantize dequantizes as ``q * ((oh - ol) / (L - 1)) + ol`` (a precomputed step)."""

    name = "broken-fq-order"

    def compute(self, node, inputs):
        if node.type != "FakeQuantize" or node.attrs["output_type"] != "f32":
            return super().compute(node, inputs)
        x = np.asarray(inputs[0], np.float32)
        il, ih, ol, oh = (_fit(np.asarray(v, np.float32), x.ndim) for v in inputs[1:])
        levels = node.attrs["levels"]
        steps = np.float32(levels - 1)
        with np.errstate(all="ignore"):
            q = np.rint(((x - il) / (ih - il)) * steps)
            y = q * ((oh - ol) / steps) + ol
        expected = reference_fake_quantize(x, il, ih, ol, oh, levels)     # boundaries as the spec
        inside = ~((x <= np.minimum(il, ih)) | (x > np.maximum(il, ih)))
        return (np.where(inside, np.broadcast_to(y, x.shape), expected).astype(np.float32),)


def _registry(*classes) -> BackendRegistry:
    registry = BackendRegistry(load_entry_points=False)

    class Plugin:
        @refint8.hookimpl
        def refint8_backends(self):
            return [BackendSpec(cls.name, (lambda c: lambda options: c())(cls)) for cls in classes]

    registry.register(Plugin(), distribution="meta-tests")
    return registry


def _default_run(name: str, registry: BackendRegistry, tmp_path: Path, **kwargs):
    options = dict(registry=registry, max_examples=EXAMPLES, seed=SEED, shrink=False, repeats=0,
                   failures_dir=tmp_path / "failures")
    options.update(kwargs)
    return run(name, **options)


# Where each bug must show (unit names), and the only units where it may show.
INT8_LAYERS = {"Int8Convolution[u8]", "Int8Convolution[i8]", "Int8MatMul[u8]", "Int8MatMul[i8]",
               "Int8Add[u8/i8]", "Int8Multiply[u8/i8]", "Int8MVN[u8/i8]", "Dequantize[u8/i8/i32]"}
GRAPHS = {"graph[cnn]", "graph[branches]", "graph[mlp]"}
REQUANTIZING = INT8_LAYERS | {"FakeQuantize[quantize]", "FakeQuantize[requantize]"} | GRAPHS

CASES = [
    # (backend class, units that must fail, units that may fail)
    (HalfAwayRequantization, {"FakeQuantize[quantize]", "FakeQuantize[requantize]"}, REQUANTIZING),
    (WrapInsteadOfSaturate, {"Int8Convolution[u8]", "FakeQuantize[quantize]"}, REQUANTIZING),
    (PadWithCodeZero, {"Int8Convolution[u8]", "Int8Convolution[i8]"},
     {"Int8Convolution[u8]", "Int8Convolution[i8]"} | GRAPHS),
    (ScaleIndexOffByOne, {"Int8Convolution[u8]", "Int8MatMul[u8]"}, INT8_LAYERS | GRAPHS),
    (BiasBeforeScale, {"Int8Convolution[u8]", "Int8MatMul[u8]"}, INT8_LAYERS | GRAPHS),
    (ConcatInputsSwapped, {"Concat[f32/i32]", "Concat[u8/i8]"}, {"Concat[f32/i32]", "Concat[u8/i8]"} | GRAPHS),
    (DeclaresS16ComputesExact, {"Int8Convolution[u8]", "Int8MatMul[u8]"},
     {"Int8Convolution[u8]", "Int8Convolution[i8]", "Int8MatMul[u8]", "Int8MatMul[i8]"} | GRAPHS),
    (DeclaresExactComputesS16, {"Int8Convolution[u8]", "Int8MatMul[u8]"},
     {"Int8Convolution[u8]", "Int8Convolution[i8]", "Int8MatMul[u8]", "Int8MatMul[i8]"} | GRAPHS),
    (AvgPoolHalfUp, {"Int8AvgPool[u8/i8]"}, {"Int8AvgPool[u8/i8]"} | GRAPHS),
    (FakeQuantizeOrder, {"FakeQuantize[f32]"}, {"FakeQuantize[f32]", "FakeQuantize[requantize]"} | GRAPHS),
    (SequenceReusesOneBuffer, {"graph[branches]"}, GRAPHS),   # (chains read each output once)
    (SequenceKeepsFirstResults, GRAPHS, GRAPHS),
]


@pytest.mark.parametrize("backend, must_fail, may_fail", CASES, ids=[c[0].name for c in CASES])
def test_broken_backend_is_caught(backend, must_fail, may_fail, tmp_path):
    report = _default_run(backend.name, _registry(backend), tmp_path)
    failed = {r.unit.name for r in report.results if r.verdict is Verdict.UNEXPECTED_FAILURE}
    assert not report.ok
    assert must_fail <= failed, f"{backend.__doc__} not caught in {sorted(must_fail - failed)}"
    assert failed <= may_fail, f"false alarms: {sorted(failed - may_fail)}"
    others = {r.verdict for r in report.results if r.unit.name not in failed}
    assert others == {Verdict.EXPECTED_PASS}, [
        (r.unit.id, r.verdict, r.message) for r in report.results if r.verdict not in
        (Verdict.EXPECTED_PASS, Verdict.UNEXPECTED_FAILURE)]
    for result in report.results:
        if result.verdict is Verdict.UNEXPECTED_FAILURE:
            assert result.repro and result.files and result.counterexample


def test_a_wrong_sequence_is_named_in_the_end_to_end_failure(tmp_path):
    report = _default_run(SequenceReusesOneBuffer.name, _registry(SequenceReusesOneBuffer), tmp_path,
                          ops="graph[branches]")
    (result,) = report.results
    assert result.verdict is Verdict.UNEXPECTED_FAILURE
    assert "end to end" in result.message and "a sequence runs its steps wrong (sequences: " in result.message


def test_reference_passes_against_itself(tmp_path):
    """The oracle's own plugin, as an object (no registry), over every unit."""
    from refint8_conformance.runner import Oracle

    report = run(Oracle(), max_examples=EXAMPLES, seed=SEED, repeats=1, failures_dir=tmp_path)
    assert report.ok, [(r.unit.id, r.verdict, r.message) for r in report.results if r.verdict.bad]
    assert {r.verdict for r in report.results} == {Verdict.EXPECTED_PASS}
    kernel = report.by_id("Int8Convolution[u8]")
    assert kernel.examples == EXAMPLES and kernel.backend_ms is not None
    assert kernel.saturated is not None and kernel.saturated < 0.5


def test_declared_s16_backend_that_computes_s16_passes(tmp_path):
    """Capabilities level: a backend declaring ``s16_pairs`` is checked IN that mode (and passes)."""

    class NonVnni(ReferenceLike):
        name = "non-vnni"
        accumulation = "s16_pairs"

    report = _default_run("non-vnni", _registry(NonVnni), tmp_path, ops="Int8Convolution,Int8MatMul,graphs")
    assert report.ok and {r.verdict for r in report.results} == {Verdict.EXPECTED_PASS}
    assert all(t.capabilities.accumulation == "s16_pairs" for t in report.targets)


def test_failure_report_has_minimal_example_seed_and_replayable_case(tmp_path):
    """With shrinking on: the printed counterexample, the seed, one command, and --replay."""
    lines = []
    report = _default_run("broken-pad-zero", _registry(PadWithCodeZero), tmp_path, shrink=True,
                          ops="Int8Convolution[u8]", echo=lines.append)
    result = report.by_id("Int8Convolution[u8]")
    assert result.verdict is Verdict.UNEXPECTED_FAILURE
    text = "\n".join(lines)
    assert "minimal counterexample" in text and f"seed {SEED}" in text
    assert "pads_begin" in result.counterexample and "input_zero_point" in result.counterexample
    assert result.repro.startswith("refint8 conformance --backend broken-pad-zero --ops "
                                   "'Int8Convolution[u8]' --seed 20240607")
    json_file, npz_file = map(Path, result.files)
    saved = json.loads(json_file.read_text())
    assert saved["unit"] == "kernels::Int8Convolution[u8]" and saved["repro"] == result.repro
    assert saved["attrs"]["post_ops"]["$post_ops"] is not None and npz_file.exists()
    # the shrunk case: padding with a nonzero zero point is what it needs, and it kept that
    assert any(saved["attrs"]["pads_begin"] + saved["attrs"]["pads_end"])
    assert any(saved["attrs"]["input_zero_point"])
    # --replay re-runs exactly that case: still failing on the broken backend, passing on the oracle
    replayed = _default_run("broken-pad-zero", _registry(PadWithCodeZero), tmp_path,
                            replay_files=[str(json_file)])
    assert [r.verdict for r in replayed.results] == [Verdict.UNEXPECTED_FAILURE]
    from refint8_conformance.runner import Oracle

    fixed = run(Oracle(), replay_files=[str(json_file)], failures_dir=None)
    assert [r.verdict for r in fixed.results] == [Verdict.EXPECTED_PASS]


def test_xfails_and_skips_files(tmp_path):
    xfails = tmp_path / "xfails.txt"
    xfails.write_text("# known bugs\nInt8Convolution[u8]  # issue 1: pads with 0\nConcat[f32  # not a bug\n"
                      "NoSuchOp[  # stale entry\n")
    skips = tmp_path / "skips.txt"
    skips.write_text("graphs::  # slow here\n")
    with pytest.warns(UserWarning, match="NoSuchOp"):
        report = _default_run("broken-pad-zero", _registry(PadWithCodeZero), tmp_path,
                              xfails=xfails, skips=skips, ops="Int8Convolution,Concat,graphs")
    verdicts = {r.unit.name: r.verdict for r in report.results}
    assert verdicts["Int8Convolution[u8]"] is Verdict.EXPECTED_FAILURE
    assert verdicts["Int8Convolution[i8]"] is Verdict.UNEXPECTED_FAILURE
    assert verdicts["Concat[f32/i32]"] is Verdict.UNEXPECTED_PASS
    assert verdicts["graph[cnn]"] is Verdict.SKIPPED
    assert any("NoSuchOp" in w for w in report.warnings)


def test_internal_error_and_not_supported(tmp_path):
    class Crashing(ReferenceLike):
        name = "broken-crash"

        def kernel(self, node):
            if node.type == "Relu":
                return Kernel(lambda inputs: [inputs[0][None][7]], "crash_any")   # IndexError
            if node.type == "Int8MatMul":
                return None
            return super().kernel(node)

    report = _default_run("broken-crash", _registry(Crashing), tmp_path,
                          ops="Relu,Int8MatMul,capabilities")
    verdicts = {r.unit.name: r.verdict for r in report.results}
    assert verdicts["Relu[f32]"] is Verdict.INTERNAL_ERROR
    assert verdicts["Int8MatMul[u8]"] is Verdict.NOT_SUPPORTED
    assert verdicts["capabilities[declared]"] is Verdict.EXPECTED_PASS
    assert "IndexError" in report.by_id("Relu[f32]").message


# -- an out-of-tree backend, installed with pip, through the command line ----------------------------


MINIMAL_MODULE = '''\
"""A minimal out-of-tree backend: Relu (its own) and Int8Convolution (the reference's)."""
import numpy as np

import refint8
from refint8.backend import Backend, BackendSpec, Capabilities, Kernel
from refint8.int8.convolution import Int8Convolution


class MinimalBackend(Backend):
    name = "minimal"

    def capabilities(self):
        return Capabilities(summary="Relu, Int8Convolution")

    def kernel(self, node):
        if node.type == "Relu" and node.inputs[0].dtype == np.float32:
            return Kernel(lambda inputs: [np.asarray(np.where(inputs[0] > 0, inputs[0],
                          np.where(np.isnan(inputs[0]), inputs[0], np.float32(0))), np.float32)],
                          "minimal_any")
        if node.type == "Int8Convolution":
            attrs = node.attrs
            return Kernel(lambda inputs: Int8Convolution.compute(attrs, *inputs), "minimal_any")
        return None


@refint8.hookimpl
def refint8_backends():
    return [BackendSpec("minimal", lambda options: MinimalBackend(), priority=1)]
'''


def test_out_of_tree_backend_installed_with_pip(tmp_path):
    source = write_package(tmp_path / "src", "refint8-minimal", "0.0.1", "minimal",
                           "refint8_minimal_backend", MINIMAL_MODULE)
    site = tmp_path / "site"
    pip = pip_install(site, source)
    output, _ = pip.communicate(timeout=120)
    assert pip.returncode == 0, output
    assert (site / "refint8_minimal-0.0.1.dist-info" / "entry_points.txt").exists()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    env.pop("REFINT8_LOAD_PLUGINS", None)
    script = Path(sys.executable).with_name("refint8")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "refint8.cli"]
    report_file = tmp_path / "report.json"
    result = subprocess.run(
        [*command, "conformance", "--backend", "minimal", "--max-examples", "8", "--seed", "7",
         "--repeats", "0", "--json", str(report_file), "--failures-dir", str(tmp_path / "failures")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_file.read_text())
    verdicts = {r["id"]: r["verdict"] for r in report["results"]}
    passing = {k for k, v in verdicts.items() if v == "EXPECTED_PASS"}
    graphs = {k for k in verdicts if k.startswith("graphs::")}
    assert passing - graphs == {"capabilities::capabilities[declared]", "kernels::Relu[f32]",
                                "kernels::Int8Convolution[u8]", "kernels::Int8Convolution[i8]"}, verdicts
    assert "graphs::graph[cnn]" in passing          # its convolutions ran on the plugin
    assert {v for k, v in verdicts.items() if k not in passing} == {"NOT_SUPPORTED"}
    assert "kernels::Relu[u8/i8]" in verdicts and verdicts["kernels::Relu[u8/i8]"] == "NOT_SUPPORTED"
    assert "EXPECTED_PASS" in result.stdout and "NOT_SUPPORTED" in result.stdout

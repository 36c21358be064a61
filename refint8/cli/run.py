"""``refint8 demo`` and ``refint8 run``: run a model and show its outputs and counters."""

from __future__ import annotations

import argparse

from ._models import _compile_for_cli, _load_inputs, _load_model, _random_inputs, _value_stats


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..runtime import compile_model

    model = _load_model(args.model)
    compiled = compile_model(model, backend=args.backend)
    inputs = _random_inputs(compiled.inputs)
    # One inference first, out of the counters: it pays the process's one-time costs (worker
    # threads, first touch of buffers, the AMX state: the simd demo's first stem took 3 ms, the
    # next 25 us), which would otherwise dominate the means.
    compiled.infer(inputs)
    compiled.reset_perf_counts()
    for _ in range(args.iterations):
        outputs = compiled.infer(inputs)
    for name, value in outputs.items():
        print(f"model '{model.name}' on backend '{compiled.backend_name}': output '{name}' "
              f"{list(value.shape)}, mean {float(value.mean()):.6f}")
    print(compiled.format_perf_counts())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    compiled = _compile_for_cli(args)
    if args.inputs:
        inputs = _load_inputs(args.inputs, compiled.inputs)
    else:
        inputs = _random_inputs(compiled.inputs, seed=args.seed)
    outputs = compiled.infer(inputs)
    print(f"model '{compiled.source.name}' on backend '{compiled.backend_name}'")
    for name, value in outputs.items():
        stats = _value_stats(value)
        print(f"output '{name}': shape {list(value.shape)}, dtype {value.dtype}, {stats}")
    if args.perf_counts:
        print(compiled.format_perf_counts())
    return 0

"""The ``refint8`` command line: ``backends``, ``demo``, ``explain``, ``saturation``, ``conformance``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from .errors import Refint8Error


def _cmd_backends(args: argparse.Namespace) -> int:
    from .registry import default_registry

    registry = default_registry()
    rows = [("name", "version", "distribution", "priority", "usable", "capabilities")]
    for name in registry.names():
        info = registry.info(name)
        usable, reason = registry.usable(name)
        try:
            caps = registry.create(name).capabilities()
            cap_text = f"accumulation={caps.accumulation}; isa={'/'.join(caps.isa_variants)}"
            if caps.summary:
                cap_text += f"; {caps.summary}"
        except Refint8Error as exc:
            cap_text = f"(failed: {exc})"
        rows.append((name, info.version, info.distribution, str(info.spec.priority),
                     "yes" if usable else f"no: {reason}", cap_text))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    for warning in registry.load_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _load_model(name: str):
    from .models.zoo import builtin_model

    return builtin_model(name)


def _random_inputs(input_types, seed: int = 1) -> dict[str, np.ndarray]:
    """Random inputs for ``{name: TensorType}``: standard normal floats, uniform integer codes."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, t in input_types.items():
        if t.dtype == np.float32:
            inputs[name] = rng.standard_normal(t.shape, dtype=np.float32)
        else:
            info = np.iinfo(t.dtype)
            inputs[name] = rng.integers(info.min, info.max, t.shape, dtype=t.dtype, endpoint=True)
    return inputs


def _cmd_demo(args: argparse.Namespace) -> int:
    from .runtime import compile_model

    model = _load_model(args.model)
    compiled = compile_model(model, backend=args.backend)
    inputs = _random_inputs(compiled.inputs)
    for _ in range(args.iterations):
        outputs = compiled.infer(inputs)
    for name, value in outputs.items():
        print(f"model '{model.name}' on backend '{compiled.backend_name}': output '{name}' "
              f"{list(value.shape)}, mean {float(value.mean()):.6f}")
    print(compiled.format_perf_counts())
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .explain import format_precision_report, precision_report
    from .runtime import compile_model

    compiled = compile_model(_load_model(args.model), backend=args.backend)
    print(format_precision_report(precision_report(compiled)))
    return 0


def _cmd_saturation(args: argparse.Namespace) -> int:
    from .saturation import format_saturation_report, saturation_report

    model = _load_model(args.model)
    inputs = _random_inputs(model.input_types, seed=args.seed)
    print(format_saturation_report(saturation_report(model, inputs)))
    return 0


CONFORMANCE_MISSING = ("the conformance suite is not installed; install it with "
                       "'pip install conformance/' from the refint8 repository")


def _cmd_conformance(argv: Sequence[str]) -> int:
    """Dispatch to the separately installed suite (imported lazily: it needs Hypothesis)."""
    try:
        from refint8_conformance.cli import main as conformance_main
    except ImportError as exc:
        missing = getattr(exc, "name", "") or ""
        if missing.split(".")[0] not in ("refint8_conformance", "hypothesis"):
            raise
        print(f"error: {CONFORMANCE_MISSING} ({exc})", file=sys.stderr)
        return 2
    return conformance_main(list(argv))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refint8", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backends", help="list installed backends and whether they run here")
    p.set_defaults(func=_cmd_backends)

    p = sub.add_parser("demo", help="run the demo model and print its performance counters")
    p.add_argument("model", nargs="?", default="inception",
                   help="built-in model: inception (default), small_cnn, resnet50")
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.add_argument("--iterations", type=_positive_int, default=3)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("explain", help="which layers run in int8, and why the others do not")
    p.add_argument("model", help="built-in model: inception, small_cnn, resnet50")
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("saturation", help="accumulators that would differ on a CPU without VNNI")
    p.add_argument("model", help="built-in model: inception, small_cnn, resnet50")
    p.add_argument("--seed", type=int, default=1, help="seed of the random input")
    p.set_defaults(func=_cmd_saturation)

    p = sub.add_parser("conformance", add_help=False,
                       help="check a backend against the reference (refint8 conformance --help)")
    p.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=lambda args: _cmd_conformance(args.argv))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conformance"]:  # the suite parses its own options (and --help)
        return _cmd_conformance(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Refint8Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``refint8`` command line: ``backends``, ``demo``, ``run``, ``bench``, ``explain``,
``saturation``, ``conformance``. One module per group of commands; this one builds the parser."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import Refint8Error
from .bench import _cmd_bench, _Progress, latency_summary
from .inspect import _cmd_backends, _cmd_explain, _cmd_saturation
from .run import _cmd_demo, _cmd_run


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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
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
    p.add_argument("--iterations", type=_positive_int, default=3,
                   help="inferences the counters average, after one warm-up inference (default 3)")
    p.set_defaults(func=_cmd_demo)

    model_help = ("model file (.xml OpenVINO IR with its .bin, .onnx) or built-in model: "
                  "inception, small_cnn, resnet50")
    p = sub.add_parser("run", help="run a model once and print its outputs (and counters)")
    p.add_argument("model", help=model_help)
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.add_argument("--inputs", metavar="FILE.npz",
                   help="inputs by parameter name (or arr_0, arr_1, ... in order); default: random")
    p.add_argument("--perf-counts", action="store_true", help="print the per-layer counter table")
    p.add_argument("--seed", type=int, default=1, help="seed of the random inputs")
    p.set_defaults(func=_cmd_run, threads=None)

    p = sub.add_parser("bench", help="measure latency like benchmark_app (median, p90, p99, ...)")
    p.add_argument("model", help=model_help)
    p.add_argument("--backend", help="backend name (default: from configuration)")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--iterations", type=_positive_int, help="measured inferences (default 20)")
    limit.add_argument("--time", type=_positive_float, metavar="S", help="measure for S seconds")
    p.add_argument("--threads", type=_positive_int, help="threads for the backend")
    p.add_argument("--json", metavar="FILE", help="write the summary and per-layer means as JSON")
    p.add_argument("--csv", metavar="FILE", help="write the per-layer mean counters as CSV")
    p.add_argument("--seed", type=int, default=1, help="seed of the random inputs")
    p.set_defaults(func=_cmd_bench)

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


__all__ = ["main", "build_parser", "latency_summary", "_Progress"]


if __name__ == "__main__":
    raise SystemExit(main())

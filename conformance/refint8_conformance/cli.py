"""``refint8 conformance``: run the conformance suite against a backend.

Exit status: 0 when no unit failed unexpectedly, 1 when one did (UNEXPECTED_FAILURE,
INTERNAL_ERROR, UNEXPECTED_PASS, SUITE_ERROR), 2 for a usage error or an unknown backend.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from refint8.errors import Refint8Error

#: Examples per kernel unit of the default run (a few minutes for a NumPy backend on 2 cores).
DEFAULT_EXAMPLES = 100


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^32), got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", help="backend name (default: from configuration: REFINT8_BACKEND, "
                                     "refint8.toml, pyproject.toml)")
    p.add_argument("--max-examples", type=_positive, default=DEFAULT_EXAMPLES,
                   help=f"Hypothesis examples per kernel unit (default {DEFAULT_EXAMPLES})")
    p.add_argument("--graph-examples", type=_positive, default=None,
                   help="examples per graph unit (default max(3, max-examples / 5))")
    p.add_argument("--seed", type=_seed, default=None,
                   help="Hypothesis seed (default: random, printed in the report)")
    p.add_argument("--isa", help="ISA variant passed to the backend (BackendOptions.isa); default: "
                                 "every variant the backend declares")
    p.add_argument("--threads", type=_positive, default=None, help="threads passed to the backend")
    p.add_argument("--ops", help="units to run: comma list of op names, unit names "
                                 "('Int8Convolution[u8]'), levels (kernels, graphs, capabilities) "
                                 "or regular expressions")
    p.add_argument("--skips", metavar="FILE", help="test-id substrings to skip ('# reason' comments)")
    p.add_argument("--xfails", metavar="FILE", help="test-id substrings expected to fail")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--failures-dir", metavar="DIR", default="conformance-failures",
                   help="where failing cases are saved (default conformance-failures/)")
    p.add_argument("--replay", metavar="FILE", action="append", default=[],
                   help="re-run a saved case (.json) instead of generating examples; repeatable")
    p.add_argument("--no-shrink", action="store_true",
                   help="report the first failing example without shrinking it (faster)")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats per unit (median; 0: no timing)")
    p.add_argument("--list", action="store_true", help="list the units and exit")
    p.add_argument("--tolerances", action="store_true", help="print the tolerance table and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refint8 conformance",
                                description="Check a refint8 backend against the reference.")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import report as reporting
    from .runner import _stdout_echo, run
    from .tolerances import format_table
    from .units import UNITS, select

    if args.tolerances:
        print(format_table())
        return 0
    if args.list:
        for unit in select(UNITS, args.ops):
            print(f"{unit.id:<48} {unit.precision:<8} {unit.doc}")
        return 0
    if not select(UNITS, args.ops) and not args.replay:
        print(f"error: --ops {args.ops!r} selects no unit (see 'refint8 conformance --list')",
              file=sys.stderr)
        return 2
    backend = args.backend
    if backend is None:
        from refint8.config import load_config

        backend = load_config().backend
        if backend is None:
            print("error: no backend given: pass --backend NAME (see 'refint8 backends')", file=sys.stderr)
            return 2
    try:
        report = run(backend, isa=args.isa, threads=args.threads, ops=args.ops,
                     max_examples=args.max_examples, graph_examples=args.graph_examples,
                     seed=args.seed, shrink=not args.no_shrink, repeats=args.repeats,
                     skips=args.skips, xfails=args.xfails, failures_dir=args.failures_dir,
                     replay_files=args.replay, echo=None if args.quiet else _stdout_echo)
    except Refint8Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(reporting.format_table(report))
    print()
    print(reporting.format_summary(report))
    if args.json:
        reporting.write_json(report, args.json)
        print(f"report written to {args.json}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

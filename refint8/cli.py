"""The ``refint8`` command line: ``backends``, ``demo``."""

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


def _cmd_demo(args: argparse.Namespace) -> int:
    from .models import small_fq_cnn
    from .runtime import compile_model

    model = small_fq_cnn(seed=0)
    compiled = compile_model(model, backend=args.backend)
    image = np.random.default_rng(1).random(compiled.inputs["input"].shape, dtype=np.float32)
    for _ in range(args.iterations):
        outputs = compiled.infer({"input": image})
    result = next(iter(outputs.values()))
    print(f"model '{model.name}' on backend '{compiled.backend_name}': output {list(result.shape)}, "
          f"mean {float(result.mean()):.6f}")
    print(compiled.format_perf_counts())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refint8", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backends", help="list installed backends and whether they run here")
    p.set_defaults(func=_cmd_backends)

    p = sub.add_parser("demo", help="run the demo model and print its performance counters")
    p.add_argument("--backend", help="backend name (default: from configuration)")
    p.add_argument("--iterations", type=int, default=3)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Refint8Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""``refint8 backends``, ``explain`` and ``saturation``: what is installed and how a model runs."""

from __future__ import annotations

import argparse
import sys

from ..errors import Refint8Error
from ._models import _load_model, _random_inputs


def _cmd_backends(args: argparse.Namespace) -> int:
    from ..registry import default_registry

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


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..explain import format_precision_report, precision_report
    from ..runtime import compile_model

    compiled = compile_model(_load_model(args.model), backend=args.backend)
    print(format_precision_report(precision_report(compiled)))
    return 0


def _cmd_saturation(args: argparse.Namespace) -> int:
    from ..saturation import format_saturation_report, saturation_report

    model = _load_model(args.model)
    inputs = _random_inputs(model.input_types, seed=args.seed)
    print(format_saturation_report(saturation_report(model, inputs)))
    return 0

"""Skips and xfails files, as data-apis/array-api-tests has them.

One entry per line: a test-id SUBSTRING, optionally followed by ``#`` and the reason (an issue
link, say). Blank lines and lines starting with ``#`` are ignored. An entry matches every unit
whose id (``kernels::Int8Convolution[u8]``) or id with ISA (``kernels::Int8Convolution[u8]@avx2``)
contains it. Skipped units are not run; xfailed units run, and their failure is
EXPECTED_FAILURE (their pass is UNEXPECTED_PASS). An entry that matches no unit produces a warning,
so stale entries do not accumulate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    pattern: str
    reason: str
    source: str
    line: int
    used: bool = False


def parse(path: str | Path) -> list[Entry]:
    entries = []
    for number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        text, _, reason = raw.partition("#")
        text = text.strip()
        if text:
            entries.append(Entry(text, reason.strip(), str(path), number))
    return entries


@dataclass
class Expectations:
    skips: list[Entry] = field(default_factory=list)
    xfails: list[Entry] = field(default_factory=list)

    @classmethod
    def load(cls, skips: str | Path | None = None, xfails: str | Path | None = None) -> "Expectations":
        return cls(parse(skips) if skips else [], parse(xfails) if xfails else [])

    def lookup(self, unit_id: str, isa: str) -> tuple[str, str] | None:
        """``("skip" | "xfail", reason)`` for the first matching entry (skips first), or None."""
        full = f"{unit_id}@{isa}"
        for kind, entries in (("skip", self.skips), ("xfail", self.xfails)):
            for entry in entries:
                if entry.pattern in full:
                    entry.used = True
                    return kind, entry.reason
        return None

    def mark_seen(self, unit_id: str, isa: str) -> None:
        """Mark entries matching a unit that was filtered out (``--ops``) as used."""
        full = f"{unit_id}@{isa}"
        for entry in self.skips + self.xfails:
            if entry.pattern in full:
                entry.used = True

    def unmatched_warnings(self) -> list[str]:
        messages = []
        for kind, entries in (("skips", self.skips), ("xfails", self.xfails)):
            for entry in entries:
                if not entry.used:
                    message = (f"{kind} entry {entry.pattern!r} ({entry.source}:{entry.line}) matches "
                               "no test id")
                    messages.append(message)
                    warnings.warn(message, UserWarning, stacklevel=2)
        return messages

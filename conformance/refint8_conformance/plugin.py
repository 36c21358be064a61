"""pytest plugin of the suite: ``pytest --pyargs refint8_conformance --backend NAME``.

Registered through the ``pytest11`` entry point, so its options exist in every pytest session of
an environment where refint8-conformance is installed (they do nothing unless the suite's tests,
``refint8_conformance/test_conformance.py``, are collected). Without the entry point (a source
checkout on ``PYTHONPATH``) use ``pytest -p refint8_conformance.plugin --pyargs refint8_conformance``.

Options (group ``refint8-conformance``): ``--backend`` (default ``$REFINT8_BACKEND``), ``--isa``,
``--ops``, ``--max-examples``, ``--conformance-seed``, ``--skips-file``, ``--xfails-file``,
``--failures-dir``, ``--no-shrink``. Each unit is one test, ``test_unit[<unit id>]``; its verdict
maps onto pytest outcomes: NOT_SUPPORTED and SKIPPED skip, EXPECTED_FAILURE xfails, and the bad
verdicts fail with the minimal counterexample and the reproduction command.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("refint8-conformance", "refint8 backend conformance suite")
    group.addoption("--backend", default=os.environ.get("REFINT8_BACKEND"),
                    help="backend under test (default: $REFINT8_BACKEND)")
    group.addoption("--isa", default=None, help="ISA variant passed to the backend")
    group.addoption("--ops", default=None, help="units to run (comma list / regex, as the CLI)")
    group.addoption("--max-examples", type=int, default=100, help="examples per kernel unit")
    group.addoption("--conformance-seed", type=int, default=None, help="Hypothesis seed")
    group.addoption("--skips-file", default=None, help="test-id substrings to skip")
    group.addoption("--xfails-file", default=None, help="test-id substrings expected to fail")
    group.addoption("--failures-dir", default="conformance-failures", help="saved failing cases")
    group.addoption("--no-shrink", action="store_true", help="do not shrink counterexamples")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ops = config.getoption("--ops")
    if not ops:
        return
    from refint8_conformance.units import UNITS, select

    chosen = {u.id for u in select(UNITS, ops)}
    session = _Session.get(config)
    for unit in UNITS:            # skips/xfails entries of deselected units are not stale
        if unit.id not in chosen:
            session.expectations.mark_seen(unit.id, config.getoption("--isa") or "any")
    keep, drop = [], []
    for item in items:
        unit = getattr(item, "callspec", None) and item.callspec.params.get("unit")
        (drop if unit is not None and unit.id not in chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _collecting_suite(config: pytest.Config) -> bool:
    return any("refint8_conformance" in str(arg) for arg in config.args)


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _collecting_suite(config):
        return None
    session = _Session.get(config)
    return (f"refint8-conformance: backend {config.getoption('--backend')!r}, seed {session.seed}, "
            f"{config.getoption('--max-examples')} examples per kernel unit")


class _Session:
    """The resolved backend and options, shared by every test of the session."""

    KEY = pytest.StashKey["_Session"]()

    def __init__(self, config: pytest.Config) -> None:
        from refint8_conformance.expectations import Expectations
        from refint8_conformance.runner import Options, default_seed

        self.config = config
        seed = config.getoption("--conformance-seed")
        self.seed = default_seed() if seed is None else seed
        self.options = Options(max_examples=config.getoption("--max-examples"), seed=self.seed,
                               shrink=not config.getoption("--no-shrink"),
                               failures_dir=config.getoption("--failures-dir"))
        self.expectations = Expectations.load(skips=config.getoption("--skips-file"),
                                              xfails=config.getoption("--xfails-file"))
        self._target = None

    @classmethod
    def get(cls, config: pytest.Config) -> "_Session":
        if cls.KEY not in config.stash:
            config.stash[cls.KEY] = cls(config)
        return config.stash[cls.KEY]

    @property
    def target(self):
        if self._target is None:
            from refint8_conformance.runner import resolve_targets

            backend = self.config.getoption("--backend")
            if not backend:
                raise pytest.UsageError("refint8-conformance: pass --backend NAME (or set "
                                        "REFINT8_BACKEND); 'refint8 backends' lists them")
            self._target = resolve_targets(backend, isa=self.config.getoption("--isa"))[-1]
        return self._target


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> _Session:
    return _Session.get(request.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _Session.KEY in config.stash and _collecting_suite(config):
        config.stash[_Session.KEY].expectations.unmatched_warnings()

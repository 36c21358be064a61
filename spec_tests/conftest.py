"""Shared test configuration: Hypothesis profiles, and the simd backend's full thread teams.

``ci`` (the default, and what CI uses): derandomized, bounded example counts, no deadline (the
machine is shared, timing is noisy). ``dev``: random, more examples. Select with
``HYPOTHESIS_PROFILE=dev``. On failure Hypothesis prints the falsifying example and, with
``print_blob``, the ``@reproduce_failure`` line that replays it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The simd backend drops to one thread while other processes keep the CPUs busy (r8_team,
# backends/simd/README.md); a test asking for 2 threads must get them whatever else runs (a CI
# host, a build beside the tests), or its 2-thread cases silently test the 1-thread code: a mutant
# packing one row too few on 2 threads passed test_1x1_inputs_pack_as_one_run_a_plane during a
# build. Set before the backend's library first reads it.
os.environ.setdefault("REFINT8_SIMD_ADAPTIVE", "0")

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001 (pytest hook)
    """After a failing test, print the command that reruns exactly it with the same profile.

    The ``ci`` profile is derandomized, so the same command replays the same examples; Hypothesis
    also prints the falsifying example and a ``@reproduce_failure`` blob (``print_blob``).
    """
    if report.when == "call" and report.failed:
        profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
        report.sections.append((
            "reproduce",
            f"HYPOTHESIS_PROFILE={profile} .venv/bin/python -m pytest '{report.nodeid}'",
        ))

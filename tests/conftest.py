"""Shared test configuration: hypothesis profiles and floating-point strictness.

Profiles
--------
``ci``        the default: derandomized (the same examples on every run and machine),
              no deadline, 150 examples per property.
``thorough``  randomized, 3,000 examples per property, for local runs:
              ``HYPOTHESIS_PROFILE=thorough python -m pytest``.
``dev``       randomized, 60 examples, for quick local iteration.
"""
import os
import signal
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# The shared checks of the derivation tests report their operands on failure, as a test's own do.
pytest.register_assert_rewrite("derivation_helpers")

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=150,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=3000,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=60, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A test run started in the background of a non-interactive shell ignores Ctrl-C, and the
# commands the tests start would inherit that (Python installs no KeyboardInterrupt handler
# for a signal ignored at startup). The interrupt tests send SIGINT as a terminal does, so
# the run takes Python's default handler back: a handled signal is reset to the default
# in the children it starts, where an ignored one would stay ignored.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _strict_floating_point():
    """Every test runs with overflow, division by zero and invalid operations raising.

    Underflow to zero is allowed: it is the correctly rounded result for the tails.
    """
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        yield


@pytest.fixture
def mp60():
    """mpmath at 60 significant digits for the test (the derivation checks)."""
    import mpmath

    with mpmath.workdps(60):
        yield


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory):
    """The whole reference-vectors document written to a file (the worked examples read it)."""
    from astra_np.check import vectors

    path = tmp_path_factory.mktemp("vectors") / "astra_vectors.json"
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        path.write_text(vectors.dumps(vectors.generate("all", check=False)), encoding="ascii")
    return str(path)


@pytest.fixture
def spawn():
    """``subprocess.Popen`` in a session of its own; at teardown every such session is
    killed, so that a failing test does not leave a command or its workers running."""
    started = []

    def popen(*args, **kwargs):
        proc = subprocess.Popen(*args, start_new_session=True, **kwargs)
        started.append(proc)
        return proc

    yield popen
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # the session has ended
            pass
        proc.communicate()

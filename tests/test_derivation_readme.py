r"""Checks of ``derivations/README.md``: the structure of every derivation file (each cites
the paper, names its implementation and its tests, all of which exist) and the float64 limits.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import math
import re

import numpy as np
import pytest
from scipy.special import expit

from derivation_helpers import (
    DERIV,
    DOC_FILES,
    ROOT,
    assert_derivation_file_structure,
    assert_named_objects_exist,
    mpmath,
)


@pytest.mark.parametrize("name", DOC_FILES)
def test_derivation_files_structure(name):
    assert_derivation_file_structure(name)


@pytest.mark.parametrize("dotted", [
    "astra_np.core.activation.no_such_function",   # a function renamed away
    "astra_np.activation.astra",                    # a module moved away
    "astra_np.core.nowhere.astra",                  # a module that never existed
])
def test_a_derivation_naming_a_missing_function_fails(dotted):
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        assert_named_objects_exist("fake.md", f"**Implemented by:** `{dotted}`.")
    assert_named_objects_exist("real.md", "**Implemented by:** `astra_np.core.activation.astra`.")


def test_code_references_to_derivations_exist():
    # Every "derivations/<file>.md" that a docstring in astra_np points to exists.
    refs = set()
    for path in (ROOT / "astra_np").rglob("*.py"):
        refs.update(re.findall(r"derivations/(\w+\.md)", path.read_text(encoding="utf-8")))
    assert refs, "no docstring points to a derivation file"
    for name in refs:
        assert (DERIV / name).is_file(), f"a docstring points to missing derivations/{name}"


def test_readme_float64_limits():
    assert 2.0 ** -53 == np.finfo(np.float64).eps / 2  # unit roundoff
    assert abs(54 * math.log(2) - 37.43) < 0.005 and abs(53 * math.log(2) - 36.74) < 0.005
    with mpmath.workdps(40):  # correctly rounded sigmoid
        assert float(1 / (1 + mpmath.exp(-37.42))) < 1.0 and float(1 / (1 + mpmath.exp(-37.45))) == 1.0
    assert expit(36.7) < 1.0 and expit(36.8) == 1.0  # 1/(1 + e^{-x}) rounds 1 + e^{-x} first
    assert 2.0 ** -1075 == 0.0 and 2.0 ** -1074 > 0.0  # 2^-1075 is a tie, rounds to even (0)
    assert abs(-1075 * math.log(2) + 745.13) < 0.005
    with mpmath.workdps(40):  # correctly rounded: subnormal down to -745.13
        assert float(mpmath.exp(-745.1)) > 0.0 and float(mpmath.exp(-745.2)) == 0.0
    assert expit(-709.7) > 0.0 and expit(-709.8) == 0.0  # SciPy flushes the subnormal range
    assert abs(math.log(np.finfo(np.float64).max) - 709.78) < 0.005

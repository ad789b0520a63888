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


# --- One notation (the table "Notation used throughout" of derivations/README.md) -------

#: Symbols the notation table must define, one row each (first cell of a row).
NOTATION_SYMBOLS = [
    r"x", r"b", r"\beta", r"\eta_b", r"\tau", r"\hat y", r"\hat\ell", r"z", r"p", r"\ell", r"y",
    r"t", r"u", r"s", r"v", r"g(t)", r"N", r"n", r"m_0", r"m_1", r"TP", r"FP", r"FN", r"TN",
    r"FNR", r"FPR", r"e-ratio", r"IR", r"L", r"J", r"G", r"h", r"k_+", r"k_-", r"E",
    r"\Delta", r"R", r"P", r"Q",
]

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*?\$", re.S)


def _bare(symbol):
    """A math symbol standing alone: not part of a longer name, a command or a hat."""
    return re.compile(r"(?<![A-Za-z\\])(?<!\\hat )" + symbol + r"(?![A-Za-z])")


#: Symbols no longer used for a meaning, per derivation file (kernel.md has its own table):
#: (files, pattern inside math, the symbol to use instead).
DEPRECATED = [
    ("*", _bare("l"), r"\ell (logit of p) or \hat\ell (logit of \hat y)"),
    (("astra.md", "threshold.md", "z_transform.md", "beta_to_b.md"), _bare("y"),
     r"\hat y for the ASTra output (y is the label)"),
    (("astra.md", "threshold.md"), re.compile(r"(?<!\\hat)\\ell(?![A-Za-z])"), r"\hat\ell, the logit of \hat y"),
    (("gmn.md", "f1.md", "mcc.md", "count_loss_template.md"), _bare("z"),
     "p, the probability the loss is handed (z or \\hat y)"),
    (("mcc.md",), _bare("N"), r"\Delta for MCC's numerator (N is ASTra's, astra.md)"),
    (("mcc.md",), _bare("S"), r"R for MCC's denominator (S(v) is a series of astra.md)"),
    (("f1.md", "count_loss_template.md"), _bare("D"), "E for the F-score denominator (D is z_transform.md's)"),
]


def notation_offences(name, text):
    """Every use of a deprecated symbol in the math of derivation file ``name``."""
    found = []
    for segment in _MATH.findall(text):
        for files, pattern, instead in DEPRECATED:
            if (files == "*" or name in files) and pattern.search(segment):
                found.append(f"{name}: {segment.strip()[:60]!r}: use {instead}")
    return found


def notation_table_symbols(readme_text):
    """First cells of the rows of the notation section, without ``$``, split at commas."""
    section = readme_text.split("## Notation used throughout", 1)[1].split("\n## ", 1)[0]
    symbols = []
    for line in section.splitlines():
        cell = line.split("|")[1].strip() if line.startswith("| ") else ""
        if cell and cell != "Symbol":
            symbols += [part.strip() for part in cell.replace("$", "").split(",")]
    return symbols


def test_notation_table_lists_every_symbol_once():
    symbols = notation_table_symbols((DERIV / "README.md").read_text(encoding="utf-8"))
    missing = [s for s in NOTATION_SYMBOLS if s not in symbols]
    assert not missing, f"derivations/README.md notation table has no row for {missing}"
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    assert not twice, f"symbols with two rows (two meanings) in the notation table: {twice}"


@pytest.mark.parametrize("name", [n for n in DOC_FILES if n != "README.md"] + ["README.md"])
def test_derivations_use_one_notation(name):
    offences = notation_offences(name, (DERIV / name).read_text(encoding="utf-8"))
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("name", ["head.md", "gmn.md", "f1.md", "mcc.md", "bce.md", "count_loss_template.md"])
def test_loss_derivations_write_the_logit_as_ell(name):
    text = (DERIV / name).read_text(encoding="utf-8")
    assert any(re.search(r"\\ell(?![A-Za-z])", seg) for seg in _MATH.findall(text)), name


@pytest.mark.parametrize("name, wrong, right", [
    ("gmn.md", r"with $p_i = \sigma(l_i)$", r"with $p_i = \sigma(\ell_i)$"),
    ("astra.md", r"$\partial y/\partial x$", r"$\partial\hat y/\partial x$"),
    ("astra.md", r"$\ell = \log\operatorname{expm1}(s)$", r"$\hat\ell = \log\operatorname{expm1}(s)$"),
    ("f1.md", r"$\partial J/\partial\ell_i = k_+ z_i(1 - z_i)$", r"$\partial J/\partial\ell_i = k_+ p_i(1 - p_i)$"),
    ("mcc.md", r"$MCC = N/S$", r"$MCC = \Delta/R$"),
])
def test_notation_check_catches_a_deprecated_symbol(name, wrong, right):
    assert notation_offences(name, wrong)
    assert not notation_offences(name, right)

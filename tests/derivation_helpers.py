r"""Shared machinery of the derivation checks: ``tests/test_derivation_<name>.py`` checks
every closed form stated in ``derivations/<name>.md``.

Three kinds of check, mirroring the derivation files:

* symbolic (SymPy): differentiate the paper's definition, subtract the closed form the
  derivation states, and simplify to 0; where ``simplify`` is slow or inconclusive the
  difference is evaluated at random rational points with 50 significant digits;
* numeric (mpmath, 60 digits and more where a formula cancels): the float64 transcription
  of each stable form is compared with the exact value in the tails, and the naive form is
  shown to fail there, with the numbers quoted in the derivation files;
* code (astra_np): the function each derivation names (its "Implemented by" line) is
  compared with the exact closed form, so that the documents and the code cannot drift.

Tolerances, unless a comment says otherwise: a number quoted in a derivation file is
compared to the digits quoted; a float64 result to a few units of the unit roundoff
2^-53 = 1.1e-16 (written 2e-16 to 4e-16), times the condition number the derivation
states next to it (e.g. max(1, b|x|) for y); the package's targets are 2e-15 max(1, |logit|)
absolute for ``astra_logit`` and 1e-12 relative for every derivative; mpmath against mpmath
at the 50-60 digit working precision uses bounds far below 1e-16 (1e-20 to 1e-50); results
below the smallest normal float64 (2.2e-308) need only have underflowed.
"""
import ast
import importlib
import math
import pathlib
import random
import re

import pytest

sp = pytest.importorskip("sympy")
mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp

ROOT = pathlib.Path(__file__).resolve().parents[1]
DERIV = ROOT / "derivations"
#: Every derivation file (kernel.md has its own structure test, in test_derivation_kernel.py).
DOC_FILES = sorted(p.name for p in DERIV.glob("*.md") if p.name != "kernel.md")
B_TAU_025 = 7.396348760419537  # slope_for_threshold(0.25), 16 digits
B_TAU_005 = 87.37093590344008  # slope_for_threshold(0.05), 16 digits


# ---------------------------------------------------------------------------
# Symbolic machinery
# ---------------------------------------------------------------------------
X = sp.Symbol("x", real=True)
B = sp.Symbol("b", positive=True)
T = sp.Symbol("t", real=True)
V = sp.Symbol("v", positive=True)


def s_sig(a):
    return 1 / (1 + sp.exp(-a))


def s_softplus(a):
    return sp.log(1 + sp.exp(a))


S_T = B * X + sp.log(B)                      # t
S_U = s_softplus(S_T)                        # u
S_S = S_U / B                                # s
S_Y = 1 - (1 + B * sp.exp(B * X)) ** (-1 / B)  # Eq. 4 as printed
S_G = s_softplus(S_T) - s_sig(S_T)           # g(t)
S_N = B * X * s_sig(S_T) - S_G               # N


def assert_identity(expr, domain, n_points=6, seed=0, try_simplify=True, tol=1e-40):
    r"""Assert that ``expr`` is identically 0 on ``domain``.

    First try ``sympy.simplify``; if that does not return 0, evaluate ``expr`` at
    ``n_points`` random rational points (``domain`` maps each free symbol to an interval
    of rationals) with 50 significant digits and require ``|expr| <= tol``.
    """
    if try_simplify:
        simplified = sp.simplify(expr)
        if simplified == 0:
            return
    rng = random.Random(seed)
    free = sorted(expr.free_symbols, key=lambda s: s.name)
    for sym in free:
        assert sym in domain, f"no domain given for {sym}"
    func = sp.lambdify(free, expr, modules="mpmath")
    with mpmath.workdps(50):
        for _ in range(n_points):
            point = []
            for sym in free:
                lo, hi = (sp.Rational(v) for v in domain[sym])
                r = lo + (hi - lo) * sp.Rational(rng.randint(1, 999), 1000)
                point.append(mpmath.mpf(r.p) / r.q)
            val = func(*point)
            assert abs(val) <= tol, f"{expr} = {val} at {point}"


XB_DOMAIN = {X: ("-4", "4"), B: ("1/4", "12")}


# Eq. 5 (threshold.md) and its g(log b), used by head.md too
S_TAU = 1 - (1 + B) ** (-1 / B)  # Eq. 5 as printed
S_G_LOGB = sp.log(1 + B) - B / (1 + B)

# p of Eq. 6 (z_transform.md), used by bce.md too
P = sp.Symbol("p", positive=True)


def s_logit(a):
    return sp.log(a / (1 - a))


# ---------------------------------------------------------------------------
# mpmath references (exact to the working precision; inputs are the float64 values)
# ---------------------------------------------------------------------------
def _extra_digits(b, x):
    """Digits lost by N = b x sigma(t) - g(t) for large t (terms ~ b x cancel to ~1 - log b)."""
    return 80 + int(math.log10(1.0 + abs(b * x)))


def m_s(x, b):
    x, b = mpmath.mpf(x), mpmath.mpf(b)
    return mpmath.log1p(b * mpmath.exp(b * x)) / b


def m_t(x, b):
    return mpmath.mpf(b) * mpmath.mpf(x) + mpmath.log(mpmath.mpf(b))


def m_sig(t):
    return 1 / (1 + mpmath.exp(-t))


def m_y(x, b):
    return -mpmath.expm1(-m_s(x, b))


def m_comp(x, b):
    return mpmath.exp(-m_s(x, b))


def m_logit(x, b):
    return mpmath.log(mpmath.expm1(m_s(x, b)))


def m_g(t):
    """g(t) = softplus(t) - sigma(t) exactly: the positive series sum_{n>=2} v^n/n for v < 1/2
    (no cancellation, so full working precision even when g ~ e^{2t}/2 underflows float64),
    the direct difference (condition number <= 6.2, at v = 1/2) otherwise."""
    with mpmath.workdps(mp.dps + 10):
        t = mpmath.mpf(t)
        v = 1 / (1 + mpmath.exp(-t))
        if v >= 0.5:
            return +(mpmath.log1p(mpmath.exp(t)) - v)
        total, term, n = mpmath.mpf(0), v * v, 2
        eps = mpmath.mpf(10) ** (-(mp.dps + 5))
        while term > eps * total * n or total == 0:
            total += term / n
            term *= v
            n += 1
        return +total


def m_N(x, b):
    with mpmath.workdps(_extra_digits(b, x)):
        t = m_t(x, b)
        return +(mpmath.mpf(b) * mpmath.mpf(x) * m_sig(t) - m_g(t))


def m_partials(x, b):
    """(dy/dx, dy/db, dl/dx, dl/db) from the closed forms, high precision."""
    with mpmath.workdps(_extra_digits(b, x)):
        bb = mpmath.mpf(b)
        t = m_t(x, b)
        y, comp, n = m_y(x, b), m_comp(x, b), m_N(x, b)
        return (+(comp * m_sig(t)), +(comp * n / bb ** 2), +(m_sig(t) / y), +(n / (bb ** 2 * y)))


def relerr(computed, exact):
    exact = mpmath.mpf(exact)
    if exact == 0:
        return float(abs(mpmath.mpf(float(computed))))
    return float(abs((mpmath.mpf(float(computed)) - exact) / exact))


TINY = 2.2250738585072014e-308  # smallest normal float64


def assert_rel(got, exact, rtol, what=""):
    """Relative error <= rtol for a normal exact value; below the normal range only
    "underflowed" is required (gradual or flushed to 0: both are allowed)."""
    if abs(exact) >= TINY:
        assert relerr(got, exact) <= rtol, (what, float(got), exact)
    else:
        assert abs(float(got)) < TINY, (what, float(got), exact)


def astra_module(module):
    """Import an astra_np module; a module that is missing fails the test (never a skip)."""
    return importlib.import_module(f"astra_np.{module}")


def m_gmn_logits(logits, labels):
    """Exact (J, G, dJ/dl) of Eq. 9 on p = sigmoid(l), by the probability-space formulas."""
    with mpmath.workdps(80):
        p = [1 / (1 + mpmath.exp(-mpmath.mpf(li))) for li in logits]
        q = [1 / (1 + mpmath.exp(mpmath.mpf(li))) for li in logits]
        tp = sum(pi for pi, yi in zip(p, labels) if yi == 1)
        tn = sum(qi for qi, yi in zip(q, labels) if yi == 0)
        m1 = sum(1 for yi in labels if yi == 1)
        m0 = len(labels) - m1
        g = mpmath.sqrt(tn * tp / (m0 * m1))
        grad = [(-g / (2 * tp) if yi == 1 else g / (2 * tn)) * pi * qi for pi, qi, yi in zip(p, q, labels)]
        return +(1 - g), +g, [+gi for gi in grad]


# ---------------------------------------------------------------------------
# Structure of the derivation files
# ---------------------------------------------------------------------------
CHECK_RE = re.compile(r"tests/(test_derivation_\w+\.py)::(\w+)")
IMPL_RE = re.compile(r"`(astra_np(?:\.\w+)+)`")


def defines_test(file, test):
    """Whether ``tests/<file>`` defines the test function ``test`` at its top level."""
    path = ROOT / "tests" / file
    if not path.is_file():
        return False
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == test for node in tree.body)


def assert_derivation_file_structure(name):
    """A derivation file exists, cites the paper, names its implementation and its tests,
    and every test and function it names exists."""
    path = DERIV / name
    assert path.is_file(), f"missing derivation file {path}"
    text = path.read_text(encoding="utf-8")
    # Each concept file cites the paper (equation or section number).
    if name != "README.md":
        assert re.search(r"\b(Eq\.|Sec\.)\s*\d", text), f"{name} cites no equation"
        assert "Implemented by" in text, f"{name} names no implementing function"
    assert "Checked by" in text, f"{name} has no 'Checked by' line"
    tests = CHECK_RE.findall(text)
    assert tests, f"{name}: the Checked-by line names no test"
    for file, t in tests:
        assert defines_test(file, t), f"{name} names a test that does not exist: tests/{file}::{t}"
    # Every function named in the file exists.
    assert_named_objects_exist(name, text)


def assert_named_objects_exist(name, text):
    """Every `astra_np.x.y` named in a derivation file imports and has the attribute."""
    for dotted in IMPL_RE.findall(text):
        parts = dotted.split(".")
        for cut in range(len(parts), 1, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{name} names {dotted}, which does not exist"
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{name} names {dotted}, whose module cannot be imported")

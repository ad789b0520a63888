r"""Checks of every closed form stated in ``derivations/*.md``.

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
import importlib
import math
import pathlib
import random
import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from astra_np.core import registry

sp = pytest.importorskip("sympy")
mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp

ROOT = pathlib.Path(__file__).resolve().parents[1]
DERIV = ROOT / "derivations"
#: Every derivation file (kernel.md has its own structure test below).
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


@pytest.fixture
def mp60():
    with mpmath.workdps(60):
        yield


def _core(module):
    """Import an astra_np module; a module that is missing fails the test (never a skip)."""
    return importlib.import_module(f"astra_np.{module}")


# ---------------------------------------------------------------------------
# Structure of the derivation files
# ---------------------------------------------------------------------------
CHECK_RE = re.compile(r"tests/test_derivations\.py::(\w+)")
IMPL_RE = re.compile(r"`(astra_np(?:\.\w+)+)`")


@pytest.mark.parametrize("name", DOC_FILES)
def test_derivation_files_structure(name):
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
    for t in tests:
        assert callable(globals().get(t)), f"{name} names a test that does not exist: {t}"
    # Every function named in the file exists.
    _assert_named_objects_exist(name, text)


def _assert_named_objects_exist(name, text):
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


@pytest.mark.parametrize("dotted", [
    "astra_np.core.activation.no_such_function",   # a function renamed away
    "astra_np.activation.astra",                    # a module moved away
    "astra_np.core.nowhere.astra",                  # a module that never existed
])
def test_a_derivation_naming_a_missing_function_fails(dotted):
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _assert_named_objects_exist("fake.md", f"**Implemented by:** `{dotted}`.")
    _assert_named_objects_exist("real.md", "**Implemented by:** `astra_np.core.activation.astra`.")


def test_code_references_to_derivations_exist():
    # Every "derivations/<file>.md" that a docstring in astra_np points to exists.
    refs = set()
    for path in (ROOT / "astra_np").rglob("*.py"):
        refs.update(re.findall(r"derivations/(\w+\.md)", path.read_text(encoding="utf-8")))
    assert refs, "no docstring points to a derivation file"
    for name in refs:
        assert (DERIV / name).is_file(), f"a docstring points to missing derivations/{name}"


# ---------------------------------------------------------------------------
# astra.md
# ---------------------------------------------------------------------------
def test_astra_forms_symbolic():
    # 1 - y = e^{-s}
    assert sp.simplify(sp.expand_log(sp.log(1 - S_Y) + S_S, force=True)) == 0
    # y / (1 - y) = e^s - 1, hence logit y = log expm1(s)
    assert_identity(S_Y / (1 - S_Y) - (sp.exp(S_S) - 1), XB_DOMAIN)
    # b e^{bx} = e^t
    assert sp.simplify(B * sp.exp(B * X) - sp.exp(S_T)) == 0
    # t > 0 branch: s = x + (log b + softplus(-t)) / b
    assert_identity(S_S - (X + (sp.log(B) + s_softplus(-S_T)) / B), XB_DOMAIN)
    # softplus(t) = t + softplus(-t) and softplus(t) = -log(1 - sigma(t))
    assert sp.simplify(s_softplus(T) - T - s_softplus(-T)) == 0
    assert sp.simplify(s_softplus(T) + sp.log(1 - s_sig(T))) == 0
    # b = 1 gives the sigmoid
    assert sp.simplify(S_Y.subs(B, 1) - s_sig(X)) == 0
    # logit at b = 1 is x: log(e^{softplus(x)} - 1) = x
    assert sp.simplify(sp.exp(s_softplus(X)) - 1 - sp.exp(X)) == 0


def test_astra_partials_symbolic():
    sig_t = s_sig(S_T)
    logit = sp.log(S_Y / (1 - S_Y))
    # ds/dx = sigma(t), ds/db = N / b^2
    assert sp.simplify(sp.diff(S_S, X) - sig_t) == 0
    assert sp.simplify(sp.diff(S_S, B) - S_N / B ** 2) == 0
    # dy/dx = (1 - y) sigma(t), dy/db = (1 - y) N / b^2
    assert sp.simplify(sp.diff(S_Y, X) - (1 - S_Y) * sig_t) == 0
    assert sp.simplify(sp.diff(S_Y, B) - (1 - S_Y) * S_N / B ** 2) == 0
    # d logit/dx = sigma(t) / y, d logit/db = N / (b^2 y)
    assert_identity(sp.diff(logit, X) - sig_t / S_Y, XB_DOMAIN)
    assert_identity(sp.diff(logit, B) - S_N / (B ** 2 * S_Y), XB_DOMAIN)
    # N in the t > 0 form (an identity for every t)
    n_pos = (1 - sp.log(B)) - (B * X + 1) * s_sig(-S_T) - s_softplus(-S_T)
    assert_identity(S_N - n_pos, XB_DOMAIN)
    # g = -log(1 - v) - v with v = sigma(t); q = sigma(t)/b = 1/(e^{-bx} + b)
    assert sp.simplify(S_G - (-sp.log(1 - sig_t) - sig_t)) == 0
    q = sig_t / B
    assert sp.simplify(q - 1 / (sp.exp(-B * X) + B)) == 0
    # N / b^2 = x q - q^2 S(v) with S = g / v^2, and dl/db = (q/y)(x - q S)
    s_of_v = S_G / sig_t ** 2
    assert sp.simplify(S_N / B ** 2 - (X * q - q ** 2 * s_of_v)) == 0
    assert_identity(S_N / (B ** 2 * S_Y) - (q / S_Y) * (X - q * s_of_v), XB_DOMAIN)
    # sigma(t)/y = rho(t) * b * phi(s), rho = sigma/softplus, phi(s) = s/(1 - e^{-s})
    rho = sig_t / S_U
    phi = S_S / (1 - sp.exp(-S_S))
    assert_identity(sig_t / S_Y - B * rho * phi, XB_DOMAIN)
    # In u: sigma(t) = 1 - e^{-u} and y = 1 - e^{-u/b} (used for the bounds on dl/dx)
    assert sp.simplify(sig_t - (1 - sp.exp(-S_U))) == 0
    assert_identity(S_Y - (1 - sp.exp(-S_U / B)), XB_DOMAIN)
    # Steepest point: d/dx log(dy/dx) = -sigma(t) + b (1 - sigma(t)), zero at x = 0
    dlog = sp.diff(-S_S + sp.log(sig_t), X)
    assert sp.simplify(dlog - (-sig_t + B * (1 - sig_t))) == 0
    assert sp.simplify(dlog.subs(X, 0)) == 0
    slope0 = sp.diff(S_Y, X).subs(X, 0)
    assert_identity(slope0 - (1 + B) ** (-1 / B) * B / (1 + B), {B: ("1/4", "12")})


def test_astra_N_sign_and_monotonicity(mp60):
    # dN/dx = b sigma(t) sigma(-t) (b x + 1)
    assert sp.simplify(sp.diff(S_N, X) - B * s_sig(S_T) * s_sig(-S_T) * (B * X + 1)) == 0
    # N < 0 for x <= 0; N -> 1 - log b; one sign change for b < e, none for b >= e.
    xs = [-20, -3, -1, -0.1, 0.0]
    for b in [0.5, 1.0, 2.0, 2.7, 2.72, 7.4, 87.4]:
        for x in xs:
            assert m_N(x, b) < 0
        big = m_N(200.0 / min(b, 1.0), b)
        # |N - (1 - log b)| <= (bx + 2) e^{-t}: tiny at x = 200 (tolerance justified by that bound)
        assert abs(big - (1 - mpmath.log(b))) < mpmath.mpf("1e-50")
        grid = [0.01 * k for k in range(1, 4001)]  # x in (0, 40]
        signs = [m_N(x, b) > 0 for x in grid[::40]]
        changes = sum(1 for p, q in zip(signs, signs[1:]) if p != q)
        if b >= math.e:
            assert not any(signs)
        else:
            assert changes == 1 and signs[-1]


def test_stable_building_block_series():
    w, s, v = sp.symbols("w s v", positive=True)
    # log softplus: log log(1 + w) = log w - w/2 + 5 w^2/24 + O(w^3)
    ser = sp.series(sp.log(sp.log(1 + w)) - sp.log(w), w, 0, 3).removeO()
    assert sp.simplify(ser - (-w / 2 + sp.Rational(5, 24) * w ** 2)) == 0
    # rho = sigma(t)/softplus(t) = 1 - w/2 + 5 w^2/12 + O(w^3)
    ser = sp.series((w / (1 + w)) / sp.log(1 + w), w, 0, 3).removeO()
    assert sp.simplify(ser - (1 - w / 2 + sp.Rational(5, 12) * w ** 2)) == 0
    # phi(s) = s / (1 - e^{-s}) = 1 + s/2 + s^2/12 - s^4/720 + O(s^6)
    ser = sp.series(s / (1 - sp.exp(-s)), s, 0, 6).removeO()
    assert sp.simplify(ser - (1 + s / 2 + s ** 2 / 12 - s ** 4 / 720)) == 0
    # log(expm1(s)/s) = s/2 + s^2/24 - s^4/2880 + O(s^6); also = s/2 + log(sinh(s/2)/(s/2))
    ser = sp.series(sp.log((sp.exp(s) - 1) / s), s, 0, 6).removeO()
    assert sp.simplify(ser - (s / 2 + s ** 2 / 24 - s ** 4 / 2880)) == 0
    assert sp.simplify(sp.expand((sp.exp(s) - 1) - s * sp.exp(s / 2) * sp.sinh(s / 2) / (s / 2)).rewrite(sp.exp)) == 0
    # g = -log(1 - v) - v = sum_{n >= 2} v^n / n, so g / v^2 = S(v) = sum_k v^k / (k + 2)
    ser = sp.series(-sp.log(1 - v) - v, v, 0, 12).removeO()
    assert sp.expand(ser - sum(v ** n / n for n in range(2, 12))) == 0
    # truncation of S after 30 terms at v = 1/4, relative to S >= 1/2: below 1e-19
    tail = sum(sp.Rational(1, 4) ** k / (k + 2) for k in range(30, 200))
    assert float(tail / sp.Rational(1, 2)) < 1e-19
    # condition number (softplus + sigma)/g of the direct difference at v = 1/4 is 14.3
    vq = sp.Rational(1, 4)
    cond = (-sp.log(1 - vq) + vq) / (-sp.log(1 - vq) - vq)
    assert abs(float(cond) - 14.27) < 0.01
    # the condition number decreases for v > 1/4 (its derivative is negative there)
    c = (-sp.log(1 - v) + v) / (-sp.log(1 - v) - v)
    for vv in ["1/4", "1/3", "1/2", "3/4", "99/100"]:
        assert float(sp.diff(c, v).subs(v, sp.Rational(vv))) < 0


def test_stable_building_blocks_code(mp60):
    # The primitives of astra.md, Sec. 2, against their exact definitions, at and around the
    # switch points of their series (t = -20, v = 1/4, s = 1e-3, s = 0.5) and in the tails.
    stb = _core("core._stable")
    for t in [-800.0, -50.0, -20.000001, -19.999999, -1.0986123, -1.0986122, -0.5, 0.0, 3.0, 40.0, 800.0]:
        tm = mpmath.mpf(t)
        sp_ex = mpmath.log1p(mpmath.exp(tm))
        assert_rel(stb.softplus(t), sp_ex, 4e-16)
        assert_rel(stb.log_softplus(t), mpmath.log(sp_ex), 4e-16)
        # direct difference: condition number <= 14.3 at v = 1/4 (astra.md), series: a few ulps
        assert_rel(stb.softplus_minus_expit(t), m_g(t), 14.3 * 2.3e-16)
        assert_rel(stb.expit_over_softplus(t), m_sig(tm) / sp_ex, 4e-16)
    for s in [0.0, 1e-300, 1e-10, 0.000999, 0.001001, 0.3, 0.4999, 0.5001, 5.0, 800.0]:
        sm = mpmath.mpf(s)
        phi_ex = mpmath.mpf(1) if s == 0 else sm / -mpmath.expm1(-sm)
        assert relerr(stb.s_over_neg_expm1(s), phi_ex) < 4e-16
        if s > 0:
            le_ex = mpmath.log(mpmath.expm1(sm))
            got = stb.log_expm1(s, math.log(s))
            assert abs(got - le_ex) <= 4e-16 * max(1.0, abs(float(le_ex)))
    # 1 - log b, also near b = e: a few ulps relative; the naive subtraction returns 0 at
    # the float nearest e, whose exact value is 5.318e-17
    for b in [math.e, math.nextafter(math.e, 0), math.nextafter(math.e, 5), 2.5, 2.7, 2.75, 2.9, 1.0, 0.3, 10.0, 1e300]:
        assert relerr(stb.one_minus_log(b), 1 - mpmath.log(mpmath.mpf(b))) < 4e-16
    assert 1.0 - math.log(math.e) == 0.0
    assert abs(1 - mpmath.log(mpmath.mpf(math.e)) - mpmath.mpf("5.318e-17")) < mpmath.mpf("1e-20")
    # truncation of the series at their switch points: log softplus and rho at t = -20
    w = mpmath.exp(-20)
    assert abs(mpmath.log(mpmath.log1p(w)) - (-20 - w / 2 + 5 * w ** 2 / 24)) < 1e-26
    assert abs(w / (1 + w) / mpmath.log1p(w) - (1 - w / 2 + 5 * w ** 2 / 12)) < 1e-26
    # phi and log expm1 at s = 1e-3: errors below s^6/30240 and s^4/2880 respectively
    s3 = mpmath.mpf("1e-3")
    assert abs(s3 / (1 - mpmath.exp(-s3)) - (1 + s3 / 2 + s3 ** 2 / 12 - s3 ** 4 / 720)) < s3 ** 6 / 30240 * 1.01
    assert abs(mpmath.log(mpmath.expm1(s3) / s3) - (s3 / 2 + s3 ** 2 / 24)) < s3 ** 4 / 2880 * 1.01
    # b x beyond the float64 range: s = x + (log b + softplus(-t))/b stays finite
    act = _core("core.activation")
    assert float(act.astra_logit(1e306, 1000.0)) == 1e306 and float(act.astra(1e306, 1000.0)) == 1.0


def _naive_y(x, b):
    return 1 - (1 + b * np.exp(b * x)) ** (-1 / b)


def _doc_s(x, b):
    """float64 transcription of derivations/astra.md, Sec. 1 (both branches of s)."""
    t = b * x + math.log(b)
    if t > 0:
        return x + (math.log(b) + np.logaddexp(0.0, -t)) / b
    return np.logaddexp(0.0, t) / b


def _doc_log_softplus(t):
    if t < -20:
        w = math.exp(t)
        return t + w * (-0.5 + 5.0 / 24.0 * w)
    return math.log(np.logaddexp(0.0, t))


def _doc_logit(x, b):
    """float64 transcription of the three regimes of log expm1(s)."""
    s = _doc_s(x, b)
    if s >= 0.5:
        return s + math.log1p(-math.exp(-s))
    if s >= 1e-3:
        return math.log(math.expm1(s))
    log_s = _doc_log_softplus(b * x + math.log(b)) - math.log(b)
    return log_s + s * (0.5 + s / 24.0)


def _doc_g(t):
    v = 1.0 / (1.0 + math.exp(-t)) if t > -700 else math.exp(t)
    if v < 0.25:
        return v * v * sum(v ** k / (k + 2) for k in range(30))
    return float(np.logaddexp(0.0, t)) - v


def _doc_N_pos(x, b):
    t = b * x + math.log(b)
    em = float(expit(-t))
    return (1.0 - math.log(b)) - (b * x + 1.0) * em - float(np.logaddexp(0.0, -t))


def test_astra_naive_forms_fail(mp60):
    # Eq. 4 as written: cancellation (numbers quoted in astra.md, Sec. 1)
    for x, b, min_err in [(-30.0, 1.0, 1e-4), (-5.0, 7.396, 0.2)]:
        assert relerr(_naive_y(x, b), m_y(x, b)) > min_err
        # a few ulps times the conditioning max(1, b|x|) of t = b x + log b
        assert relerr(-math.expm1(-_doc_s(x, b)), m_y(x, b)) < 2e-15 * max(1.0, abs(b * x))
    assert relerr(-math.expm1(-_doc_s(-30.0, 1.0)), m_y(-30.0, 1.0)) < 1e-16  # the table's row
    assert _naive_y(-40.0, 1.0) == 0.0 and m_y(-40.0, 1.0) > mpmath.mpf("4.2e-18")
    # overflow of e^{bx} at tau = 0.05, x = 8.2
    with pytest.raises(FloatingPointError):
        np.exp(np.float64(B_TAU_005) * 8.2)
    assert abs(m_comp(8.2, 87.37) - mpmath.mpf("2.6095e-4")) < mpmath.mpf("1e-8")
    assert abs(709.78 / B_TAU_005 - 8.12) < 0.005
    # logit from y: y rounds to 1
    y37 = _naive_y(np.float64(37.0), 1.0)
    assert abs(float(np.log(y37 / (1 - y37))) - 37.0) > 0.2
    y40 = _naive_y(np.float64(40.0), 1.0)
    assert y40 == 1.0
    with pytest.raises(FloatingPointError):
        np.log(y40 / (1 - y40))
    # log(expm1(s)) overflows at s = 710 and is -inf when s underflows
    with pytest.raises(FloatingPointError):
        np.expm1(np.float64(710.0))
    for x, b in [(-750.0, 1.0), (-100.0, 8.0)]:
        s = np.logaddexp(0.0, b * x + np.log(b)) / b
        assert s == 0.0
        with pytest.raises(FloatingPointError):
            np.log(np.expm1(s))
    # N: direct form cancels for large x, the t > 0 form does not
    for x, b, min_err in [(1e8, 2.0, 1e-9), (1e6, 7.396, 1e-11)]:
        t = b * x + math.log(b)
        v = 1.0 / (1.0 + math.exp(-t))
        direct = b * x * v - (float(np.logaddexp(0.0, t)) - v)
        assert relerr(direct, m_N(x, b)) > min_err
        assert relerr(_doc_N_pos(x, b), m_N(x, b)) < 4e-16  # rounding only
    assert relerr(0.3068528175354004, 1 - mpmath.log(2)) > 5e-9  # value quoted in the doc
    # g: direct difference at t = -20 has relative error ~2.6e-8; the series is exact
    direct = float(np.logaddexp(0.0, -20.0)) - 1.0 / (1.0 + math.exp(20.0))
    assert relerr(direct, m_g(-20.0)) > 1e-8
    v20 = float(expit(-20.0))
    assert relerr(-math.log1p(-v20) - v20, m_g(-20.0)) > 1e-8
    # t = -40: both terms are 4.248e-18, g = 9.0e-36 is below their rounding error
    direct40 = float(np.logaddexp(0.0, -40.0)) - float(expit(-40.0))
    assert relerr(direct40, m_g(-40.0)) > 0.5 or direct40 == 0.0
    assert relerr(_doc_g(-20.0), m_g(-20.0)) < 4e-16
    # sigma(t)/y is 0/0 once y underflows (b = 1, x = -800)
    s = np.logaddexp(0.0, np.float64(-800.0))
    y = -np.expm1(-s)
    v = expit(np.float64(-800.0))
    assert y == 0.0 and v == 0.0
    with pytest.raises(FloatingPointError):
        v / y


def test_astra_stable_forms_vs_mpmath(mp60):
    # The float64 transcriptions of the doc's stable forms are accurate in both tails.
    for b in [1.0, 1.5, 2.0, B_TAU_025, B_TAU_005, 1000.0]:
        for bx in [-745.5, -700.0, -300.0, -40.0, -5.0, -0.3, 0.0, 0.2, 3.0, 40.0, 300.0, 700.0]:
            x = bx / b
            exact = m_logit(x, b)
            # |error| <= 2e-15 max(1, |logit|): the accuracy target for astra_logit
            assert abs(_doc_logit(x, b) - exact) <= 2e-15 * max(1.0, abs(float(exact)))
            # y and 1 - y: a few ulps times the conditioning max(1, b|x|) of t
            cond = max(1.0, abs(bx))
            for got, exact in [(-math.expm1(-_doc_s(x, b)), m_y(x, b)),
                               (math.exp(-_doc_s(x, b)), m_comp(x, b))]:
                if exact >= 2.3e-308:
                    assert relerr(got, exact) <= 2e-15 * cond
                else:  # subnormal or below: only the absolute error is meaningful (2 ulps)
                    assert abs(got - exact) <= 1e-323
    # g by the series/direct split: a few ulps everywhere
    for t in [-300.0, -50.0, -20.0, -5.0, -1.2, -1.0, -0.5, 0.0, 1.0, 10.0, 40.0]:
        assert relerr(_doc_g(t), m_g(t)) < 2e-15
    assert _doc_g(-700.0) == 0.0 and m_g(-700.0) < mpmath.mpf("1e-600")  # g ~ e^{2t}/2 underflows, correctly


def test_astra_limits(mp60):
    # logit - b x -> 0 as x -> -inf: |.| <= max(1, b) e^{bx} once e^t <= 1;
    # logit - x - log(b)/b -> 0 as x -> +inf: |.| <= e^{-bx}/b^2 + 2 b^{-1/b} e^{-x} once e^{-s} <= 1/2
    for b in [0.5, 1.0, 2.0, B_TAU_025, B_TAU_005]:
        bm = mpmath.mpf(b)
        for x in [-0.05, -1.0, -5.0, -20.0, -100.0]:
            if b * x + math.log(b) > 0:
                continue
            d = m_logit(x, b) - bm * x
            assert abs(d) <= max(1, bm) * mpmath.exp(bm * x)
        for x in [1.0, 5.0, 20.0, 100.0]:
            d = m_logit(x, b) - x - mpmath.log(bm) / bm
            assert m_comp(x, b) <= 0.5
            assert abs(d) <= mpmath.exp(-bm * x) / bm ** 2 + 2 * bm ** (-1 / bm) * mpmath.exp(-x)
            # 1 - y ~ b^{-1/b} e^{-x}
            ratio = m_comp(x, b) / (mpmath.mpf(b) ** (-1 / mpmath.mpf(b)) * mpmath.exp(-x))
            # e^{-softplus(-t)/b} - 1, plus 1e-50 for the 60-digit arithmetic
            assert abs(ratio - 1) <= mpmath.exp(-bm * x) / bm ** 2 + mpmath.mpf("1e-50")
    # b -> 0: y -> 1 - 1/e for every x; b -> inf: y -> max(0, 1 - e^{-x})
    for x in [-3.0, 0.0, 2.0]:
        assert abs(m_y(x, 1e-12) - (1 - 1 / mpmath.e)) < 1e-10
    for x in [-0.5, 0.5, 2.0]:
        lim = max(mpmath.mpf(0), 1 - mpmath.exp(-x))
        assert abs(m_y(x, 1e8) - lim) < 1e-6  # the gap is O(log(b)/b) = 2e-7
    # dl/db -> x as x -> -inf, -> (1 - log b)/b^2 as x -> +inf
    for b in [1.0, 2.0, B_TAU_025]:
        _, _, _, dl_db = m_partials(-60.0, b)
        assert abs(dl_db - (-60)) < 1e-20
        _, _, _, dl_db = m_partials(60.0, b)
        assert abs(dl_db - (1 - mpmath.log(b)) / mpmath.mpf(b) ** 2) < 1e-20
        # the closed forms agree with numerical differentiation of the definition
        for x in [-3.0, 0.0, 0.7]:
            dy_dx, dy_db, dl_dx, dl_db = m_partials(x, b)
            assert abs(mpmath.diff(lambda xx: m_y(xx, b), x) - dy_dx) < 1e-30
            assert abs(mpmath.diff(lambda bb: m_y(x, bb), b) - dy_db) < 1e-30
            assert abs(mpmath.diff(lambda xx: m_logit(xx, b), x) - dl_dx) < 1e-30
            assert abs(mpmath.diff(lambda bb: m_logit(x, bb), b) - dl_db) < 1e-30


def test_astra_logit_slope_bounds(mp60):
    # 1 <= dl/dx = sigma(t)/y <= b for b >= 1, reversed for b <= 1; -> b and -> 1 in the tails
    for b in [0.3, 1.0, 1.5, B_TAU_025, B_TAU_005]:
        lo, hi = min(1.0, b), max(1.0, b)
        for x in np.linspace(-30, 30, 61):
            d = m_partials(float(x), b)[2]
            assert lo * (1 - mpmath.mpf("1e-40")) <= d <= hi * (1 + mpmath.mpf("1e-40"))
        assert abs(m_partials(-200.0 / b, b)[2] - b) < 1e-40
        assert abs(m_partials(300.0 / min(b, 1.0), b)[2] - 1) < 1e-40


def _code_points():
    pts = []
    for b in [1.0, 1.5, math.e, B_TAU_025, B_TAU_005, 1000.0, 0.5]:
        for bx in [-1e4, -745.5, -700.0, -100.0, -20.0, -3.0, -0.5, 0.0, 0.4, 2.0, 10.0, 60.0, 700.0]:
            pts.append((bx / b, b))
    return pts


def test_astra_code_matches_doc(mp60):
    act = _core("core.activation")
    for x, b in _code_points():
        cond = max(1.0, abs(b * x))
        exact_l = m_logit(x, b)
        # logit: |error| <= 2e-15 max(1, |logit|) (the documented accuracy, for |bx| <= 700)
        tol_l = 2e-15 * max(1.0, abs(float(exact_l))) if abs(b * x) <= 700 else 1e-14 * abs(float(exact_l))
        assert abs(float(act.astra_logit(x, b)) - exact_l) <= tol_l
        # y, 1 - y: relative error <= 2e-15 max(1, b|x|) unless the exact value is subnormal
        for got, exact in [(act.astra(x, b), m_y(x, b)), (act.astra_complement(x, b), m_comp(x, b))]:
            if abs(exact) > 1e-300:
                assert relerr(got, exact) <= 2e-15 * cond
            else:
                assert abs(float(got)) <= 1e-300
        # partials: relative error <= 1e-12 (the package's target) away from underflow and the
        # sign change of dy/db (|N| small compared with its terms)
        ex = m_partials(x, b)
        dy_dx, dy_db = act.astra_partials(x, b)
        dl_dx, dl_db = act.astra_logit_partials(x, b)
        n = m_N(x, b)
        near_sign_change = abs(n) < 1e-6 * (abs(b * x) + 1)
        for got, exact, name in [(dy_dx, ex[0], "dy_dx"), (dy_db, ex[1], "dy_db"),
                                 (dl_dx, ex[2], "dl_dx"), (dl_db, ex[3], "dl_db")]:
            if name in ("dy_db", "dl_db") and near_sign_change:
                continue
            if abs(exact) > 1e-290:
                assert relerr(got, exact) <= 1e-12, (name, x, b, float(got), float(exact))
            else:
                assert abs(float(got)) <= 1e-290, (name, x, b)
    # b at the float nearest e: N -> 1 - log b = 5.3e-17 for large x, kept to full relative
    # accuracy by one_minus_log (astra.md, Sec. 4); 1e-12 is the package's target
    for x in [30.0, 60.0, 300.0]:
        ex = m_partials(x, math.e)
        assert relerr(act.astra_partials(x, math.e)[1], ex[1]) <= 1e-12
        assert relerr(act.astra_logit_partials(x, math.e)[1], ex[3]) <= 1e-12


@settings(deadline=None)
@given(
    bx=st.floats(-700.0, 700.0, allow_nan=False),
    log_b=st.floats(0.0, math.log(1000.0), allow_nan=False),
)
def test_astra_code_matches_doc_random(bx, log_b):
    # Random points of the documented accuracy range |b x| <= 700, 1 <= b <= 1000.
    act = _core("core.activation")
    b = math.exp(log_b)
    x = bx / b
    with mpmath.workdps(60):
        exact_l = m_logit(x, b)
        # astra_logit: |error| <= 2e-15 max(1, |logit|), the documented bound
        assert abs(float(act.astra_logit(x, b)) - exact_l) <= 2e-15 * max(1.0, abs(float(exact_l)))
        ex = m_partials(x, b)
        n = m_N(x, b)
        got = [*act.astra_partials(x, b), *act.astra_logit_partials(x, b)]
        for i, (g, e) in enumerate(zip(got, ex)):
            # b-partials: skip the neighbourhood of the sign change of N (only absolute accuracy)
            if i in (1, 3) and abs(n) < 1e-6 * (abs(b * x) + 1):
                continue
            if abs(e) > 1e-290:
                assert relerr(g, e) <= 1e-12  # the package's target for partials
            else:
                assert abs(float(g)) <= 1e-290


# ---------------------------------------------------------------------------
# threshold.md
# ---------------------------------------------------------------------------
S_TAU = 1 - (1 + B) ** (-1 / B)  # Eq. 5 as printed
S_G_LOGB = sp.log(1 + B) - B / (1 + B)


def m_tau(b):
    b = mpmath.mpf(b)
    return -mpmath.expm1(-mpmath.log1p(b) / b)


def m_g_logb(b):
    with mpmath.workdps(80 + int(max(0.0, -math.log(b)) * 2 / math.log(10.0))):
        b = mpmath.mpf(b)
        return +(mpmath.log1p(b) - b / (1 + b))


def test_threshold_symbolic():
    # tau = y(0, b); stable forms; tau' = -(1 - tau) g(log b)/b^2; logit tau' = -g/(b^2 tau)
    assert sp.simplify(S_Y.subs(X, 0) - S_TAU) == 0
    assert sp.simplify(S_TAU - (1 - sp.exp(-sp.log(1 + B) / B))) == 0
    assert sp.simplify(S_G_LOGB - S_G.subs(X, 0)) == 0
    assert sp.simplify(sp.diff(S_TAU, B) + (1 - S_TAU) * S_G_LOGB / B ** 2) == 0
    assert sp.simplify(sp.diff(sp.log(1 + B) / B, B) + S_G_LOGB / B ** 2) == 0
    assert sp.simplify(S_N.subs(X, 0) + S_G_LOGB) == 0  # N(0, b) = -g(log b)
    logit_tau = sp.log(S_TAU / (1 - S_TAU))
    assert_identity(sp.diff(logit_tau, B) + S_G_LOGB / (B ** 2 * S_TAU), {B: ("1/10", "20")})
    # g(log b) = sum_{n >= 2} v^n / n > 0 with v = b/(1+b)
    vb = B / (1 + B)
    assert sp.simplify(S_G_LOGB - (-sp.log(1 - vb) - vb)) == 0
    # Newton in lambda = log b: d log tau / d lambda = -(1 - tau) g(lambda)/(b tau)
    lam = sp.Symbol("lam", real=True)
    lhs = sp.diff(sp.log(S_TAU.subs(B, sp.exp(lam))), lam)
    rhs = (-(1 - S_TAU) * S_G_LOGB / (B * S_TAU)).subs(B, sp.exp(lam))
    assert_identity(lhs - rhs, {lam: ("-2", "5")})
    # inverse: db/dtau = -b^2/((1 - tau) g); relative condition 5.18 at b = 1
    cond1 = (S_TAU * B / ((1 - S_TAU) * S_G_LOGB)).subs(B, 1)
    assert abs(float(cond1) - 5.177) < 1e-3


def test_threshold_limits(mp60):
    assert S_TAU.subs(B, 1) == sp.Rational(1, 2)
    assert sp.limit(S_TAU, B, 0, "+") == 1 - sp.exp(-1)
    dtau = -(1 - S_TAU) * S_G_LOGB / B ** 2
    assert sp.simplify(sp.limit(dtau, B, 0, "+") + 1 / (2 * sp.E)) == 0
    assert abs(float(dtau.subs(B, 1)) + 0.0966) < 1e-4
    # g(log b) = b^2/2 + O(b^3)
    assert sp.simplify(sp.series(S_G_LOGB, B, 0, 3).removeO() - B ** 2 / 2) == 0
    # b -> inf: a - a^2/2 <= tau <= a, tau b / log b -> 1, tau' ~ -(log b - 1)/b^2
    for b in [1.0, 10.0, 1e3, 1e8, 1e30, 1e300]:
        a = mpmath.log1p(b) / b
        tau = m_tau(b)
        assert a - a ** 2 / 2 <= tau <= a
    assert abs(m_tau(1e300) * mpmath.mpf(1e300) / mpmath.log(1e300) - 1) < 1e-2
    bb = mpmath.mpf(1e12)
    d = -(1 - m_tau(bb)) * m_g_logb(bb) / bb ** 2
    assert abs(d / (-(mpmath.log(bb) - 1) / bb ** 2) - 1) < 1e-10
    # strictly decreasing: g(log b) > 0 on a wide grid
    for b in [1e-200, 1e-10, 0.1, 1 / 3, 1.0, 7.4, 1e10, 1e300]:
        assert m_g_logb(b) > 0
    # the paper's values
    assert abs(m_tau(B_TAU_025) - mpmath.mpf("0.25")) < 1e-16
    assert abs(m_tau(B_TAU_005) - mpmath.mpf("0.05")) < 1e-17
    # relative condition of the inverse tends to 1 as b -> inf
    c = m_tau(1e300) * mpmath.mpf(1e300) ** 1 / ((1 - m_tau(1e300)) * m_g_logb(1e300))
    assert abs(c - 1) < 2e-3


def test_threshold_naive_fails(mp60):
    naive = lambda b: 1 - (1 + b) ** (-1 / b)  # noqa: E731
    stable = lambda b: -math.expm1(-math.log1p(b) / b)  # noqa: E731
    assert naive(1e-20) == 0.0 and abs(m_tau(1e-20) - mpmath.mpf("0.632120558828558")) < 1e-15
    assert naive(1e20) == 0.0 and abs(m_tau(1e20) / mpmath.mpf("4.60517018598809e-19") - 1) < 1e-14
    assert relerr(naive(1e17), m_tau(1e17)) > 0.1
    assert abs(naive(1e17) - 4.44e-16) < 1e-18
    assert abs(m_tau(1e17) / mpmath.mpf("3.91439465808988e-16") - 1) < 1e-14
    for b in [1e-300, 1e-20, 1e-5, 0.3, 1.0, 7.4, 1e5, 1e17, 1e20, 1e300]:
        assert relerr(stable(b), m_tau(b)) < 4e-16  # a few ulps


def test_threshold_code_matches_doc(mp60):
    act = _core("core.activation")
    for b in [1e-12, 1e-3, 0.2, 1 / 3, 0.5, 1.0, 1.5, 2.0, B_TAU_025, B_TAU_005, 1e3, 1e8, 1e100]:
        bm = mpmath.mpf(b)
        tau = m_tau(b)
        g = m_g_logb(b)
        dtau = -(1 - tau) * g / bm ** 2
        # values a few ulps, derivatives <= 1e-12 relative (the package's target)
        assert relerr(act.threshold(b), tau) < 1e-15
        assert relerr(act.threshold_grad(b), dtau) < 1e-12
        assert relerr(act.threshold_logit(b), mpmath.log(tau / (1 - tau))) < 1e-14
        assert relerr(act.threshold_logit_grad(b), -g / (bm ** 2 * tau)) < 1e-12
    # huge slopes: dtau/db ~ -log(b)/b^2 leaves the float64 range (subnormal, then 0:
    # rounded, so an absolute floor of a few subnormal spacings), while dlogit(tau)/db
    # ~ -1/b stays a normal number up to b ~ 1e308 and keeps its 1e-12
    subnormal = 4 * 5e-324
    for b in [1e154, 1e160, 1e200, 1e300, 1.7e308]:
        bm, tau, g = mpmath.mpf(b), m_tau(b), m_g_logb(b)
        assert relerr(act.threshold(b), tau) < 1e-15
        dtau = -(1 - tau) * g / bm ** 2
        assert abs(act.threshold_grad(b) - dtau) <= 1e-12 * abs(dtau) + subnormal
        dlogit = -g / (bm ** 2 * tau)
        assert abs(act.threshold_logit_grad(b) - dlogit) <= 1e-12 * abs(dlogit) + subnormal, b


def test_threshold_inverse(mp60):
    act = _core("core.activation")
    assert act.slope_for_threshold(0.5) == 1.0
    # 0.25 -> 7.3963487604195368..., 0.05 -> 87.370935903440081...: the exact roots (mpmath)
    # are reproduced to 4 * cond * eps, cond = tau b / ((1 - tau) g(log b)) <= 2.2 here, i.e.
    # a few ulps of tau(b) amplified by the conditioning of the inverse
    for tau, b_float in [(0.25, B_TAU_025), (0.05, B_TAU_005)]:
        root = mpmath.exp(mpmath.findroot(lambda lam: m_tau(mpmath.exp(lam)) - mpmath.mpf(tau),
                                          math.log(b_float)))
        assert relerr(b_float, root) < 1.2e-16  # the constants quoted in threshold.md
        cond = m_tau(root) * root / ((1 - m_tau(root)) * m_g_logb(root))
        assert cond < 2.2
        assert relerr(act.slope_for_threshold(tau), root) < 4 * float(cond) * 1.12e-16
    for tau in [0.4999, 0.3, 0.25, 0.1, 0.05, 1e-3, 1e-10, 1e-100, 1e-150, 1e-200, 1e-300, 4e-306]:
        b = act.slope_for_threshold(tau)
        # the round trip is limited by the relative condition number (<= 5.2) of the
        # inverse; the last Newton step uses tau'(b) in a form that does not underflow
        # for b > 1e154 (threshold.md, Sec. 4)
        assert relerr(tau, m_tau(b)) < 6 * 2.3e-16
    for bad in [0.0, -0.1, 0.5000001, 0.7, 1e-307]:
        with pytest.raises(ValueError, match="tau"):
            act.slope_for_threshold(bad)


# ---------------------------------------------------------------------------
# beta_to_b.md
# ---------------------------------------------------------------------------
def test_beta_symbolic():
    beta = sp.Symbol("beta", real=True)
    bb = sp.Symbol("b", real=True)
    pos, neg = 2 + beta, 1 + sp.exp(beta)
    # value and first derivative continuous at 0, second derivative jumps from 1 to 0
    assert sp.limit(pos, beta, 0, "+") == neg.subs(beta, 0) == 2
    assert sp.limit(sp.diff(pos, beta), beta, 0, "+") == sp.diff(neg, beta).subs(beta, 0) == 1
    assert sp.diff(pos, beta, 2) == 0 and sp.diff(neg, beta, 2).subs(beta, 0) == 1
    # b > 1 and increasing on both pieces
    assert sp.limit(neg, beta, -sp.oo) == 1
    # inverse on each piece, and d beta/db = 1/(db/dbeta)
    assert sp.simplify(pos.subs(beta, bb - 2) - bb) == 0
    assert sp.simplify(neg.subs(beta, sp.log(bb - 1)) - bb) == 0
    assert sp.simplify(sp.diff(sp.log(bb - 1), bb) * sp.exp(beta).subs(beta, sp.log(bb - 1)) - 1) == 0
    # tau_init = 0.25: beta = b - 2 = 5.396348760419537
    assert abs((B_TAU_025 - 2) - 5.396348760419537) < 1e-15
    # b rounds to 1 below log(2^-53) = -36.74
    assert abs(math.log(2.0 ** -53) + 36.7368) < 1e-4
    assert 1.0 + math.exp(-36.8) == 1.0 and 1.0 + math.exp(-36.7) > 1.0


def test_beta_code_matches_doc():
    act = _core("core.activation")
    betas = np.array([-700.0, -36.8, -36.7, -20.0, -10.0, -1.0, -1e-300, 0.0, 1e-300, 0.5, 5.396348760419537, 1e3])
    b = act.slope_from_beta(betas)
    db = act.slope_from_beta_grad(betas)
    for be, bv, dv in zip(betas, b, db):
        if be > 0:
            assert bv == 2.0 + be and dv == 1.0
        else:
            assert bv == 1.0 + math.exp(be)
            # e^beta, exactly as libm rounds it (rtol 0: the same operation)
            assert dv == math.exp(be)
    assert b[1] == 1.0 and b[2] > 1.0
    # round trip: |beta(b(beta)) - beta| <= 2^-53 e^{-beta} (beta <= 0), <= 2^-52 (2 + beta) (beta > 0)
    for be in [-30.0, -20.0, -10.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 5.396348760419537, 1e3, 1e10]:
        back = float(act.beta_from_slope(act.slope_from_beta(be)))
        bound = 2.0 ** -53 * math.exp(-be) if be <= 0 else 2.0 ** -52 * (2 + be)
        assert abs(back - be) <= bound * 1.0000001 + 1e-300
    # beta(b) for given floats b: b - 2 and log(b - 1), with b - 1 exact for 1 < b <= 2
    for bv in [1.0 + 2.0 ** -52, 1.5, 2.0, 2.0 + 2.0 ** -51, 7.5]:
        want = bv - 2.0 if bv > 2 else math.log(bv - 1.0)
        assert float(act.beta_from_slope(bv)) == want
    for bad in [1.0, 0.5, -3.0]:
        with pytest.raises(ValueError, match="b"):
            act.beta_from_slope(bad)


# ---------------------------------------------------------------------------
# z_transform.md
# ---------------------------------------------------------------------------
P = sp.Symbol("p", positive=True)
TAU = sp.Symbol("tau", positive=True)
S_D = P * (1 - TAU) + (1 - P) * TAU
S_Z = P * (1 - TAU) / S_D
PT_DOMAIN = {P: ("1/1000", "999/1000"), TAU: ("1/1000", "999/1000")}


def s_logit(a):
    return sp.log(a / (1 - a))


def test_z_transform_symbolic():
    # logit z = logit p - logit tau (compare the odds, then the logs)
    assert sp.simplify(S_Z / (1 - S_Z) - (P / (1 - P)) / (TAU / (1 - TAU))) == 0
    assert_identity(s_logit(S_Z) - (s_logit(P) - s_logit(TAU)), PT_DOMAIN)
    # partials
    assert sp.simplify(sp.diff(S_Z, P) - TAU * (1 - TAU) / S_D ** 2) == 0
    assert sp.simplify(sp.diff(S_Z, TAU) + P * (1 - P) / S_D ** 2) == 0
    assert sp.simplify(sp.diff(S_Z, P) - S_Z * (1 - S_Z) / (P * (1 - P))) == 0
    assert sp.simplify(sp.diff(S_Z, TAU) + S_Z * (1 - S_Z) / (TAU * (1 - TAU))) == 0
    assert sp.simplify(sp.diff(s_logit(P) - s_logit(TAU), TAU) + 1 / (TAU * (1 - TAU))) == 0
    # identities: z(tau, tau) = 1/2, tau = 1/2 is the identity, ends, symmetry, inverse
    assert sp.simplify(S_Z.subs(P, TAU) - sp.Rational(1, 2)) == 0
    assert sp.simplify(S_Z.subs(TAU, sp.Rational(1, 2)) - P) == 0
    assert S_Z.subs(P, 0) == 0 and sp.simplify(S_Z.subs(P, 1)) == 1
    assert sp.simplify(1 - S_Z - S_Z.subs({P: 1 - P, TAU: 1 - TAU}, simultaneous=True)) == 0
    zz = sp.Symbol("zz", positive=True)
    inv = S_Z.subs({P: zz, TAU: 1 - TAU}, simultaneous=True)
    assert sp.simplify(inv.subs(zz, S_Z) - P) == 0
    # end slopes and D >= min(tau, 1 - tau): D - tau = p (1 - 2 tau), D - (1 - tau) = -(1 - p)(1 - 2 tau)
    assert sp.simplify(sp.diff(S_Z, P).subs(P, 0) - (1 - TAU) / TAU) == 0
    assert sp.simplify(sp.diff(S_Z, P).subs(P, 1) - TAU / (1 - TAU)) == 0
    assert sp.expand(S_D - TAU - P * (1 - 2 * TAU)) == 0
    assert sp.expand(S_D - (1 - TAU) + (1 - P) * (1 - 2 * TAU)) == 0
    assert sp.diff(S_Z, TAU).subs(P, 0) == 0 and sp.simplify(sp.diff(S_Z, TAU).subs(P, 1)) == 0


def test_z_transform_logit_space_numbers(mp60):
    b = B_TAU_025
    # logit tau = log(1/3) at tau = 1/4
    assert abs(m_logit(0.0, b) - mpmath.log(mpmath.mpf(1) / 3)) < 1e-15
    # x = 40: 1 - y = 3.24e-18, y rounds to 1 in float64, z = 1, BCE(z, 0) = inf
    assert abs(m_comp(40.0, b) / mpmath.mpf("3.2414e-18") - 1) < 1e-4
    y = float(m_y(40.0, b))
    assert y == 1.0
    zf = y * 0.75 / (y * 0.75 + (1 - y) * 0.25)
    assert zf == 1.0
    with pytest.raises(FloatingPointError):
        -np.log(np.float64(1.0) - zf)
    lz = m_logit(40.0, b) - m_logit(0.0, b)
    assert abs(m_logit(40.0, b) - mpmath.mpf("40.2705")) < 1e-4
    assert abs(lz - mpmath.mpf("41.3691")) < 1e-4
    assert abs(mpmath.log1p(mpmath.exp(lz)) - lz) < 1e-17  # softplus(l) = l + O(e^{-l})
    # x = -110: b x = -813.6, y underflows to 0, logit z = b x + 1.0986 is finite
    assert float(m_y(-110.0, b)) == 0.0
    lz = m_logit(-110.0, b) - m_logit(0.0, b)
    assert abs(lz - (b * mpmath.mpf(-110) - m_logit(0.0, b))) < 1e-300  # logit y - b x = O(e^{bx})
    assert abs(lz - mpmath.mpf("-812.4998")) < 1e-4


def test_z_transform_code_matches_doc(mp60):
    zt = _core("core.ztransform")
    pts = [0.0, 1e-300, 1e-20, 0.01, 0.25, 0.5, 0.9, 1 - 2.0 ** -53, 1.0]
    for tau in [0.5, 0.25, 0.05, 1e-3, 1e-200]:
        for p in pts:
            pm, tm = mpmath.mpf(p), mpmath.mpf(tau)
            d = pm * (1 - tm) + (1 - pm) * tm
            z_ex, c_ex = pm * (1 - tm) / d, (1 - pm) * tm / d
            dzdp, dzdt = tm * (1 - tm) / d ** 2, -pm * (1 - pm) / d ** 2
            # values and partials: a few ulps relative (no cancellation anywhere; 4e-16 covers
            # the 1 - tau rounding and up to 4 other roundings), exact zeros where exact
            got = [zt.z_transform(p, tau), zt.z_transform_complement(p, tau), *zt.z_transform_partials(p, tau)]
            for g, e in zip(got, [z_ex, c_ex, dzdp, dzdt]):
                if e == 0:
                    assert float(g) == 0.0
                else:
                    assert relerr(g, e) < 1e-15
    assert float(zt.z_transform(0.25, 0.25)) == 0.5
    # D^2 underflows for tau < 1e-154 near p = 0, so tau (1 - tau)/D^2 naively divides by 0
    tau = 1e-200
    with pytest.raises(FloatingPointError):
        np.float64(tau) * (1 - tau) / np.float64(tau) ** 2
    assert relerr(zt.z_transform_partials(0.0, tau)[0], (1 - mpmath.mpf(tau)) / mpmath.mpf(tau)) < 1e-15
    # VJP sums the tau cotangent over the broadcast axis
    p = np.array([0.1, 0.25, 0.9])
    g = np.array([1.0, -2.0, 0.5])
    gp, gt = zt.z_transform_vjp(g, p, 0.25)
    dzdp, dzdt = zt.z_transform_partials(p, 0.25)
    # same floating-point operations up to summation order: rtol 1e-15, atol 0
    np.testing.assert_allclose(gp, g * dzdp, rtol=1e-15, atol=0)
    np.testing.assert_allclose(gt, np.sum(g * dzdt), rtol=1e-15, atol=0)


# ---------------------------------------------------------------------------
# bce.md
# ---------------------------------------------------------------------------
L_ = sp.Symbol("l", real=True)


def m_xstar(b):
    with mpmath.workdps(80):
        b = mpmath.mpf(b)
        return +(mpmath.log((2 ** b - 1) / b) / b)


def test_bce_symbolic():
    yy = sp.Symbol("y")
    p_of_l = s_sig(L_)
    # -log p = softplus(-l), -log(1 - p) = softplus(l)
    assert sp.simplify(sp.expand_log(-sp.log(p_of_l) - s_softplus(-L_), force=True)) == 0
    assert_identity(-sp.log(1 - p_of_l) - s_softplus(L_), {L_: ("-30", "30")})
    j = yy * s_softplus(-L_) + (1 - yy) * s_softplus(L_)
    # dJ/dl = sigma(l) - y, and = -sigma(-l) for y = 1; d2J/dl2 = sigma(l) sigma(-l)
    assert sp.simplify(sp.diff(j, L_) - (p_of_l - yy)) == 0
    assert sp.simplify(sp.diff(j, L_).subs(yy, 1) + s_sig(-L_)) == 0
    assert sp.simplify(sp.diff(j, L_, 2) - p_of_l * s_sig(-L_)) == 0
    # probability-space gradient (p - y)/(p (1 - p))
    jp = -yy * sp.log(P) - (1 - yy) * sp.log(1 - P)
    assert sp.simplify(sp.diff(jp, P) - (P - yy) / (P * (1 - P))) == 0
    # J(., 0) - J(., 1) = l = logit p
    assert sp.simplify(j.subs(yy, 0) - j.subs(yy, 1) - L_) == 0
    # ASTra(x*, b) = 1/2 at x* = log((2^b - 1)/b)/b
    xs = sp.log((2 ** B - 1) / B) / B
    assert sp.simplify(1 + B * sp.exp(B * xs) - 2 ** B) == 0
    assert sp.simplify(S_Y.subs(X, xs) - sp.Rational(1, 2)) == 0
    # near b = 1: x* = (2 log 2 - 1)(b - 1) + O((b - 1)^2)
    d = sp.Symbol("delta")
    ser = sp.series(xs.subs(B, 1 + d), d, 0, 2).removeO()
    assert sp.simplify(ser - (2 * sp.log(2) - 1) * d) == 0
    assert abs(float(2 * sp.log(2) - 1) - 0.386) < 1e-3
    # large-b form and the delta form are identities
    assert_identity(xs - (sp.log(2) - sp.log(B) / B + sp.log(1 - 2 ** (-B)) / B), {B: ("1/2", "50")})
    assert_identity(xs - sp.log(1 + (2 * (sp.exp((B - 1) * sp.log(2)) - 1) - (B - 1)) / B) / B,
                    {B: ("1/2", "50")})
    assert abs(float(2 * sp.log(2) / (2 * sp.log(2) - 1)) - 3.6) < 0.05
    # x* > 0 for b > 1, < 0 for 0 < b < 1: 2^b - 1 - b has zeros 0 and 1 and is convex
    h = 2 ** B - 1 - B
    assert h.subs(B, 0) == 0 and h.subs(B, 1) == 0 and sp.diff(h, B, 2).is_positive
    assert float(h.subs(B, sp.Rational(1, 2))) < 0 < float(h.subs(B, 2))


def test_bce_naive_fails(mp60):
    with pytest.raises(FloatingPointError):
        -np.log(expit(np.float64(-800.0)))
    assert float(np.logaddexp(0.0, 800.0)) == 800.0
    assert expit(np.float64(40.0)) == 1.0
    with pytest.raises(FloatingPointError):
        -np.log(1.0 - expit(np.float64(40.0)))
    assert float(expit(40.0) - 1.0) == 0.0
    assert relerr(-expit(-40.0), -1 / (1 + mpmath.exp(40))) < 1e-15
    assert abs(-1 / (1 + mpmath.exp(40)) + mpmath.mpf("4.248e-18")) < 1e-21
    # l = -40, y = 1: the naive form happens to be accurate (sigma(-40) is accurate)
    assert relerr(-np.log(expit(-40.0)), mpmath.log1p(mpmath.exp(40))) < 2e-16
    assert abs(mpmath.log1p(mpmath.exp(40)) - mpmath.mpf("40.000000000000000004")) < 1e-18
    assert relerr(np.logaddexp(0.0, -40.0), mpmath.log1p(mpmath.exp(-40))) < 2e-16


def test_bce_band_edge(mp60):
    assert abs(m_xstar(B_TAU_025) - mpmath.mpf("0.421805199430868")) < 1e-15
    assert abs(m_xstar(B_TAU_005) - mpmath.mpf("0.641984140585792")) < 1e-15
    assert m_xstar(1.0) == 0 and m_xstar(0.5) < 0
    assert abs(m_xstar(1e6) - mpmath.log(2)) < 2e-5
    # naive near b = 1 and for b > 1024
    b = 1.0 + 1e-10
    naive = math.log((2.0 ** b - 1.0) / b) / b
    assert abs(naive - 3.862954e-11) < 1e-17
    assert abs(m_xstar(b) / mpmath.mpf("3.862943930e-11") - 1) < 1e-9
    assert relerr(naive, m_xstar(b)) > 2e-6
    with pytest.raises(OverflowError):
        2.0 ** 1100.0  # noqa: B018 (the overflow is the point)
    # the delta form: a few ulps (condition factor 3.6) also near b = 1
    for b in [1.0 + 2.0 ** -40, 1.0 + 1e-10, 1.001, 1.5, 2.0]:
        dlt = b - 1.0
        st = math.log1p((2.0 * math.expm1(dlt * math.log(2.0)) - dlt) / b) / b
        assert relerr(st, m_xstar(b)) < 8 * 1.2e-16
    # the large-b form: a few ulps for b >= 2, finite for b = 1e300
    for b in [2.0, B_TAU_025, B_TAU_005, 2000.0, 1e300]:
        st = math.log(2.0) - math.log(b) / b + math.log1p(-2.0 ** -b) / b
        assert relerr(st, m_xstar(b)) < 4e-16


def test_bce_code_matches_doc(mp60):
    losses = _core("core.losses")
    figures = _core("study.figures")
    # band_upper_edge: a few ulps away from b = 1; absolute ~1e-16 near b = 1 (cancellation)
    for b in [1.5, 2.0, B_TAU_025, B_TAU_005, 2000.0, 1e300]:
        assert relerr(figures.band_upper_edge(b), m_xstar(b)) < 4e-16
    for b in [1.0, 1.0 + 1e-10, 1.001]:
        assert abs(figures.band_upper_edge(b) - m_xstar(b)) < 4e-16
    # the crossing with z is at x = 0, without z at x* (logit y-hat = 0 there)
    beta = B_TAU_025 - 2.0
    assert float(losses.head_logits(np.array([0.0]), beta)[0]) == 0.0
    xs = float(m_xstar(B_TAU_025))
    lx = float(losses.head_logits(np.array([xs]), beta, z=False)[0])
    # d logit/dx <= b, so |logit(x*_float)| <= b * |x*_float - x*| <= b * ulp(x*)/2 (plus rounding)
    assert abs(lx) < B_TAU_025 * 1e-16 + 1e-15
    # BCE values and gradients against the exact formulas (mean over n)
    lg = np.array([-800.0, -40.0, -1.0, 0.0, 2.5, 40.0, 800.0])
    for yv in (0, 1):
        y = np.full(lg.shape, yv)
        ex_terms = [mpmath.log1p(mpmath.exp(-li)) if yv else mpmath.log1p(mpmath.exp(li)) for li in lg]
        ex = sum(ex_terms) / len(lg)
        assert relerr(losses.bce_with_logits(lg, y), ex) < 4e-16
        grad = losses.bce_with_logits_grad(lg, y)
        for gi, li in zip(grad, lg):
            exg = (1 / (1 + mpmath.exp(-li)) - yv) / len(lg)
            if abs(exg) > 1e-300:
                assert relerr(gi, exg) < 4e-16
            else:
                assert abs(gi) < 1e-300
    p = np.array([1e-300, 1e-20, 0.3, 0.5, 1 - 2.0 ** -53])
    for yv in (0, 1):
        y = np.full(p.shape, yv)
        ex = sum(-mpmath.log(pi) if yv else -mpmath.log1p(-mpmath.mpf(pi)) for pi in p) / len(p)
        assert relerr(losses.bce(p, y), ex) < 4e-16
        for gi, pi in zip(losses.bce_grad(p, y), p):
            exg = (mpmath.mpf(pi) - yv) / (mpmath.mpf(pi) * (1 - mpmath.mpf(pi))) / len(p)
            assert relerr(gi, exg) < 4e-16
    with pytest.raises(ValueError):
        losses.bce([0.0, 0.5], [1, 0])
    # subnormal p of a positive: (-1/p)/n would overflow to -inf, but the exact
    # -1/(n p) = -1e308 is finite; bce_grad forms -(1/n)/p and returns it (the
    # quotient of two floats: a few ulps)
    pp, yy = np.r_[1e-310, np.full(99, 0.5)], np.r_[1, np.zeros(99, dtype=int)]
    exact = -1 / (100 * mpmath.mpf(pp[0]))
    assert relerr(losses.bce_grad(pp, yy)[0], exact) < 4e-16
    with pytest.raises(ValueError):
        losses.bce_grad([1.0, 0.5], [0, 0])


# ---------------------------------------------------------------------------
# gmn.md
# ---------------------------------------------------------------------------
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


def test_gmn_symbolic():
    ls = sp.symbols("l1:6", real=True)
    labels = [1, 1, 0, 0, 0]
    p = [s_sig(li) for li in ls]
    tp = sum(pi for pi, yi in zip(p, labels) if yi)
    tn = sum(1 - pi for pi, yi in zip(p, labels) if not yi)
    fp = sum(pi for pi, yi in zip(p, labels) if not yi)
    fn = sum(1 - pi for pi, yi in zip(p, labels) if yi)
    m0, m1 = 3, 2
    assert sp.simplify(tn + fp - m0) == 0 and sp.simplify(fn + tp - m1) == 0
    g = sp.sqrt(tn * tp / (m0 * m1))
    j = 1 - g
    # log form: J = 1 - exp((log TP + log TN - log m0 - log m1)/2)
    h = (sp.log(tp) + sp.log(tn) - sp.log(m0) - sp.log(m1)) / 2
    dom = {li: ("-6", "6") for li in ls}
    assert_identity(j - (1 - sp.exp(h)), dom, try_simplify=False)
    for i, (li, yi) in enumerate(zip(ls, labels)):
        if yi:
            w = p[i] / tp
            closed = -(g / 2) * w * (1 - p[i])
        else:
            w = (1 - p[i]) / tn
            closed = (g / 2) * w * p[i]
        assert_identity(sp.diff(j, li) - closed, dom, n_points=3, seed=i, try_simplify=False)
    # probability space: dJ/dp_i = -G/(2 TP) for positives, +G/(2 TN) for negatives
    ps = sp.symbols("q1:6", positive=True)
    tp_p = sum(pi for pi, yi in zip(ps, labels) if yi)
    tn_p = sum(1 - pi for pi, yi in zip(ps, labels) if not yi)
    g_p = sp.sqrt(tn_p * tp_p / (m0 * m1))
    for pi, yi in zip(ps, labels):
        want = -g_p / (2 * tp_p) if yi else g_p / (2 * tn_p)
        assert sp.simplify(sp.diff(1 - g_p, pi) - want) == 0
    # G/(2 TP) = (1/2) sqrt(TN/(m0 m1)) / sqrt(TP)
    tps, tns = sp.symbols("TP TN", positive=True)
    gg = sp.sqrt(tns * tps / (m0 * m1))
    assert sp.simplify(gg / (2 * tps) - sp.sqrt(tns / (m0 * m1)) / (2 * sp.sqrt(tps))) == 0


def test_gmn_underflow_numbers(mp60):
    logits, labels = [-1000.0, -5.0, -5.0], [1, 0, 0]
    j_ex, _, g_ex = m_gmn_logits(logits, labels)
    assert abs(g_ex[0] / mpmath.mpf("-3.550e-218") - 1) < 1e-3
    # naive probability space: TP underflows to 0 and G/(2 TP) is 0/0
    p = expit(np.array(logits))
    tp = p[0]
    tn = np.sum(1 - p[1:])
    assert tp == 0.0
    gval = np.sqrt(tn * tp / 2.0)
    with pytest.raises(FloatingPointError):
        gval / (2 * tp)
    # log space (the doc's formulas transcribed): finite and accurate
    lsp = -np.logaddexp(0.0, -np.array(logits))   # log sigma(l)
    lsq = -np.logaddexp(0.0, np.array(logits))    # log sigma(-l)
    log_tp = lsp[0]
    log_tn = np.logaddexp(lsq[1], lsq[2])
    h = 0.5 * (log_tp + log_tn - math.log(2) - math.log(1))
    assert abs(h - (-500 + 0.5 * math.log(float(expit(5.0))))) < 1e-12
    grad0 = -0.5 * math.exp(h) * math.exp(lsp[0] - log_tp) * math.exp(lsq[0])
    # exp(h) carries the conditioning |h| of exp: relative error ~ eps |h| = 5.5e-14 at h = -500
    assert relerr(grad0, g_ex[0]) < 2.3e-16 * (1 + abs(h))
    # gradient -> 0 like sqrt(TP) as the positive's logit -> -inf: ratio to sqrt(p) is constant
    r = []
    for l0 in [-200.0, -400.0, -600.0]:
        _, _, gg = m_gmn_logits([l0, -5.0, -5.0], labels)
        r.append(gg[0] / mpmath.sqrt(1 / (1 + mpmath.exp(-l0))))
    # equal up to the factor (1 - p) = 1 - O(e^{-200}) and the 60-digit arithmetic
    assert abs(r[0] / r[2] - 1) < 1e-50 and abs(r[1] / r[2] - 1) < 1e-50


def test_gmn_code_matches_doc(mp60):
    losses = _core("core.losses")
    rng = np.random.default_rng(7)
    cases = [
        ([-1000.0, -5.0, -5.0], [1, 0, 0]),
        ([-1e4, -1e4, 3.0, -2.0], [1, 1, 0, 0]),
        (list(rng.normal(0, 4, 12)), [1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
        ([-30.0, 40.0, -38.0, 2.0, 700.0], [1, 1, 0, 0, 0]),
    ]
    for logits, labels in cases:
        j_ex, g_big, g_ex = m_gmn_logits(logits, labels)
        j, grad = losses.gmn_with_logits(np.array(logits), np.array(labels))
        # J: absolute error a few eps (log-sum-exp); gradients: 1e-12 relative, or underflow to 0
        assert abs(j - j_ex) < 1e-15
        for gi, ei in zip(grad, g_ex):
            if abs(ei) > 1e-290:
                assert relerr(gi, ei) < 1e-12
            else:
                assert abs(gi) < 1e-290
        # the softmax weights bound every gradient by G/2 <= 1/2
        g_exact = float(g_big)
        assert np.all(np.abs(grad) <= 0.5 * g_exact * (1 + 1e-12) + 1e-300)
    # probability space: Eq. 8, Eq. 9 and its gradient
    p = rng.uniform(0, 1, 9)
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0])
    cm = losses.approx_confusion(p, y)
    np.testing.assert_allclose(cm.sum(axis=1), [6, 3], rtol=1e-15, atol=0)  # rows = class sizes
    pm = [mpmath.mpf(v) for v in p]
    tp = sum(v for v, t in zip(pm, y) if t)
    tn = sum(1 - v for v, t in zip(pm, y) if not t)
    g = mpmath.sqrt(tn * tp / 18)
    assert relerr(cm[1, 1], tp) < 1e-15 and relerr(cm[0, 0], tn) < 1e-15
    assert relerr(losses.gmn(p, y), 1 - g) < 1e-14
    for gi, t in zip(losses.gmn_grad(p, y), y):
        assert relerr(gi, -g / (2 * tp) if t else g / (2 * tn)) < 1e-14
    with pytest.raises(ValueError):
        losses.gmn_grad(np.array([0.0, 0.5]), np.array([1, 0]))
    with pytest.raises(ValueError):
        losses.gmn(np.array([0.5, 0.5]), np.array([1, 1]))


# ---------------------------------------------------------------------------
# f1.md and mcc.md
# ---------------------------------------------------------------------------
_SYMPY = SimpleNamespace(sqrt=sp.sqrt, log=sp.log, exp=sp.exp, log1p=lambda v: sp.log(1 + v),
                         expm1=lambda v: sp.exp(v) - 1)


def _count_definition(loss, tp, fn, fp, tn):
    """J of a loss on the counts straight from its registered definition (SymPy or mpmath numbers)."""
    xp = _SYMPY if isinstance(tp, sp.Basic) else mpmath.mp
    return registry.get_loss(loss).definition(tn, fp, fn, tp, xp)


_K_FUNCS = {}


def _k_funcs(loss):
    """(k_neg, k_pos) as mpmath functions of (TP, FN, FP, TN): SymPy's derivatives of the
    definition, not simplified (independent of the factorised forms of the docs)."""
    if loss not in _K_FUNCS:
        syms = sp.symbols("TP FN FP TN", positive=True)
        tp, fn, fp, tn = syms
        j = _count_definition(loss, *syms)
        _K_FUNCS[loss] = (sp.lambdify(syms, sp.diff(j, fp) - sp.diff(j, tn), "mpmath"),
                          sp.lambdify(syms, sp.diff(j, tp) - sp.diff(j, fn), "mpmath"))
    return _K_FUNCS[loss]


def m_count_loss(loss, logits, labels, with_grad=True):
    """Exact (J, dJ/dl) of the soft F1 / MCC loss on z = sigmoid(l) at 80 digits: the
    definition, and dJ/dl_i = (dJ/dTP - dJ/dFN) z_i (1 - z_i) (positives; FP, TN for
    negatives) with the partials SymPy takes of the definition."""
    with mpmath.workdps(80):
        ls = [mpmath.mpf(float(v)) for v in logits]
        z = [1 / (1 + mpmath.exp(-li)) for li in ls]
        zc = [1 / (1 + mpmath.exp(li)) for li in ls]
        tp = mpmath.fsum(v for v, t in zip(z, labels) if t)
        fn = mpmath.fsum(v for v, t in zip(zc, labels) if t)
        fp = mpmath.fsum(v for v, t in zip(z, labels) if not t)
        tn = mpmath.fsum(v for v, t in zip(zc, labels) if not t)
        j = _count_definition(loss, tp, fn, fp, tn)
        grad = []
        if with_grad:
            k_neg, k_pos = (f(tp, fn, fp, tn) for f in _k_funcs(loss))
            grad = [+((k_pos if t else k_neg) * zi * zci) for zi, zci, t in zip(z, zc, labels)]
        return +j, grad


def _count_symbols():
    return sp.symbols("TP FN FP TN", positive=True)


def _assert_chain(j_of_counts, k_neg, k_pos, counts_syms):
    """dJ/dl_i = k z_i (1 - z_i) on five logits (two positives), at rational points."""
    ls = sp.symbols("l1:6", real=True)
    labels = [1, 1, 0, 0, 0]
    z = [s_sig(li) for li in ls]
    tp = sum(zi for zi, yi in zip(z, labels) if yi)
    fn = sum(1 - zi for zi, yi in zip(z, labels) if yi)
    fp = sum(zi for zi, yi in zip(z, labels) if not yi)
    tn = sum(1 - zi for zi, yi in zip(z, labels) if not yi)
    sub = dict(zip(counts_syms, (tp, fn, fp, tn)))
    j = j_of_counts.subs(sub)
    dom = {li: ("-5", "5") for li in ls}
    for i, (li, yi) in enumerate(zip(ls, labels)):
        k = (k_pos if yi else k_neg).subs(sub)
        assert_identity(sp.diff(j, li) - k * z[i] * (1 - z[i]), dom, n_points=3, seed=i, try_simplify=False)


def test_f1_symbolic():
    tp, fn, fp, tn = syms = _count_symbols()
    d = 2 * tp + fp + fn
    j = 1 - 2 * tp / d
    assert sp.simplify(j - (fp + fn) / d) == 0
    assert sp.simplify(sp.diff(j, tp) + 2 * (fp + fn) / d ** 2) == 0
    assert sp.simplify(sp.diff(j, fp) - 2 * tp / d ** 2) == 0
    assert sp.simplify(sp.diff(j, fn) - 2 * tp / d ** 2) == 0
    assert sp.diff(j, tn) == 0
    k_neg = 2 * tp / d ** 2
    k_pos = -2 * (tp + fp + fn) / d ** 2
    assert sp.simplify(sp.diff(j, fp) - sp.diff(j, tn) - k_neg) == 0
    assert sp.simplify(sp.diff(j, tp) - sp.diff(j, fn) - k_pos) == 0
    _assert_chain(j, k_neg, k_pos, syms)
    # the edge: no limit at TP = FP = FN = 0; along TP = a t, FP + FN = c t, J = c / (2a + c)
    a, c, t = sp.symbols("a c t", positive=True)
    assert sp.simplify(((fp + fn) / d).subs({tp: a * t, fp: c * t / 2, fn: c * t / 2}) - c / (2 * a + c)) == 0


def test_f1_numbers(mp60):
    cl = _core("core.count_losses")
    # l = (40, -40), y = (1, 0): exact J = sigma(-40); 1 - F1 in float64 is 0
    j_ex, _ = m_count_loss("f1", [40.0, -40.0], [1, 0], with_grad=False)
    assert abs(j_ex / mpmath.mpf("4.248354255291589e-18") - 1) < 1e-15
    z = expit(np.array([40.0, -40.0]))
    naive = 1.0 - 2 * z[0] / (2 * z[0] + z[1] + (1 - z[0]))
    assert naive == 0.0
    j, _ = cl.f1_with_logits_value_and_grad([40.0, -40.0], [1, 0])
    assert relerr(j, j_ex) < 4e-16 * 40
    # one positive at -1000, two negatives at -5: every gradient is the correctly rounded 0
    j_ex, g_ex = m_count_loss("f1", [-1000.0, -5.0, -5.0], [1, 0, 0])
    j, g = cl.f1_with_logits_value_and_grad([-1000.0, -5.0, -5.0], [1, 0, 0])
    assert j == 1.0 and abs(1 - j_ex) <= mpmath.mpf("1e-400")
    assert all(abs(v) <= mpmath.mpf("1e-400") for v in g_ex) and np.all(g == 0.0)
    # D >= m1: TP = FP = FN = 0 needs m1 = 0, refused; the counts form returns None there
    with pytest.raises(ValueError, match=r"^y has no positive"):
        cl.f1_with_logits_value_and_grad([1.0, 2.0], [0, 0])
    assert cl.f1_from_counts(3.0, 0.0, 0.0, 0.0, 3, 1) is None


def _count_cases(rng):
    return [
        ([-1000.0, -5.0, -5.0], [1, 0, 0]),
        ([-30.0, 40.0, -38.0, 2.0, 700.0], [1, 1, 0, 0, 0]),
        (list(rng.normal(0, 4, 12)), [1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
        ([35.0, 33.0, -31.0, -36.0, -34.0], [1, 1, 0, 0, 0]),  # nearly perfect: J ~ 1e-15
        ([-600.0, -610.0, -605.0, -620.0], [1, 0, 0, 1]),      # both marginals far apart
    ]


def _check_code(loss, fn, mp_cases):
    for logits, labels in mp_cases:
        j_ex, g_ex = m_count_loss(loss, logits, labels)
        j, grad = fn(np.array(logits), np.array(labels))
        # J: relative few eps max(1, |log J|) (exp of a difference of log-sum-exps)
        assert relerr(j, j_ex) < 4e-16 * max(1.0, abs(float(mpmath.log(j_ex))))
        for gi, ei in zip(grad, g_ex):
            if abs(ei) > 1e-290:
                assert relerr(gi, ei) < 1e-12, (logits, gi, ei)
            else:
                assert abs(gi) < 1e-290


@pytest.mark.parametrize("loss", [entry.name for entry in registry.losses() if entry.fused == "counts"])
def test_every_count_loss_code_matches_its_definition(mp60, loss):
    # the core value and gradient on logits against SymPy's partials of the registered
    # definition at 80 digits, for every loss on the counts (GMN, soft F1, soft MCC, ...)
    _check_code(loss, registry.get_loss(loss).function("value_and_grad"),
                _count_cases(np.random.default_rng(5)))


def test_count_loss_template_fbeta_symbolic():
    # count_loss_template.md, section 2: k_neg = (1 + b2) TP / D^2 and
    # -k_pos = (1 + b2)(b2 TP + b2 FN + FP) / D^2 for J = 1 - (1 + b2) TP / D
    tp, fn, fp, tn = _count_symbols()
    b2 = sp.Symbol("b2", positive=True)
    d = (1 + b2) * tp + b2 * fn + fp
    j = 1 - (1 + b2) * tp / d
    assert sp.simplify(sp.diff(j, fp) - sp.diff(j, tn) - (1 + b2) * tp / d ** 2) == 0
    assert sp.simplify(sp.diff(j, fn) - sp.diff(j, tp) - (1 + b2) * (b2 * tp + b2 * fn + fp) / d ** 2) == 0
    assert sp.simplify(j - (b2 * fn + fp) / d) == 0


def test_f1_code_matches_doc(mp60):
    cl = _core("core.count_losses")
    _check_code("f1", cl.f1_with_logits_value_and_grad, _count_cases(np.random.default_rng(3)))
    # the counts form (fused kernel) against the closed forms of section 2
    tn, fp, fn, tp = 7.5, 0.25, 1e-300, 2.0
    J, k_neg, k_pos = cl.f1_from_counts(tn, fp, fn, tp, 8, 2)
    with mpmath.workdps(40):
        t, f, n_ = mpmath.mpf(tp), mpmath.mpf(fp), mpmath.mpf(fn)
        d = 2 * t + f + n_
        assert relerr(J, (f + n_) / d) < 4e-16
        assert relerr(k_neg, 2 * t / d ** 2) < 4e-16 * 4
        assert relerr(k_pos, -2 * (t + f + n_) / d ** 2) < 4e-16 * 4


def _mcc_symbols():
    tp, fn, fp, tn = syms = _count_symbols()
    n = tp + fn + fp + tn
    big_p, big_q, m0, m1 = tp + fp, tn + fn, tn + fp, tp + fn
    return syms, n, big_p, big_q, m0, m1


def test_mcc_symbolic():
    (tp, fn, fp, tn), n, big_p, big_q, m0, m1 = _mcc_symbols()
    big_n = tp * tn - fp * fn
    s = sp.sqrt(big_p * big_q * m0 * m1)
    j = 1 - big_n / s
    # the direct partials of section 2
    mcc = big_n / s
    assert sp.simplify(sp.diff(mcc, tp) - (tn / s - mcc / 2 * (1 / (tp + fp) + 1 / (tp + fn)))) == 0
    assert sp.simplify(sp.diff(mcc, fn) - (-fp / s - mcc / 2 * (1 / (tp + fn) + 1 / (tn + fn)))) == 0
    # the factorised k of section 2
    den = 2 * (big_p * big_q) ** sp.Rational(3, 2) * sp.sqrt(m0 * m1)
    k_neg = n * (fn * fp + 2 * fn * tp + tn * tp) / den
    k_pos = -n * (fn * fp + 2 * fp * tn + tn * tp) / den
    assert sp.simplify(sp.diff(j, fp) - sp.diff(j, tn) - k_neg) == 0
    assert sp.simplify(sp.diff(j, tp) - sp.diff(j, fn) - k_pos) == 0
    # section 3: S^2 - N^2 = n e3
    e3 = fn * fp * tn + fn * fp * tp + fn * tn * tp + fp * tn * tp
    assert sp.expand(s ** 2 - big_n ** 2 - n * e3) == 0
    # section 5: each bracket is at most 2 P Q (the difference has non-negative coefficients)
    for bracket in (fn * fp + 2 * fn * tp + tn * tp, fn * fp + 2 * fp * tn + tn * tp):
        assert all(c >= 0 for c in sp.Poly(sp.expand(2 * big_p * big_q - bracket), tp, fn, fp, tn).coeffs())
    _assert_chain(j, k_neg, k_pos, (tp, fn, fp, tn))


def test_mcc_marginal_numbers(mp60):
    cl = _core("core.count_losses")
    logits, labels = [-900.0, -900.0, -900.0], [1, 0, 0]
    j_ex, g_ex = m_count_loss("mcc", logits, labels)
    # linear counts: TP = FP = 0 and N / S is 0/0
    z = expit(np.array(logits))
    assert z[0] == 0.0
    with pytest.raises(FloatingPointError):
        (z[0] * 2.0 - z[1] * 1.0) / np.sqrt((z[0] + z[1] + z[2]) * 3.0 * 2.0)
    j, g = cl.mcc_with_logits_value_and_grad(np.array(logits), np.array(labels))
    assert j == 1.0 and abs(j_ex - 1) <= mpmath.mpf("1e-300")
    assert all(1e-197 < abs(v) < 1e-195 for v in g_ex)  # order e^-450, as the doc says
    for gi, ei in zip(g, g_ex):
        assert relerr(gi, ei) < 1e-12
    # |MCC| <= sqrt(P Q / (m0 m1)) -> 0 as P -> 0, and the gradient shrinks like sqrt(P)
    for l0 in (-20.0, -200.0, -600.0):
        ls = [l0, l0 - 1.0, l0 + 0.5]
        j_ex, g_ex = m_count_loss("mcc", ls, labels)
        with mpmath.workdps(80):
            z = [1 / (1 + mpmath.exp(-mpmath.mpf(v))) for v in ls]
            big_p = sum(z)
            assert abs(1 - j_ex) <= mpmath.sqrt(big_p * (3 - big_p) / 2)
            assert max(abs(v) for v in g_ex) <= 3 / mpmath.sqrt(2) * mpmath.sqrt(big_p / (3 - big_p))
    # the counts form: an exactly empty marginal has no finite k; None sends the kernel
    # to the reference path
    assert cl.mcc_from_counts(2.0, 0.0, 1.0, 0.0, 2, 1) is None
    assert cl.mcc_from_counts(0.0, 2.0, 0.0, 1.0, 2, 1) is None
    # l = (40, -40), y = (1, 0): exact J = 2 sigma(-40); 1 - MCC in float64 is 0
    j_ex, _ = m_count_loss("mcc", [40.0, -40.0], [1, 0], with_grad=False)
    assert abs(j_ex / mpmath.mpf("8.496708510583178e-18") - 1) < 1e-15
    j, _ = cl.mcc_with_logits_value_and_grad([40.0, -40.0], [1, 0])
    assert relerr(j, j_ex) < 4e-16 * 40


def test_mcc_code_matches_doc(mp60):
    cl = _core("core.count_losses")
    _check_code("mcc", cl.mcc_with_logits_value_and_grad, _count_cases(np.random.default_rng(4)))
    tn, fp, fn, tp = 7.5, 0.5, 1e-300, 2.0
    J, k_neg, k_pos = cl.mcc_from_counts(tn, fp, fn, tp, 8, 2)
    with mpmath.workdps(40):
        a, b, c, d = (mpmath.mpf(v) for v in (tp, fn, fp, tn))
        s = mpmath.sqrt((a + c) * (a + b) * (d + c) * (d + b))
        assert relerr(J, 1 - (a * d - b * c) / s) < 4e-16 * 4
        den = 2 * ((a + c) * (b + d)) ** 1.5 * mpmath.sqrt(16)
        assert relerr(k_neg, 10 * (b * c + 2 * b * a + d * a) / den) < 4e-16 * 8
        assert relerr(k_pos, -10 * (b * c + 2 * c * d + d * a) / den) < 4e-16 * 8


# ---------------------------------------------------------------------------
# head.md
# ---------------------------------------------------------------------------
def m_head(x, beta, labels, loss="bce", astra=True, z=True):
    """Exact (L, dL/dx, dL/dbeta) by the chain rule of head.md, every factor in mpmath."""
    n = len(x)
    if astra:
        bm = 2 + mpmath.mpf(beta) if beta > 0 else 1 + mpmath.exp(beta)
        dbdbeta = mpmath.mpf(1) if beta > 0 else mpmath.exp(beta)
        b = float(bm)  # the float64 slope the code uses
        ell = [m_logit(xi, b) for xi in x]
        shift = m_logit(0.0, b) if z else mpmath.mpf(0)
    else:
        ell = [mpmath.mpf(xi) for xi in x]
        shift = mpmath.mpf(0)
    lz = [e - shift for e in ell]
    if loss == "bce":
        val = sum(mpmath.log1p(mpmath.exp(-l)) if yi else mpmath.log1p(mpmath.exp(l))
                  for l, yi in zip(lz, labels)) / n
        dl = [(m_sig(l) - yi) / n for l, yi in zip(lz, labels)]
    else:
        val, _, dl = m_gmn_logits(lz, labels)
    if not astra:
        return val, dl, mpmath.mpf(0)
    parts = [m_partials(xi, b) for xi in x]
    gx = [d * p[2] for d, p in zip(dl, parts)]
    gb = sum(d * p[3] for d, p in zip(dl, parts))
    if z:
        gb -= sum(dl) * m_partials(0.0, b)[3]
    return val, gx, gb * dbdbeta


def test_head_chain_symbolic():
    # Two examples (y = 1, 0), BCE mean, on both pieces of Eq. 7; differentiate the composed
    # definition directly and compare with the chain-rule closed forms at rational points.
    x1, x2 = sp.symbols("x1 x2", real=True)
    beta = sp.Symbol("beta", real=True)
    for b_of_beta, dom_beta in [(2 + beta, ("1/10", "6")), (1 + sp.exp(beta), ("-3", "0"))]:
        yv = lambda xx: S_Y.subs({X: xx, B: b_of_beta})  # noqa: E731
        tau = S_TAU.subs(B, b_of_beta)
        l1 = s_logit(yv(x1)) - s_logit(tau)
        l2 = s_logit(yv(x2)) - s_logit(tau)
        loss = (s_softplus(-l1) + s_softplus(l2)) / 2
        dl1, dl2 = (s_sig(l1) - 1) / 2, s_sig(l2) / 2
        sub = lambda e, xx: e.subs({X: xx, B: b_of_beta})  # noqa: E731
        dldx = lambda xx: sub(s_sig(S_T) / S_Y, xx)  # noqa: E731
        dldb = lambda xx: sub(S_N / (B ** 2 * S_Y), xx)  # noqa: E731
        dtau = (-S_G_LOGB / (B ** 2 * S_TAU)).subs(B, b_of_beta)
        dom = {x1: ("-3", "2"), x2: ("-2", "3"), beta: dom_beta}
        assert_identity(sp.diff(loss, x1) - dl1 * dldx(x1), dom, n_points=3, try_simplify=False)
        assert_identity(sp.diff(loss, x2) - dl2 * dldx(x2), dom, n_points=3, try_simplify=False)
        chain_b = (dl1 * dldb(x1) + dl2 * dldb(x2) - (dl1 + dl2) * dtau) * sp.diff(b_of_beta, beta)
        assert_identity(sp.diff(loss, beta) - chain_b, dom, n_points=3, try_simplify=False)
    # at x = 0 the z-transformed logit is 0 for every b: d/db [l(x, b) - l(0, b)] = 0 there
    assert sp.simplify((S_N / (B ** 2 * S_Y)).subs(X, 0) + S_G_LOGB / (B ** 2 * S_TAU)) == 0
    # astra=False: b = 1 gives logit y = x and logit tau = 0
    assert sp.simplify(s_logit(S_Y.subs(B, 1)) - X) == 0 and S_TAU.subs(B, 1) == sp.Rational(1, 2)


def test_head_naive_chain_fails(mp60):
    b = B_TAU_025
    n = 3
    yhat = np.float64(float(m_y(-110.0, b)))
    assert yhat == 0.0 and abs(b * -110.0 + 813.6) < 0.01
    with pytest.raises(FloatingPointError):
        -1.0 / (n * yhat)
    # exact: -(1/n) sigma(-l) dl/dx = -b/n (1 - O(e^{bx}))
    _, gx, _ = m_head([-110.0, 1.0, -1.0], b - 2.0, [1, 0, 0])
    assert abs(gx[0] / (-mpmath.mpf(b) / n) - 1) < 1e-300
    # tail limits: -b/n for a positive far below, +1/n for a negative far above; sigmoid: -+1/n
    for beta in [b - 2.0, B_TAU_005 - 2.0, 0.0, -2.0]:
        bb = float(2 + mpmath.mpf(beta) if beta > 0 else 1 + mpmath.exp(beta))  # as in m_head
        _, gx, _ = m_head([-600.0 / bb, 60.0, 0.5], beta, [1, 0, 1])
        assert abs(gx[0] / (-mpmath.mpf(bb) / 3) - 1) < 1e-100
        assert abs(gx[1] / (mpmath.mpf(1) / 3) - 1) < 1e-20
        _, gx, _ = m_head([-600.0, 60.0, 0.5], beta, [1, 0, 1], astra=False)
        assert abs(gx[0] + mpmath.mpf(1) / 3) < 1e-100 and abs(gx[1] - mpmath.mpf(1) / 3) < 1e-20


def test_head_code_matches_doc(mp60):
    losses = _core("core.losses")
    x_sets = [
        (np.array([-1e4, 2.0, -3.0]), np.array([1, 0, 0])),
        (np.array([-110.0, 0.3, -0.2, 5.0, -40.0]), np.array([1, 1, 0, 0, 0])),
        (np.array([-2.0, 1.5, 0.0, 0.7, -0.4, 3.0]), np.array([0, 1, 0, 1, 0, 0])),
        (np.array([60.0, -60.0, 1.0, -1.0]), np.array([0, 1, 0, 1])),
    ]
    for beta in [B_TAU_025 - 2.0, B_TAU_005 - 2.0, 0.3, -1.5]:
        for x, y in x_sets:
            for loss in ("bce", "gmn"):
                for astra, z in [(True, True), (True, False), (False, False)]:
                    val, gx, gb = losses.head_loss(x, beta, y, loss=loss, astra=astra, z=z)
                    ev, egx, egb = m_head(list(x), beta, list(y), loss, astra, z)
                    tag = (beta, list(x), loss, astra, z)
                    # loss: a few eps relative (BCE mean of softplus; GMN via expm1)
                    assert abs(val - ev) <= 1e-14 * max(1.0, abs(float(ev))), tag
                    # gradients: the package's 1e-12 relative target, or an underflow to 0
                    for g, e in zip(gx, egx):
                        if abs(e) > 1e-290:
                            assert relerr(g, e) < 1e-12, tag
                        else:
                            assert abs(g) < 1e-290, tag
                    if astra:
                        assert relerr(gb, egb) < 1e-12 or abs(gb - float(egb)) < 1e-300, tag
                    else:
                        assert gb == 0.0
    # head_logits: l(0) = 0 with z; astra=False returns x itself
    assert float(losses.head_logits(np.array([0.0]), 1.7)[0]) == 0.0
    xs = np.array([-3.0, 0.5])
    np.testing.assert_array_equal(losses.head_logits(xs, 1.7, astra=False), xs)
    # the paper's four methods
    assert losses.METHODS["bce-astra"] == dict(loss="bce", astra=True, z=True)
    assert losses.METHODS["gmn"] == dict(loss="gmn", astra=False, z=False)
    # dL/dbeta by numerical differentiation of the composed definition (independent of the
    # closed forms): 60-digit central differences, agreement to 1e-25
    x, y = [-2.0, 1.5, 0.7, -0.4], [0, 1, 1, 0]
    for beta in [0.8, -0.7]:
        for loss in ("bce", "gmn"):
            def total(bt):
                bm = 2 + bt if bt > 0 else 1 + mpmath.exp(bt)
                lz = [mpmath.log(mpmath.expm1(mpmath.log1p(bm * mpmath.exp(bm * xi)) / bm))
                      - mpmath.log(mpmath.expm1(mpmath.log1p(bm) / bm)) for xi in x]
                if loss == "bce":
                    return sum(mpmath.log1p(mpmath.exp(-l)) if yi else mpmath.log1p(mpmath.exp(l))
                               for l, yi in zip(lz, y)) / len(x)
                tp = sum(m_sig(l) for l, yi in zip(lz, y) if yi)
                tn = sum(m_sig(-l) for l, yi in zip(lz, y) if not yi)
                return 1 - mpmath.sqrt(tp * tn / 4)
            num = mpmath.diff(total, mpmath.mpf(beta))
            # m_head uses the float64 slope b(beta); compare at a beta where b is exact in float
            _, _, gb = m_head(x, beta, y, loss)
            bm = 2 + mpmath.mpf(beta) if beta > 0 else 1 + mpmath.exp(beta)
            assert abs(gb - num) < 1e-13 * abs(num) + abs(bm - float(bm)) * 10, (beta, loss)


# ---------------------------------------------------------------------------
# metrics.md
# ---------------------------------------------------------------------------
def test_metrics_symbolic():
    tn, fp, fn, tp = sp.symbols("TN FP FN TP", positive=True)
    m0, m1 = tn + fp, fn + tp
    tpr, tnr, fnr, fpr = tp / m1, tn / m0, fn / m1, fp / m0
    ppv, npv = tp / (tp + fp), tn / (tn + fn)
    num = tp * tn - fp * fn
    den2 = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    assert sp.simplify(fnr - (1 - tpr)) == 0 and sp.simplify(fpr - (1 - tnr)) == 0
    assert sp.expand(num - (tp * m0 + tn * m1 - m0 * m1)) == 0
    assert sp.simplify(num - m0 * m1 * (tpr + tnr - 1)) == 0
    assert sp.simplify(num - m0 * m1 * (tpr - fpr)) == 0
    # MCC^2 = informedness * markedness
    assert sp.simplify(num ** 2 / den2 - (tpr + tnr - 1) * (ppv + npv - 1)) == 0
    # an empty predicted marginal makes the numerator 0: TP = FP = 0, or TN = FN = 0
    assert num.subs({tp: 0, fp: 0}) == 0 and num.subs({tn: 0, fn: 0}) == 0
    # and an empty actual marginal too: TP = FN = 0, or TN = FP = 0
    assert num.subs({tp: 0, fn: 0}) == 0 and num.subs({tn: 0, fp: 0}) == 0
    # G-Mean = 1 - J_GMN on the same matrix
    assert sp.simplify(sp.sqrt(tpr * tnr) - sp.sqrt(tn * tp / (m0 * m1))) == 0
    # log e-ratio example: y = (1, 0, 0), l = (0, -800, -800)
    ex = sp.log(sp.Rational(1, 2)) - (sp.log(2) - 800 - sp.log(2))
    assert sp.simplify(ex - (800 - sp.log(2))) == 0 and abs(float(ex) - 799.307) < 1e-3


def test_metrics_code_matches_doc(mp60):
    met = _core("core.metrics")
    losses = _core("core.losses")
    yt = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1])
    yp = np.array([0, 1, 0, 0, 1, 0, 1, 0, 1])
    cm = met.confusion_matrix(yt, yp)
    assert cm.tolist() == [[4, 1], [1, 3]]
    r = met.rates(cm)
    assert (r["tpr"], r["tnr"], r["fnr"], r["fpr"]) == (3 / 4, 4 / 5, 1 / 4, 1 / 5)
    # MCC and G-Mean: the defining formulas, exact rationals; rtol 1e-15 for the float path
    num = 3 * 4 - 1 * 1
    den = math.sqrt(4 * 4 * 5 * 5)
    assert abs(met.mcc(cm) - num / den) <= 1e-15
    assert abs(met.g_mean(cm) - math.sqrt(0.75 * 0.8)) <= 1e-15
    # 0/0 conventions
    assert met.mcc([[5, 0], [3, 0]]) == 0.0   # no predicted positive
    assert met.mcc([[0, 5], [0, 3]]) == 0.0   # no predicted negative
    assert met.mcc([[5, 2], [0, 0]]) == 0.0   # no actual positive
    assert met.g_mean([[5, 0], [3, 0]]) == 0.0
    with pytest.raises(ValueError):
        met.rates([[5, 2], [0, 0]])
    with pytest.raises(ValueError):
        met.g_mean([[0, 0], [1, 2]])
    # approximated == counted for p in {0, 1}
    np.testing.assert_array_equal(losses.approx_confusion(yp.astype(float), yt), cm.astype(float))
    assert met.approx_mcc(yp.astype(float), yt) == met.mcc(cm)
    # approximated metrics from logits against the exact matrix; G-Mean_apx = 1 - J_GMN
    lg = np.array([-3.0, 2.0, -40.0, -800.0, 1.0, -2.0, 35.0, 0.5, 4.0])
    pm = [1 / (1 + mpmath.exp(-mpmath.mpf(v))) for v in lg]
    qm = [1 / (1 + mpmath.exp(mpmath.mpf(v))) for v in lg]
    ex = {
        "tp": sum(p for p, t in zip(pm, yt) if t), "fn": sum(q for q, t in zip(qm, yt) if t),
        "fp": sum(p for p, t in zip(pm, yt) if not t), "tn": sum(q for q, t in zip(qm, yt) if not t),
    }
    ltn, lfp, lfn, ltp = met.log_approx_confusion(lg, yt)
    for got, key in [(ltn, "tn"), (lfp, "fp"), (lfn, "fn"), (ltp, "tp")]:
        assert abs(got - mpmath.log(ex[key])) <= 4e-16 * max(1.0, abs(float(mpmath.log(ex[key]))))
    allm = met.approx_metrics_from_logits(lg, yt)
    m1, m0 = 4, 5
    for key, val in [("tpr", ex["tp"] / m1), ("fnr", ex["fn"] / m1), ("tnr", ex["tn"] / m0),
                     ("fpr", ex["fp"] / m0), ("g_mean", mpmath.sqrt(ex["tp"] * ex["tn"] / (m0 * m1)))]:
        assert relerr(allm[key], val) < 1e-14, key  # exp of a log: a few eps times |log|
    assert relerr(met.approx_fnr_from_logits(lg, yt), ex["fn"] / m1) < 1e-14
    j, _ = losses.gmn_with_logits(lg, yt)
    assert abs(allm["g_mean"] - (1 - j)) < 1e-15
    log_e = mpmath.log(ex["fn"] / m1) - mpmath.log(ex["fp"] / m0)
    assert abs(met.log_e_ratio(lg, yt) - log_e) < 1e-14 * max(1.0, abs(float(log_e)))
    assert abs(allm["log_e_ratio"] - log_e) < 1e-14 * max(1.0, abs(float(log_e)))
    p = expit(lg)
    assert relerr(met.e_ratio(p, yt), mpmath.exp(log_e)) < 1e-14
    # the e-ratio example of metrics.md: ratio from probabilities is inf, the log is 800 - log 2
    lg2, y2 = np.array([0.0, -800.0, -800.0]), np.array([1, 0, 0])
    assert met.e_ratio(expit(lg2), y2) == math.inf
    assert abs(met.log_e_ratio(lg2, y2) - (800 - math.log(2))) < 1e-12
    assert met.e_ratio(np.array([1.0, 0.0, 0.0]), y2) == math.inf  # doubly saturated 0/0
    with pytest.raises(ValueError):
        met.log_e_ratio(np.array([0.0, 1.0]), np.array([0, 0]))


# ---------------------------------------------------------------------------
# README.md
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# kernel.md
# ---------------------------------------------------------------------------
def test_kernel_derivation_structure():
    test_derivation_files_structure("kernel.md")


def test_kernel_head_algebra_symbolic():
    # Sections 1-4 of kernel.md from the paper's definitions (Eq. 4: y = 1 - (1 + b e^{bx})^{-1/b};
    # Eq. 6: logit z = logit y - logit tau, tau = y(0)), at random rational points, 50 digits.
    x, b = X, B
    y = 1 - (1 + b * sp.exp(b * x)) ** (-1 / b)
    tau = y.subs(x, 0)
    l = sp.log(y / (1 - y)) - sp.log(tau / (1 - tau))
    z = s_sig(l)
    t = b * x + sp.log(b)
    v = s_sig(t)
    s = sp.log(1 + sp.exp(t)) / b
    e = sp.exp(s) - 1
    c0 = sp.exp(sp.log(1 + b) / b) - 1
    r = 1 / (c0 + e)
    K = (1 + e) * r
    U = v * K
    g_logb = sp.log(1 + b) - b / (1 + b)
    logit_y = sp.log(y / (1 - y))
    claims = {
        "c0": tau / (1 - tau) - c0,
        "z": z - e * r,
        "1-z": (1 - z) - c0 * r,
        "z dl/dx": z * sp.diff(l, x) - U,
        "z dlogit y/db": z * sp.diff(logit_y, b) - (U * (x + 1 / b) - s * K) / b,
        "dlogit tau/db": sp.diff(sp.log(tau / (1 - tau)), b) + g_logb * (1 + c0) / (c0 * b ** 2),
        "BCE y=0": -sp.log(1 - z) - sp.log(1 + e / c0),
        "BCE y=1": -sp.log(z) - sp.log(1 + c0 / e),
        "count row term": z * (1 - z) * sp.diff(l, x) - c0 * r * U,
        "count beta term": z * (1 - z) * sp.diff(logit_y, b) - c0 * ((r * U) * (x + 1 / b) - s * K * r) / b,
    }
    rng = random.Random(7)
    for _ in range(6):
        point = {x: sp.Rational(rng.randint(-300, 300), 100), b: sp.Rational(rng.randint(101, 2000), 100)}
        for name, diff in claims.items():
            assert abs(sp.N(diff.subs(point), 50)) < 1e-40, (name, point)


def test_kernel_saturated_limits(mp60):
    # Section 5: at and beyond the cap s = 650 + min(0, log c0) the row terms equal their
    # limits to far below float64 precision; the bounds quoted for the cap and B_MAX hold.
    for b in (mpmath.mpf("7.396348760419537"), mpmath.mpf(10) ** 6, mpmath.mpf(10) ** 100):
        c0 = mpmath.expm1(mpmath.log1p(b) / b)
        cap = 650 + min(0, mpmath.log(c0))
        assert mpmath.expm1(cap) / c0 <= mpmath.exp(650) * (1 + mpmath.mpf(10) ** -30)
        for s in (cap, cap + 1, 2 * cap, 10 ** 4):
            s = mpmath.mpf(s)
            e = mpmath.expm1(s)
            r = 1 / (c0 + e)
            bound = max(mpmath.exp(-s), mpmath.mpf(10) ** -55)  # e^{-s}, or the 60-digit working precision
            assert abs(r * mpmath.exp(s) - 1) <= bound  # 1 - z = c0 e^{-s}
            assert abs((1 + e) * r - 1) <= bound  # K = 1
            assert abs(mpmath.log1p(e / c0) - (s - mpmath.log(c0))) <= bound * s  # softplus(l)
            assert mpmath.exp(-s) < mpmath.mpf(10) ** -180
    # B_MAX: r^2 <= 1/c0^2 finite at b = 1e150, not near 1e158
    for b, finite in ((mpmath.mpf(10) ** 150, True), (mpmath.mpf(10) ** 158, False)):
        c0 = mpmath.expm1(mpmath.log1p(b) / b)
        assert (1 / c0 ** 2 < mpmath.mpf(np.finfo(np.float64).max)) == finite
    # plain sigmoid beyond x = 700: 1 - sigma = e^{-x} to a relative e^{-700}
    for xv in (700, 701, 5000):
        exact = 1 / (1 + mpmath.exp(xv))
        assert abs(mpmath.exp(-xv) / exact - 1) <= max(mpmath.exp(-700), mpmath.mpf(10) ** -55)


def _bce_z_exact(xs, ys, b):
    """Mean BCE on z (Eq. 4, 6) at 60 digits."""
    b = mpmath.mpf(b)
    c0 = mpmath.expm1(mpmath.log1p(b) / b)
    total = 0
    for xv, yv in zip(xs, ys):
        s = mpmath.log1p(b * mpmath.exp(b * mpmath.mpf(xv))) / b
        l = mpmath.log(mpmath.expm1(s)) - mpmath.log(c0)
        total += mpmath.log1p(mpmath.exp(-l)) if yv else mpmath.log1p(mpmath.exp(l))
    return total / len(xs)


def test_kernel_code_matches_doc(mp60):
    from astra_np.learn import kernel, nn

    for beta in (5.3963487604, 1e6, 1e151):
        b = mpmath.mpf(beta) + 2
        c0 = mpmath.expm1(mpmath.log1p(b) / b)
        exact = -(mpmath.log1p(b) - b / (1 + b)) * (1 + c0) / (c0 * b * b)
        assert kernel.head_constants(beta)[3] == pytest.approx(float(exact), rel=1e-14, abs=0)
    # saturated rows (s > 650) and bulk rows in one epoch: the kernel's loss is Eq. 4, 6 and
    # the mean BCE at 60 digits; the network is the identity x -> x
    xs = np.array([-3.0, 0.5, 2.0, 800.0, 4000.0, 1.5, -700.0, 900.0])
    ys = np.array([0, 0, 1, 0, 0, 1, 1, 1])
    p = nn.MLPParams((np.ones((1, 1)),), (np.zeros(1),), 5.3963487604)
    k = kernel.EpochKernel(xs[:, None], ys, (1, 1), method="bce-astra")
    terms = k.loss_and_grad(p.to_vector(), np.empty(k.size))
    assert not terms.fallback
    assert terms.loss == pytest.approx(float(_bce_z_exact(xs, ys, 7.3963487604)), rel=1e-14, abs=0)

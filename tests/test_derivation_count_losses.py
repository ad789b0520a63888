r"""Checks of ``derivations/f1.md``, ``derivations/mcc.md`` and
``derivations/count_loss_template.md``: the losses on the counts of Eq. 8.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import expit

from astra_np.core import registry

from derivation_helpers import (
    assert_identity,
    astra_module,
    mpmath,
    relerr,
    s_sig,
    sp,
)

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
    cl = astra_module("core.count_losses")
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
    cl = astra_module("core.count_losses")
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
    cl = astra_module("core.count_losses")
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
    cl = astra_module("core.count_losses")
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

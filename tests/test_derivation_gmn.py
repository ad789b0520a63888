r"""Checks of ``derivations/gmn.md``: the GMN loss (Eq. 8, 9).

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import math

import numpy as np
import pytest
from scipy.special import expit

from derivation_helpers import (
    assert_identity,
    astra_module,
    m_gmn_logits,
    mpmath,
    relerr,
    s_sig,
    sp,
)


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
    losses = astra_module("core.losses")
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

r"""Checks of ``derivations/bce.md``: the binary cross-entropy and the band edge of Fig. 2.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import math

import numpy as np
import pytest
from scipy.special import expit

from derivation_helpers import (
    B_TAU_005,
    B_TAU_025,
    S_Y,
    B,
    P,
    X,
    assert_identity,
    astra_module,
    mpmath,
    relerr,
    s_sig,
    s_softplus,
    sp,
)

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
    losses = astra_module("core.losses")
    figures = astra_module("study.figures")
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

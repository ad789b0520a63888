r"""Checks of ``derivations/threshold.md``: the threshold tau(b) (Eq. 5) and its inverse.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import math

import pytest

from derivation_helpers import (
    B_TAU_005,
    B_TAU_025,
    S_G,
    S_G_LOGB,
    S_N,
    S_TAU,
    S_Y,
    B,
    X,
    assert_identity,
    astra_module,
    mpmath,
    relerr,
    sp,
)


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
    act = astra_module("core.activation")
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
    act = astra_module("core.activation")
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

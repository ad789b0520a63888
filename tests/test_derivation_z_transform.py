r"""Checks of ``derivations/z_transform.md``: the z-transform (Eq. 6).

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import numpy as np
import pytest

from derivation_helpers import (
    B_TAU_025,
    P,
    assert_identity,
    astra_module,
    m_comp,
    m_logit,
    m_y,
    mpmath,
    relerr,
    s_logit,
    sp,
)

TAU = sp.Symbol("tau", positive=True)
S_D = P * (1 - TAU) + (1 - P) * TAU
S_Z = P * (1 - TAU) / S_D
PT_DOMAIN = {P: ("1/1000", "999/1000"), TAU: ("1/1000", "999/1000")}


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
    zt = astra_module("core.ztransform")
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

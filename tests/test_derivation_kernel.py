r"""Checks of ``derivations/kernel.md``: the fused epoch kernel's head algebra and its limits.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import random

import numpy as np
import pytest

from derivation_helpers import (
    B,
    X,
    assert_derivation_file_structure,
    mpmath,
    s_sig,
    sp,
)


def test_kernel_derivation_structure():
    assert_derivation_file_structure("kernel.md")


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

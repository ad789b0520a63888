r"""Checks of ``derivations/head.md``: the output head, Eq. 4-9 by the chain rule.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import numpy as np
import pytest

from derivation_helpers import (
    B_TAU_005,
    B_TAU_025,
    S_G_LOGB,
    S_N,
    S_T,
    S_TAU,
    S_Y,
    B,
    X,
    assert_identity,
    astra_module,
    m_gmn_logits,
    m_logit,
    m_partials,
    m_sig,
    m_y,
    mpmath,
    relerr,
    s_logit,
    s_sig,
    s_softplus,
    sp,
)


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
    losses = astra_module("core.losses")
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

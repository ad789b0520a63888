r"""Derivatives by numerical differentiation: two independent layers.

1. The mpmath reference's closed-form derivatives (:mod:`astra_np.check.reference`,
   which the goldens are made from) against ``mpmath.diff`` of the reference's
   own values, at 60 digits, everywhere (both tails included: mpmath has no
   overflow or underflow, and where ``y`` rounds to 1 at 60 digits the
   derivative is taken of ``1 - y`` instead).
2. The float64 core's analytic partials, VJPs and ``head_loss`` gradients
   against ``scipy.differentiate.derivative`` (central differences with
   Richardson extrapolation) -- only in the non-saturated bulk
   (``|b x| <= 15``, probabilities in ``[0.01, 0.99]``, ``beta`` away from the
   kink of Eq. 7 at 0), because finite differences return confident wrong
   answers where the function is flat to float64 precision.

Tolerances for layer 2: ``rtol = 1e-7`` and ``atol = 1e-9``.  Richardson
extrapolated central differences of an O(1) smooth function reach about
1e-10 absolute accuracy here (round-off ``eps |f| / h`` with ``h >= 1e-3``
after extrapolation); a wrong closed form is wrong by O(1) relative, and a
gradient scaled by 1.000001 is caught by ``rtol = 1e-7``
(:func:`test_fd_layer_catches_a_1e-6_relative_error`).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.differentiate import derivative

from astra_np.core import activation as A
from astra_np.core import losses as Lo
from astra_np.core import ztransform as Z

mpmath = pytest.importorskip("mpmath")
from astra_np.check import reference as R  # noqa: E402

FD_RTOL = 1e-7  # see the module docstring
FD_ATOL = 1e-9
MP_DIGITS = 60
MP_RTOL = mpmath.mpf(10) ** -40  # mpmath.diff at 60 digits agrees to ~55 digits

N_FD = max(10, settings.default.max_examples // 3)
N_FD_HEAD = N_FD  # each example differentiates n <= 5 coordinates and beta


# ---------------------------------------------------------------------------
# layer 1: reference closed forms vs mpmath.diff
# ---------------------------------------------------------------------------

POINTS = [
    (-1e4, 1000.0), (-0.7, 1000.0), (0.7, 1000.0), (1e4, 1000.0), (-1e4, 1.0), (1e4, 1.0),
    (3.0, 1.5), (1e-8, 1.0), (-1e-8, 2.0), (0.0, 87.37), (-50.0, 7.396348760419537),
    (0.42, 7.396348760419537), (5.0, np.e), (30.0, np.e), (-3.0, 30.0), (1e-300, 3.0),
    (1e30, 1.036), (-1e30, 3.0),
]


def _close(a, b, rtol=MP_RTOL):
    return abs(a - b) <= rtol * max(abs(a), abs(b)) or a == b


@pytest.mark.parametrize("x,b", POINTS)
def test_reference_astra_partials_match_mpmath_diff(x, b):
    # log10|b x| extra digits: the difference quotient of logit ~ b x + ... must
    # resolve changes of relative size 1 / |b x| (x = 1e30 needs 30 more)
    extra = 20 + int(math.log10(max(1.0, abs(b * x))))
    with mpmath.mp.workdps(MP_DIGITS + extra):
        xm, bm = mpmath.mpf(x), mpmath.mpf(b)
        t = R.astra_terms_mp(xm, bm)
        # differentiate whichever of y, 1 - y is small, so that it is not rounded away
        use_y = t["y"] <= t["yc"]

        def y_of(xx, bb):
            tt = R.astra_terms_mp(xx, bb)
            return tt["y"] if use_y else -tt["yc"]

        checks = {
            "dy_dx": mpmath.diff(lambda v: y_of(v, bm), xm),
            "dy_db": mpmath.diff(lambda v: y_of(xm, v), bm),
            "dl_dx": mpmath.diff(lambda v: R.astra_terms_mp(v, bm)["logit"], xm),
            "dl_db": mpmath.diff(lambda v: R.astra_terms_mp(xm, v)["logit"], bm),
        }
        for key, numeric in checks.items():
            assert _close(numeric, t[key]), (x, b, key, numeric, t[key])


@pytest.mark.parametrize("p,tau", [(0.0, 0.25), (1e-300, 0.05), (0.3, 0.25), (0.999, 1e-6), (1.0, 0.5), (0.5, 0.1)])
def test_reference_z_partials_match_mpmath_diff(p, tau):
    with mpmath.mp.workdps(MP_DIGITS):
        pm, tm = mpmath.mpf(p), mpmath.mpf(tau)

        def z(pp, tt):
            return pp * (1 - tt) / (pp * (1 - tt) + (1 - pp) * tt)

        dzdp, dzdt = R.z_transform_partials(p, tau)
        # one-sided at the ends of [0, 1] (the closed form is analytic through them)
        assert _close(mpmath.diff(lambda v: z(v, tm), pm), dzdp)
        num = mpmath.diff(lambda v: z(pm, v), tm)
        assert _close(num, dzdt) or abs(num - dzdt) <= MP_RTOL  # dz/dtau = 0 at p = 0, 1
        assert _close(mpmath.diff(lambda v: R.astra_terms_mp(mpmath.mpf(0), v)["y"], mpmath.mpf(7.5)),
                      R.threshold_grad(7.5))


@pytest.mark.parametrize("beta", [-30.0, -1.0, -1e-3, 1e-3, 2.0, 998.0])
def test_reference_beta_grad_matches_mpmath_diff(beta):
    # 100 digits and a step of 1e-30, far below |beta|: the central difference never
    # straddles the kink of Eq. 7 at 0; truncation ~1e-60, round-off ~1e-70.
    with mpmath.mp.workdps(100):
        def b_of(v):
            return 2 + v if v > 0 else 1 + mpmath.exp(v)

        num = mpmath.diff(b_of, mpmath.mpf(beta), h=mpmath.mpf(10) ** -30, method="step")
        assert _close(num, R.slope_from_beta_grad(beta))


HEAD_REF_CASES = [
    ([-2.0, 0.5, 1.5, -0.3], [1, 0, 1, 0], 5.3963487604195368),
    ([-1e4, -1e4, -1.0, -2.0, 0.25], [1, 1, 0, 0, 0], 85.37),
    ([-110.0, 3.0, -4.0, 0.1], [1, 0, 0, 1], -0.7),
    ([40.0, 800.0, 2.0, -1.0], [0, 0, 1, 1], 0.0),
]


def _diff_keeping_digits(f, x0, expected):
    """mpmath.diff of f at x0 with enough working digits for the quotient to keep 60.

    The value can exceed its derivative by hundreds of orders of magnitude (an
    example at x = -1e4 dominates the loss while x_i sits at 800), so the working
    precision grows with log10(|f| / |expected|); the closed form is then compared
    with the numerical derivative to 40 digits.
    """
    with mpmath.mp.workdps(MP_DIGITS):
        f0 = abs(f(x0))
        gap = 0
        if f0 != 0 and expected != 0:
            gap = max(0, int(mpmath.log10(f0) - mpmath.log10(abs(expected))))
    with mpmath.mp.workdps(MP_DIGITS + 40 + gap):
        return mpmath.diff(f, x0)


def _head_value(xs, beta, y, loss, z):
    """The head loss; for GMN -G (Eq. 9, written out here from the counts of the head's
    logits) instead of 1 - G, which rounds to 1 when G ~ 1e-190000."""
    d = R.head_mp(xs, beta, y, loss=loss, astra=True, z=z)
    if loss == "bce":
        return d["loss"]
    _, _, (tn, _, _, tp) = R._head_counts(d["logit"], y)
    m1 = sum(y)
    return -mpmath.sqrt(tn * tp / ((len(y) - m1) * m1))


@pytest.mark.parametrize("x,y,beta", HEAD_REF_CASES)
@pytest.mark.parametrize("loss", ["bce", "gmn"])
@pytest.mark.parametrize("z", [False, True])
def test_reference_head_gradients_match_mpmath_diff(x, y, beta, loss, z):
    with mpmath.mp.workdps(MP_DIGITS):
        xs = [mpmath.mpf(v) for v in x]
        bm = mpmath.mpf(beta)
        d = R.head_mp(xs, bm, y, loss=loss, astra=True, z=z)
        for i in range(len(xs)):
            def f(v, i=i):
                xx = list(xs)
                xx[i] = v
                return _head_value(xx, bm, y, loss, z)

            num = _diff_keeping_digits(f, xs[i], d["dL_dx"][i])
            assert _close(num, d["dL_dx"][i]), (i, num, d["dL_dx"][i])
    if beta != 0.0:
        # step 1e-30 (never straddling the kink of Eq. 7, as above) at 160 digits
        with mpmath.mp.workdps(160):
            num = mpmath.diff(lambda v: _head_value(xs, v, y, loss, z), bm,
                              h=mpmath.mpf(10) ** -30, method="step")
            assert _close(num, d["dL_dbeta"], rtol=mpmath.mpf(10) ** -25), (num, d["dL_dbeta"])


def test_reference_prob_gradients_match_mpmath_diff():
    p = [0.2, 0.7, 1e-3, 0.4, 0.9]
    y = [1, 0, 1, 0, 0]
    with mpmath.mp.workdps(MP_DIGITS):
        pm = [mpmath.mpf(v) for v in p]
        for ref_grad, loss in ((R.bce_grad(p, y), "bce"), (R.gmn_grad(p, y), "gmn")):
            for i in range(len(p)):
                def f(v, i=i):
                    pp = list(pm)
                    pp[i] = v
                    if loss == "bce":  # noqa: B023 (f is used inside this iteration only)
                        return mpmath.fsum(-mpmath.log(a) if t else -mpmath.log1p(-a) for a, t in zip(pp, y)) / len(pp)
                    tn = mpmath.fsum(1 - a for a, t in zip(pp, y) if t == 0)
                    tp = mpmath.fsum(a for a, t in zip(pp, y) if t == 1)
                    return 1 - mpmath.sqrt(tn * tp / (3 * 2))

                assert _close(mpmath.diff(f, pm[i]), ref_grad[i]), (loss, i)


# ---------------------------------------------------------------------------
# layer 2: scipy.differentiate on the float64 core, non-saturated bulk only
# ---------------------------------------------------------------------------


def assert_fd(name, fd, analytic):
    # fd.success is not required: for derivatives far below the function's size
    # scipy stops at "error increased" (status -1) once round-off dominates, with a
    # result still well inside atol; the comparison below is the criterion.
    assert np.all(np.isfinite(fd.df)), (name, fd)
    np.testing.assert_allclose(analytic, fd.df, rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)


bulk_b = st.floats(min_value=1.0, max_value=100.0)
bulk_t = st.floats(min_value=-15.0, max_value=15.0)


@settings(max_examples=N_FD)
@given(b=bulk_b, t=bulk_t)
def test_fd_astra_partials_bulk(b, t):
    x = t / b
    dy_dx, dy_db = A.astra_partials(x, b)
    dl_dx, dl_db = A.astra_logit_partials(x, b)
    hx, hb = 0.05 / b, 0.05 * b  # |b dx| <= 0.05 and b stays >= 0.95 b > 0
    assert_fd("dy_dx", derivative(lambda v: A.astra(v, b), x, initial_step=hx), dy_dx)
    assert_fd("dy_db", derivative(lambda v: A.astra(x, v), b, initial_step=hb), dy_db)
    assert_fd("dl_dx", derivative(lambda v: A.astra_logit(v, b), x, initial_step=hx), dl_dx)
    assert_fd("dl_db", derivative(lambda v: A.astra_logit(x, v), b, initial_step=hb), dl_db)


@settings(max_examples=N_FD)
@given(b=st.floats(min_value=1.0, max_value=500.0))
def test_fd_threshold_grad(b):
    assert_fd("threshold_grad", derivative(A.threshold, b, initial_step=0.05 * b), A.threshold_grad(b))


@settings(max_examples=N_FD)
@given(beta=st.one_of(st.floats(min_value=-5.0, max_value=-0.1), st.floats(min_value=0.1, max_value=100.0)))
def test_fd_slope_from_beta_grad(beta):
    h = 0.2 * min(abs(beta), 1.0)  # never crosses the kink at beta = 0
    assert_fd("slope_from_beta_grad", derivative(A.slope_from_beta, beta, initial_step=h),
              A.slope_from_beta_grad(beta))


@settings(max_examples=N_FD)
@given(p=st.floats(min_value=0.01, max_value=0.99), tau=st.floats(min_value=0.01, max_value=0.45))
def test_fd_z_transform_partials(p, tau):
    dz_dp, dz_dtau = Z.z_transform_partials(p, tau)
    hp = 0.1 * min(p, 1.0 - p)  # p stays in [0, 1]
    ht = 0.1 * min(tau, 0.5 - tau)  # tau stays in (0, 0.5]
    assert_fd("dz_dp", derivative(lambda v: Z.z_transform(v, tau), p, initial_step=hp), dz_dp)
    assert_fd("dz_dtau", derivative(lambda v: Z.z_transform(p, v), tau, initial_step=ht), dz_dtau)
    g = np.array([0.7, -1.3])
    gp, gtau = Z.z_transform_vjp(g, np.array([p, p]), tau)
    np.testing.assert_allclose(gp, g * dz_dp, rtol=1e-15, atol=0)  # same products
    assert_fd("z vjp gtau", derivative(lambda v: float(np.sum(g)) * Z.z_transform(p, v), tau, initial_step=ht), gtau)


def fd_gradient(fun, base, steps):
    """Finite-difference gradient of scalar ``fun`` at vector ``base``, one coordinate at a time.

    (scipy.differentiate.derivative drops converged elements from later calls, so a
    vectorised call cannot tell which coordinate a value belongs to: differentiate
    each coordinate separately.)  Returns ``(df, all finite)`` as arrays.
    """
    base = np.asarray(base, dtype=np.float64)
    df = np.empty_like(base)
    for i in range(base.size):
        def f(v, i=i):
            v = np.asarray(v, dtype=np.float64)
            out = np.empty_like(v)
            for idx in np.ndindex(v.shape):
                arg = base.copy()
                arg[i] = v[idx]
                out[idx] = fun(arg)
            return out

        df[i] = derivative(f, base[i], initial_step=float(np.broadcast_to(steps, base.shape)[i])).df
    return _FD(df)


class _FD:
    """Minimal stand-in for scipy's result object (only ``df`` is used)."""

    def __init__(self, df):
        self.df = df


prob_vec = st.lists(st.floats(min_value=0.05, max_value=0.95), min_size=3, max_size=6)


@settings(max_examples=N_FD)
@given(p=prob_vec, data=st.data())
def test_fd_bce_and_gmn_grad(p, data):
    p = np.array(p)
    y = np.array(data.draw(st.lists(st.sampled_from([0, 1]), min_size=p.size, max_size=p.size)))
    y[0], y[1] = 0, 1
    # steps well inside the radius of convergence (the sqrt / log singularities at 0, 1)
    h = 0.1 * np.minimum(p, 1.0 - p)
    assert_fd("bce_grad", fd_gradient(lambda a: Lo.bce(a, y), p, h), Lo.bce_grad(p, y))
    assert_fd("gmn_grad", fd_gradient(lambda a: Lo.gmn(a, y), p, h), Lo.gmn_grad(p, y))


@settings(max_examples=N_FD_HEAD)
@given(
    t=st.lists(bulk_t, min_size=2, max_size=5),
    beta=st.one_of(st.floats(min_value=-3.0, max_value=-0.3), st.floats(min_value=0.3, max_value=20.0)),
    loss=st.sampled_from(["bce", "gmn"]),
    astra=st.booleans(),
    z=st.booleans(),
    data=st.data(),
)
def test_fd_head_loss_bulk(t, beta, loss, astra, z, data):
    # the bulk: x = t / b with |t| <= 15, so that no example's term is saturated (an
    # example at b x = -41 contributes a derivative of 1e-16 to a loss of size 20,
    # which no finite difference of the total can resolve)
    b = float(A.slope_from_beta(beta)) if astra else 1.0
    x = np.array(t) / b
    y = np.array(data.draw(st.lists(st.sampled_from([0, 1]), min_size=x.size, max_size=x.size)))
    y[0], y[1] = 0, 1
    L, gx, gbeta = Lo.head_loss(x, beta, y, loss=loss, astra=astra, z=z)
    fd = fd_gradient(lambda a: Lo.head_loss(a, beta, y, loss=loss, astra=astra, z=z)[0], x, 0.1 / b)
    assert_fd("dL_dx", fd, gx)
    if not astra:
        assert gbeta == 0.0  # b = 1: the loss does not depend on beta
        return
    hb = 0.2 * min(abs(beta), 1.0)  # stays on one side of the kink of Eq. 7

    def f_beta(v):
        v = np.asarray(v, dtype=np.float64)
        out = np.empty_like(v)
        for idx in np.ndindex(v.shape):
            out[idx] = Lo.head_loss(x, float(v[idx]), y, loss=loss, astra=astra, z=z)[0]
        return out

    assert_fd("dL_dbeta", derivative(f_beta, beta, initial_step=hb), gbeta)


def test_fd_layer_catches_a_1e_6_relative_error():
    """The FD comparison is sharp enough to reject a gradient off by a factor 1.000001."""
    b, x = 7.396348760419537, 0.3
    fd = derivative(lambda v: A.astra(v, b), x, initial_step=0.05 / b)
    dy_dx = A.astra_partials(x, b)[0]
    assert_fd("exact", fd, dy_dx)
    with pytest.raises(AssertionError):
        assert_fd("wrong by 1e-6", fd, dy_dx * 1.000001)


@pytest.mark.parametrize("x,b", POINTS + [(1.2192622660036363e280, 1.0358981051019955), (-1e300, 1000.0)])
def test_reference_is_stable_across_precisions(x, b):
    """60-digit results agree with 120-digit ones to 58 digits, tails included
    (a total cancellation that looked converged would show up here)."""
    lo_p = R.astra_all(x, b, dps=60)
    hi_p = R.astra_all(x, b, dps=120)
    with mpmath.mp.workdps(130):
        for key in lo_p:
            assert _close(lo_p[key], hi_p[key], rtol=mpmath.mpf(10) ** -58), (key, lo_p[key], hi_p[key])

"""The public gradient checker astra_np.check.gradcheck.

The checker must *fail* a gradient that is wrong by a factor 1.000001 (far below what
torch.autograd.gradcheck's atol = 1e-5 can see in ASTra's tails) and pass the correct
one, for every kind of derivative astra_np has, including in the saturated tails.
"""
import dataclasses

import numpy as np
import pytest

from astra_np.check import _complex as cx
from astra_np.check.gradcheck import (
    DEFAULT_COMPLEX_STEPS,
    GradcheckResult,
    assert_gradient,
    check_gradient,
    combine,
)
from astra_np.core import activation as act
from astra_np.core import losses as los
from astra_np.core import ztransform as zt

WRONG = 1.000001
TAU = 0.0496  # ~ the paper's lowest workable threshold
B_LOW_TAU = 87.4

# Inputs spanning bulk and tails: x in [-1e4, 1e4] and b in [1, 1000].
X_TAILS = np.array([-1e4, -700.0, -40.0, -5.0, -0.3, 0.0, 0.2, 3.0, 40.0, 700.0, 1e4, -6.5, 9.0])
B_TAILS = np.array([1.0, 1.0, 7.3963487604, 87.4, 1000.0, 2.5, 1000.0, 87.4, 1.0, 7.4, 1000.0, 87.4, 1.0])


def _scaled(grad, factor=WRONG, vjp=False):
    """``grad`` with every returned array multiplied by ``factor``."""

    def wrong(*args):
        out = grad(*args)
        if isinstance(out, tuple):
            return tuple(np.asarray(o) * factor for o in out)
        return np.asarray(out) * factor

    return wrong


def _labels(n, pos):
    y = np.zeros(n, dtype=np.int64)
    y[list(pos)] = 1
    return y


def _head(method):
    kw = los.METHODS[method]
    f = lambda x, beta, y: cx.head_loss(x, beta, y, **kw)
    g = lambda x, beta, y: los.head_loss(x, float(beta), y, **kw)[1:]
    return f, g


_rng = np.random.default_rng(0)
_P = np.concatenate([[1e-300, 1e-20, 0.3, 1 - 1e-16, 0.97], _rng.uniform(0, 1, 15)])
_Y = _labels(20, [0, 3, 7])
_LOGITS = np.concatenate([[-1e4, -745.0, 30.0, 1e4], _rng.uniform(-8, 8, 16)])
_XH = np.concatenate([[-1e4, 5.0, -30.0, 1e4], _rng.uniform(-3, 3, 16)])
_BETA = np.asarray(float(act.beta_from_slope(B_LOW_TAU)))

# name: (f, grad, inputs, kwargs for check_gradient)
CASES = {
    "astra dy/dx tails": (cx.astra, act.astra_partials, (X_TAILS, B_TAILS), dict(wrt=0)),
    "astra dy/db tails": (cx.astra, act.astra_partials, (X_TAILS, B_TAILS), dict(wrt=1)),
    "astra_logit partials": (cx.astra_logit, act.astra_logit_partials, (X_TAILS, B_TAILS), {}),
    "astra_vjp (b broadcast)": (cx.astra, act.astra_vjp, (X_TAILS.reshape(1, -1).repeat(2, 0), 7.4),
                                dict(mode="vjp")),
    "threshold_grad": (cx.threshold, act.threshold_grad, (np.array([1.0, 7.3963487604, 87.4, 1000.0]),), {}),
    "slope_from_beta_grad": (cx.slope_from_beta, act.slope_from_beta_grad, (np.array([-30.0, -1.0, 0.0, 0.5, 900.0]),),
                             {}),
    "z_transform_partials": (cx.z_transform, zt.z_transform_partials, (_P, TAU), {}),
    "z_transform_vjp": (cx.z_transform, zt.z_transform_vjp, (_P, np.array(TAU)), dict(mode="vjp")),
    "bce_grad": (cx.bce, los.bce_grad, (_P, _Y), dict(mode="gradient")),
    "bce_with_logits_grad": (cx.bce_with_logits, los.bce_with_logits_grad, (_LOGITS, _Y), dict(mode="gradient")),
    "gmn_grad": (cx.gmn, los.gmn_grad, (_P, _Y), dict(mode="gradient")),
    "head_loss[bce] dL/dx": (*_head("bce"), (_XH, _BETA, _Y), dict(mode="gradient", wrt=0)),
    "head_loss[gmn] dL/dx": (*_head("gmn"), (_XH, _BETA, _Y), dict(mode="gradient", wrt=0)),
    "head_loss[bce-astra] dL/dx": (*_head("bce-astra"), (_XH, _BETA, _Y), dict(mode="gradient", wrt=0)),
    "head_loss[gmn-astra] dL/dx": (*_head("gmn-astra"), (_XH, _BETA, _Y), dict(mode="gradient", wrt=0)),
    "head_loss[bce-astra] dL/dbeta": (*_head("bce-astra"), (_XH, _BETA, _Y), dict(mode="gradient", wrt=1)),
    "head_loss[gmn-astra] dL/dbeta": (*_head("gmn-astra"), (_XH, _BETA, _Y), dict(mode="gradient", wrt=1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_correct_gradient_passes_and_wrong_by_1e6_fails(name):
    f, grad, inputs, kw = CASES[name]
    # rtol 1e-10: the core is accurate to ~1e-13 here, the complex step to rounding;
    # a relative error of 1e-6 is 10^4 times the tolerance. atol 0: nothing is hidden.
    good = check_gradient(f, grad, inputs, rtol=1e-10, atol=0.0, **kw)
    assert good.passed, str(good)
    assert good.max_rel_error < 1e-11
    bad = check_gradient(f, _scaled(grad), inputs, rtol=1e-10, atol=0.0, **kw)
    assert not bad.passed
    assert not bad
    # the measured error is the injected one (1e-6 relative), up to rounding
    assert 0.9e-6 < bad.max_rel_error < 1.1e-6
    assert bad.worst_ratio > 1.0
    assert "FAILED" in str(bad)


def test_single_wrong_tail_entry_is_found_and_located():
    x, b = X_TAILS, B_TAILS
    k = 2  # x = -40, b = 7.396: dy/dx ~ 1e-128, invisible to any absolute tolerance

    def grad(x, b):
        dx, db = act.astra_partials(x, b)
        dx = dx.copy()
        dx[k] *= WRONG
        return dx, db

    res = check_gradient(cx.astra, grad, (x, b), wrt=0, rtol=1e-10, atol=0.0)
    assert not res.passed
    assert res.worst_index == (k,)
    assert res.worst_argument == "x"
    assert res.worst_input == {"x": -40.0, "b": 7.3963487604}
    assert res.analytic == pytest.approx(res.reference_value * WRONG, rel=1e-12, abs=0.0)  # the injected factor
    assert 0 < abs(res.reference_value) < 1e-100
    # an absolute tolerance like torch.autograd.gradcheck's (atol 1e-5, rtol 1e-3) is blind to it
    blind = check_gradient(cx.astra, grad, (x, b), wrt=0, rtol=1e-3, atol=1e-5)
    assert blind.passed


def test_complex_step_ladder_resolves_tiny_derivatives():
    # d/dx exp(x) at x = -690 is 3e-300: Im(h f') underflows for h = 1e-200 and 1e-100
    x = np.array([-690.0, -575.0, -300.0, 0.0, 300.0])
    res = check_gradient(cx.exp, np.exp, (x,), rtol=1e-14, atol=0.0)  # 1e-14: one exp, a few ulps
    assert res.passed and res.max_rel_error < 1e-15
    bad = check_gradient(cx.exp, _scaled(np.exp), (x,), rtol=1e-14, atol=0.0)
    assert not bad.passed and 0.9e-6 < bad.max_rel_error < 1.1e-6
    # wrong only where f' < 1e-250: with the single step 1e-200, Im(h f') underflows
    # there and is resolved only to the absolute uncertainty ~2e-292/h, so the error
    # slips by; the default ladder of steps catches it
    tail_wrong = lambda x: np.where(x < -500, WRONG, 1.0) * np.exp(x)
    assert check_gradient(cx.exp, tail_wrong, (x,), rtol=1e-14, atol=0.0, step=DEFAULT_COMPLEX_STEPS[0]).passed
    caught = check_gradient(cx.exp, tail_wrong, (x,), rtol=1e-14, atol=0.0)
    assert not caught.passed and caught.worst_index in ((0,), (1,))


def test_values_below_the_normal_range_count_as_agreeing():
    # both analytic and reference subnormal or zero: no relative precision exists
    f = lambda x: cx.exp(x)
    res = check_gradient(f, lambda x: np.exp(x) * 1.5, (np.array([-740.0, -1e4]),), rtol=1e-14, atol=0.0)
    assert res.passed and res.max_abs_error == 0.0


def test_finite_differences_pass_in_the_bulk_and_catch_the_error():
    rng = np.random.default_rng(1)
    x, b = rng.uniform(-3, 3, 60), 10.0 ** rng.uniform(0, 1, 60)
    # rtol 1e-8: Ridders' extrapolation reaches ~1e-10 on these smooth, unsaturated points
    good = check_gradient(act.astra, act.astra_partials, (x, b), "fd", rtol=1e-8, atol=1e-13)
    assert good.passed, str(good)
    assert good.reference.startswith("central differences")
    bad = check_gradient(act.astra, _scaled(act.astra_partials), (x, b), "fd", rtol=1e-8, atol=1e-13)
    assert not bad.passed
    # vjp mode with a broadcast b: one element at a time
    xv, bv = rng.uniform(-3, 3, (4, 3)), np.array([1.0, 2.0, 7.4])
    assert check_gradient(act.astra, act.astra_vjp, (xv, bv), "fd", mode="vjp", rtol=1e-8, atol=1e-13).passed
    # gradient mode
    p, y = np.array([0.2, 0.7, 0.4, 0.9]), np.array([1, 0, 0, 1])
    assert check_gradient(los.bce, los.bce_grad, (p, y), "fd", mode="gradient", rtol=1e-8).passed
    assert not check_gradient(los.bce, _scaled(los.bce_grad), (p, y), "fd", mode="gradient", rtol=1e-8).passed


def test_finite_differences_are_unreliable_in_saturated_tails():
    # y = astra(25, 1.95) = 1 - 4e-12: differences of y lose ~12 digits, so FD misses the
    # (correct) dy/db, while the complex step is exact to rounding.
    x, b = np.array([25.0]), np.array([1.95])
    fd = check_gradient(act.astra, act.astra_partials, (x, b), "fd", wrt=1, rtol=1e-8, atol=0.0)
    cs = check_gradient(cx.astra, act.astra_partials, (x, b), "complex", wrt=1, rtol=1e-12, atol=0.0)
    assert cs.passed
    assert not fd.passed and fd.max_rel_error > 1e-8


def test_mpmath_reference_partials_and_gradient():
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp

    def logit_mp(x, b):
        return mp.log(mp.expm1(mp.log1p(b * mp.exp(b * x)) / b))

    x, b = np.array([-1e4, -40.0, -0.5, 0.0, 3.0, 1e4]), np.array([1000.0, 7.4, 87.4, 1.0, 87.4, 1.0])
    good = check_gradient(logit_mp, act.astra_logit_partials, (x, b), "mpmath", rtol=1e-12, atol=1e-15)
    assert good.passed, str(good)
    assert good.reference == "mpmath.diff at 50 digits"
    assert not check_gradient(logit_mp, _scaled(act.astra_logit_partials), (x, b), "mpmath", rtol=1e-12).passed

    def bce_mp(p, y):  # object arrays of mpf in gradient mode
        terms = [-mp.log(pi) if yi else -mp.log1p(-pi) for pi, yi in zip(p, y)]
        return mp.fsum(terms) / len(terms)

    # vjp mode: f on object arrays, output shape found by one evaluation
    z_mp = lambda p, tau: np.array([pi * (1 - tau) / (pi * (1 - tau) + (1 - pi) * tau) for pi in p], dtype=object)
    pz = np.array([0.0, 1e-300, 0.2, 1 - 1e-16, 1.0])
    assert check_gradient(z_mp, zt.z_transform_vjp, (pz, np.array(TAU)), "mpmath", mode="vjp", rtol=1e-13).passed

    p, y = np.array([1e-300, 0.3, 1 - 1e-16, 0.5]), np.array([1, 0, 0, 1])
    # rtol 1e-13: the core's 1/p and 1/(1-p) are correctly rounded up to the mean
    assert check_gradient(bce_mp, los.bce_grad, (p, y), "mpmath", mode="gradient", rtol=1e-13).passed
    assert not check_gradient(bce_mp, _scaled(los.bce_grad), (p, y), "mpmath", mode="gradient", rtol=1e-13).passed


def test_callable_reference():
    # a hand-written naive sigmoid gradient against astra_np's (b = 1: ASTra is the sigmoid)
    x = np.linspace(-20, 20, 41)
    naive = lambda x, b: np.exp(-x) / (1 + np.exp(-x)) ** 2
    res = check_gradient(None, naive, (x, 1.0), reference=lambda x, b: act.astra_partials(x, b)[0], wrt=0,
                         rtol=1e-13, atol=0.0)  # 1e-13: both are a few ulps in this range
    assert res.passed and res.reference.startswith("callable")
    res_bad = check_gradient(None, _scaled(naive), (x, 1.0), reference=lambda x, b: act.astra_partials(x, b)[0],
                             wrt=0, rtol=1e-13, atol=0.0)
    assert not res_bad.passed


def test_result_object_and_report():
    res = check_gradient(cx.astra, act.astra_partials, (X_TAILS, B_TAILS), rtol=1e-10, atol=0.0, name="ASTra")
    assert isinstance(res, GradcheckResult) and dataclasses.is_dataclass(res)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.passed = False
    assert res.n_points == 2 * X_TAILS.size
    assert set(res.worst_input) == {"x", "b"}
    assert res.mode == "partials" and res.reference == "complex step"
    assert res.rtol == 1e-10 and res.atol == 0.0
    text = str(res)
    for piece in ("ASTra", "PASSED", "analytic", "reference", "max rel error", "worst: d/d"):
        assert piece in text
    assert bool(res) is True
    # combine: sums the points, keeps the worst
    bad = check_gradient(cx.astra, _scaled(act.astra_partials), (X_TAILS, B_TAILS), rtol=1e-10)
    both = combine([res, bad], "both")
    assert both.n_points == res.n_points + bad.n_points
    assert not both.passed and both.max_rel_error == bad.max_rel_error and both.name == "both"


def test_assert_gradient():
    x = np.array([0.1, 2.0])
    out = assert_gradient(np.sin, np.cos, (x,), rtol=1e-14)  # 1e-14: libm sin/cos, a few ulps
    assert out.passed
    with pytest.raises(AssertionError, match="FAILED"):
        assert_gradient(np.sin, _scaled(np.cos), (x,), rtol=1e-14)


def test_wrt_by_name_atol_array_and_default_cotangent():
    res = check_gradient(cx.astra, act.astra_partials, (X_TAILS, B_TAILS), wrt="b", rtol=1e-10,
                         atol=np.full(X_TAILS.shape, 1e-30))
    assert res.passed and res.n_points == X_TAILS.size and res.worst_argument == "b"
    # inputs with integer dtype (labels) are not differentiated by default
    r = check_gradient(cx.bce, los.bce_grad, (_P, _Y), mode="gradient", rtol=1e-12)
    assert r.n_points == _P.size
    # the default cotangent is seeded: same seed, same result
    xv = X_TAILS.reshape(1, -1)
    r1 = check_gradient(cx.astra, act.astra_vjp, (xv, 7.4), mode="vjp", seed=3, rtol=1e-10)
    r2 = check_gradient(cx.astra, act.astra_vjp, (xv, 7.4), mode="vjp", seed=3, rtol=1e-10)
    assert r1 == r2 and r1.passed


def test_bad_arguments_raise():
    x = np.array([0.5, 1.0])
    with pytest.raises(ValueError, match="mode"):
        check_gradient(cx.exp, np.exp, (x,), mode="jacobian")
    with pytest.raises(ValueError, match="reference"):
        check_gradient(cx.exp, np.exp, (x,), reference="autograd")
    with pytest.raises(ValueError, match="needs the forward function"):
        check_gradient(None, np.exp, (x,))
    with pytest.raises(ValueError, match="unknown argument 'q'"):
        check_gradient(cx.astra, act.astra_partials, (x, 2.0), wrt="q")
    with pytest.raises(ValueError, match="out of range"):
        check_gradient(cx.astra, act.astra_partials, (x, 2.0), wrt=5)
    with pytest.raises(ValueError, match="returned 3 arrays"):
        check_gradient(cx.astra, lambda x, b: (x, x, x), (x, 2.0))
    with pytest.raises(ValueError, match="shape"):
        check_gradient(cx.exp, lambda x: np.ones(5), (x,))
    with pytest.raises(ValueError, match="rtol"):
        check_gradient(cx.exp, np.exp, (x,), rtol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        check_gradient(cx.exp, np.exp, (x,), atol=np.nan)
    with pytest.raises(ValueError, match="scalar-valued"):
        check_gradient(cx.exp, np.exp, (x,), mode="gradient")
    with pytest.raises(ValueError, match="cotangent"):
        check_gradient(None, lambda g, x: g, (x,), reference=lambda g, x: g, mode="vjp")


def test_real_valued_f_with_complex_reference_raises():
    x = np.array([0.5, 1.0])
    with pytest.raises(TypeError, match="complex"):
        check_gradient(lambda x: np.real(np.exp(x)), np.exp, (x,))


# ---------------------------------------------------------------------------
# A PyTorch function wrapped to map NumPy arrays to NumPy arrays
# ---------------------------------------------------------------------------


def _torch_logit_partials(torch, softplus):
    """d logit ASTra / d(x, b) by torch.autograd, for a torch forward using ``softplus``."""

    def partials(x, b):
        xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        bt = torch.tensor(np.broadcast_to(np.asarray(b, dtype=np.float64), xt.shape).copy(), requires_grad=True)
        t = bt * xt + torch.log(bt)
        s = softplus(t) / bt
        logit = torch.where(s > 1, s + torch.log(-torch.expm1(-s)), torch.log(torch.expm1(s)))
        gx, gb = torch.autograd.grad(logit.sum(), (xt, bt))
        return gx.numpy(), gb.numpy()

    return partials


def test_torch_wrapped_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    b = 10.0 ** rng.uniform(0, 2, 80)
    x = rng.uniform(-25, 25, 80) / b  # |b x| <= 25: the torch form has no tail handling
    exact_sp = lambda t: torch.logaddexp(torch.zeros_like(t), t)
    tp = _torch_logit_partials(torch, exact_sp)
    # rtol 1e-9: autograd of softplus(t)/b forms dl/db as a difference of terms of size
    # |t|/b^2 (|t| <= 30), losing up to ~3 digits; a 1e-6 error is still 1000x the tolerance
    res = check_gradient(cx.astra_logit, tp, (x, b), rtol=1e-9, atol=0.0)
    assert res.passed, str(res)
    # the same torch gradient against astra_np's analytic partials as the reference
    assert check_gradient(None, tp, (x, b), reference=act.astra_logit_partials, rtol=1e-9, atol=0.0).passed
    wrong = _scaled(tp)
    assert not check_gradient(cx.astra_logit, wrong, (x, b), rtol=1e-9, atol=0.0).passed
    # torch's F.softplus switches to the identity above t = 20 (threshold=20): its
    # derivative there is exactly 1 instead of sigmoid(t) = 1 - 2e-9. The checker sees it.
    # rtol 1e-12 here: with b = 1 and t <= 30 the exact torch form is good to ~1e-14
    x_tail = np.array([21.0, 25.0, 30.0])
    sp20 = _torch_logit_partials(torch, torch.nn.functional.softplus)
    tail = check_gradient(cx.astra_logit, sp20, (x_tail, 1.0), wrt=1, rtol=1e-12, atol=0.0)
    assert not tail.passed and tail.max_rel_error > 1e-11
    good_tail = check_gradient(cx.astra_logit, _torch_logit_partials(torch, exact_sp), (x_tail, 1.0), wrt=1,
                               rtol=1e-12, atol=0.0)
    assert good_tail.passed, str(good_tail)

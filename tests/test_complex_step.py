"""The complex-step-safe forms of astra_np.check._complex against mpmath.

Layer 2 of the ground truth: the forward forms used as the complex-step reference
must (a) reproduce the float64 values of the 60-digit mpmath references and (b) give,
through Im f(x + ih)/h, derivatives that agree with mpmath over the whole range,
saturated tails included. Then they can certify the hand-derived gradients anywhere.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from astra_np.check import _complex as cx

mpmath = pytest.importorskip("mpmath")
ref = pytest.importorskip("astra_np.check.reference")

H = 1e-200  # complex step; Im parts stay far from overflow and, for these inputs, from underflow
EPS = np.finfo(np.float64).eps

finite_x = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
slopes = st.floats(1.0, 1000.0, allow_nan=False, allow_infinity=False)


LADDER = (1e-200, 1e-100, 1e-30)  # complex steps, smallest first
FLOOR = 1e-259  # |f'| below this cannot be resolved: Im = 1e-30 f' is subnormal


def cstep(f, *args, wrt=0, h=None):
    """Complex-step derivative of f with respect to argument ``wrt``.

    Without ``h``, per entry the smallest step of LADDER whose imaginary part is a
    normal float (>= 1e-290) is used: Im = h f' underflows for tiny f' and h = 1e-200.
    """
    args = list(args)
    base = np.asarray(args[wrt], dtype=np.float64)
    out = None
    for step in ((h,) if h else LADDER):
        args[wrt] = base + 1j * step
        im = np.imag(f(*args))
        est = im / step
        if out is None:
            out, todo = np.array(est, dtype=float), np.abs(im) < 1e-290
        else:
            out = np.where(todo, est, out)
            todo = todo & (np.abs(im) < 1e-290)
    return out


def cgrad(f, x, *rest):
    """Complex-step gradient of a scalar f(x, *rest) over the entries of the array x."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.size)
    for i in range(x.size):
        out[i] = cstep(lambda xi: f(np.where(np.arange(x.size) == i, xi, x), *rest), x[i])  # noqa: B023
    return out


def close(a, b, rtol, atol):
    return bool(np.all(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) <= atol + rtol * np.abs(np.asarray(b, dtype=float))))


# ---------------------------------------------------------------------------
# Elementary functions: value = real stable function, Im/h = exact derivative
# ---------------------------------------------------------------------------

MP = mpmath.mp

def _sig(t):
    return 1 / (1 + MP.exp(-t))


ELEMENTARY = {
    # name: (complex-safe form, mpmath value, mpmath derivative (textbook), sampler)
    "log1p": (cx.log1p, MP.log1p, lambda a: 1 / (1 + a),
              lambda r: np.clip(r.choice([-1, 1], 60) * 10.0 ** r.uniform(-300, 300, 60), -0.99, None)),
    "expm1": (cx.expm1, MP.expm1, MP.exp, lambda r: r.choice([-1, 1], 60) * 10.0 ** r.uniform(-300, 2.8, 60)),
    "softplus": (cx.softplus, lambda t: MP.log1p(MP.exp(t)), _sig, lambda r: r.uniform(-600, 800, 60)),
    "expit": (cx.expit, _sig, lambda t: _sig(t) * _sig(-t), lambda r: r.uniform(-300, 300, 60)),
    "log_softplus": (cx.log_softplus, lambda t: MP.log(MP.log1p(MP.exp(t))),
                     lambda t: _sig(t) / MP.log1p(MP.exp(t)), lambda r: r.uniform(-1e4, 1e4, 60)),
    "log_expm1": (cx.log_expm1, lambda s: MP.log(MP.expm1(s)), lambda s: MP.exp(s) / MP.expm1(s),
                  lambda r: 10.0 ** r.uniform(-300, 4, 60)),
    "log_expm1_exp": (cx.log_expm1_exp, lambda v: MP.log(MP.expm1(MP.exp(v))),
                      lambda v: MP.exp(v) * MP.exp(MP.exp(v)) / MP.expm1(MP.exp(v)),
                      lambda r: r.uniform(-1e4, 9, 60)),
    "log": (cx.log, MP.log, lambda a: 1 / a, lambda r: 10.0 ** r.uniform(-300, 300, 60)),
    "exp": (cx.exp, MP.exp, MP.exp, lambda r: r.uniform(-600, 700, 60)),
    "sqrt": (cx.sqrt, MP.sqrt, lambda a: 1 / (2 * MP.sqrt(a)), lambda r: 10.0 ** r.uniform(-300, 300, 60)),
}


@pytest.mark.parametrize("name", sorted(ELEMENTARY))
def test_elementary_value_and_derivative_match_mpmath(name):
    f, f_mp, df_mp, sample = ELEMENTARY[name]
    a = sample(np.random.default_rng(7))
    z = f(a + 1j * H)
    with MP.workdps(40):
        val = np.array([float(f_mp(MP.mpf(float(v)))) for v in a])
        der = np.array([float(df_mp(MP.mpf(float(v)))) for v in a])
    # rtol 4 eps: each is one or two libm calls (a few ulps); atol tiny below the normal
    # range, where float64 has no relative precision.
    tiny = np.finfo(np.float64).tiny
    assert close(z.real, val, rtol=4 * EPS, atol=tiny)
    # Im = h f'(a) must not underflow: h = 1e-200 where |f'| > 1e-90, h = 1e-30 elsewhere
    # (the lifted forms are first-order exact, so any small h gives the same quotient);
    # rtol 8 eps: one derivative evaluation and one product.
    checked = np.zeros(a.size, dtype=bool)
    for h in (H, 1e-30):
        im = np.imag(f(a + 1j * h))
        ok = np.abs(der) * h >= 1e-290
        assert close(im[ok] / h, der[ok], rtol=8 * EPS, atol=0.0)
        checked |= ok
    assert np.mean(checked) > 0.8  # the rest have derivatives below 1e-260
    # real input gives the real stable function
    assert close(f(a), val, rtol=4 * EPS, atol=tiny)
    assert not np.iscomplexobj(f(a))


def test_log1p_keeps_tiny_real_part():
    # numpy's complex log1p forms 1 + z and loses a real part of 1e-20 entirely.
    z = cx.log1p(1e-20 + 1j * H)
    assert z.real == 1e-20  # exact: log1p(1e-20) rounds to 1e-20
    assert z.imag == H  # d/da log1p(a) = 1/(1 + 1e-20) rounds to 1


def test_logaddexp_and_logsumexp_against_mpmath():
    rng = np.random.default_rng(3)
    a1, a2 = rng.uniform(-800, 800, 50), rng.uniform(-800, 800, 50)
    with MP.workdps(40):
        val = [float(MP.log(MP.exp(u) + MP.exp(v))) for u, v in zip(a1, a2)]
        d1 = [float(1 / (1 + MP.exp(v - u))) for u, v in zip(a1, a2)]
    z = cx.logaddexp(a1 + 1j * H, a2)
    # rtol 4 eps: logaddexp is accurate to a few ulps; its derivative is one expit
    assert close(z.real, val, rtol=4 * EPS, atol=0.0)
    d1 = np.array(d1)
    ok = d1 * H >= 1e-290  # elsewhere Im = h d1 underflows (checked with h = 1e-30 below)
    assert close(z.imag[ok] / H, d1[ok], rtol=4 * EPS, atol=0.0)
    z30 = cx.logaddexp(a1 + 1e-30j, a2)
    ok30 = d1 * 1e-30 >= 1e-290
    assert close(z30.imag[ok30] / 1e-30, d1[ok30], rtol=4 * EPS, atol=0.0)
    v = rng.uniform(-1e4, 0, 12)
    eta = np.zeros(12)
    eta[3] = H
    s = cx.logsumexp(v + 1j * eta)
    with MP.workdps(40):
        lse = MP.log(MP.fsum(MP.exp(MP.mpf(float(t))) for t in v))
        w3 = MP.exp(MP.mpf(float(v[3])) - lse)
    # rtol 8 eps: a sum of exponentials and one log
    assert close(s.real, float(lse), rtol=8 * EPS, atol=0.0)
    assert close(s.imag / H, float(w3), rtol=8 * EPS, atol=np.finfo(float).tiny)


def test_lift_never_forms_zero_times_inf():
    # log at 0 with zero imaginary part: no invalid operation, Im stays 0
    with np.errstate(divide="ignore"):
        z = cx.log(np.array([0.0 + 0.0j, 2.0 + 1j * H]))
    assert z[0].real == -np.inf and z[0].imag == 0.0
    assert z[1].imag == H / 2.0


# ---------------------------------------------------------------------------
# Forward forms: values against the 60-digit references
# ---------------------------------------------------------------------------


@given(x=finite_x, b=slopes)
def test_astra_forms_values_match_reference(x, b):
    y, yc, lg = ref.astra(x, b), ref.astra_complement(x, b), ref.astra_logit(x, b)
    cond = max(1.0, b * abs(x))  # conditioning of t = b x + log b, the first rounding
    # rtol 8 eps * cond: the value inherits the rounding of b x, amplified by |d log y / d log t|;
    # atol tiny: values below the normal range have no relative precision.
    tiny = np.finfo(float).tiny
    assert close(cx.astra(x, b), float(y), rtol=8 * EPS * cond, atol=tiny)
    assert close(cx.astra_complement(x, b), float(yc), rtol=8 * EPS * cond, atol=tiny)
    # the logit: |error| <= 8 eps max(1, |logit|) (absolute near the logit's zero)
    assert close(cx.astra_logit(x, b), float(lg), rtol=8 * EPS, atol=8 * EPS * max(1.0, abs(float(lg))))


@given(b=st.floats(1e-3, 1e6))
def test_threshold_form_matches_reference(b):
    # rtol 8 eps: log1p, a division and expm1, each a few ulps
    assert close(cx.threshold(b), float(ref.threshold(b)), rtol=8 * EPS, atol=0.0)
    assert close(cx.threshold_logit(b), float(MP.log(ref.threshold(b) / (1 - ref.threshold(b)))),
                 rtol=8 * EPS, atol=8 * EPS)


@given(p=st.floats(0.0, 1.0), b=slopes)
def test_z_transform_form_matches_reference(p, b):
    tau = float(ref.threshold(b))
    # rtol 8 eps: products and one division of non-negative terms (no cancellation);
    # atol = smallest normal: a subnormal z (p ~ 5e-324) carries no relative precision
    assert close(cx.z_transform(p, tau), float(ref.z_transform(p, tau)), rtol=8 * EPS,
                 atol=np.finfo(float).tiny)


def _loss_case(seed, n=25):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, 3, replace=False)] = 1
    p = np.clip(10.0 ** rng.uniform(-300, 0, n) * rng.choice([1, 1], n), 1e-300, 1 - 2**-53)
    p[::4] = 1 - p[::4]
    p = np.clip(p, 1e-300, 1 - 2**-53)
    logits = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-3, 4, n)
    return p, logits, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_forms_match_reference(seed):
    p, logits, y = _loss_case(seed)
    # rtol 1e-14: means of n = 25 logs (each a few ulps) and square roots of sums of
    # non-negative terms; no cancellation except 1 - G, bounded by G/(1 - G) <= 1e2 here
    assert close(cx.bce(p, y), float(ref.bce(p, y)), rtol=1e-14, atol=0.0)
    assert close(cx.bce_with_logits(logits, y), float(ref.bce_with_logits(logits, y)), rtol=1e-14, atol=0.0)
    assert close(cx.gmn(p, y), float(ref.gmn(p, y)), rtol=1e-14, atol=1e-15)
    cm = cx.approx_confusion(p, y)
    tn, fp, fn, tp = (float(v) for v in ref.approx_confusion(p, y))
    assert close(cm, [[tn, fp], [fn, tp]], rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("method", ["bce", "gmn", "bce-astra", "gmn-astra"])
@pytest.mark.parametrize("seed", [0, 1])
def test_head_loss_form_value_matches_reference(method, seed):
    from astra_np.core.losses import METHODS

    kw = METHODS[method]
    rng = np.random.default_rng(seed)
    x = rng.choice([-1, 1], 20) * 10.0 ** rng.uniform(-2, 2, 20)
    y = np.zeros(20, dtype=int)
    y[:3] = 1
    beta = 5.3963487604
    val = float(ref.head_loss(list(x), beta, list(y), **kw)[0])
    # rtol 1e-13: logits carry 8 eps * b|x| (b|x| <= ~800 here), the losses are sums of
    # positive terms of them
    assert close(cx.head_loss(x, beta, y, **kw), val, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------
# Complex-step derivatives against mpmath, whole range
# ---------------------------------------------------------------------------


@given(x=finite_x, b=slopes)
def test_astra_complex_step_partials_match_reference(x, b):
    dy_dx, dy_db = (float(v) for v in ref.astra_partials(x, b))
    dl_dx, dl_db = (float(v) for v in ref.astra_logit_partials(x, b))
    s_y, s_l = (float(v) for v in ref.astra_db_scale(x, b))
    cond = max(1.0, b * abs(x))
    # rtol 16 eps * cond: derivative values inherit the rounding of b x like the values;
    # atol FLOOR: below it, Im h f' is subnormal for every step of the ladder
    assert close(cstep(cx.astra, x, b, wrt=0), dy_dx, rtol=16 * EPS * cond, atol=FLOOR)
    # dy/db changes sign: absolute part 16 eps * cond of its term scale
    assert close(cstep(cx.astra, x, b, wrt=1), dy_db, rtol=16 * EPS * cond, atol=max(FLOOR, 16 * EPS * cond * s_y))
    # the logit's partials are O(1)..O(b) and O(|x|): no underflow, h = 1e-200 suffices
    assert close(cstep(cx.astra_logit, x, b, wrt=0), dl_dx, rtol=16 * EPS, atol=0.0)
    assert close(cstep(cx.astra_logit, x, b, wrt=1), dl_db, rtol=16 * EPS * cond, atol=16 * EPS * cond * s_l)


@given(b=st.floats(1e-2, 1e6))
def test_threshold_complex_step_matches_reference(b):
    # rtol 16 eps: tau'(b) has no cancellation (always < 0); forward-mode through 3 ops
    assert close(cstep(cx.threshold, b), float(ref.threshold_grad(b)), rtol=16 * EPS, atol=0.0)


@given(beta=st.floats(-600.0, 1e6))
def test_slope_from_beta_complex_step_matches_reference(beta):
    # h = 1e-20 keeps Im = h exp(beta) normal down to beta = -600 (both pieces are
    # first-order exact); rtol 2 eps: 1 or exp(beta)
    assert close(cstep(cx.slope_from_beta, beta, h=1e-20), float(ref.slope_from_beta_grad(beta)),
                 rtol=2 * EPS, atol=0.0)


@given(p=st.floats(0.0, 1.0), b=slopes)
def test_z_transform_complex_step_matches_reference(p, b):
    tau = float(ref.threshold(b))
    dz_dp, dz_dtau = (float(v) for v in ref.z_transform_partials(p, tau))
    # rtol 32 eps: a handful of products/quotients of non-negative terms (both branches)
    assert close(cstep(cx.z_transform, p, tau, wrt=0), dz_dp, rtol=32 * EPS, atol=FLOOR)
    assert close(cstep(cx.z_transform, p, tau, wrt=1), dz_dtau, rtol=32 * EPS, atol=FLOOR)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_complex_step_gradients_match_reference(seed):
    p, logits, y = _loss_case(seed)
    g_bce = np.array([float(v) for v in ref.bce_grad(p, y)])
    g_gmn = np.array([float(v) for v in ref.gmn_grad(p, y)])
    g_bl = np.array([float(v) for v in ref.bce_with_logits_grad(logits, y)])
    cs_bce = cgrad(cx.bce, p, y)
    cs_gmn = cgrad(cx.gmn, p, y)
    cs_bl = cgrad(cx.bce_with_logits, logits, y)
    # rtol 32 eps: forward-mode through logs, sums and square roots, no cancellation;
    # atol FLOOR: derivatives below it are beyond any complex step in float64
    assert close(cs_bce, g_bce, rtol=32 * EPS, atol=FLOOR)
    assert close(cs_gmn, g_gmn, rtol=32 * EPS, atol=FLOOR)
    assert close(cs_bl, g_bl, rtol=32 * EPS, atol=FLOOR)


@pytest.mark.parametrize("method", ["bce", "gmn", "bce-astra", "gmn-astra"])
@pytest.mark.parametrize("case", ["bulk", "tails", "saturated positives"])
def test_head_loss_complex_step_matches_reference(method, case):
    from astra_np.core.losses import METHODS

    kw = METHODS[method]
    rng = np.random.default_rng(11)
    n = 16
    y = np.zeros(n, dtype=int)
    y[:3] = 1
    if case == "bulk":
        x, beta = rng.uniform(-3, 3, n), 5.3963487604
    else:
        x, beta = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-3, 4, n), 85.37
    if case == "saturated positives":
        x[:3] = -1e4
    det = ref.head_loss_details(list(x), beta, list(y), **kw)
    gx = np.array([float(v) for v in det["dL_dx"]])
    gbeta, scale = float(det["dL_dbeta"]), float(det["dL_dbeta_scale"])
    f = lambda xx, bb: cx.head_loss(xx, bb, y, **kw)
    cs_x = cgrad(f, x, beta)
    cs_beta = cstep(f, x, beta, wrt=1)
    # rtol 1e-13: logits carry 8 eps * b|x| <= ~1e-12 relative only where |x| ~ 1e4 and
    # there dL/dx saturates to the logit slope; atol FLOOR for underflowed entries
    assert close(cs_x, gx, rtol=1e-13, atol=FLOOR)
    # dL/dbeta is a sum of terms of both signs: absolute 1e-13 of their total size
    assert close(cs_beta, gbeta, rtol=1e-13, atol=1e-13 * scale)

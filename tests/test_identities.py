r"""Identities the core must satisfy (layer 4 of the ground truth) and bad-input handling.

Identities: ASTra with b = 1 is the logistic sigmoid (Eq. 4); the threshold and
its inverse round-trip (Eq. 5); z(tau, tau) = 1/2 and the BCE contributions for
targets 0 and 1 cross at y-hat = tau with the z-transform (Eq. 6, Fig. 3) and
at the band edge x* = log((2^b - 1)/b)/b without it (Fig. 2); b(beta) is
continuous with a continuous derivative at beta = 0 (Eq. 7); the logit's slope
is b as x -> -inf and 1 as x -> +inf.

Bad inputs: every public function of the core raises ``ValueError`` whose
message names the offending argument (and shows the bad value where there is
one) for NaN/inf, b <= 0, tau outside (0, 0.5], p outside [0, 1], non-binary
labels, a single class where both are needed, and mismatched shapes.
"""
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

from astra_np.core import activation as A
from astra_np.core import losses as Lo
from astra_np.core import metrics as M
from astra_np.core import ztransform as Z

ULP = 2.0 ** -52  # 2.2e-16, one ulp of 1

# ---------------------------------------------------------------------------
# ASTra(x, 1) is the sigmoid
# ---------------------------------------------------------------------------


@given(x=st.floats(min_value=-745.0, max_value=745.0))
def test_astra_with_b_1_is_the_sigmoid(x):
    # Tight: 4 ulps relative, times the conditioning max(1, |x|) where the guarantee
    # allows it (1 - y = exp(-s) with s ~ x for x > 0 carries the rounding of s,
    # relative |x| ulps); 1e-300 absolute only for results in gradual underflow.
    np.testing.assert_allclose(A.astra(x, 1.0), expit(x), rtol=4 * ULP, atol=1e-300)
    np.testing.assert_allclose(A.astra_complement(x, 1.0), expit(-x), rtol=4 * ULP * max(1.0, abs(x)),
                               atol=1e-300)
    # logit of the sigmoid is x itself: the guaranteed 2e-15 max(1, |x|) absolute
    assert abs(A.astra_logit(x, 1.0) - x) <= 2e-15 * max(1.0, abs(x))
    dy_dx, _ = A.astra_partials(x, 1.0)
    # sigma' = sigma(x) sigma(-x): a product of two such values, 8 ulps, times the
    # same conditioning (dy/dx = (1 - y) sigma(t) carries 1 - y = exp(-s))
    np.testing.assert_allclose(dy_dx, expit(x) * expit(-x), rtol=8 * ULP * max(1.0, abs(x)), atol=1e-300)
    dl_dx, _ = A.astra_logit_partials(x, 1.0)
    np.testing.assert_allclose(dl_dx, 1.0, rtol=4 * ULP, atol=0)


def test_astra_with_b_1_is_the_sigmoid_on_arrays():
    x = np.linspace(-40.0, 40.0, 161)
    np.testing.assert_allclose(A.astra(x, 1.0), expit(x), rtol=4 * ULP, atol=0)  # as above
    np.testing.assert_allclose(A.astra_logit(x, 1.0), x, rtol=0, atol=2e-15 * 40)  # guaranteed bound


# ---------------------------------------------------------------------------
# threshold and its inverse (Eq. 5)
# ---------------------------------------------------------------------------


@given(tau=st.floats(min_value=1e-12, max_value=0.5))
def test_threshold_of_slope_for_threshold_is_identity(tau):
    b = A.slope_for_threshold(tau)
    assert b >= 1.0
    # tau(b) is accurate to 2e-15 relative (guarantee, x = 0) and the root is the float
    # whose tau is closest: the round trip is exact to the same 2e-15
    np.testing.assert_allclose(A.threshold(b), tau, rtol=2e-15, atol=0)


@given(b=st.floats(min_value=1.0, max_value=1e6))
def test_slope_for_threshold_of_threshold_is_identity(b):
    tau = float(A.threshold(b))
    cond = tau / (b * abs(float(A.threshold_grad(b))))  # relative conditioning of the inverse
    # the 2e-15 of tau, amplified by the conditioning of the inverse
    np.testing.assert_allclose(A.slope_for_threshold(tau), b, rtol=2e-15 * max(1.0, cond), atol=0)


def test_named_thresholds():
    # 0.25 gives b = 7.39634876041953683903... (paper: 7.396); tau = 0.5 is the sigmoid
    np.testing.assert_allclose(A.slope_for_threshold(0.25), 7.396348760419537, rtol=4 * ULP, atol=0)
    assert A.slope_for_threshold(0.5) == 1.0 and A.threshold(1.0) == 0.5
    np.testing.assert_allclose(A.slope_for_threshold(0.05), 87.37093590344007, rtol=8 * ULP, atol=0)
    # threshold(b) = astra(0, b) exactly (the same formula)
    b = np.array([1.0, 1.5, 7.396348760419537, 87.37, 1000.0])
    np.testing.assert_allclose(A.threshold(b), A.astra(0.0, b), rtol=2 * ULP, atol=0)
    np.testing.assert_allclose(A.threshold_grad(b), A.astra_partials(0.0, b)[1], rtol=2 * ULP, atol=0)
    # tau strictly decreasing in b, dtau/db < 0
    assert np.all(np.diff(A.threshold(b)) < 0) and np.all(A.threshold_grad(b) < 0)


# ---------------------------------------------------------------------------
# z-transform (Eq. 6) and the BCE crossing
# ---------------------------------------------------------------------------


@given(tau=st.floats(min_value=1e-300, max_value=0.5))
def test_z_of_tau_is_one_half(tau):
    # z(tau, tau) = a / (a + a) with identical products: exactly 1/2 (1 ulp allowed)
    np.testing.assert_allclose(Z.z_transform(tau, tau), 0.5, rtol=ULP, atol=0)
    np.testing.assert_allclose(Z.z_transform_complement(tau, tau), 0.5, rtol=ULP, atol=0)


@given(b=st.floats(min_value=1.0, max_value=1000.0))
def test_bce_on_z_crosses_at_tau(b):
    tau = float(A.threshold(b))
    z = Z.z_transform(tau, tau)
    # at y-hat = tau both targets cost log 2: 2 ulps
    np.testing.assert_allclose(Lo.bce([z], [0]), Lo.bce([z], [1]), rtol=2 * ULP, atol=0)
    # ... and are ordered correctly on either side (the crossing is at tau, not 0.5)
    for p, right_is_1 in ((tau * (1 + 1e-6), True), (tau * (1 - 1e-6), False)):
        zp = Z.z_transform(p, tau)
        assert (Lo.bce([zp], [0]) > Lo.bce([zp], [1])) == right_is_1
    # the same in the head, in logit space: at x = 0 the loss is log 2 for either target
    beta = float(A.beta_from_slope(b)) if b > 1.0 else None
    if beta is not None and math.isfinite(beta):
        b_back = float(A.slope_from_beta(beta))
        for target in (0, 1):
            L, _, _ = Lo.head_loss([0.0], beta, [target], loss="bce", astra=True, z=True)
            # logit z = logit y - logit tau at x = 0 is exactly 0 for the same b(beta)
            np.testing.assert_allclose(L, math.log(2.0), rtol=2 * ULP, atol=0)
        assert b_back > 1.0


@given(b=st.floats(min_value=1.01, max_value=1000.0))
def test_band_edge_is_where_bce_without_z_crosses(b):
    """x* = log((2^b - 1)/b)/b: ASTra(x*, b) = 1/2, so BCE(y-hat, 0) = BCE(y-hat, 1) there
    without the z-transform; on (0, x*) the two are wrongly ordered (Fig. 2)."""
    xs = math.log((2.0 ** b - 1.0) / b) / b
    assert xs > 0.0
    y = float(A.astra(xs, b))
    dy_dx = float(A.astra_partials(xs, b)[0])
    # x* is computed to ~4 ulps; |y - 1/2| <= dy/dx * that + the astra tolerance (guarantee)
    tol = dy_dx * 4 * ULP * (xs + math.log(2.0)) + 2e-15 * max(1.0, b * xs) * 0.5
    assert abs(y - 0.5) <= tol
    # the two losses differ by ~4 |y - 1/2| at the crossing
    assert abs(Lo.bce([y], [0]) - Lo.bce([y], [1])) <= 4 * tol + 4 * ULP
    inside = float(A.astra(xs / 2, b))  # 0 < x < x*: y-hat < 1/2 though x > 0
    assert Lo.bce([inside], [0]) < Lo.bce([inside], [1])
    beyond = float(A.astra(2 * xs, b))
    assert Lo.bce([beyond], [0]) > Lo.bce([beyond], [1])
    # with the z-transform the ordering is right for every x > 0
    z_in = Z.z_transform(inside, float(A.threshold(b)))
    assert Lo.bce([z_in], [0]) > Lo.bce([z_in], [1])


def test_band_edge_against_reference():
    R = pytest.importorskip("astra_np.check.reference")
    mpmath = pytest.importorskip("mpmath")
    for b in (1.5, 7.396348760419537, 87.37, 1000.0):
        with mpmath.mp.workdps(60):
            xs = R.band_edge(b)
            y = R.astra_terms_mp(xs, mpmath.mpf(b))["y"]
            assert abs(y - mpmath.mpf(0.5)) < mpmath.mpf(10) ** -55


# ---------------------------------------------------------------------------
# b(beta), Eq. 7: C^1 at beta = 0
# ---------------------------------------------------------------------------


def test_slope_from_beta_is_continuously_differentiable_at_zero():
    assert A.slope_from_beta(0.0) == 2.0 and A.slope_from_beta_grad(0.0) == 1.0
    assert A.slope_from_beta(-0.0) == 2.0 and A.slope_from_beta_grad(-0.0) == 1.0
    for h in (1e-300, 1e-12, 1e-6):
        left, right = float(A.slope_from_beta(-h)), float(A.slope_from_beta(h))
        # b(+-h) = 2 +- h + O(h^2): the values agree with 2 to h (plus an ulp)
        assert abs(left - 2.0) <= h + 2 * ULP and abs(right - 2.0) <= h + 2 * ULP
        gl, gr = float(A.slope_from_beta_grad(-h)), float(A.slope_from_beta_grad(h))
        # db/dbeta = e^-h on the left, 1 on the right: continuous, |jump| <= h
        assert abs(gl - 1.0) <= h + ULP and gr == 1.0
    # one-sided difference quotients at 0 both tend to 1 (error O(h) on the left)
    h = 1e-6
    dl = (2.0 - float(A.slope_from_beta(-h))) / h
    dr = (float(A.slope_from_beta(h)) - 2.0) / h
    assert abs(dl - 1.0) <= 1e-6 and abs(dr - 1.0) <= 1e-9


@given(beta=st.floats(min_value=-700.0, max_value=1e6))
def test_beta_round_trip(beta):
    b = float(A.slope_from_beta(beta))
    assert b >= 1.0
    if b == 1.0:  # 1 + e^beta rounds to 1 for beta < -36.7: no beta to go back to
        assert beta < -36.0
        return
    back = float(A.beta_from_slope(b))
    if beta > 0:
        # b = fl(2 + beta) is off by half an ulp of b; b - 2 adds at most another
        tol = 2 * ULP * (2.0 + beta)
    else:
        # b = fl(1 + fl(e^beta)) is off by ~ulp(1); log(b - 1) turns that into
        # ulp(1) / e^beta absolute (the conditioning), plus rounding of log and exp
        tol = 2 * ULP * (1.0 + math.exp(-beta)) + 2 * ULP * abs(beta)
    assert abs(back - beta) <= tol


# ---------------------------------------------------------------------------
# logit slopes in the tails
# ---------------------------------------------------------------------------


@given(b=st.floats(min_value=1.0, max_value=1000.0))
def test_logit_slopes_in_the_tails(b):
    """d logit/dx -> b as x -> -inf and -> 1 as x -> +inf (relative 1e-12, guarantee)."""
    dl_left, _ = A.astra_logit_partials(-800.0 / b, b)
    dl_right, _ = A.astra_logit_partials(800.0, b)
    # the deviation from the limit is O(b e^{-800}) and O(e^{-800 b}): below 1e-300
    np.testing.assert_allclose(dl_left, b, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dl_right, 1.0, rtol=1e-12, atol=0)
    # dl/db -> x as x -> -inf (the derivative of b x + log b - log b ... = x)
    _, dl_db = A.astra_logit_partials(-800.0 / b, b)
    np.testing.assert_allclose(dl_db, -800.0 / b, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------

GOOD = {
    "x": np.array([0.5, -1.0]),
    "b": 2.0,
    "g": np.array([1.0, -1.0]),
    "p": np.array([0.2, 0.7]),
    "tau": 0.25,
    "y": np.array([0, 1]),
    "logit": np.array([0.3, -2.0]),
    "beta": 1.0,
    "y_true": np.array([0, 1]),
    "y_pred": np.array([1, 1]),
}

FUNCTIONS = {
    "astra": (A.astra, ["x", "b"]),
    "astra_complement": (A.astra_complement, ["x", "b"]),
    "astra_logit": (A.astra_logit, ["x", "b"]),
    "astra_partials": (A.astra_partials, ["x", "b"]),
    "astra_logit_partials": (A.astra_logit_partials, ["x", "b"]),
    "astra_vjp": (A.astra_vjp, ["g", "x", "b"]),
    "threshold": (A.threshold, ["b"]),
    "threshold_grad": (A.threshold_grad, ["b"]),
    "threshold_logit": (A.threshold_logit, ["b"]),
    "threshold_logit_grad": (A.threshold_logit_grad, ["b"]),
    "slope_for_threshold": (A.slope_for_threshold, ["tau"]),
    "slope_from_beta": (A.slope_from_beta, ["beta"]),
    "slope_from_beta_grad": (A.slope_from_beta_grad, ["beta"]),
    "beta_from_slope": (A.beta_from_slope, ["b"]),
    "z_transform": (Z.z_transform, ["p", "tau"]),
    "z_transform_complement": (Z.z_transform_complement, ["p", "tau"]),
    "z_transform_partials": (Z.z_transform_partials, ["p", "tau"]),
    "z_transform_vjp": (Z.z_transform_vjp, ["g", "p", "tau"]),
    "bce": (Lo.bce, ["p", "y"]),
    "bce_grad": (Lo.bce_grad, ["p", "y"]),
    "approx_confusion": (Lo.approx_confusion, ["p", "y"]),
    "gmn": (Lo.gmn, ["p", "y"]),
    "gmn_grad": (Lo.gmn_grad, ["p", "y"]),
    "bce_with_logits": (Lo.bce_with_logits, ["logit", "y"]),
    "bce_with_logits_grad": (Lo.bce_with_logits_grad, ["logit", "y"]),
    "gmn_with_logits": (Lo.gmn_with_logits, ["logit", "y"]),
    "head_loss": (Lo.head_loss, ["x", "beta", "y"]),
    "head_logits": (Lo.head_logits, ["x", "beta"]),
    "confusion_matrix": (M.confusion_matrix, ["y_true", "y_pred"]),
    "approx_rates": (M.approx_rates, ["p", "y"]),
    "approx_mcc": (M.approx_mcc, ["p", "y"]),
    "approx_g_mean": (M.approx_g_mean, ["p", "y"]),
    "e_ratio": (M.e_ratio, ["p", "y"]),
    "log_approx_confusion": (M.log_approx_confusion, ["logit", "y"]),
    "approx_fnr_from_logits": (M.approx_fnr_from_logits, ["logit", "y"]),
    "log_e_ratio": (M.log_e_ratio, ["logit", "y"]),
    "approx_metrics_from_logits": (M.approx_metrics_from_logits, ["logit", "y"]),
}

NAN, INF = float("nan"), float("inf")
# bad values per argument kind (each shown in the message as its repr / str)
BAD = {
    "x": [NAN, INF, -INF],
    "b": [NAN, INF, 0.0, -1.0],
    "g": [NAN, INF],
    "p": [NAN, -0.1, 1.5, INF],
    "tau": [NAN, 0.0, -0.1, 0.6, 1.0, INF],
    "y": [2, 0.5, -1, NAN],
    "y_true": [2, 0.5],
    "y_pred": [2, -1],
    "logit": [NAN, INF, -INF],
    "beta": [NAN, INF, -INF],
}


def _call(fn, names, **override):
    args = [override.get(n, GOOD[n]) for n in names]
    return fn(*args)


def _names_arg(message, name):
    return re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", message) is not None


def _bad_cases():
    cases = []
    for fname, (_, names) in FUNCTIONS.items():
        for arg in names:
            for bad in BAD[arg]:
                cases.append(pytest.param(fname, arg, bad, id=f"{fname}-{arg}={bad}"))
        if fname == "beta_from_slope":
            cases += [pytest.param(fname, "b", v, id=f"{fname}-b={v}") for v in (1.0, 0.5)]
    return cases


def _with_bad(arg, bad):
    """The good value of ``arg`` with one entry replaced by ``bad`` (scalars replaced)."""
    good = GOOD[arg]
    if np.ndim(good) == 0:
        return bad
    arr = np.array(good, dtype=np.float64)
    arr[0] = bad
    return arr


@pytest.mark.parametrize("fname,arg,bad", _bad_cases())
def test_bad_value_raises_value_error_naming_argument(fname, arg, bad):
    fn, names = FUNCTIONS[fname]
    with pytest.raises(ValueError) as info:
        _call(fn, names, **{arg: _with_bad(arg, bad)})
    msg = str(info.value)
    assert _names_arg(msg, arg), msg
    shown = {repr(float(bad)), str(bad), repr(bad), str(np.array([bad])), str(np.array([float(bad)]))}
    assert any(s in msg for s in shown), f"bad value {bad!r} not shown: {msg}"


SINGLE_CLASS = ["gmn", "gmn_grad", "gmn_with_logits", "log_approx_confusion", "approx_fnr_from_logits",
                "log_e_ratio", "approx_metrics_from_logits"]


@pytest.mark.parametrize("fname", SINGLE_CLASS)
@pytest.mark.parametrize("labels", [[0, 0], [1, 1]], ids=["only-0", "only-1"])
def test_single_class_raises_naming_y(fname, labels):
    fn, names = FUNCTIONS[fname]
    with pytest.raises(ValueError) as info:
        _call(fn, names, y=np.array(labels))
    assert _names_arg(str(info.value), "y"), str(info.value)


@pytest.mark.parametrize("labels", [[0, 0], [1, 1]], ids=["only-0", "only-1"])
def test_head_loss_gmn_single_class_raises_naming_y(labels):
    with pytest.raises(ValueError) as info:
        Lo.head_loss(GOOD["x"], 1.0, labels, loss="gmn")
    assert _names_arg(str(info.value), "y")
    # BCE is defined for a single class
    L, gx, gb = Lo.head_loss(GOOD["x"], 1.0, labels, loss="bce")
    assert math.isfinite(L) and np.all(np.isfinite(gx)) and math.isfinite(gb)


PAIRED = [(f, names) for f, (_, names) in FUNCTIONS.items() if names[-1] in ("y", "y_pred")]


@pytest.mark.parametrize("fname", [f for f, _ in PAIRED])
def test_label_shape_mismatch_raises_naming_both(fname):
    fn, names = FUNCTIONS[fname]
    label = names[-1]
    with pytest.raises(ValueError) as info:
        _call(fn, names, **{label: np.array([0, 1, 1])})
    msg = str(info.value)
    assert _names_arg(msg, label) and _names_arg(msg, names[0]), msg


@pytest.mark.parametrize("fname", ["astra_vjp", "z_transform_vjp"])
def test_cotangent_shape_mismatch_raises_naming_g(fname):
    fn, names = FUNCTIONS[fname]
    with pytest.raises(ValueError) as info:
        _call(fn, names, g=np.ones(3))
    assert _names_arg(str(info.value), "g")


BROADCAST = ["astra", "astra_complement", "astra_logit", "astra_partials", "astra_logit_partials",
             "z_transform", "z_transform_complement", "z_transform_partials"]


@pytest.mark.parametrize("fname", BROADCAST)
def test_non_broadcastable_shapes_raise_naming_arguments(fname):
    fn, names = FUNCTIONS[fname]
    second = names[1]
    bad = np.full(3, GOOD[second])  # x / p have shape (2,)
    with pytest.raises(ValueError) as info:
        _call(fn, names, **{second: bad})
    msg = str(info.value)
    assert _names_arg(msg, names[0]) and _names_arg(msg, second), msg


def test_head_loss_rejects_bad_loss_and_shapes():
    with pytest.raises(ValueError, match=r"\bloss\b"):
        Lo.head_loss(GOOD["x"], 1.0, GOOD["y"], loss="mse")
    with pytest.raises(ValueError, match=r"\bx\b"):
        Lo.head_loss(np.ones((2, 2)), 1.0, np.array([[0, 1], [1, 0]]))
    with pytest.raises(ValueError, match=r"\bx\b"):
        Lo.head_loss(np.array([]), 1.0, np.array([]))


# ---------------------------------------------------------------------------
# the reference module's own input checks
# ---------------------------------------------------------------------------


def test_reference_rejects_bad_inputs_naming_argument():
    R = pytest.importorskip("astra_np.check.reference")
    pytest.importorskip("mpmath")
    cases = [
        (lambda: R.astra(NAN, 2.0), "x"),
        (lambda: R.astra(0.0, 0.0), "b"),
        (lambda: R.astra_logit(0.0, -1.0), "b"),
        (lambda: R.slope_for_threshold(0.6), "tau"),
        (lambda: R.slope_for_threshold(0.0), "tau"),
        (lambda: R.z_transform(1.5, 0.25), "p"),
        (lambda: R.z_transform(0.5, 0.75), "tau"),
        (lambda: R.slope_from_beta(INF), "beta"),
        (lambda: R.beta_from_slope(1.0), "b"),
        (lambda: R.bce([0.2, 0.3], [0, 2]), "y"),
        (lambda: R.bce([0.2, 0.3], [0, 1, 1]), "y"),
        (lambda: R.gmn([0.2, 0.3], [0, 0]), "y"),
        (lambda: R.head_loss([0.2, NAN], 1.0, [0, 1]), "x"),
        (lambda: R.head_loss([0.2, 0.1], 1.0, [1, 1], loss="gmn"), "y"),
        (lambda: R.head_loss([0.2, 0.1], 1.0, [0, 1], loss="mse"), "loss"),
    ]
    for fn, name in cases:
        with pytest.raises(ValueError) as info:
            fn()
        assert _names_arg(str(info.value), name), str(info.value)


def test_reference_without_mpmath_raises_a_clear_import_error(monkeypatch):
    R = pytest.importorskip("astra_np.check.reference")
    monkeypatch.setitem(__import__("sys").modules, "mpmath", None)  # makes `import mpmath` fail
    with pytest.raises(ImportError, match=r"mpmath.*astra_np\[ref\]"):
        R.astra(0.0, 1.0)

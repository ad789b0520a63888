"""The fused epoch kernel (astra_np.learn.kernel) against the reference path (nn + head_loss).

Every registered method (astra_np.core.registry.methods()), several depths, and the
regimes of late training on real data: pre-activations up to 1e4 (saturated rows,
s > 650), slopes up to 1e6 and beyond, count ratios |k_pos/k_neg| up to 1e300; each at
the kernel's bound, 1e-12 of each gradient entry's sum of |terms|.
"""
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astra_np.core import registry
from astra_np.core.activation import beta_from_slope
from astra_np.core.losses import head_logits, head_loss
from astra_np.core.metrics import log_e_ratio
from astra_np.learn import kernel as kernel_module
from astra_np.learn import nn
from astra_np.learn.kernel import EpochKernel, fast_loss_and_grad
from astra_np.learn.nn import log_e_ratio_from_counts
from astra_np.learn.train import approx_counts

METHOD_NAMES = registry.method_names()
DEPTHS = [(6,), (5, 3), (2, 2, 2)]


def _case(seed, n, n_x, hidden, wscale, beta, n_pos=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_x))
    y = np.zeros(n, dtype=np.int64)
    k = n_pos if n_pos is not None else max(1, n // 10)
    y[rng.choice(n, k, replace=False)] = 1
    p0 = nn.init_params(n_x, hidden, random_state=seed)
    p = nn.MLPParams(
        tuple(W * wscale for W in p0.weights),
        tuple(0.2 * rng.standard_normal(c.shape) for c in p0.biases),
        beta,
    )
    return X, y, p


def _with_output(p, X, x_max=None, shift=0.0):
    """``p`` with its output layer rescaled so that max x = max |x| = ``x_max``, then shifted by ``shift``."""
    x, _ = nn.forward(p, X)
    k = 1.0 if x_max is None else x_max / np.max(np.abs(x))
    if x_max is not None and np.max(x) < np.max(-x):
        k = -k
    W, c = p.weights[-1] * k, p.biases[-1] * k + shift
    return nn.MLPParams(p.weights[:-1] + (W,), p.biases[:-1] + (c,), p.beta)


def _term_scales(p, X, y, method):
    """Per-entry sums of |terms| of the reference gradient (its condition scale).

    Each weight or bias gradient entry is a sum over rows of products of per-row
    factors; running the reference backward on the absolute values of every factor
    (|dL/dx|, |W|, |activations|; the Leaky ReLU slopes are already positive) gives
    the sum of the absolute values of its terms, the scale of the rounding it carries.
    """
    x, cache = nn.forward(p, X)
    _, g_x, _ = head_loss(x, p.beta, y, **registry.get_method(method).head_kwargs())
    p_abs = nn.MLPParams(tuple(np.abs(W) for W in p.weights), p.biases, p.beta)
    cache_abs = cache._replace(inputs=tuple(np.abs(a) for a in cache.inputs))
    s = nn.backward(p_abs, cache_abs, np.abs(g_x))
    return s.weights + s.biases


def _assert_same(ref, fast, scales=None):
    (L, g), (Lf, gf) = ref, fast
    # 1e-12 relative, the kernel's contract. The loss is a sum of positive terms: pure
    # relative. Each gradient entry is a sum of per-row terms of both signs, so it
    # carries rounding of the size of the terms it cancelled: the absolute part of the
    # tolerance is 1e-12 times that size (the entry's sum of |terms| when ``scales`` is
    # given, else the largest entry of the array). The floor 1e-250 covers saturated
    # networks whose gradients underflow: one path may return 0 where the other keeps
    # 1e-303.
    assert Lf == pytest.approx(L, rel=1e-12, abs=0)
    arrays = list(zip(g.weights + g.biases, gf.weights + gf.biases))
    for i, (a, b) in enumerate(arrays):
        size = scales[i] if scales is not None else np.max(np.abs(a))
        tol = 1e-12 * np.maximum(size, 1e-250) + 1e-12 * np.abs(a)
        err = np.abs(b - a)
        assert np.all(err <= tol), (i, a, b, err, tol)
    np.testing.assert_allclose(gf.beta, g.beta, rtol=1e-12, atol=1e-15 * max(1.0, abs(L)))


def _kernel_terms(p, X, y, method, metrics_on="z"):
    kernel = EpochKernel(X, y, p.layer_sizes, method=method, metrics_on=metrics_on)
    theta = p.to_vector()
    grad = np.empty_like(theta)
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):  # as in train()
        terms = kernel.loss_and_grad(theta, grad)
    if not kernel.astra:
        grad[-1] = 0.0
    return terms, (terms.loss, nn.MLPParams.from_vector(grad, p.layer_sizes))


def _in_corner(p, X, y, method):
    """The corner left to the reference path: a slope beyond B_MAX, a count-based loss
    whose counts function is undefined (GMN: TN_apx or TP_apx underflows to 0), or one
    that weighs clamped negatives too heavily (the soft MCC with every output next to 0;
    kernel._count_terms)."""
    entry = registry.get_method(method)
    if entry.astra and kernel_module.head_constants(p.beta)[0] > kernel_module.B_MAX:
        return True
    if entry.loss.fused != "counts":
        return False
    counts = approx_counts(p, X, y, method)
    out = entry.loss.function("counts")(*counts)
    if out is None:
        return True
    x = nn.forward(p, X)[0][np.asarray(y) == 0]
    b, log_b = kernel_module.head_constants(p.beta)[:2] if entry.astra else (1.0, 0.0)
    clamped = x.size and float(np.min(b * x + log_b)) < -kernel_module.T_LOW
    _, fp, _, tp, m0, _ = counts
    return bool(clamped and fp < kernel_module.FP_EXACT_BELOW
                and abs(out[1]) * m0 * math.exp(-kernel_module.T_LOW) > 1e-16 * abs(out[2]) * tp)


def _check_fused(p, X, y, method, allow_corner=False):
    terms, fast = _kernel_terms(p, X, y, method)
    assert terms.fallback == (allow_corner and _in_corner(p, X, y, method))
    _assert_same(nn.loss_and_grad(p, X, y, method), fast, _term_scales(p, X, y, method))


@pytest.fixture
def branches(monkeypatch):
    """Counts of the kernel's row-by-row branches taken (saturated rows, robust positives, reference)."""
    calls = {"saturated": 0, "robust": 0, "sigmoid_saturated": 0, "reference": 0}
    orig_rows, orig_pos, orig_ref = EpochKernel._head_rows, EpochKernel._positives, EpochKernel._reference
    orig_sparse = EpochKernel._head_rows_sparse
    orig_sig = kernel_module._exp_and_one_minus_sigmoid

    def rows(self, *args):
        out = orig_rows(self, *args)
        calls["saturated"] += bool(out.size)
        return out

    def sparse(self, *args):
        out = orig_sparse(self, *args)
        calls["saturated"] += bool(out.size)
        return out

    def pos(self, x, head, grad=True):
        calls["robust"] += bool(head.positives_by_core)
        return orig_pos(self, x, head, grad)

    def ref(self, theta, grad):
        calls["reference"] += 1
        return orig_ref(self, theta, grad)

    def sig(x, q, w, m1, *work):
        out = orig_sig(x, q, w, m1, *work)
        calls["sigmoid_saturated"] += bool(out[0].size)
        return out

    monkeypatch.setattr(EpochKernel, "_head_rows", rows)
    monkeypatch.setattr(EpochKernel, "_head_rows_sparse", sparse)
    monkeypatch.setattr(EpochKernel, "_positives", pos)
    monkeypatch.setattr(EpochKernel, "_reference", ref)
    monkeypatch.setattr(kernel_module, "_exp_and_one_minus_sigmoid", sig)
    return calls


def test_every_registered_method_is_tested():
    assert METHOD_NAMES == [m.name for m in registry.methods()] and len(METHOD_NAMES) >= 4


@settings(deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(8, 120),
    n_x=st.integers(1, 6),
    hidden=st.sampled_from([(3,), (5,), (4, 3), (2, 2, 2)]),
    method=st.sampled_from(METHOD_NAMES),
    wscale=st.sampled_from([0.5, 1.0, 3.0]),
    beta=st.floats(-4.0, 40.0),
)
def test_kernel_matches_reference(seed, n, n_x, hidden, method, wscale, beta):
    X, y, p = _case(seed, n, n_x, hidden, wscale, beta)
    _check_fused(p, X, y, method, allow_corner=True)


@settings(deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hidden=st.sampled_from(DEPTHS),
    method=st.sampled_from(METHOD_NAMES),
    log10_x=st.floats(1.0, 4.0),
    log10_b=st.floats(0.01, 6.0),
)
def test_kernel_matches_reference_late_training(seed, hidden, method, log10_x, log10_b):
    # pre-activations up to 1e4 and slopes up to 1e6: the states of late training on
    # heavy-tailed data, all on the fused path
    X, y, p = _case(seed, 150, 5, hidden, 1.0, float(beta_from_slope(10.0 ** log10_b)), n_pos=9)
    _check_fused(_with_output(p, X, 10.0 ** log10_x), X, y, method, allow_corner=True)


REGIMES = [
    # (max x, beta, branch expected for the ASTra methods, label)
    (3.0, 5.3963, None, "paper's initial slope: the bulk forms only"),
    (1e2, 5.3963, None, "t > 700 on some rows: clipped exp"),
    (1e3, 5.3963, "saturated", "s > 650: saturated rows, exact row by row"),
    (1e4, 5.3963, "saturated", "x ~ 1e4: saturated rows"),
    (1e2, 1e6, None, "b = 1e6, x ~ 100: bulk forms"),
    (1.0, 1e6, "robust", "b = 1e6: positives below t = -600 use the core functions"),
    (1e3, 1e6, "saturated", "b = 1e6: s > 650 + log c0"),
    (1e4, 1e6, "saturated", "b = 1e6 and x ~ 1e4"),
    (1e3, 1e20, "saturated", "b = 1e20"),
    (5e2, 1e100, "saturated", "b = 1e100: s > 650 + log c0 ~ 420"),
    (1.0, -30.0, None, "b -> 1: the sigmoid limit"),
]


@pytest.mark.parametrize("hidden", DEPTHS)
@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("x_max, beta, branch, label", REGIMES)
def test_kernel_regimes(branches, method, hidden, x_max, beta, branch, label):
    # the one corner (an undefined counts function: TP_apx underflows at b = 1e6 when the
    # positives sit below the threshold) is allowed only where it holds
    X, y, p = _case(7, 200, 5, hidden, 1.0, beta, n_pos=12)
    p = _with_output(p, X, x_max)
    _check_fused(p, X, y, method, allow_corner=True)
    if registry.get_method(method).astra and branch is not None:
        x, _ = nn.forward(p, X)
        b, log_b, c0 = kernel_module.head_constants(beta)[:3]
        t = b * x + log_b
        s = np.logaddexp(0.0, t) / b
        holds = {"robust": bool(np.min(t[y == 1]) - log_b < -kernel_module.T_POS),
                 "saturated": bool(np.max(s) > kernel_module.S_MAX + min(0.0, math.log(c0)))}[branch]
        assert holds or hidden != DEPTHS[0], label  # the regime is real on the one-layer network
        assert (branches[branch] >= 1) == holds, label
    if not registry.get_method(method).astra and x_max > 700:
        assert branches["sigmoid_saturated"] >= 1


@pytest.mark.parametrize("method", [m.name for m in registry.methods() if m.loss.fused == "counts"])
@pytest.mark.parametrize("log10_ratio", [50, 150, 300])
def test_count_ratio_rescaled_not_fallen_back(branches, method, log10_ratio):
    # every output far below the threshold: TN ~ m0, TP ~ m1 e^-L, so |k_pos/k_neg| of
    # GMN is TN/TP ~ 1e(log10_ratio); beyond GMN_RATIO_MAX the gradient is factored by
    # k_pos and the negatives' terms rescaled
    X, y, p = _case(11, 120, 4, (5,), 1.0, float(beta_from_slope(7.3963)), n_pos=10)
    entry = registry.get_method(method)
    b = 7.3963 if entry.astra else 1.0
    L = log10_ratio * math.log(10.0)
    p = _with_output(p, X, 0.5, shift=-L / b)
    c = approx_counts(p, X, y, method)
    _, k_neg, k_pos = entry.loss.function("counts")(*c)
    # GMN's and F1's factors part by ~1e(log10_ratio) here; MCC's stay comparable (its
    # k's both scale with the vanishing marginal): fused either way
    if entry.loss.counts == registry.get_loss("gmn").counts:
        assert abs(k_pos / k_neg) > 10.0 ** (log10_ratio - 5)
        assert not _in_corner(p, X, y, method)
    # fused, except the soft MCC once every output is clamped (kernel._count_terms)
    _check_fused(p, X, y, method, allow_corner=True)
    assert branches["reference"] == int(_in_corner(p, X, y, method))


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_the_named_corner_falls_back_matches_and_is_flagged(branches, method):
    # b beyond B_MAX (every method with ASTra); TP_apx = 0 exactly (a count-based loss on
    # the sigmoid: every positive below x = -745). The reference path, flagged.
    entry = registry.get_method(method)
    X, y, p = _case(6, 40, 3, (4,), 1.0, 1e151 if entry.astra else 0.0, n_pos=4)
    if entry.astra or entry.loss.fused != "counts":
        p = _with_output(p, X, 1.0)
    else:
        p = _with_output(p, X, 1.0, shift=-800.0)
    terms, fast = _kernel_terms(p, X, y, method)
    corner = _in_corner(p, X, y, method)
    # a slope beyond B_MAX is always the corner, and TP_apx = 0 is for GMN (its counts
    # function has no value there); the soft F1 is defined at TP = 0 and stays fused, the
    # soft MCC's clamped negatives send it back (kernel._count_terms)
    if entry.astra or entry.loss.counts == registry.get_loss("gmn").counts:
        assert corner
    assert terms.fallback == corner and branches["reference"] == int(corner)
    _assert_same(nn.loss_and_grad(p, X, y, method), fast, _term_scales(p, X, y, method))


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("metrics_on", ["z", "output"])
def test_counts_and_e_ratio_match_reference(method, metrics_on):
    X, y, p = _case(3, 150, 4, (3,), 1.5, 2.5, n_pos=9)
    kernel = EpochKernel(X, y, p.layer_sizes, method=method, metrics_on=metrics_on)
    theta = p.to_vector()
    c = kernel.counts(theta)
    r = approx_counts(p, X, y, method, metrics_on)
    # sums of a few hundred terms formed two ways: 1e-13 relative
    np.testing.assert_allclose(c[:4], r[:4], rtol=1e-13, atol=1e-13 * max(r[:4]))
    assert c.fnr() == pytest.approx(r.fnr(), rel=1e-13, abs=1e-15)
    assert c.mcc() == pytest.approx(r.mcc(), rel=1e-11, abs=1e-13)  # differences of products
    assert c.g_mean() == pytest.approx(r.g_mean(), rel=1e-13, abs=1e-15)
    terms = kernel.loss_and_grad(theta, np.empty_like(theta))
    log_er = log_e_ratio_from_counts(terms.log_fn, terms.log_fp, kernel.m1, kernel.m0)
    flags = registry.get_method(method).head_kwargs()
    x, _ = nn.forward(p, X)
    logit = head_logits(x, p.beta, astra=flags["astra"], z=flags["z"] and metrics_on == "z")
    assert log_er == pytest.approx(log_e_ratio(logit, y), rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("metrics_on", ["z", "output"])
@pytest.mark.parametrize("x_max, b", [(1e2, 7.3963), (1e3, 7.3963), (1e4, 7.3963), (10.0, 1e6), (1e4, 1e6)])
def test_counts_in_extreme_regimes(method, metrics_on, x_max, b):
    X, y, p = _case(7, 200, 5, (6,), 1.0, float(beta_from_slope(b)), n_pos=12)
    p = _with_output(p, X, x_max)
    kernel = EpochKernel(X, y, p.layer_sizes, method=method, metrics_on=metrics_on)
    c = kernel.counts(p.to_vector())
    r = approx_counts(p, X, y, method, metrics_on)
    # FN and FP, sums of saturated terms formed two ways: 1e-12 relative, also when tiny
    # (the e-ratio and FNR_apx compare them in relative terms)
    np.testing.assert_allclose([c[1], c[2]], [r[1], r[2]], rtol=1e-12, atol=0)
    # TN and TP are m - FP and m - FN on the fused side, hence the absolute part
    np.testing.assert_allclose(c[:4], r[:4], rtol=1e-12, atol=1e-12 * max(r[:4]))
    terms = kernel.loss_and_grad(p.to_vector(), np.empty(kernel.size))
    assert terms.log_fn == pytest.approx(math.log(r[2]), rel=1e-12, abs=1e-12)
    assert terms.log_fp == pytest.approx(math.log(r[1]), rel=1e-12, abs=1e-12)


def test_positive_only_kernel_for_validation():
    X, y, p = _case(5, 60, 3, (2,), 1.0, 5.4, n_pos=6)
    pos = y == 1
    kernel = EpochKernel(X[pos], y[pos], p.layer_sizes, method="gmn-astra", need_grad=False)
    fnr = kernel.counts(p.to_vector()).fnr()
    assert fnr == pytest.approx(approx_counts(p, X, y, "gmn-astra").fnr(), rel=1e-13, abs=1e-15)
    with pytest.raises(ValueError, match="each class"):
        EpochKernel(X[pos], y[pos], p.layer_sizes, method="gmn-astra")


def test_row_order_does_not_matter():
    X, y, p = _case(9, 90, 4, (5,), 1.0, 3.0)
    perm = np.random.default_rng(0).permutation(90)
    a = fast_loss_and_grad(p, X, y, "gmn-astra")
    b = fast_loss_and_grad(p, X[perm], y[perm], "gmn-astra")
    _assert_same(a, b)


def _shift_for_active_share(p, X, method, share):
    """The output shift that leaves about ``share`` of the rows above the asymptotic bound."""
    entry = registry.get_method(method)
    b, log_b, c0 = kernel_module.head_constants(p.beta)[:3] if entry.astra else (1.0, 0.0, 1.0)
    bound = math.log(kernel_module.TINY_ARG) + min(0.0, math.log(c0))
    x, _ = nn.forward(p, X)
    return (bound - log_b - np.quantile(b * x, 1.0 - share)) / b


def _epoch_peak_bytes(kernel, theta):
    grad = np.empty_like(theta)
    kernel.loss_and_grad(theta, grad)  # warm up
    tracemalloc.start()
    kernel.loss_and_grad(theta, grad)
    kernel.counts(theta)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("x_max, active", [(3.0, None), (1e3, None), (3.0, 0.002), (3.0, 0.2)])
def test_epoch_allocates_no_row_sized_arrays(selections, x_max, active):
    # active: the share of rows above the asymptotic bound (the rest take the sparse forms);
    # what the sparse forms allocate beyond the full passes is the index of the gathered
    # rows, 8 bytes a row
    n = 20000  # one row-sized float64 array is 160 kB
    X, y, p0 = _case(1, n, 8, (5,), 1.0, 5.4, n_pos=30)
    for method in METHOD_NAMES:
        p = _with_output(p0, X, x_max)
        if active is not None:
            p = _with_output(p0, X, x_max, shift=_shift_for_active_share(p, X, method, active))
        kernel = EpochKernel(X, y, p.layer_sizes, method=method)
        selections.clear()
        peak = _epoch_peak_bytes(kernel, p.to_vector())
        assert peak < 40_000 + 48 * int(x_max > 700) * n // 10 + 8 * n // 4, (method, peak)
        gathered = max([k for k in selections if k is not None], default=0)
        if active is not None:
            assert gathered >= 0.5 * active * n, (method, selections)
            with _Forms("full"):
                full_peak = _epoch_peak_bytes(EpochKernel(X, y, p.layer_sizes, method=method), p.to_vector())
            assert peak <= full_peak + 8 * gathered + 4096, (method, peak, full_peak, gathered)


def test_head_constants_match_core():
    from astra_np.core.activation import slope_from_beta, slope_from_beta_grad, threshold, threshold_logit_grad

    for beta in (-5.0, -0.5, 0.0, 0.3, 5.3963487604, 80.0, 1e6, 1e20, 1e149):
        b, log_b, c0, dl0, db = kernel_module.head_constants(beta)
        tau = float(threshold(b))
        assert b == float(slope_from_beta(beta)) and db == float(slope_from_beta_grad(beta))
        assert log_b == pytest.approx(math.log(b), rel=1e-15, abs=0)
        # c0 = tau / (1 - tau); both from expm1/log1p chains: a few ulps
        assert c0 == pytest.approx(tau / (1 - tau), rel=1e-14, abs=0)
        # direct difference g = log1p(b) - b/(1+b) loses <= 3 bits (b >= 1): 1e-14
        assert dl0 == pytest.approx(float(threshold_logit_grad(b)), rel=1e-14, abs=0)


def test_head_constants_beyond_b_squared_overflow():
    # b > 1e150: b^2 overflows, the divisions by b are taken one at a time (mpmath: 60 digits)
    import mpmath

    for beta in (1e151, 1e160, 1e300):
        with mpmath.workdps(60):
            b = mpmath.mpf(beta) + 2
            c0 = mpmath.expm1(mpmath.log1p(b) / b)
            exact = -(mpmath.log1p(b) - b / (1 + b)) * (1 + c0) / (c0 * b * b)
        assert kernel_module.head_constants(beta)[3] == pytest.approx(float(exact), rel=1e-14, abs=0)


def test_head_constants_kept_for_the_last_beta_are_those_of_that_beta():
    # the kept constants must follow beta: alternating, repeated, signed zeros, NaN
    X, y, p = _case(1, 40, 3, (2,), 1.0, 1.0)
    kernel = EpochKernel(X, y, p.layer_sizes, method="gmn-astra")
    betas = (0.3, 0.3, 5.25, 0.3, -0.0, 0.0, -7.5, 1e149, 1e160, -7.5, float("nan"), 0.3)
    for beta in betas + (np.float32(0.3), float(np.float32(0.3)), np.float64(5.25)):
        got = kernel._head_constants(beta)
        want = kernel_module.head_constants(float(beta))
        want += (math.log(want[2]),)
        # bit for bit (float.hex tells -0.0 from 0.0 and compares NaNs)
        assert [float(v).hex() for v in got] == [float(v).hex() for v in want], (beta, got, want)
    # the kernel after an epoch at a different beta gives what it gives alone
    theta = p.to_vector()
    other = theta.copy()
    other[-1] += 1.0
    grad_alone, grad_after = np.empty_like(theta), np.empty_like(theta)
    alone = kernel.loss_and_grad(theta, grad_alone)
    kernel.loss_and_grad(other, np.empty_like(theta))
    after = kernel.loss_and_grad(theta, grad_after)
    assert alone == after and np.array_equal(grad_alone, grad_after)


def test_head_constants_are_held_by_each_kernel(monkeypatch):
    # each kernel keeps the constants of its own last beta: another kernel at another
    # beta in between computes its own and leaves the first kernel's in place
    computed = []
    orig = kernel_module.head_constants

    def counting(beta):
        computed.append(beta)
        return orig(beta)

    monkeypatch.setattr(kernel_module, "head_constants", counting)
    X, y, p = _case(1, 40, 3, (2,), 1.0, 1.0)
    first = EpochKernel(X, y, p.layer_sizes, method="bce-astra")
    second = EpochKernel(X, y, p.layer_sizes, method="bce-astra")
    theta = p.to_vector()
    other = theta.copy()
    other[-1] += 1.0
    first.counts(theta)
    second.counts(other)
    first.counts(theta)
    first.loss_and_grad(theta, np.empty_like(theta))
    second.counts(other)
    assert computed == [theta[-1], other[-1]]


def test_kernel_validates_inputs():
    X, y, p = _case(0, 20, 3, (2,), 1.0, 1.0)
    with pytest.raises(ValueError, match="metrics_on"):
        EpochKernel(X, y, p.layer_sizes, metrics_on="p")
    with pytest.raises(ValueError, match="method"):
        EpochKernel(X, y, p.layer_sizes, method="mse")
    with pytest.raises(ValueError, match="layer_sizes"):
        EpochKernel(X, y, (4, 2, 1))
    with pytest.raises(ValueError, match="binary"):
        EpochKernel(X, y + 1, p.layer_sizes)


def test_set_rows_reuses_buffers():
    X, y, p = _case(2, 80, 3, (4,), 1.0, 2.0, n_pos=8)
    X2, y2, _ = _case(3, 80, 3, (4,), 1.0, 2.0, n_pos=8)
    kernel = EpochKernel(X, y, p.layer_sizes, method="bce-astra")
    buf = kernel.Xa
    kernel.set_rows(X2, y2)
    assert kernel.Xa is buf
    theta = p.to_vector()
    g1, g2 = np.empty_like(theta), np.empty_like(theta)
    t1 = kernel.loss_and_grad(theta, g1)
    t2 = EpochKernel(X2, y2, p.layer_sizes, method="bce-astra").loss_and_grad(theta, g2)
    # same rows in the same order: identical operations, identical bits
    assert t1 == t2
    np.testing.assert_array_equal(g1, g2)
    with pytest.raises(ValueError, match="positives"):
        kernel.set_rows(X2, np.roll(y2, 1) * 0)


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("metrics_on", ["z", "output"])
def test_clamped_rows_keep_the_e_ratio_exact(branches, method, metrics_on):
    # every row far below the threshold (t, x < -650: clamped, no subnormal in the passes):
    # FP_apx ~ 1e-300 is summed in log space, so its log (Eq. 11) still matches
    X, y, p = _case(4, 150, 4, (5,), 1.0, 5.3963, n_pos=9)
    b = 7.3963 if registry.get_method(method).astra else 1.0
    p = _with_output(p, X, 2.0, shift=-700.0 / b)
    kernel = EpochKernel(X, y, p.layer_sizes, method=method, metrics_on=metrics_on)
    r = approx_counts(p, X, y, method, metrics_on)
    assert 0 < r[1] < kernel_module.FP_EXACT_BELOW
    c = kernel.counts(p.to_vector())
    np.testing.assert_allclose([c[1], c[2]], [r[1], r[2]], rtol=1e-12, atol=0)
    terms, fast = _kernel_terms(p, X, y, method, metrics_on)
    assert terms.log_fp == pytest.approx(math.log(r[1]), rel=1e-12, abs=0)
    assert not terms.fallback or _in_corner(p, X, y, method)
    if not terms.fallback:
        _assert_same(nn.loss_and_grad(p, X, y, method), fast, _term_scales(p, X, y, method))


def test_tiny_argument_forms_are_bit_identical():
    # log1p and expm1 without their slow path below TINY_ARG: the same bits as NumPy's
    rng = np.random.default_rng(3)
    v = np.concatenate([[0.0, 5e-324, 1e-310, kernel_module.TINY_ARG, np.nextafter(kernel_module.TINY_ARG, 0), 1e-17, 1e-16],
                        np.exp(rng.uniform(-745, 5, 20000))])
    out, tmp = np.empty_like(v), np.empty_like(v)
    kernel_module._log1p_tiny(v, out)
    np.testing.assert_array_equal(out, np.log1p(v))
    kernel_module._expm1_tiny(v, out, tmp)
    np.testing.assert_array_equal(out, np.expm1(v))


# -- the row-selective (sparse) forms: asymptotic rows take the identity, same bits -----------


class _Forms:
    """Sets the kernel's choice of forms: ``"full"`` (every row through the library
    functions) or ``"sparse"`` (whenever some rows are asymptotic, whatever their number)."""

    SETTINGS = {"full": (10**18, 0.25), "sparse": (0, 1.0)}

    def __init__(self, name):
        self.values = self.SETTINGS[name]

    def __enter__(self):
        self.saved = kernel_module.SPARSE_MIN_ROWS, kernel_module.SPARSE_MAX_FRACTION
        kernel_module.SPARSE_MIN_ROWS, kernel_module.SPARSE_MAX_FRACTION = self.values

    def __exit__(self, *exc):
        kernel_module.SPARSE_MIN_ROWS, kernel_module.SPARSE_MAX_FRACTION = self.saved


def _epoch_bits(p, X, y, method, metrics_on="z"):
    """Everything one kernel returns for ``p``: the epoch terms (loss, logs of FN and FP),
    the gradient and the counts."""
    kernel = EpochKernel(X, y, p.layer_sizes, method=method, metrics_on=metrics_on)
    theta = p.to_vector()
    grad = np.empty_like(theta)
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        terms = kernel.loss_and_grad(theta, grad)
        counts = kernel.counts(theta)
    return terms, grad, tuple(counts)


@pytest.fixture
def selections(monkeypatch):
    """Sizes of the row selections the kernel used (None: every row took the full forms)."""
    sizes = []
    orig = kernel_module._SparseRows.select

    def select(self, *args):
        rows = orig(self, *args)
        sizes.append(None if rows is None else rows.size)
        return rows

    monkeypatch.setattr(kernel_module._SparseRows, "select", select)
    return sizes


@settings(deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(METHOD_NAMES),
    metrics_on=st.sampled_from(["z", "output"]),
    x_max=st.sampled_from([3.0, 30.0, 1e2, 1e3, 1e4]),
    shift=st.floats(-800.0, 20.0),
    log10_b=st.floats(0.01, 6.0),
)
def test_sparse_forms_give_the_same_bits_as_the_full_forms(seed, method, metrics_on, x_max, shift, log10_b):
    # log1p(v) = v, expm1(v) = v and 1 + v = 1 below TINY_ARG: the rows the sparse forms
    # leave out take exactly the values the full forms compute for them
    X, y, p = _case(seed, 160, 4, (5,), 1.0, float(beta_from_slope(10.0 ** log10_b)), n_pos=11)
    p = _with_output(p, X, x_max, shift=shift)
    with _Forms("full"):
        full = _epoch_bits(p, X, y, method, metrics_on)
    with _Forms("sparse"):
        sparse = _epoch_bits(p, X, y, method, metrics_on)
    assert full[0] == sparse[0] and full[2] == sparse[2]
    np.testing.assert_array_equal(full[1], sparse[1])


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("x_max, beta, branch, label", REGIMES)
@pytest.mark.parametrize("shift", [0.0, -60.0])
def test_kernel_regimes_with_sparse_forms(method, x_max, beta, branch, label, shift):
    # every regime of test_kernel_regimes through the sparse forms (where some rows are
    # asymptotic), as is and shifted down, against the reference
    X, y, p = _case(7, 200, 5, (6,), 1.0, beta, n_pos=12)
    p = _with_output(p, X, x_max, shift=shift)
    with _Forms("sparse"):
        _check_fused(p, X, y, method, allow_corner=True)


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_late_training_takes_the_sparse_forms_at_the_default_settings(selections, method):
    # 3,000 rows, most negatives far below the threshold (late training): about a hundred
    # rows take the library functions, and the epoch matches the reference
    X, y, p = _case(12, 3000, 5, (5,), 1.0, 5.3963, n_pos=20)
    entry = registry.get_method(method)
    b = kernel_module.head_constants(p.beta)[0] if entry.astra else 1.0
    p = _with_output(p, X, 10.0 / b)  # t spread over about +-10
    p = _with_output(p, X, 10.0 / b, shift=_shift_for_active_share(p, X, method, 0.03))
    _check_fused(p, X, y, method, allow_corner=True)
    used = [k for k in selections if k is not None]
    assert used and 0 < max(used) <= kernel_module.SPARSE_MAX_FRACTION * X.shape[0], selections


@pytest.mark.parametrize("method", [m.name for m in registry.methods() if m.astra])
@pytest.mark.parametrize("metrics_on", ["z", "output"])
@pytest.mark.parametrize("x_max, beta", [(3.0, 5.3963), (1e2, 5.3963), (1e3, 5.3963), (1.0, 1e6), (1e3, 1e6),
                                         (1.0, -30.0), (1.0, 1e151)])
def test_fnr_of_the_positives_is_counts_fnr_bit_for_bit(method, metrics_on, x_max, beta):
    # FNR_apx (the validation monitor) by the bulk forms where counts() takes them, by
    # counts() elsewhere (clipped, saturated or robust positives, b beyond B_MAX)
    X, y, p = _case(5, 120, 3, (4,), 1.0, beta, n_pos=30)
    p = _with_output(p, X, x_max)
    pos = y == 1
    kernel = EpochKernel(X[pos], y[pos], p.layer_sizes, method=method, metrics_on=metrics_on, need_grad=False)
    theta = p.to_vector()
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        fnr, counts = kernel.fnr(theta), kernel.counts(theta)
    assert fnr == counts.fnr()


@pytest.mark.parametrize("method", [m.name for m in registry.methods() if m.astra])
@pytest.mark.parametrize("beta", [1e60, 1e149])
def test_positives_whose_e_underflows_take_the_core_functions(branches, method, beta):
    # a positive at t = -500 with b ~ 1e149: t >= -600, but e ~ e^(b x) = e^(t - log b)
    # underflows, and the bulk forms divide by e; such positives take the core functions
    b, log_b = kernel_module.head_constants(beta)[:2]
    t = np.array([-500.0, -20.0, 10.0, 20.0, 30.0, -40.0])
    X = ((t - log_b) / b)[:, None]
    y = np.array([1, 1, 0, 0, 0, 0])
    p = nn.MLPParams((np.ones((1, 1)),), (np.zeros(1),), beta)
    _check_fused(p, X, y, method, allow_corner=True)
    assert branches["robust"] >= 1

"""The fused epoch kernel (astra_np.learn.kernel) against the reference path (nn + head_loss)."""
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astra_np.learn import kernel as _fast
from astra_np.learn import nn
from astra_np.learn.kernel import EpochKernel, fast_loss_and_grad
from astra_np.core import registry
from astra_np.core.losses import METHODS, head_logits, head_loss
from astra_np.core.metrics import log_e_ratio
from astra_np.learn.train import approx_counts

METHOD_NAMES = sorted(METHODS)


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


def _term_scales(p, X, y, method):
    """Per-entry sums of |terms| of the reference gradient (its condition scale).

    Each weight or bias gradient entry is a sum over rows of products of per-row
    factors; running the reference backward on the absolute values of every factor
    (|dL/dx|, |W|, |activations|; the Leaky ReLU slopes are already positive) gives
    the sum of the absolute values of its terms, the scale of the rounding it carries.
    """
    x, cache = nn.forward(p, X)
    _, g_x, _ = head_loss(x, p.beta, y, **METHODS[method])
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
    _assert_same(nn.loss_and_grad(p, X, y, method), fast_loss_and_grad(p, X, y, method),
                 _term_scales(p, X, y, method))


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize(
    "wscale, beta, label",
    [
        (1.0, 5.3963487604, "paper's initial slope"),
        (40.0, 5.4, "t > 700 on some rows: clipped exp"),
        (8.0, 3000.0, "huge slope: positives below t = -600 use the core functions"),
        (400.0, 5.4, "|x| ~ 1e3: expm1 would overflow, reference fallback"),
        (1.0, -30.0, "b -> 1: the sigmoid limit"),
    ],
)
def test_kernel_regimes(method, wscale, beta, label):
    X, y, p = _case(7, 200, 5, (6,), wscale, beta, n_pos=12)
    ref = nn.loss_and_grad(p, X, y, method)
    _assert_same(ref, fast_loss_and_grad(p, X, y, method), _term_scales(p, X, y, method))


def test_regimes_really_take_their_branches(monkeypatch):
    calls = {"reference": 0, "robust": 0}
    orig_ref = EpochKernel._reference
    orig_pos = EpochKernel._positives

    def ref(self, theta, grad):
        calls["reference"] += 1
        return orig_ref(self, theta, grad)

    def pos(self, x, b, c0, robust):
        calls["robust"] += bool(robust)
        return orig_pos(self, x, b, c0, robust)

    monkeypatch.setattr(EpochKernel, "_reference", ref)
    monkeypatch.setattr(EpochKernel, "_positives", pos)
    X, y, p = _case(7, 200, 5, (6,), 1.0, 5.4, n_pos=12)
    fast_loss_and_grad(p, X, y, "bce-astra")
    assert calls == {"reference": 0, "robust": 0}
    X, y, p = _case(7, 200, 5, (6,), 8.0, 3000.0, n_pos=12)
    fast_loss_and_grad(p, X, y, "bce-astra")
    assert calls == {"reference": 0, "robust": 1}
    X, y, p = _case(7, 200, 5, (6,), 400.0, 5.4, n_pos=12)
    fast_loss_and_grad(p, X, y, "bce-astra")
    assert calls["reference"] == 1


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
    _, log_er = kernel.loss_and_grad(theta, np.empty_like(theta))
    flags = METHODS[method]
    x, _ = nn.forward(p, X)
    logit = head_logits(x, p.beta, astra=flags["astra"], z=flags["z"] and metrics_on == "z")
    assert log_er == pytest.approx(log_e_ratio(logit, y), rel=1e-12, abs=1e-13)


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


def test_epoch_allocates_no_row_sized_arrays():
    n = 20000  # one row-sized float64 array is 160 kB
    X, y, p = _case(1, n, 8, (5,), 1.0, 5.4, n_pos=30)
    for method in METHOD_NAMES:
        kernel = EpochKernel(X, y, p.layer_sizes, method=method)
        theta = p.to_vector()
        grad = np.empty_like(theta)
        kernel.loss_and_grad(theta, grad)  # warm up
        tracemalloc.start()
        kernel.loss_and_grad(theta, grad)
        kernel.counts(theta)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 40_000, (method, peak)


def test_head_constants_match_core():
    from astra_np.core.activation import slope_from_beta, slope_from_beta_grad, threshold, threshold_logit_grad

    for beta in (-5.0, -0.5, 0.0, 0.3, 5.3963487604, 80.0):
        b, log_b, c0, dl0, db = _fast.head_constants(beta)
        tau = float(threshold(b))
        assert b == float(slope_from_beta(beta)) and db == float(slope_from_beta_grad(beta))
        assert log_b == pytest.approx(math.log(b), rel=1e-15, abs=0)
        # c0 = tau / (1 - tau); both from expm1/log1p chains: a few ulps
        assert c0 == pytest.approx(tau / (1 - tau), rel=1e-14, abs=0)
        # direct difference g = log1p(b) - b/(1+b) loses <= 3 bits (b >= 1): 1e-14
        assert dl0 == pytest.approx(float(threshold_logit_grad(b)), rel=1e-14, abs=0)


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
    L1, _ = kernel.loss_and_grad(theta, g1)
    L2, _ = EpochKernel(X2, y2, p.layer_sizes, method="bce-astra").loss_and_grad(theta, g2)
    # same rows in the same order: identical operations, identical bits
    assert L1 == L2
    np.testing.assert_array_equal(g1, g2)
    with pytest.raises(ValueError, match="positives"):
        kernel.set_rows(X2, np.roll(y2, 1) * 0)


@pytest.mark.parametrize("metrics_on", ["z", "output"])
@pytest.mark.parametrize("wscale, beta", [(8.0, 3000.0), (40.0, 5.4), (400.0, 5.4)])
def test_counts_in_extreme_regimes(metrics_on, wscale, beta):
    X, y, p = _case(7, 200, 5, (6,), wscale, beta, n_pos=12)
    for method in ("bce-astra", "gmn"):
        kernel = EpochKernel(X, y, p.layer_sizes, method=method, metrics_on=metrics_on)
        c = kernel.counts(p.to_vector())
        r = approx_counts(p, X, y, method, metrics_on)
        # FN and FP: sums of saturated terms formed two ways (1e-12 relative); TN and TP
        # are m - FP and m - FN on the fused side, hence the absolute part
        np.testing.assert_allclose(c[:4], r[:4], rtol=1e-12, atol=1e-12 * max(r[:4]))


def test_gmn_with_vanishing_tp_falls_back_and_matches(monkeypatch):
    # TP_apx ~ 1e-300 of TN_apx: the fused backward's row scaling TN/TP would overflow,
    # so the epoch must take the reference path and still match it.
    X, y, p = _case(6, 12, 1, (2, 2, 2), 3.0, 0.0)
    calls = {"reference": 0}
    original = EpochKernel._reference

    def counting(self, *args, **kw):
        calls["reference"] += 1
        return original(self, *args, **kw)

    monkeypatch.setattr(EpochKernel, "_reference", counting)
    ref = nn.loss_and_grad(p, X, y, "gmn")
    _assert_same(ref, fast_loss_and_grad(p, X, y, "gmn"), _term_scales(p, X, y, "gmn"))
    assert calls["reference"] == 1


#: The methods of the count-based losses outside the paper's comparison (soft F1, MCC).
NEW_COUNT_METHODS = [m.name for m in registry.methods() if not m.loss.in_paper and m.loss.fused == "counts"]


@pytest.mark.parametrize("method", NEW_COUNT_METHODS)
@pytest.mark.parametrize("wscale, beta", [(1.0, 5.3963487604), (8.0, 3000.0), (1.0, -30.0)])
def test_count_methods_train_on_the_fused_path(monkeypatch, method, wscale, beta):
    # the generic counts path of the kernel serves F1 and MCC: no reference fallback in
    # these regimes, and the result is the reference's to 1e-12
    calls = {"reference": 0}
    original = EpochKernel._reference

    def counting(self, *args, **kw):
        calls["reference"] += 1
        return original(self, *args, **kw)

    monkeypatch.setattr(EpochKernel, "_reference", counting)
    X, y, p = _case(7, 200, 5, (6,), wscale, beta, n_pos=12)
    _assert_same(nn.loss_and_grad(p, X, y, method), fast_loss_and_grad(p, X, y, method),
                 _term_scales(p, X, y, method))
    assert calls["reference"] == 0


@pytest.mark.parametrize("method", NEW_COUNT_METHODS)
def test_count_methods_with_every_output_near_0_fall_back_and_match(monkeypatch, method):
    # every pre-activation far below 0: TP_apx (F1: k_neg = 2 TP / D^2 underflows to 0) or
    # the predicted-positive marginal (MCC) vanishes in linear counts; the kernel's counts
    # function or its k ratio check sends the epoch to the reference path, which matches
    calls = {"reference": 0}
    original = EpochKernel._reference

    def counting(self, *args, **kw):
        calls["reference"] += 1
        return original(self, *args, **kw)

    monkeypatch.setattr(EpochKernel, "_reference", counting)
    X, y, p = _case(6, 40, 2, (3,), 1.0, -30.0, n_pos=4)
    p = nn.MLPParams(p.weights, p.biases[:-1] + (np.array([-2000.0]),), p.beta)
    ref = nn.loss_and_grad(p, X, y, method)
    _assert_same(ref, fast_loss_and_grad(p, X, y, method), _term_scales(p, X, y, method))
    assert ref[0] == 1.0
    assert calls["reference"] == 1

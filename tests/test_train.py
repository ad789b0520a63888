"""Tests of astra_np.learn.train: the epoch loop, eta_b (Eq. 10), best-on-validation, history."""
import math

import numpy as np
import pytest

from astra_np.core import registry
from astra_np.core.activation import threshold
from astra_np.learn import nn
from astra_np.learn.optim import EtaBRule
from astra_np.learn.train import HISTORY_KEYS, MONITORS, approx_counts, train
from astra_np.study.datasets import make_imbalanced

METHOD_NAMES = registry.method_names()


def _data(seed=0, n=400, n_x=4, n_pos=12):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_x))
    y = np.zeros(n, dtype=np.int64)
    pos = rng.choice(n, n_pos, replace=False)
    y[pos] = 1
    X[pos, :2] += 2.0  # learnable, imperfectly separable
    return X, y


@pytest.fixture(scope="module")
def split():
    X, y = _data()
    Xv, yv = _data(seed=1, n=200, n_pos=8)
    return X, y, Xv, yv


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_history_and_eta_b_rule(split, method):
    X, y, Xv, yv = split
    r = train(X, y, Xv, yv, method=method, epochs=120, random_state=0)
    assert set(r.history) == set(HISTORY_KEYS)
    assert r.n_epochs == 120 and not r.stopped and "completed 120 epochs" in r.message
    h = r.history
    assert all(len(h[k]) == 120 for k in HISTORY_KEYS)
    np.testing.assert_array_equal(h["epoch"], np.arange(1, 121))
    assert np.all(np.isfinite(h["loss"])) and np.all(np.isfinite(h["log_e_ratio"]))
    # e_ratio is exp of the log; tau(b) per epoch; same formulas, a few ulps
    np.testing.assert_allclose(h["e_ratio"], np.exp(h["log_e_ratio"]), rtol=1e-15, atol=0)
    if registry.get_method(method).astra:
        np.testing.assert_allclose(h["tau"], threshold(h["b"]), rtol=1e-15, atol=0)
        rule = EtaBRule()
        assert h["eta_b"][0] == rule.init
        for i in range(119):  # Eq. 10, replayed exactly from the recorded e-ratios
            assert h["eta_b"][i + 1] == rule.update(h["eta_b"][i], h["log_e_ratio"][i])
        assert len(set(h["b"].tolist())) > 100  # the slope is learned
    else:
        assert np.all(h["b"] == 1.0) and np.all(h["tau"] == 0.5)
        assert r.params.beta == nn.initial_beta(0.25)  # untouched by the sigmoid methods


@pytest.mark.parametrize("monitor", sorted(MONITORS))
def test_best_on_validation(split, monitor):
    X, y, Xv, yv = split
    r = train(X, y, Xv, yv, method="gmn-astra", epochs=150, monitor=monitor, random_state=2)
    v = r.history["val_monitor"]
    best = int(np.argmin(v) if monitor == "fnr_apx" else np.argmax(v))  # first occurrence
    assert r.best_epoch == best + 1
    assert r.best_score == v[best]
    c = approx_counts(r.params, Xv, yv, "gmn-astra")
    value = {"fnr_apx": c.fnr, "mcc_apx": c.mcc, "gmean_apx": c.g_mean}[monitor]()
    # the kept parameters reproduce the recorded monitor (fused vs reference sums)
    assert value == pytest.approx(v[best], rel=1e-11, abs=1e-14)
    # and the last parameters reproduce the last epoch's monitor, a different value
    c_last = approx_counts(r.last_params, Xv, yv, "gmn-astra")
    last = {"fnr_apx": c_last.fnr, "mcc_apx": c_last.mcc, "gmean_apx": c_last.g_mean}[monitor]()
    assert last == pytest.approx(v[-1], rel=1e-11, abs=1e-14)
    assert r.best_epoch == r.n_epochs or not np.array_equal(r.params.to_vector(), r.last_params.to_vector())


def test_without_validation_keeps_last_epoch(split):
    X, y, _, _ = split
    r = train(X, y, method="bce-astra", epochs=30, random_state=0)
    assert r.best_epoch == 30 and math.isnan(r.best_score)
    np.testing.assert_array_equal(r.params.to_vector(), r.last_params.to_vector())
    assert np.all(np.isnan(r.history["val_monitor"]))


def test_same_seed_same_bits(split):
    X, y, Xv, yv = split
    a = train(X, y, Xv, yv, method="gmn-astra", epochs=60, random_state=5)
    b = train(X, y, Xv, yv, method="gmn-astra", epochs=60, random_state=5)
    c = train(X, y, Xv, yv, method="gmn-astra", epochs=60, random_state=6)
    np.testing.assert_array_equal(a.params.to_vector(), b.params.to_vector())
    for k in HISTORY_KEYS:
        np.testing.assert_array_equal(a.history[k], b.history[k])
    assert not np.array_equal(a.params.to_vector(), c.params.to_vector())


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_kernel_and_reference_paths_agree(split, method):
    X, y, Xv, yv = split
    kw = dict(method=method, epochs=25, random_state=3, monitor="mcc_apx")
    a = train(X, y, Xv, yv, fast=True, **kw)
    b = train(X, y, Xv, yv, fast=False, **kw)
    # 1e-12 per-epoch differences, amplified over 25 Adam steps (whose normalisation
    # divides by small sqrt(v)): 1e-8 relative is still far below any real discrepancy.
    np.testing.assert_allclose(a.last_params.to_vector(), b.last_params.to_vector(), rtol=1e-8, atol=1e-10)
    for k in ("loss", "log_e_ratio", "b", "val_monitor"):
        np.testing.assert_allclose(a.history[k], b.history[k], rtol=1e-8, atol=1e-10)
    assert a.best_epoch == b.best_epoch


def test_beta_update_sgd_is_a_plain_gradient_step(split):
    X, y, _, _ = split
    p0 = nn.init_params(4, random_state=0)
    _, g = nn.loss_and_grad(p0, X, y, "bce-astra")
    r = train(X, y, method="bce-astra", epochs=1, params=p0, beta_update="sgd")
    # beta - 0.01 * dJ/dbeta, with the gradient from the fused kernel (1e-12 relative)
    assert r.last_params.beta == pytest.approx(p0.beta - 0.01 * g.beta, rel=1e-15, abs=1e-16)
    r = train(X, y, method="bce-astra", epochs=1, params=p0, beta_update="adam")
    # Adam's first step: -eta_b g / (|g| + eps); g from the fused kernel (1e-12 relative)
    step = 0.01 * g.beta / (abs(g.beta) + 1e-8)
    assert r.last_params.beta == pytest.approx(p0.beta - step, rel=1e-15, abs=1e-16)


def test_fixed_eta_b(split):
    X, y, _, _ = split
    r = train(X, y, method="gmn-astra", epochs=40, eta_b=0.05, random_state=0)
    assert np.all(r.history["eta_b"] == 0.05)


def test_metrics_on_output_changes_e_ratio_only_with_astra(split):
    X, y, _, _ = split
    for method, differ in (("bce", False), ("bce-astra", True)):
        a = train(X, y, method=method, epochs=3, random_state=0)
        b = train(X, y, method=method, epochs=3, random_state=0, metrics_on="output")
        same = np.allclose(a.history["log_e_ratio"], b.history["log_e_ratio"], rtol=1e-14, atol=0)
        assert same != differ


def test_mini_batches(split):
    X, y, Xv, yv = split
    r = train(X, y, Xv, yv, method="gmn-astra", epochs=20, batch_size=100, random_state=0)
    r2 = train(X, y, Xv, yv, method="gmn-astra", epochs=20, batch_size=100, random_state=0)
    assert np.all(np.isfinite(r.history["loss"])) and np.all(np.isfinite(r.history["log_e_ratio"]))
    np.testing.assert_array_equal(r.last_params.to_vector(), r2.last_params.to_vector())
    full = train(X, y, Xv, yv, method="gmn-astra", epochs=20, random_state=0)
    assert not np.array_equal(full.last_params.to_vector(), r.last_params.to_vector())
    with pytest.raises(ValueError, match="batch_size"):
        train(X, y, method="gmn-astra", epochs=2, batch_size=10)  # 40 batches, 12 positives
    ref = train(X, y, Xv, yv, method="gmn-astra", epochs=20, batch_size=100, random_state=0, fast=False)
    # same batches (same seed), reference instead of fused gradients: rounding only,
    # amplified over 80 Adam steps
    np.testing.assert_allclose(ref.last_params.to_vector(), r.last_params.to_vector(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ref.history["log_e_ratio"], r.history["log_e_ratio"], rtol=1e-8, atol=1e-10)


def test_non_finite_loss_stops_and_keeps_best(split):
    X, y, Xv, yv = split
    r = train(X, y, Xv, yv, method="bce-astra", epochs=50, learning_rate=1e300, random_state=0)
    assert r.stopped and r.n_epochs < 50
    assert "training stopped at epoch" in r.message
    assert np.all(np.isfinite(r.params.to_vector()))
    assert r.best_epoch <= r.n_epochs
    assert len(r.history["loss"]) == r.n_epochs


def test_blas_threads_none_is_accepted(split):
    X, y, _, _ = split
    a = train(X, y, method="gmn", epochs=5, random_state=0, blas_threads=None)
    b = train(X, y, method="gmn", epochs=5, random_state=0)
    # BLAS thread count changes summation blocking at most: 1e-12
    np.testing.assert_allclose(a.last_params.to_vector(), b.last_params.to_vector(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="mse"), "method"),
        (dict(monitor="auc"), "monitor"),
        (dict(epochs=0), "epochs"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(beta_update="rmsprop"), "beta_update"),
        (dict(metrics_on="p"), "metrics_on"),
        (dict(eta_b="fast"), "eta_b"),
        (dict(tau_init=0.6), "tau_init"),
    ],
)
def test_bad_arguments(split, kwargs, match):
    X, y, _, _ = split
    with pytest.raises(ValueError, match=match):
        train(X, y, epochs=kwargs.pop("epochs", 2), **kwargs)


def test_bad_data(split):
    X, y, Xv, yv = split
    with pytest.raises(ValueError, match="y must hold binary"):
        train(X, y + 1, epochs=2)
    with pytest.raises(ValueError, match="both classes"):
        train(X, np.zeros_like(y), epochs=2)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train(Xn, y, epochs=2)
    with pytest.raises(ValueError, match="y_val has no positive"):
        train(X, y, Xv, np.zeros_like(yv), epochs=2)
    with pytest.raises(ValueError, match="together"):
        train(X, y, Xv, None, epochs=2)
    with pytest.raises(ValueError, match="features"):
        train(X, y, Xv[:, :2], yv, epochs=2)


def _heavy_tailed(seed=0):
    X, y = make_imbalanced(n_samples=3000, n_features=6, n_positives=12, random_state=seed, heavy_tails=0.02)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X[:2000], y[:2000], X[2000:], y[2000:]


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_late_training_states_stay_on_the_fused_path(method):
    # heavy-tailed rows (|x| up to ~60 after standardisation) and a network whose output
    # pre-activations reach the thousands (s > 650: saturated rows): no epoch leaves the
    # fused path, and the run follows the reference path's
    X, y, Xv, yv = _heavy_tailed()
    p0 = nn.init_params(X.shape[1], random_state=1)
    p = nn.MLPParams(p0.weights[:-1] + (p0.weights[-1] * 150.0,), p0.biases, p0.beta)
    x, _ = nn.forward(p, X)
    assert np.max(x) > 700
    kw = dict(method=method, epochs=20, params=p, random_state=0)
    a = train(X, y, Xv, yv, **kw)
    b = train(X, y, Xv, yv, fast=False, **kw)
    assert a.epochs_off_fused_path == 0 and b.epochs_off_fused_path == 0 and not a.stopped
    np.testing.assert_allclose(a.last_params.to_vector(), b.last_params.to_vector(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-10, atol=0)


def test_heavy_tailed_fit_counts_no_epoch_off_the_fused_path():
    X, y, Xv, yv = _heavy_tailed(1)
    r = train(X, y, Xv, yv, method="gmn-astra", epochs=300, random_state=0)
    assert r.n_epochs == 300 and r.epochs_off_fused_path == 0


def test_epochs_off_the_fused_path_are_counted():
    # a slope beyond the fused path's B_MAX (1e150): every epoch is the reference path's
    X, y, Xv, yv = _heavy_tailed()
    p = nn.init_params(X.shape[1], random_state=0)
    p = nn.MLPParams(p.weights, p.biases, 1e151)
    r = train(X, y, Xv, yv, method="bce-astra", epochs=4, params=p, random_state=0)
    assert r.epochs_off_fused_path == 4 and r.n_epochs == 4
    assert train(X, y, Xv, yv, method="bce", epochs=4, params=p).epochs_off_fused_path == 0


def test_estimator_exposes_epochs_off_the_fused_path():
    from astra_np import ASTraClassifier

    X, y, _, _ = _heavy_tailed()
    clf = ASTraClassifier(method="gmn-astra", epochs=5, random_state=0).fit(X, y)
    assert clf.epochs_off_fused_path_ == 0

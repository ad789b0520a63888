"""Tests of astra_np.learn.nn: initialisation, forward pass and the hand-written backward pass."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from astra_np.core.activation import slope_for_threshold
from astra_np.core.losses import METHODS, head_loss
from astra_np.learn import nn

METHOD_NAMES = sorted(METHODS)


def _data(seed, n, n_x):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_x))
    y = (rng.random(n) < 0.3).astype(np.int64)
    y[0], y[1] = 1, 0  # both classes, as GMN needs
    return X, y


def _total_loss(params, X, y, method):
    x, _ = nn.forward(params, X)
    return head_loss(x, params.beta, y, **METHODS[method])[0]


def _fd_gradient(params, X, y, method, h=1e-6):
    r"""Central finite differences of the total loss in every scalar (weights, biases, beta)."""
    theta = params.to_vector()
    sizes = params.layer_sizes
    g = np.empty_like(theta)
    for k in range(theta.size):
        step = h * max(1.0, abs(theta[k]))
        tp, tm = theta.copy(), theta.copy()
        tp[k] += step
        tm[k] -= step
        fp = _total_loss(nn.MLPParams.from_vector(tp, sizes), X, y, method)
        fm = _total_loss(nn.MLPParams.from_vector(tm, sizes), X, y, method)
        g[k] = (fp - fm) / (2 * step)
    return g


def _min_abs_preact(params, X):
    _, cache = nn.forward(params, X)
    return min(float(np.min(np.abs(z))) for z in cache.preacts)


def _fd_close(g, fd):
    # Central differences with h = 1e-6 (relative) have truncation error ~h^2 |f'''| and
    # rounding error ~1e-16 |f| / h ~ 1e-10 for these O(1) losses; atol 1e-7 and rtol 1e-5
    # leave two orders of margin while a wrong formula (errors of O(1e-3) and more) fails.
    return np.allclose(g, fd, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- init


def test_default_hidden_sizes_follow_the_papers_rule():
    # n_h = ceil((n_x + 1) / 2): 3 -> 2, 8 -> 5, 22 -> 12 (Table 1's data sets)
    assert nn.default_hidden_sizes(3) == (2,)
    assert nn.default_hidden_sizes(8) == (5,)
    assert nn.default_hidden_sizes(22) == (12,)
    with pytest.raises(ValueError, match="n_features"):
        nn.default_hidden_sizes(0)


def test_initial_beta_is_slope_minus_two_for_tau_quarter():
    b = slope_for_threshold(0.25)
    # Both sides are computed from the same double b; the subtraction b - 2 is exact.
    assert nn.initial_beta(0.25) == pytest.approx(b - 2.0, rel=0, abs=0)
    assert b == pytest.approx(7.3963487604, rel=1e-10, abs=0)  # NOTES.md value, 11 digits
    for bad in (0.0, 0.5, 0.7, -0.1):
        with pytest.raises(ValueError, match="tau_init"):
            nn.initial_beta(bad)


def test_init_shapes_biases_and_determinism():
    p = nn.init_params(8, random_state=3)
    assert p.layer_sizes == (8, 5, 1)
    assert [W.shape for W in p.weights] == [(5, 8), (1, 5)]
    assert all(np.all(c == 0) for c in p.biases)
    q = nn.init_params(8, random_state=3)
    assert all(np.array_equal(a, b) for a, b in zip(p.weights, q.weights))  # same seed, same bits
    r = nn.init_params(8, random_state=4)
    assert not np.array_equal(p.weights[0], r.weights[0])
    two = nn.init_params(4, (6, 3), random_state=0)
    assert two.layer_sizes == (4, 6, 3, 1)


def test_he_and_glorot_scales():
    p = nn.init_params(400, (300,), random_state=0)
    W1, W2 = p.weights
    # He normal: std sqrt(2/400) = 0.0707; 120,000 draws give the sample std to ~0.2%,
    # so 2% relative is a loose but discriminating bound (Glorot's would be 0.0535).
    assert np.std(W1) == pytest.approx(math.sqrt(2 / 400), rel=0.02, abs=0)
    limit = math.sqrt(6 / (300 + 1))
    assert np.max(np.abs(W2)) <= limit
    # Uniform(-r, r) has std r/sqrt(3); 300 draws give it to ~4%, hence 15%.
    assert np.std(W2) == pytest.approx(limit / math.sqrt(3), rel=0.15, abs=0)


def test_bad_hidden_sizes_raise():
    for bad in ((), (0,), (3, -1), "5", (2.5,), True):
        with pytest.raises(ValueError, match="hidden_layer_sizes"):
            nn.init_params(3, bad)


def test_vector_round_trip_and_errors():
    p = nn.init_params(5, (4, 3), random_state=1)
    v = p.to_vector()
    assert v.size == p.size == (5 + 1) * 4 + (4 + 1) * 3 + (3 + 1) * 1 + 1
    q = nn.MLPParams.from_vector(v, p.layer_sizes)
    assert np.array_equal(q.to_vector(), v)
    with pytest.raises(ValueError, match="entries"):
        nn.MLPParams.from_vector(v[:-1], p.layer_sizes)


def test_method_flags_rejects_unknown():
    assert nn.method_flags("gmn-astra") == dict(loss="gmn", astra=True, z=True)
    with pytest.raises(ValueError, match="method"):
        nn.method_flags("focal")


# ---------------------------------------------------------------------------- forward


def test_forward_matches_explicit_formula():
    X, _ = _data(0, 7, 3)
    p = nn.init_params(3, (4, 2), random_state=5)
    p = nn.MLPParams(p.weights, (np.full(4, 0.1), np.full(2, -0.2), np.array([0.3])), p.beta)
    x, cache = nn.forward(p, X)
    a = X
    for W, c in zip(p.weights[:-1], p.biases[:-1]):
        z = a @ W.T + c
        a = np.where(z > 0, z, 0.3 * z)
    expected = a @ p.weights[-1][0] + p.biases[-1][0]
    # Same operations in the same order: identical up to BLAS summation order (1 ulp).
    np.testing.assert_allclose(x, expected, rtol=1e-14, atol=1e-15)
    assert len(cache.preacts) == 2 and cache.inputs[0] is not None


def test_forward_validates_X():
    p = nn.init_params(3, random_state=0)
    with pytest.raises(ValueError, match="features"):
        nn.forward(p, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="X"):
        nn.forward(p, np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        nn.forward(p, np.zeros(3))


def test_leaky_relu_and_grad():
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(nn.leaky_relu(z), [0.3 * -2.0, 0.0, 3.0])
    np.testing.assert_array_equal(nn.leaky_relu_grad(z), [0.3, 0.3, 1.0])


# ---------------------------------------------------------------------------- backward


@settings(max_examples=60)  # each example runs ~2 x 40 full forward passes; 60 keeps it ~10 s
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(4, 25),
    n_x=st.integers(1, 4),
    hidden=st.sampled_from([(3,), (2,), (4, 2), (3, 3)]),
    method=st.sampled_from(METHOD_NAMES),
    beta=st.floats(-3.0, 8.0),
    wscale=st.floats(0.3, 2.0),
)
def test_backward_matches_finite_differences(seed, n, n_x, hidden, method, beta, wscale):
    X, y = _data(seed, n, n_x)
    p0 = nn.init_params(n_x, hidden, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    p = nn.MLPParams(
        tuple(W * wscale for W in p0.weights),
        tuple(0.3 * rng.standard_normal(c.shape) for c in p0.biases),
        beta,
    )
    # finite differences across the Leaky ReLU kink are meaningless: keep away from it
    assume(_min_abs_preact(p, X) > 1e-3)
    loss, grads = nn.loss_and_grad(p, X, y, method)
    assert loss == pytest.approx(_total_loss(p, X, y, method), rel=0, abs=0)
    g = grads.to_vector()
    fd = _fd_gradient(p, X, y, method)
    assert _fd_close(g, fd), np.max(np.abs(g - fd))
    if not METHODS[method]["astra"]:
        assert g[-1] == 0.0 and fd[-1] == 0.0  # the sigmoid head does not use beta


def test_broken_backward_is_caught(monkeypatch):
    # The same check must fail when the backward pass is wrong: here the Leaky ReLU
    # derivative uses slope 0.2 instead of 0.3 on the negative side.
    X, y = _data(11, 20, 3)
    p = nn.init_params(3, (4,), random_state=2)
    assert _min_abs_preact(p, X) > 1e-3
    fd = _fd_gradient(p, X, y, "gmn-astra")
    good = nn.loss_and_grad(p, X, y, "gmn-astra")[1].to_vector()
    assert _fd_close(good, fd)
    monkeypatch.setattr(nn, "leaky_relu_grad", lambda z, slope=0.3: np.where(z > 0, 1.0, 0.2))
    broken = nn.loss_and_grad(p, X, y, "gmn-astra")[1].to_vector()
    assert not _fd_close(broken, fd)


def test_backward_validates_shapes():
    X, y = _data(0, 6, 2)
    p = nn.init_params(2, random_state=0)
    _, cache = nn.forward(p, X)
    with pytest.raises(ValueError, match="dL_dx"):
        nn.backward(p, cache, np.zeros(5))

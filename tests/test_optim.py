"""Tests of astra_np.learn.optim: Adam (torch.optim.Adam variant) and the eta_b rule (Eq. 10)."""
import math

import numpy as np
import pytest

from astra_np.learn.optim import Adam, EtaBRule, adam_update, eta_b_update


def _textbook_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    r"""Adam as written in Kingma & Ba with PyTorch's eps placement, independently coded."""
    p = np.array(p, dtype=np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p.copy())
    return out


def test_first_step_closed_form():
    # t = 1: m_hat = g, v_hat = g^2, so the step is -lr g / (|g| + eps).
    p0 = np.array([1.0, -2.0, 0.5, 3.0])
    g = np.array([0.3, -4.0, 1e-6, 0.0])
    lr = 0.01
    expected = p0 - lr * g / (np.abs(g) + 1e-8)
    opt = Adam(4, lr=lr)
    p = p0.copy()
    opt.step(p, g)
    # The bias corrections divide by 0.1 and sqrt(0.001): a few roundings, a few ulps of
    # |p| <= 3 (ulp(3) = 4.4e-16).
    np.testing.assert_allclose(p, expected, rtol=1e-15, atol=1.5e-15)
    assert p[3] == 3.0  # zero gradient, zero step


def test_sequence_matches_textbook_adam():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(6)
    grads = [rng.standard_normal(6) * 10.0 ** rng.integers(-3, 3) for _ in range(60)]
    ref = _textbook_adam(p0, grads, lr=0.05)
    opt = Adam(6, lr=0.05)
    p = p0.copy()
    for g, r in zip(grads, ref):
        opt.step(p, g)
        # Different but equivalent operation orders: agreement to ~1e-15 per step,
        # accumulated over 60 steps; 1e-12 relative and 1e-14 absolute leave margin.
        np.testing.assert_allclose(p, r, rtol=1e-12, atol=1e-14)
    assert opt.t == 60


def test_class_and_pure_function_agree_bit_for_bit():
    rng = np.random.default_rng(1)
    p = rng.standard_normal(5)
    q = p.copy()
    m = np.zeros(5)
    v = np.zeros(5)
    lr = np.array([1e-3, 1e-3, 1e-3, 1e-3, 0.3])  # a per-entry rate, as for beta's eta_b
    opt = Adam(5)
    for t in range(1, 20):
        g = rng.standard_normal(5)
        opt.step(p, g, lr)
        q, m, v = adam_update(q, g, m, v, t, lr)
        np.testing.assert_array_equal(p, q)  # same operations in the same order
    np.testing.assert_array_equal(opt.m, m)
    np.testing.assert_array_equal(opt.v, v)


def test_per_entry_learning_rates_are_independent_groups():
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(2) for _ in range(10)]
    p = np.zeros(2)
    opt = Adam(2)
    for g in grads:
        opt.step(p, g, np.array([0.01, 0.5]))
    a = _textbook_adam([0.0], [g[:1] for g in grads], lr=0.01)[-1]
    b = _textbook_adam([0.0], [g[1:] for g in grads], lr=0.5)[-1]
    # equivalent formulas, 10 steps: 1e-13 relative; atol for values that cross 0
    np.testing.assert_allclose(p, [a[0], b[0]], rtol=1e-13, atol=1e-15)


def test_adam_validation():
    with pytest.raises(ValueError, match="beta1"):
        Adam(3, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="eps"):
        Adam(3, eps=0.0)
    with pytest.raises(ValueError, match="lr"):
        Adam(3, lr=-1.0)
    with pytest.raises(ValueError, match="size"):
        Adam(0)
    with pytest.raises(ValueError, match="t must"):
        adam_update(np.zeros(2), np.zeros(2), 0.0, 0.0, 0)


def test_eta_b_rule_cases_eq10():
    rule = EtaBRule()
    assert (rule.init, rule.min, rule.max, rule.k_mult, rule.k_dec) == (0.01, 0.01, 0.5, 1.1, 0.99)
    assert rule.update(0.2, math.log(3.0)) == 1.1 * 0.2  # e-ratio > 1: grow
    assert rule.update(0.2, math.log(0.5)) == 0.99 * 0.2  # e-ratio < 1: decay
    assert rule.update(0.2, 0.0) == 0.2  # e-ratio == 1: unchanged
    assert rule.update(0.2, math.nan) == 0.2  # undefined: unchanged
    assert rule.update(0.49, math.inf) == 0.5  # clamped at max
    assert rule.update(0.0100001, -math.inf) == 0.01  # clamped at min


def test_eta_b_rule_sequences_and_fixed():
    rule = EtaBRule()
    eta = rule.init
    for _ in range(100):
        eta = rule.update(eta, 1.0)
    assert eta == 0.5  # 0.01 * 1.1^k passes 0.5 after 42 epochs, then stays
    for _ in range(1000):
        eta = rule.update(eta, -1.0)
    assert eta == 0.01  # 0.5 * 0.99^k reaches the floor after ~390 epochs
    fixed = EtaBRule(init=0.05, adaptive=False)
    assert fixed.update(0.05, 5.0) == 0.05 and fixed.update(0.05, -5.0) == 0.05


def test_eta_b_update_on_the_ratio_matches_rule_on_its_log():
    rule = EtaBRule()
    for eta in (0.01, 0.05, 0.3, 0.5):
        for ratio in (1e-6, 0.5, 1.0, 2.0, 1e9):
            assert eta_b_update(eta, ratio) == rule.update(eta, math.log(ratio))


def test_eta_b_rule_validation():
    with pytest.raises(ValueError, match="min"):
        EtaBRule(min=0.0)
    with pytest.raises(ValueError, match="max"):
        EtaBRule(min=0.2, max=0.1)
    with pytest.raises(ValueError, match="init"):
        EtaBRule(init=0.9)
    with pytest.raises(ValueError, match="k_mult"):
        EtaBRule(k_mult=0.9)
    with pytest.raises(ValueError, match="k_dec"):
        EtaBRule(k_dec=1.5)
    with pytest.raises(ValueError, match="finite"):
        EtaBRule(max=math.inf)

"""Every public function of the core is finite and warning-free on its whole domain.

The inputs are any finite float64 (not only the bulk, not only the tails): hypothesis
draws x over the full float64 range and b over the accepted slopes [1e-100, 1.8e308].
The autouse fixture of conftest.py turns overflow, division by zero and invalid
operations into errors, and pytest turns warnings into errors, so a single naive
intermediate anywhere fails these tests.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import astra_np as an
from astra_np.core._validation import B_MIN

any_x = st.floats(allow_nan=False, allow_infinity=False)
any_b = st.floats(min_value=B_MIN, max_value=np.finfo(float).max)
any_p = st.floats(min_value=0.0, max_value=1.0)
any_tau = st.floats(min_value=np.finfo(float).tiny, max_value=0.5)


@given(any_x, any_b)
def test_astra_and_partials_finite_everywhere(x, b):
    y = an.astra(x, b)
    c = an.astra_complement(x, b)
    assert 0.0 <= y <= 1.0 and 0.0 <= c <= 1.0
    for value in (*an.astra_partials(x, b), an.astra_logit_partials(x, b)[0]):
        assert np.isfinite(value), (x, b)
    # d logit / d b lies between about x and (1 - log b)/b^2; the latter is the
    # correctly rounded inf only when b is tiny and x huge
    assert not np.isnan(an.astra_logit_partials(x, b)[1])
    # the logit is -inf only when b x < -1.8e308 (its exact value is then below the
    # float64 range); for x -> +inf it is ~ x + log(b)/b, always finite
    logit = an.astra_logit(x, b)
    with np.errstate(over="ignore"):
        representable = np.isfinite(b * x) or x > 0
    assert np.isfinite(logit) or not representable, (x, b, logit)


@given(any_x, st.floats(min_value=1.0, max_value=1e6))
def test_partials_finite_in_the_papers_range(x, b):
    # b >= 1 (the paper's range): every partial, the b-derivative of the logit included
    assert all(np.isfinite(v) for v in (*an.astra_partials(x, b), *an.astra_logit_partials(x, b)))


@given(st.lists(any_x, min_size=2, max_size=12), st.floats(-1e6, 1e6), st.sampled_from(sorted(an.METHODS)))
def test_head_loss_finite_or_refused(xs, beta, method):
    x = np.array(xs)
    y = np.zeros(x.size)
    y[0] = 1
    b = float(an.slope_from_beta(beta))
    with np.errstate(over="ignore"):
        # the logit is ~ b x for x -> -inf (unrepresentable once b x overflows) but
        # ~ x + log(b)/b for x -> +inf (always representable)
        beyond = bool(np.any(~np.isfinite(b * x) & (x < 0)))
    if beyond and an.METHODS[method]["astra"]:
        with pytest.raises(ValueError, match=r"\bx\b"):
            an.head_loss(x, beta, y, **an.METHODS[method])
        return
    loss, gx, gbeta = an.head_loss(x, beta, y, **an.METHODS[method])
    if an.METHODS[method]["loss"] == "gmn":
        assert 0.0 <= loss <= 1.0
    else:
        assert loss >= 0.0
    assert np.all(np.isfinite(gx)) and np.isfinite(gbeta)


@given(any_p, any_tau)
def test_z_transform_finite_everywhere(p, tau):
    z = an.z_transform(p, tau)
    assert 0.0 <= z <= 1.0 and 0.0 <= an.z_transform_complement(p, tau) <= 1.0
    assert all(np.isfinite(v) for v in an.z_transform_partials(p, tau))


@given(st.floats(min_value=B_MIN, max_value=np.finfo(float).max))
def test_threshold_finite_everywhere(b):
    tau = an.threshold(b)
    assert 0.0 < tau < 1.0
    assert np.isfinite(an.threshold_logit(b))
    assert np.isfinite(an.threshold_grad(b)) and an.threshold_grad(b) <= 0.0


def test_subnormal_thresholds_are_refused_by_name():
    with pytest.raises(ValueError, match=r"^tau must be"):
        an.z_transform(0.5, 5e-324)


def test_slopes_below_the_minimum_are_refused_by_name():
    for bad in (1e-101, 5e-324):
        with pytest.raises(ValueError, match=r"^b must be >= 1e-100"):
            an.astra(0.0, bad)
    with pytest.raises(ValueError, match=r"^b must be > 0"):
        an.astra(0.0, 0.0)
    # the minimum itself is accepted and accurate: tau(b) -> 1 - 1/e as b -> 0
    assert an.threshold(B_MIN) == pytest.approx(1 - np.exp(-1.0), rel=1e-15, abs=0.0)

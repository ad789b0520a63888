r"""ASTra, the asymmetric sigmoid transfer function (Eq. 4), its threshold (Eq. 5)
and the beta -> b parametrisation (Eq. 7), with hand-derived partials and VJPs.

Definitions (``derivations/astra.md``, ``derivations/threshold.md``,
``derivations/beta_to_b.md``)::

    y_hat(x, b) = 1 - (1 + b e^{bx})^{-1/b}                     (Eq. 4)
    tau(b)      = y_hat(0, b) = 1 - (1 + b)^{-1/b}              (Eq. 5)
    b(beta)     = 2 + beta  if beta > 0  else  1 + e^beta       (Eq. 7)

Everything is computed from three auxiliary quantities that never overflow::

    t = b x + log b
    s = softplus(t) / b = log(1 + b e^{bx}) / b        (so 1 - y_hat = e^{-s})
    logit y_hat = log(y_hat / (1 - y_hat)) = log(e^s - 1)

``1 - y_hat = exp(-s)`` and ``y_hat = -expm1(-s)`` are then accurate to a few ulps relative
(times the conditioning ``max(1, b|x|)`` of ``t`` itself), in both tails, while the
naive Eq. 4 loses every digit of ``y_hat`` once ``b e^{bx} < 1e-16`` and overflows once
``b x > 709``:

>>> import numpy as np
>>> x, b = -10.0, 1.0                      # y_hat = sigmoid(-10) = 4.5397868702434395e-05
>>> naive = 1 - (1 + b * np.exp(b * x)) ** (-1 / b)
>>> float(naive)                           # five digits lost to cancellation
4.5397868702390376e-05
>>> float(astra(x, b))
4.5397868702434395e-05
"""
import numpy as np
from scipy.optimize import brentq

from ._stable import (
    _g_series_over_v2,
    expit,
    expit_over_softplus,
    log_expm1,
    log_softplus,
    one_minus_log,
    s_over_neg_expm1,
    softplus,
    softplus_minus_expit,
    unbroadcast,
)
from ._validation import broadcast_pair, check_finite, check_slope, check_tau, finish

__all__ = [
    "astra",
    "astra_complement",
    "astra_logit",
    "astra_partials",
    "astra_logit_partials",
    "astra_vjp",
    "threshold",
    "threshold_grad",
    "threshold_logit",
    "threshold_logit_grad",
    "slope_for_threshold",
    "slope_for_threshold_grad",
    "slope_from_beta",
    "slope_from_beta_grad",
    "beta_from_slope",
]


def _prepare(x, b):
    """Validate and broadcast (x, b); return (x, b, bx, t, s, log_s) as float64 arrays."""
    x = check_finite("x", x)
    b = check_slope(b)
    x, b = broadcast_pair("x", x, "b", b)
    log_b = np.log(b)
    # |b x| above the float64 range is the correctly rounded +-inf; every later step is
    # written to accept t = +-inf.
    with np.errstate(over="ignore"):
        bx = b * x
    t = bx + log_b
    pos = t > 0
    # t > 0: s = x + (log b + softplus(-t)) / b avoids forming b x / b (and stays finite
    # when b x overflows); t <= 0: s = softplus(t) / b is accurate to a few ulps.
    s_pos = x + (log_b + softplus(-np.where(pos, t, 1.0))) / np.where(pos, b, 1.0)
    s_neg = softplus(np.where(pos, -1.0, t)) / np.where(pos, 1.0, b)
    s = np.where(pos, s_pos, s_neg)
    log_s = log_softplus(t) - log_b
    return x, b, bx, t, s, log_s


def astra(x, b):
    r"""ASTra activation, Eq. 4: :math:`\hat y = 1 - (1 + b e^{bx})^{-1/b}`.

    Parameters
    ----------
    x : array_like
        Pre-activation; any finite float64.
    b : array_like
        Slope, ``b > 0`` (``b >= 1`` is the paper's range; ``b = 1`` is the logistic
        sigmoid). Broadcast against ``x``.

    Returns
    -------
    y_hat : ndarray
        ``y_hat = -expm1(-s)`` with ``s = softplus(b x + log b) / b``. Relative error
        within a few ulps times ``max(1, b|x|)`` (the conditioning of ``b x``);
        underflows gracefully to 0 for ``b x < -745``.

    Notes
    -----
    See ``derivations/astra.md``. Use :func:`astra_complement` for ``1 - y_hat`` when
    ``y_hat`` is close to 1 and :func:`astra_logit` for losses.

    Examples
    --------
    >>> float(astra(0.0, 1.0))
    0.5
    >>> round(float(astra(0.0, 7.3963487604)), 12)   # tau(b) = 0.25
    0.25
    """
    _, _, _, _, s, _ = _prepare(x, b)
    return finish(-np.expm1(-s))


def astra_complement(x, b):
    r"""``1 - astra(x, b) = exp(-s)``, accurate when ``y_hat`` is close to 1 (Eq. 4).

    Computing ``1 - astra(x, b)`` by subtraction loses all digits once ``y_hat`` rounds
    to 1 (``x > 37`` for ``b = 1``); ``exp(-s)`` keeps them.

    >>> float(1 - astra(40.0, 1.0)), float(astra_complement(40.0, 1.0))
    (0.0, 4.248354255291589e-18)
    """
    _, _, _, _, s, _ = _prepare(x, b)
    return finish(np.exp(-s))


def astra_logit(x, b):
    r"""Logit of ASTra, :math:`\hat\ell = \log(\hat y/(1-\hat y)) = \log(e^{s} - 1)`, without forming ``y_hat``.

    This is the stable core every loss builds on. With
    :math:`s = \operatorname{softplus}(bx + \log b)/b` (so :math:`1-\hat y = e^{-s}`),
    :math:`\hat\ell = \log \hat y - \log(1-\hat y) = \log(1-e^{-s}) + s = \log(e^s - 1)`, evaluated
    by :func:`astra_np.core._stable.log_expm1` in three regimes. Limits: :math:`\hat\ell \approx bx`
    as :math:`x \to -\infty` (slope ``b``) and :math:`\hat\ell \approx x + \log(b)/b` as
    :math:`x \to +\infty` (slope 1); for ``b = 1``, :math:`\hat\ell = x`.

    Absolute error within ``2e-15 * max(1, |logit|)`` for ``|b x| <= 700``,
    ``1 <= b <= 1000``. The result is ``+-inf`` only when ``|b x|`` itself exceeds the
    float64 range (the exact value is then unrepresentable); no warning is raised.

    See ``derivations/astra.md``.

    >>> float(astra_logit(-800.0, 1.0))      # y_hat underflows, the logit does not
    -800.0
    """
    _, _, _, _, s, log_s = _prepare(x, b)
    return finish(log_expm1(s, log_s))


def _partials_core(x, b, bx, t, s):
    r"""Shared pieces of the partial derivatives (see ``derivations/astra.md``).

    Returns ``(dy_dx, dy_db, dl_dx, dl_db)`` for arrays already prepared.
    """
    v = expit(t)
    comp = np.exp(-s)  # 1 - y_hat
    dy_dx = comp * v

    small_v = v < 0.25  # t < -log 3: the q-form, safe when everything underflows
    vv = np.where(small_v, v, 0.0)
    # q = sigma(t) / b = 1 / (e^{-bx} + b), computed in log space.
    with np.errstate(over="ignore"):
        q = np.exp(-np.logaddexp(-np.where(small_v, bx, 0.0), np.log(b)))
    ssum = _g_series_over_v2(vv)
    # N / b^2 = x q - q^2 S(v)   (N = b x sigma(t) - g(t))
    xs = np.where(small_v, x, 0.0)
    n_over_b2_small = xs * q - q * q * ssum
    # rho(t) phi(s) = (sigma(t) / b) / y_hat = q / y_hat
    q_over_y = expit_over_softplus(t) * s_over_neg_expm1(s)
    dl_db_small = q_over_y * (xs - q * ssum)

    # v >= 1/4: N by the direct forms (t <= 0) or the t > 0 form that avoids the
    # cancellation of b x against softplus(t) for large x.
    tt = np.where(small_v, 0.0, t)
    vb = np.where(small_v, 0.5, v)
    bxb = np.where(small_v, 0.0, bx)
    tneg = np.where(tt > 0, 0.0, tt)
    n_neg = np.where(tt > 0, 0.0, bxb) * np.where(tt > 0, 0.5, vb) - softplus_minus_expit(tneg)
    em = expit(-tt)  # sigma(-t)
    prod_pos = np.zeros_like(bxb)
    np.multiply(bxb + 1.0, em, out=prod_pos, where=em > 0)
    n_pos = one_minus_log(np.where(small_v, 1.0, b)) - prod_pos - softplus(-tt)
    n_big = np.where(tt > 0, n_pos, n_neg)

    y_hat = -np.expm1(-s)
    y_safe = np.where(small_v, 1.0, y_hat)
    bb = np.where(small_v, 1.0, b)
    # Division by b^2 overflows only where the exact derivative exceeds the float64
    # range (b < ~1e-150 with huge |x|); the correctly rounded +-inf is returned then.
    # dl/db divides by y_hat before the second b: for b > ~1e154, N/b^2 alone underflows
    # while N/(b^2 y_hat) (y_hat ~ log(b)/b near x = 0) is a normal number. Neither order
    # overflows where the result does not: for b < 1 every division enlarges, and for
    # b >= 1, N/(b y_hat) = b dl/db stays of the order of log b + |b x| on this branch
    # (b x >= -log(3 b); b dl/db is about -1 at x = 0 and tends to (1 - log b)/b).
    with np.errstate(over="ignore"):
        dy_db_big = ((np.where(small_v, 0.0, comp) * n_big) / bb) / bb
        dl_db_big = ((n_big / bb) / y_safe) / bb

    dy_db = np.where(small_v, comp * n_over_b2_small, dy_db_big)
    dl_db = np.where(small_v, dl_db_small, dl_db_big)

    # d logit / dx = sigma(t) / y_hat: b rho(t) phi(s) while s is small, sigma(t)/y_hat otherwise.
    small_s = s < 1e-3
    dl_dx_small = np.where(small_s, b, 0.0) * q_over_y
    dl_dx_big = v / np.where(small_s, 1.0, y_hat)
    dl_dx = np.where(small_s, dl_dx_small, dl_dx_big)
    return dy_dx, dy_db, dl_dx, dl_db


def astra_partials(x, b):
    r"""Elementwise partials of Eq. 4: ``(dy_dx, dy_db)``, broadcast to a common shape.

    .. math::

        \frac{\partial \hat y}{\partial x} = (1-\hat y)\,\sigma(t), \qquad
        \frac{\partial \hat y}{\partial b} = (1-\hat y)\,\frac{N}{b^2}, \qquad
        N = b x\,\sigma(t) - g(t),

    with :math:`t = bx + \log b` and :math:`g = \operatorname{softplus} - \sigma \ge 0`.
    For :math:`\sigma(t) < 1/4`, :math:`N/b^2 = x q - q^2 S(v)` with
    :math:`q = \sigma(t)/b = 1/(e^{-bx} + b)`; for ``t > 0``,
    :math:`N = (1 - \log b) - (bx + 1)\sigma(-t) - \operatorname{softplus}(-t)`, which
    avoids cancelling ``b x`` against ``softplus(t)``. Relative error at most ``1e-12``
    away from the sign change of ``dy_db`` (which lies at some ``x > 0``).

    See ``derivations/astra.md``.
    """
    x, b, bx, t, s, _ = _prepare(x, b)
    dy_dx, dy_db, _, _ = _partials_core(x, b, bx, t, s)
    return finish(dy_dx), finish(dy_db)


def astra_logit_partials(x, b):
    r"""Partials of the logit :math:`\hat\ell(x, b)` of Eq. 4: ``(dl_dx, dl_db)``.

    .. math::

        \frac{\partial \hat\ell}{\partial x} = \frac{\sigma(t)}{\hat y} \in [1, b], \qquad
        \frac{\partial \hat\ell}{\partial b} = \frac{N}{b^2 \hat y},

    evaluated as ratios of quantities that never underflow (``q/y_hat = rho(t) phi(s)``),
    so both stay finite and accurate when ``y_hat`` underflows: ``dl_dx -> b`` and
    ``dl_db -> x`` as ``x -> -inf``. See ``derivations/astra.md``.
    """
    x, b, bx, t, s, _ = _prepare(x, b)
    _, _, dl_dx, dl_db = _partials_core(x, b, bx, t, s)
    return finish(dl_dx), finish(dl_db)


def _check_cotangent(g, shape):
    g = check_finite("g", g)
    if g.shape != tuple(shape):
        raise ValueError(f"g must have the output's shape {tuple(shape)}, got {g.shape}")
    return g


def astra_vjp(g, x, b):
    r"""Vector-Jacobian product of Eq. 4: ``(g * dy_dx, sum-to-shape(b) of g * dy_db)``.

    Parameters
    ----------
    g : array_like
        Upstream gradient, the shape of ``astra(x, b)``.
    x, b : array_like
        As in :func:`astra`. ``b`` may be a scalar or broadcast against ``x``; its
        cotangent is summed back to ``b``'s shape (``unbroadcast``).

    Returns
    -------
    gx : ndarray, shape of the broadcast output
    gb : ndarray, shape of ``b``
    """
    b_shape = np.shape(b)
    dy_dx, dy_db = astra_partials(x, b)
    g = _check_cotangent(g, dy_dx.shape)
    return finish(g * dy_dx), finish(unbroadcast(g * dy_db, b_shape))


# ---------------------------------------------------------------------------
# Threshold, Eq. 5
# ---------------------------------------------------------------------------


def threshold(b):
    r"""Threshold :math:`\tau(b) = 1 - (1+b)^{-1/b}` (Eq. 5), the output at ``x = 0``.

    Computed as ``-expm1(-log1p(b)/b)``; strictly decreasing in ``b``: 0.5 at
    ``b = 1``, tending to ``1 - 1/e`` as ``b -> 0`` and to ``log(1+b)/b`` as
    ``b -> inf``. See ``derivations/threshold.md``.

    >>> float(threshold(1.0))
    0.5
    """
    b = check_slope(b)
    return finish(-np.expm1(-np.log1p(b) / b))


def threshold_grad(b):
    r""":math:`d\tau/db = -(1-\tau)\, g(\log b)/b^2 < 0` (derivative of Eq. 5).

    Equal to ``astra_partials(0, b)[1]``. See ``derivations/threshold.md``.
    """
    b = check_slope(b)
    return astra_partials(np.zeros_like(b), b)[1]


def threshold_logit(b):
    r"""``logit(tau(b)) = astra_logit(0, b)``: the shift of Eq. 6 in logit space."""
    b = check_slope(b)
    return astra_logit(np.zeros_like(b), b)


def threshold_logit_grad(b):
    r""":math:`d\,\mathrm{logit}\,\tau/db = -g(\log b)/(b^2 \tau)` (``astra_logit_partials(0, b)[1]``)."""
    b = check_slope(b)
    return astra_logit_partials(np.zeros_like(b), b)[1]


def _log_tau_of_log_b(u):
    b = np.exp(u)
    return np.log(-np.expm1(-np.log1p(b) / b))


_LOG_B_MAX = np.log(np.finfo(np.float64).max)


def slope_for_threshold(tau):
    r"""Inverse of Eq. 5: the slope ``b >= 1`` with :math:`\tau(b) = \tau`.

    Parameters
    ----------
    tau : array_like
        Threshold in ``(0, 0.5]``; ``tau = 0.5`` gives ``b = 1`` (the sigmoid). The
        smallest representable answer is ``b = 1.8e308`` (``tau ~ 3.9e-306``); a smaller
        ``tau`` raises ``ValueError``.

    Returns
    -------
    b : ndarray or float
        Found by Brent's method on ``log tau(e^u) = log tau`` over ``u = log b`` in
        ``[0, 709.78]`` (tau is strictly decreasing in b), then polished by two Newton
        steps in ``u`` and a last one in ``b``, each with a derivative written so that it
        cannot underflow. The relative error is a few ulps times the condition number
        of the inverse (at most 5.2). See ``derivations/threshold.md``.

    Examples
    --------
    >>> round(float(slope_for_threshold(0.25)), 10)
    7.3963487604
    """
    tau = check_tau(tau)
    tau_min = float(-np.expm1(-np.log1p(np.finfo(np.float64).max) / np.finfo(np.float64).max))
    if np.any(tau < tau_min):
        raise ValueError(
            f"tau must be >= {tau_min!r} so that the slope b fits in float64, got {tau[tau < tau_min]}"
        )
    out = np.empty_like(tau)
    for idx, t in np.ndenumerate(tau):
        if t == 0.5:
            out[idx] = 1.0
            continue
        target = np.log(t)
        u = brentq(lambda uu: _log_tau_of_log_b(uu) - target,  # noqa: B023 (called here, at once)
                   0.0, _LOG_B_MAX, xtol=1e-300, rtol=8.9e-16, maxiter=500)
        # Two Newton steps on f(u) = log tau(e^u) - log t, with
        # f'(u) = b tau'(b) / tau = -(1 - tau) g(log b) / (b tau), finite for every b.
        for _ in range(2):
            b = np.exp(u)
            tau_b = float(threshold(b))
            fprime = -(1.0 - tau_b) * float(softplus_minus_expit(np.log(b))) / (b * tau_b)
            u_new = u - (np.log(tau_b) - target) / fprime
            if not (np.isfinite(u_new) and 0.0 <= u_new <= _LOG_B_MAX):
                break
            u = u_new
        b = float(np.exp(u))
        # A last Newton step in b itself removes the rounding of exp(u) (relative
        # eps * u): b <- b - (tau(b) - t) / tau'(b), with tau'(b) = tau f'(u) / b written
        # so that it cannot underflow for huge b.
        tau_b = float(threshold(b))
        fprime = -(1.0 - tau_b) * float(softplus_minus_expit(np.log(b))) / (b * tau_b)
        b_new = b - b * ((tau_b - t) / tau_b) / fprime
        if np.isfinite(b_new) and b_new >= 1.0:
            b = b_new
        out[idx] = b
    return out if out.ndim else float(out)


def slope_for_threshold_grad(tau):
    r"""Derivative of the inverse of Eq. 5: :math:`db/d\tau = 1/\tau'(b)` at ``b = b(tau)``.

    Negative everywhere (``tau`` is strictly decreasing in ``b``). Overflows to
    ``-inf`` only where ``tau'(b)`` itself underflows (``b > ~1e150``).
    """
    b = slope_for_threshold(tau)
    with np.errstate(divide="ignore", over="ignore"):
        return finish(1.0 / np.asarray(threshold_grad(b)))


# ---------------------------------------------------------------------------
# beta -> b, Eq. 7
# ---------------------------------------------------------------------------


def slope_from_beta(beta):
    r"""Eq. 7: :math:`b = 2 + \beta` for :math:`\beta > 0`, else :math:`1 + e^{\beta}`.

    Continuous, with a continuous first derivative, at ``beta = 0`` (both pieces give
    ``b = 2`` and ``db/dbeta = 1``); ``b > 1`` always (``b`` rounds to 1 for
    ``beta < -37``). See ``derivations/beta_to_b.md``.

    >>> float(slope_from_beta(0.0)), float(slope_from_beta(5.3963487604))
    (2.0, 7.3963487604)
    """
    beta = check_finite("beta", beta)
    return finish(np.where(beta > 0, 2.0 + beta, 1.0 + np.exp(np.minimum(beta, 0.0))))


def slope_from_beta_grad(beta):
    r""":math:`db/d\beta`: 1 for :math:`\beta > 0`, :math:`e^{\beta}` otherwise (Eq. 7)."""
    beta = check_finite("beta", beta)
    return finish(np.where(beta > 0, 1.0, np.exp(np.minimum(beta, 0.0))))


def beta_from_slope(b):
    r"""Inverse of Eq. 7: :math:`\beta = b - 2` for ``b > 2``, :math:`\log(b-1)` for ``1 < b <= 2``.

    ``b`` must be > 1 (Eq. 7 never reaches ``b = 1``). ``b - 1`` is exact for
    ``1 < b <= 2`` (Sterbenz), so no digits are lost near ``b = 1``.
    """
    b = check_finite("b", b)
    if np.any(b <= 1):
        raise ValueError(f"b must be > 1 to have a beta (Eq. 7), got {b[b <= 1]}")
    return finish(np.where(b > 2, b - 2.0, np.log(np.where(b > 2, 2.0, b) - 1.0)))

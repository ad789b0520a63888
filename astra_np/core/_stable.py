r"""Numerically stable scalar building blocks (elementwise, float64).

Everything in astra_np is built on a handful of stable primitives. Each one is
written so that it is finite, warning-free and accurate to a few units in the last
place for every finite float64 argument; the comment above each explains the
naive form and why it fails.

Derivation: ``derivations/astra.md`` (sections "Stable building blocks").
"""
import numpy as np
from scipy.special import expit as _expit
from scipy.special import log_expit as _log_expit

__all__ = [
    "expit",
    "log_expit",
    "softplus",
    "log_softplus",
    "softplus_minus_expit",
    "expit_over_softplus",
    "s_over_neg_expm1",
    "log_expm1",
    "logsumexp",
    "unbroadcast",
]


def expit(t):
    r"""Logistic sigmoid :math:`\sigma(t) = 1/(1 + e^{-t})` (SciPy's stable ``expit``)."""
    return _expit(t)


def log_expit(t):
    r""":math:`\log\sigma(t)` without forming :math:`\sigma(t)`.

    The naive ``np.log(expit(t))`` returns ``-inf`` once ``expit(t)`` underflows
    (``t < -745``) and loses all digits for ``t > 37`` where ``expit(t)`` rounds to 1.
    """
    return _log_expit(t)


def softplus(t):
    r""":math:`\operatorname{softplus}(t) = \log(1 + e^{t})`, as ``logaddexp(0, t)``.

    The naive ``np.log(1 + np.exp(t))`` overflows for ``t > 709`` and returns 0 for
    ``t < -37`` (``1 + e^t`` rounds to 1) although the true value is ``e^t``.

    >>> import numpy as np
    >>> with np.errstate(all="ignore"):
    ...     float(np.log(1 + np.exp(-40.0)))
    0.0
    >>> float(softplus(-40.0))  # = exp(-40) to full precision
    4.248354255291589e-18
    """
    return np.logaddexp(0.0, t)


def log_softplus(t):
    r""":math:`\log\operatorname{softplus}(t)`, accurate for all ``t`` including ``t -> -inf``.

    For ``t < -20`` with :math:`w = e^t`, :math:`\log\log(1+w) = t + \log(1 - w/2 + w^2/3
    - \dots) = t - w/2 + 5w^2/24 + O(w^3)`; the neglected terms are below ``1e-26``.
    The naive ``log(softplus(t))`` returns ``-inf`` once ``e^t`` underflows.
    """
    t = np.asarray(t, dtype=np.float64)
    small = t < -20.0
    w = np.exp(np.where(small, t, -np.inf))
    series = t + w * (-0.5 + (5.0 / 24.0) * w)
    with np.errstate(divide="ignore"):
        direct = np.log(softplus(np.where(small, 0.0, t)))
    return np.where(small, series, direct)


# Coefficients 1/(k+2), k = 0..29, of g(t)/v^2 = sum_k v^k/(k+2) (Horner, highest first).
_G_COEF = 1.0 / np.arange(31.0, 1.0, -1.0)


def softplus_minus_expit(t):
    r""":math:`g(t) = \operatorname{softplus}(t) - \sigma(t) \ge 0` without cancellation.

    With :math:`v = \sigma(t)`, :math:`\operatorname{softplus}(t) = -\log(1-v)`, so
    :math:`g = -\log(1-v) - v = \sum_{n\ge2} v^n/n`. For ``v < 1/4`` (``t < -log 3``)
    the series (30 terms, truncation below ``1e-18`` relative) is used: every term is
    positive, so no digits are lost; the direct difference would lose them all as
    ``t -> -inf``, where both terms tend to ``e^t`` and ``g ~ e^{2t}/2``. For
    ``v >= 1/4`` the direct difference loses at most a factor 8 (3 bits).
    """
    t = np.asarray(t, dtype=np.float64)
    v = expit(t)
    small = v < 0.25
    vs = np.where(small, v, 0.0)
    acc = np.zeros_like(vs)
    for c in _G_COEF:
        acc = acc * vs + c
    series = vs * vs * acc
    direct = softplus(t) - v
    return np.where(small, series, direct)


def _g_series_over_v2(v):
    r""":math:`S(v) = g/v^2 = \sum_{k\ge0} v^k/(k+2)` for ``0 <= v < 1/4``."""
    acc = np.zeros_like(v)
    for c in _G_COEF:
        acc = acc * v + c
    return acc


def expit_over_softplus(t):
    r""":math:`\rho(t) = \sigma(t)/\operatorname{softplus}(t)`, finite for all ``t``.

    Both factors underflow for ``t < -745``; their ratio tends to 1. For ``t < -20``,
    :math:`\rho = 1/((1+w)(1 - w/2 + w^2/3 - \dots)) = 1 - w/2 + 5w^2/12 + O(w^3)`.
    For ``t = +inf`` the ratio is 0.
    """
    t = np.asarray(t, dtype=np.float64)
    small = t < -20.0
    w = np.exp(np.where(small, t, -np.inf))
    series = 1.0 + w * (-0.5 + (5.0 / 12.0) * w)
    tt = np.where(small, 0.0, t)
    direct = expit(tt) / softplus(tt)
    return np.where(small, series, direct)


def s_over_neg_expm1(s):
    r""":math:`\varphi(s) = s / (1 - e^{-s})` for ``s >= 0`` (:math:`\varphi(0) = 1`).

    For ``s < 1e-3`` the series :math:`1 + s/2 + s^2/12 - s^4/720` is used (the ratio
    of two tiny, possibly subnormal numbers would lose digits or be 0/0).
    """
    s = np.asarray(s, dtype=np.float64)
    small = s < 1e-3
    sm = np.where(small, s, 0.0)
    series = 1.0 + sm * (0.5 + sm * (1.0 / 12.0 - sm * sm / 720.0))
    ss = np.where(small, 1.0, s)
    direct = ss / -np.expm1(-ss)
    return np.where(small, series, direct)


def log_expm1(s, log_s):
    r""":math:`\log(e^s - 1)` for ``s >= 0``, given ``s`` and an accurate ``log_s = log(s)``.

    Three regimes:

    * ``s >= 0.5``: :math:`s + \log(1 - e^{-s})` via ``log1p`` (``expm1`` would
      overflow for ``s > 709``);
    * ``1e-3 <= s < 0.5``: ``log(expm1(s))`` (``expm1`` is accurate here);
    * ``s < 1e-3``: :math:`\log s + s/2 + s^2/24` (error below ``s^4/2880``), using the
      separately supplied ``log_s`` so that the result stays finite and accurate when
      ``s`` itself underflows to 0.
    """
    s = np.asarray(s, dtype=np.float64)
    big = s >= 0.5
    mid = (s >= 1e-3) & ~big
    sb = np.where(big, s, 1.0)
    sm = np.where(mid, s, 0.1)
    out_big = sb + np.log1p(-np.exp(-sb))
    out_mid = np.log(np.expm1(sm))
    small = ~(big | mid)
    ss = np.where(small, s, 0.0)
    out_small = np.where(small, log_s, 0.0) + ss * (0.5 + ss / 24.0)
    return np.where(big, out_big, np.where(mid, out_mid, out_small))


# e = _E_HI + _E_LO to about 1e-32.
_E_HI = 2.718281828459045
_E_LO = 1.4456468917292502e-16


def one_minus_log(b):
    r""":math:`1 - \log b = -\log(b/e)`, accurate also where it vanishes (``b`` near ``e``).

    The subtraction ``1 - np.log(b)`` keeps only an absolute accuracy of ~1e-16, so
    its relative error explodes near ``b = e``. Within ``|b - e| < 0.25`` the form
    ``-log1p(((b - E_HI) - E_LO) / E_HI)`` is used, where ``E_HI + E_LO`` is ``e`` in
    double-double and ``b - E_HI`` is exact (Sterbenz).
    """
    b = np.asarray(b, dtype=np.float64)
    near = np.abs(b - _E_HI) < 0.25
    bn = np.where(near, b, _E_HI)
    out_near = -np.log1p(((bn - _E_HI) - _E_LO) / _E_HI)
    bf = np.where(near, 1.0, b)
    return np.where(near, out_near, 1.0 - np.log(bf))


def logsumexp(a):
    r""":math:`\log\sum_i e^{a_i}` of a 1-D array of finite values, without overflow or underflow."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a)
    return float(m + np.log(np.sum(np.exp(a - m))))


def unbroadcast(g, shape):
    r"""Sum ``g`` down to ``shape`` (the adjoint of NumPy broadcasting).

    Used by every VJP whose argument (such as the scalar slope ``b``) was broadcast
    against a larger array in the forward pass, as in HIPS autograd.
    """
    g = np.asarray(g, dtype=np.float64)
    shape = tuple(shape)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g.reshape(shape)

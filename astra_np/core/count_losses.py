r"""Losses on the approximated confusion counts (Eq. 8): soft F1 and soft MCC.

The paper places GMN (Eq. 9) among the losses built on a classification measure of the
approximated confusion matrix; two of them are here, on the same footing:

* ``"f1"``: :math:`J = 1 - F1_{apx} = (FP + FN)/(2TP + FP + FN)` (``derivations/f1.md``);
* ``"mcc"``: :math:`J = 1 - MCC_{apx}`, :math:`MCC = (TP\,TN - FP\,FN)/S`,
  :math:`S = \sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN)}` (``derivations/mcc.md``).

Both go through one chain from the logits to the counts (Eq. 8 on
:math:`z_i = \sigma(\ell_i)`, the z-transformed output for the ASTra methods):

.. math::

    \frac{\partial J}{\partial \ell_i} = k_+\, z_i(1 - z_i)\ (y_i = 1),\qquad
    k_-\, z_i(1 - z_i)\ (y_i = 0),

:math:`k_+ = \partial J/\partial TP - \partial J/\partial FN \le 0` and
:math:`k_- = \partial J/\partial FP - \partial J/\partial TN \ge 0`
(:mod:`astra_np.core.registry`). A loss is given to the chain by its **log form**:
``log_form(counts, m0, m1) -> (J, log k_-, log(-k_+))`` on the natural logs of the four
counts (:class:`LogCounts`). Each log form writes :math:`k_\pm` as products and
quotients of sums of non-negative terms (sympy finds the factorisations, see the
derivation files), so nothing cancels and nothing overflows: the counts are
log-sum-exps of :math:`\log\sigma(\pm\ell_i)`, and the row gradient is
:math:`\pm\exp(\log|k_\pm| + \log z_i + \log(1 - z_i))`, exact to rounding or the
correctly rounded 0 when every positive's :math:`z` underflows (``x = -1e4``), when
every negative saturates at 1, or when a marginal of the matrix vanishes.

The kernel (:mod:`astra_np.learn.kernel`) receives the same log forms through
:func:`f1_from_counts` and :func:`mcc_from_counts`, on linear counts.
"""
import math
from typing import NamedTuple

import numpy as np

from ._stable import log_expit, logsumexp
from ._validation import (
    check_both_classes,
    check_logits_and_labels,
)

__all__ = [
    "LogCounts",
    "count_loss_with_logits",
    "f1_from_counts",
    "f1_log_form",
    "f1_with_logits_value_and_grad",
    "log_counts_from_logits",
    "mcc_from_counts",
    "mcc_log_form",
    "mcc_with_logits_value_and_grad",
]

_LOG2 = math.log(2.0)
#: ``log k`` beyond this would overflow ``exp`` (the counts functions then return None).
_LOG_MAX = math.log(np.finfo(np.float64).max)


class LogCounts(NamedTuple):
    r"""Natural logs of the approximated confusion counts (Eq. 8); ``-inf`` for an empty count."""

    tn: float
    fp: float
    fn: float
    tp: float


def _lse(*terms):
    r""":math:`\log\sum_k e^{t_k}` of Python floats; ``-inf`` terms are empty sums."""
    m = max(terms)
    if m == -math.inf:
        return -math.inf
    return m + math.log(math.fsum(math.exp(t - m) for t in terms))


# ---------------------------------------------------------------------------
# The chain: logits -> log counts -> J, dJ/dlogit
# ---------------------------------------------------------------------------


def _logits_and_labels(logit, y):
    logit, y = check_logits_and_labels(logit, y)
    m0, m1 = check_both_classes(y)
    return logit, y == 1, m0, m1


def log_counts_from_logits(log_z, log_omz, pos):
    r"""The :class:`LogCounts` of Eq. 8 from :math:`\log z_i` and :math:`\log(1 - z_i)`.

    :math:`\log TP = \operatorname{logsumexp}_{y_i = 1}\log z_i`, likewise FN, FP, TN:
    finite for every finite logit (no count underflows in log space). ``pos`` is the
    boolean mask of the positives; both classes must be present.
    """
    return LogCounts(
        tn=logsumexp(log_omz[~pos]),
        fp=logsumexp(log_z[~pos]),
        fn=logsumexp(log_omz[pos]),
        tp=logsumexp(log_z[pos]),
    )


def count_loss_with_logits(logit, y, log_form):
    r"""Value and logit gradient of a count-based loss given by its ``log_form``.

    Parameters
    ----------
    logit : array_like, shape (n,)
        Logits :math:`\ell_i` of :math:`z_i = \sigma(\ell_i)`, any finite float64.
    y : array_like, shape (n,)
        Binary labels; both classes must be present.
    log_form : callable
        ``log_form(LogCounts, m0, m1) -> (J, log k_neg, log(-k_pos))``, as
        :func:`f1_log_form` and :func:`mcc_log_form`.

    Returns
    -------
    J : float
    dJ_dlogit : ndarray, shape (n,)
        :math:`k_\pm z_i (1 - z_i)`, formed as :math:`\pm\exp(\log|k_\pm| + \log z_i +
        \log(1 - z_i))`: finite, and 0 only where the exact value underflows.
    """
    logit, pos, m0, m1 = _logits_and_labels(logit, y)
    log_z = log_expit(logit)
    log_omz = log_expit(-logit)
    value, log_k_neg, log_mk_pos = log_form(log_counts_from_logits(log_z, log_omz, pos), m0, m1)
    log_w = log_z + log_omz  # log z(1 - z) = log dz/dlogit
    grad = np.empty_like(logit)
    grad[pos] = -np.exp(log_mk_pos + log_w[pos])
    grad[~pos] = np.exp(log_k_neg + log_w[~pos])
    return value, grad


def _from_counts(log_form, tn, fp, fn, tp, m0, m1):
    r"""``(J, k_neg, k_pos)`` of a log form on linear counts (>= 0), or ``None``."""
    logs = LogCounts(*(math.log(v) if v > 0 else -math.inf for v in (tn, fp, fn, tp)))
    out = log_form(logs, m0, m1)
    if out is None:
        return None
    value, log_k_neg, log_mk_pos = out
    if not (log_k_neg < _LOG_MAX and log_mk_pos < _LOG_MAX):
        return None
    return value, math.exp(log_k_neg), -math.exp(log_mk_pos)


# ---------------------------------------------------------------------------
# F1
# ---------------------------------------------------------------------------


def f1_log_form(c, m0, m1):
    r"""Soft F1 loss on log counts: ``(J, log k_neg, log(-k_pos))``, or ``None`` if undefined.

    With :math:`D = 2TP + FP + FN` (``derivations/f1.md``, Eq. 8),

    .. math::

        J = \frac{FP + FN}{D},\qquad
        k_- = \frac{\partial J}{\partial FP} - \frac{\partial J}{\partial TN} = \frac{2\,TP}{D^2},\qquad
        -k_+ = \frac{\partial J}{\partial FN} - \frac{\partial J}{\partial TP} = \frac{2\,(TP + FP + FN)}{D^2}.

    Every sum has non-negative terms: ``J`` is a quotient of log-sum-exps, never
    ``1 - F1`` (which would cancel as F1 -> 1). ``None`` when ``D = 0``
    (``TP = FP = FN = 0``: F1 has no limit there; with a positive example
    :math:`D \ge TP + FN = m_1 \ge 1`, so only the counts form of a rounded matrix can
    ask).
    """
    log_d = _lse(_LOG2 + c.tp, c.fp, c.fn)
    if log_d == -math.inf:
        return None
    value = math.exp(_lse(c.fp, c.fn) - log_d)
    log_k_neg = _LOG2 + c.tp - 2.0 * log_d
    log_mk_pos = _LOG2 + _lse(c.tp, c.fp, c.fn) - 2.0 * log_d
    return value, log_k_neg, log_mk_pos


def f1_with_logits_value_and_grad(logit, y):
    r"""Soft F1 loss :math:`1 - 2TP/(2TP + FP + FN)` (Eq. 8 on :math:`\sigma(\ell)`) and its logit gradient.

    See :func:`f1_log_form` and ``derivations/f1.md``.

    >>> J, g = f1_with_logits_value_and_grad([-1e4, 3.0, -2.0], [1, 0, 0])  # TP = e^-10000
    >>> float(J), bool(np.all(np.isfinite(g)))
    (1.0, True)
    """
    return count_loss_with_logits(logit, y, f1_log_form)


def f1_from_counts(tn, fp, fn, tp, m0, m1):
    r"""Soft F1 loss from linear counts: ``(J, k_neg, k_pos)`` (fused kernel) or ``None``.

    ``None`` where :func:`f1_log_form` is undefined (``2tp + fp + fn = 0``) or a
    ``k`` would overflow.

    >>> J, k_neg, k_pos = f1_from_counts(3.0, 1.0, 1.0, 1.0, 4, 2)
    >>> round(J, 12), round(k_neg, 12), round(k_pos, 12)
    (0.5, 0.125, -0.375)
    """
    return _from_counts(f1_log_form, tn, fp, fn, tp, m0, m1)


# ---------------------------------------------------------------------------
# MCC
# ---------------------------------------------------------------------------


def _log_abs_difference(log_a, log_b):
    r"""``(sign, log|e^a - e^b|)``; ``(0, -inf)`` when equal."""
    if log_a == log_b:
        return 0, -math.inf
    hi, lo, sign = (log_a, log_b, 1) if log_a > log_b else (log_b, log_a, -1)
    return sign, hi + math.log(-math.expm1(lo - hi))


def _mcc_value(c, log_s, log_n):
    r""":math:`J = 1 - MCC` without cancellation (``derivations/mcc.md``, section 3).

    :math:`MCC \le 1/2`: ``1 - MCC`` directly. :math:`MCC > 1/2`: :math:`S^2 - N^2 =
    n\,e_3` with :math:`e_3 = FN\,FP\,TN + FN\,FP\,TP + FN\,TN\,TP + FP\,TN\,TP`, so
    :math:`J = n\,e_3 / (S(S + N))`, a quotient of sums of non-negative terms.
    """
    sign, log_num = _log_abs_difference(c.tp + c.tn, c.fp + c.fn)  # N = TP TN - FP FN
    mcc = sign * math.exp(log_num - log_s)
    if mcc <= 0.5:
        return 1.0 - mcc
    log_e3 = _lse(c.fn + c.fp + c.tn, c.fn + c.fp + c.tp, c.fn + c.tn + c.tp, c.fp + c.tn + c.tp)
    return math.exp(log_n + log_e3 - log_s - _lse(log_s, log_num))


def mcc_log_form(c, m0, m1):
    r"""Soft MCC loss on log counts: ``(J, log k_neg, log(-k_pos))``, or ``None`` if undefined.

    With :math:`P = TP + FP`, :math:`Q = TN + FN` (the predicted marginals),
    :math:`n = m_0 + m_1` and :math:`S = \sqrt{P\,Q\,m_0 m_1}` (``derivations/mcc.md``),

    .. math::

        k_- = \frac{n\,(FN\,FP + 2\,FN\,TP + TN\,TP)}{2\,(PQ)^{3/2}\sqrt{m_0 m_1}},\qquad
        -k_+ = \frac{n\,(FN\,FP + 2\,FP\,TN + TN\,TP)}{2\,(PQ)^{3/2}\sqrt{m_0 m_1}},

    and ``J`` as in :func:`_mcc_value`. As a marginal vanishes (every output -> 0,
    :math:`P \to 0`; or -> 1, :math:`Q \to 0`), :math:`|MCC| \le \max(m_0, m_1)
    \sqrt{P/(m_0 m_1 Q)} \to 0`: ``J -> 1``, and :math:`|k_\pm|` grows like
    :math:`P^{-1/2}` while the row gradients :math:`k z_i(1 - z_i)` shrink like
    :math:`P^{1/2}`; in log space both are exact. ``None`` when ``P = 0`` or
    ``Q = 0`` exactly (only the counts form of a rounded matrix can ask).
    """
    log_p = _lse(c.tp, c.fp)
    log_q = _lse(c.tn, c.fn)
    if log_p == -math.inf or log_q == -math.inf:
        return None
    log_m = math.log(m0) + math.log(m1)
    log_n = math.log(m0 + m1)
    log_s = 0.5 * (log_p + log_q + log_m)
    value = _mcc_value(c, log_s, log_n)
    log_den = _LOG2 + 1.5 * (log_p + log_q) + 0.5 * log_m
    log_k_neg = log_n + _lse(c.fn + c.fp, _LOG2 + c.fn + c.tp, c.tn + c.tp) - log_den
    log_mk_pos = log_n + _lse(c.fn + c.fp, _LOG2 + c.fp + c.tn, c.tn + c.tp) - log_den
    return value, log_k_neg, log_mk_pos


def mcc_with_logits_value_and_grad(logit, y):
    r"""Soft MCC loss :math:`1 - MCC_{apx}` (Eq. 2 on Eq. 8, :math:`\sigma(\ell)`) and its logit gradient.

    See :func:`mcc_log_form` and ``derivations/mcc.md``.

    >>> J, g = mcc_with_logits_value_and_grad([-1e4, -1e4, -1e4], [1, 0, 0])  # P = e^-10000
    >>> float(J), g.tolist()
    (1.0, [-0.0, 0.0, 0.0])
    """
    return count_loss_with_logits(logit, y, mcc_log_form)


def mcc_from_counts(tn, fp, fn, tp, m0, m1):
    r"""Soft MCC loss from linear counts: ``(J, k_neg, k_pos)`` (fused kernel) or ``None``.

    ``None`` where :func:`mcc_log_form` is undefined (an empty predicted marginal,
    ``tp + fp = 0`` or ``tn + fn = 0``) or a ``k`` would overflow.

    >>> J, k_neg, k_pos = mcc_from_counts(3.0, 1.0, 1.0, 1.0, 4, 2)
    >>> round(J, 12), round(k_neg, 12), round(k_pos, 12)
    (0.75, 0.28125, -0.46875)
    """
    return _from_counts(mcc_log_form, tn, fp, fn, tp, m0, m1)

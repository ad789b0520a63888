r"""The chain shared by every loss on the approximated counts (Eq. 8): logits -> log
counts -> the loss's log form -> J and dJ/dlogit, and the same log form on linear counts
for the fused kernel.

A loss is given to the chain by its **log form** ``log_form(counts, m0, m1) -> (J,
log k_-, log(-k_+))`` on the natural logs of the four counts (:class:`LogCounts`), with
:math:`k_+ = \partial J/\partial TP - \partial J/\partial FN \le 0` and
:math:`k_- = \partial J/\partial FP - \partial J/\partial TN \ge 0`
(:mod:`astra_np.core.registry`). The counts are log-sum-exps of
:math:`\log\sigma(\pm\ell_i)`, and the row gradient is
:math:`\pm\exp(\log|k_\pm| + \log p_i + \log(1 - p_i))`, exact to rounding or the
correctly rounded 0.
"""
import math
from typing import NamedTuple

import numpy as np

from ._stable import log_expit, logsumexp
from ._validation import check_both_classes, check_logits_and_labels

__all__ = ["LogCounts", "count_loss_with_logits", "counts_from_log_form", "log_counts", "log_counts_from_logits",
           "lse"]

#: ``log k`` beyond this would overflow ``exp`` (the counts functions then return None).
_LOG_MAX = math.log(np.finfo(np.float64).max)


class LogCounts(NamedTuple):
    r"""Natural logs of the approximated confusion counts (Eq. 8); ``-inf`` for an empty count."""

    tn: float
    fp: float
    fn: float
    tp: float


def lse(*terms):
    r""":math:`\log\sum_k e^{t_k}` of Python floats; ``-inf`` terms are empty sums."""
    m = max(terms)
    if m == -math.inf:
        return -math.inf
    return m + math.log(math.fsum(math.exp(t - m) for t in terms))


def _log_sum(values):
    """``logsumexp`` of a 1-D array; ``-inf`` for an empty one (an empty count)."""
    return logsumexp(values) if values.size else -math.inf


def log_counts_from_logits(log_z, log_omz, pos):
    r"""The :class:`LogCounts` of Eq. 8 from :math:`\log p_i` and :math:`\log(1 - p_i)`.

    :math:`\log TP = \operatorname{logsumexp}_{y_i = 1}\log p_i`, likewise FN, FP, TN:
    finite for every finite logit (no count underflows in log space); ``-inf`` for the
    counts of a class that has no example. ``pos`` is the boolean mask of the positives.
    """
    return LogCounts(
        tn=_log_sum(log_omz[~pos]),
        fp=_log_sum(log_z[~pos]),
        fn=_log_sum(log_omz[pos]),
        tp=_log_sum(log_z[pos]),
    )


def log_counts(logit, pos):
    r"""The :class:`LogCounts` of Eq. 8 from logits :math:`\ell_i` (:math:`p_i = \sigma(\ell_i)`)
    and the boolean mask of the positives: the one computation of the approximated counts
    from logits in astra_np (the metrics, the count losses and the network's reference
    path use it). Each count is a log-sum-exp of :math:`\log\sigma(\pm\ell_i)` over one
    class, ``-inf`` for an empty class.
    """
    logit = np.asarray(logit, dtype=np.float64)
    return log_counts_from_logits(log_expit(logit), log_expit(-logit), np.asarray(pos, dtype=bool))


def count_loss_with_logits(logit, y, log_form):
    r"""Value and logit gradient of a count-based loss given by its ``log_form``.

    Parameters
    ----------
    logit : array_like, shape (n,)
        Logits :math:`\ell_i` of :math:`p_i = \sigma(\ell_i)`, any finite float64.
    y : array_like, shape (n,)
        Binary labels; both classes must be present.
    log_form : callable
        ``log_form(LogCounts, m0, m1) -> (J, log k_neg, log(-k_pos))``, as
        :func:`astra_np.core.count_losses.f1_log_form`.

    Returns
    -------
    J : float
    dJ_dlogit : ndarray, shape (n,)
        :math:`k_\pm p_i (1 - p_i)`, formed as :math:`\pm\exp(\log|k_\pm| + \log p_i +
        \log(1 - p_i))`: finite, and 0 only where the exact value underflows.
    """
    logit, y = check_logits_and_labels(logit, y)
    m0, m1 = check_both_classes(y)
    pos = y == 1
    log_z = log_expit(logit)
    log_omz = log_expit(-logit)
    value, log_k_neg, log_mk_pos = log_form(log_counts_from_logits(log_z, log_omz, pos), m0, m1)
    log_w = log_z + log_omz  # log p(1 - p) = log dp/dlogit, p = sigmoid(logit)
    grad = np.empty_like(logit)
    grad[pos] = -np.exp(log_mk_pos + log_w[pos])
    grad[~pos] = np.exp(log_k_neg + log_w[~pos])
    return value, grad


def counts_from_log_form(log_form, tn, fp, fn, tp, m0, m1):
    r"""``(J, k_neg, k_pos)`` of a log form on linear counts (>= 0), or ``None``.

    ``None`` where the log form is undefined or a ``k`` would overflow (the fused kernel
    then hands the epoch to the reference path).
    """
    logs = LogCounts(*(math.log(v) if v > 0 else -math.inf for v in (tn, fp, fn, tp)))
    out = log_form(logs, m0, m1)
    if out is None:
        return None
    value, log_k_neg, log_mk_pos = out
    if not (log_k_neg < _LOG_MAX and log_mk_pos < _LOG_MAX):
        return None
    return value, math.exp(log_k_neg), -math.exp(log_mk_pos)

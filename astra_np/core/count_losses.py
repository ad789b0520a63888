r"""The built-in losses on the approximated confusion counts (Eq. 8): GMN, soft F1, soft MCC.

Each is registered here, once, by :func:`astra_np.core.registry.register_count_loss`
with its **definition** (the loss written plainly) and its **log form** (the hand-derived
stable form the network trains through); the registration checks the one against the
other. GMN (Eq. 9) is the paper's loss; the paper places it among the losses built on a
classification measure of the approximated matrix, and two more of them are here on
the same footing:

* ``"gmn"``: :math:`J = 1 - \sqrt{TN\,TP/(m_0 m_1)}` (``derivations/gmn.md``);
* ``"f1"``: :math:`J = 1 - F1_{apx} = (FP + FN)/(2TP + FP + FN)` (``derivations/f1.md``);
* ``"mcc"``: :math:`J = 1 - MCC_{apx}`, :math:`MCC = \Delta/R = (TP\,TN - FP\,FN)/R`,
  :math:`R = \sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN)}` (``derivations/mcc.md``).

Each has one chain from the logits to the counts (Eq. 8 on
:math:`p_i = \sigma(\ell_i)`, the z-transformed output :math:`z_i` for the ASTra methods,
:math:`\hat y_i` for the sigmoid ones):

.. math::

    \frac{\partial J}{\partial \ell_i} = k_+\, p_i(1 - p_i)\ (y_i = 1),\qquad
    k_-\, z_i(1 - z_i)\ (y_i = 0),

:math:`k_+ = \partial J/\partial TP - \partial J/\partial FN \le 0` and
:math:`k_- = \partial J/\partial FP - \partial J/\partial TN \ge 0`
(:mod:`astra_np.core.registry`). A loss is given to the chain by its **log form**:
``log_form(counts, m0, m1) -> (J, log k_-, log(-k_+))`` on the natural logs of the four
counts (:class:`LogCounts`). Each log form writes :math:`k_\pm` as products and
quotients of sums of non-negative terms (sympy finds the factorisations, see the
derivation files), so nothing cancels and nothing overflows: the counts are
log-sum-exps of :math:`\log\sigma(\pm\ell_i)`, and the row gradient is
:math:`\pm\exp(\log|k_\pm| + \log p_i + \log(1 - p_i))`, exact to rounding or the
correctly rounded 0 when every positive's :math:`p` underflows (``x = -1e4``), when
every negative saturates at 1, or when a marginal of the matrix vanishes.

Soft F1 and soft MCC train through that shared chain
(:mod:`astra_np.core._count_chain`), the kernel (:mod:`astra_np.learn.kernel`) receiving
the same log forms on linear counts. GMN keeps its own logit and counts functions
(:func:`gmn_with_logits_value_and_grad`, :func:`gmn_from_counts`, the paper's path, bit
for bit), checked against its definition at registration like a log form.
"""
import math

import numpy as np

from ._count_chain import (
    LogCounts,
    count_loss_with_logits,
    counts_from_log_form,
    log_counts,
    log_counts_from_logits,
    lse,
)
from ._stable import log_expit
from ._validation import check_both_classes, check_logits_and_labels
from .registry import _register_count_loss, register_count_loss

__all__ = [
    "LogCounts",
    "count_loss_with_logits",
    "f1_definition",
    "f1_from_counts",
    "f1_log_form",
    "f1_with_logits_value_and_grad",
    "gmn_definition",
    "gmn_from_counts",
    "gmn_log_form",
    "gmn_with_logits",
    "gmn_with_logits_value_and_grad",
    "log_counts",
    "log_counts_from_logits",
    "mcc_definition",
    "mcc_from_counts",
    "mcc_log_form",
    "mcc_with_logits_value_and_grad",
]

_LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------
# GMN, Eq. 9
# ---------------------------------------------------------------------------


def gmn_definition(tn, fp, fn, tp, xp):
    r"""GMN loss, Eq. 9, as written: :math:`1 - \sqrt{TN/m_0 \cdot TP/m_1}`, :math:`m_0 = TN + FP`,
    :math:`m_1 = TP + FN` (``derivations/gmn.md``)."""
    return 1 - xp.sqrt(tn / (tn + fp) * (tp / (tp + fn)))


def gmn_log_form(c, m0, m1):
    r"""GMN (Eq. 9) on log counts: ``(J, log k_neg, log(-k_pos))``, or ``None`` if undefined.

    :math:`h = \tfrac12(\log(TN/m_0) + \log(TP/m_1))`, :math:`J = -\operatorname{expm1}(h)`,
    :math:`k_- = G/(2TN)` and :math:`-k_+ = G/(2TP)` with :math:`G = e^h`
    (``derivations/gmn.md``). ``None`` when TN or TP is 0 (the gradient is infinite).
    """
    if c.tn == -math.inf or c.tp == -math.inf:
        return None
    h = 0.5 * (_log_rate(c.tn, c.fp, m0) + _log_rate(c.tp, c.fn, m1))
    return -math.expm1(h), h - _LOG2 - c.tn, h - _LOG2 - c.tp


def _log_rate(log_count, log_other, m):
    r""":math:`\log(C/m)` of an approximated count ``C = e^{log_count}`` of ``m`` rows.

    While the rate is above 1/2 it is formed as ``log1p(-C'/m)`` from the complementary
    count ``C' = m - C = e^{log_other}``, so that a rate next to 1 keeps its digits and
    ``J = -expm1(h)`` stays accurate relative to itself as ``J -> 0`` (a near-perfect
    classifier); below 1/2 it is ``log C - log m``.
    """
    if log_count > np.log(0.5 * m):
        return float(np.log1p(-np.exp(log_other) / m))
    return float(log_count - np.log(m))


def gmn_with_logits_value_and_grad(logit, y):
    r"""GMN (Eq. 9) on ``p = sigmoid(logit)``, with its gradient in the logits.

    Returns ``(J, dJ_dlogit)`` (also available as :func:`gmn_with_logits`). Works with :math:`\log TP_{apx}` and
    :math:`\log TN_{apx}` (log-sum-exp of ``log_expit``), so it is finite and accurate
    when every positive's ``p`` underflows:

    .. math::

        h = \tfrac12(\log TP + \log TN - \log m_0 - \log m_1),\quad
        J = -\operatorname{expm1}(h),\quad G = e^h,

        \frac{\partial J}{\partial \ell_i} = -\tfrac{G}{2}\,w_i\,(1-p_i)\ (y_i=1),
        \qquad +\tfrac{G}{2}\,w'_i\,p_i\ (y_i=0),

    with softmax weights :math:`w_i = e^{\log p_i - \log TP}` and
    :math:`w'_i = e^{\log(1-p_i) - \log TN}`. See ``derivations/gmn.md``.

    >>> J, g = gmn_with_logits([-1e4, 3.0, -2.0], [1, 0, 0])   # TP_apx = e^-10000
    >>> float(J), bool(np.all(np.isfinite(g)))
    (1.0, True)
    >>> J, g = gmn_with_logits([-30.0, 3.0, -2.0], [1, 0, 0])
    >>> bool(g[0] < 0 < g[1])
    True
    """
    logit, y = check_logits_and_labels(logit, y)
    m0, m1 = check_both_classes(y)
    pos = y == 1
    log_p = log_expit(logit)
    log_q = log_expit(-logit)
    counts = log_counts_from_logits(log_p, log_q, pos)
    log_tp, log_tn = counts.tp, counts.tn
    h = 0.5 * (_log_rate(log_tp, counts.fn, m1) + _log_rate(log_tn, counts.fp, m0))
    loss = float(-np.expm1(h))
    half_g = 0.5 * np.exp(h)
    w = np.exp(np.where(pos, log_p - log_tp, log_q - log_tn))
    grad = np.where(pos, -half_g * w * np.exp(log_q), half_g * w * np.exp(log_p))
    return loss, grad


#: The name this function had first; returns ``(J, dJ_dlogit)`` like
#: :func:`gmn_with_logits_value_and_grad`.
gmn_with_logits = gmn_with_logits_value_and_grad


def gmn_from_counts(tn, fp, fn, tp, m0, m1):
    r"""GMN (Eq. 9) from the approximated counts (Eq. 8): ``(J, k_neg, k_pos)`` or ``None``.

    ``k_neg = dJ/dFP - dJ/dTN = G/(2 TN)`` and ``k_pos = dJ/dTP - dJ/dFN = -G/(2 TP)``
    with ``G = sqrt(TN TP/(m0 m1))``: the row gradient is ``k p (1 - p)``
    (:mod:`astra_np.core.registry`). :math:`\log(TN/m_0)` is
    formed as ``log1p(-FP/m0)`` while the rate is above 1/2 (likewise for TP), so that
    ``J = -expm1(h)`` keeps its digits as G -> 1. ``None`` when TN or TP is 0 (the
    gradient is infinite there; :func:`gmn_with_logits_value_and_grad` has no such point).

    >>> J, k_neg, k_pos = gmn_from_counts(3.0, 1.0, 1.0, 1.0, 4, 2)
    >>> round(J, 12), round(k_neg, 12), round(k_pos, 12)
    (0.387627564304, 0.102062072616, -0.306186217848)
    """
    if not (tn > 0 and tp > 0):
        return None
    log_tn = math.log1p(-fp / m0) if tn > 0.5 * m0 else math.log(tn / m0)
    log_tp = math.log1p(-fn / m1) if tp > 0.5 * m1 else math.log(tp / m1)
    h = 0.5 * (log_tn + log_tp)
    G = math.exp(h)
    return -math.expm1(h), G / (2.0 * tn), -G / (2.0 * tp)


_register_count_loss(
    "gmn",
    definition=gmn_definition,
    log_form=gmn_log_form,
    label="GMN",
    description="GMN loss (Eqs. 8-9)",
    derivation="gmn.md",
    in_paper=True,
    value_and_grad=gmn_with_logits_value_and_grad,
    counts=gmn_from_counts,
)

# ---------------------------------------------------------------------------
# F1
# ---------------------------------------------------------------------------


def f1_definition(tn, fp, fn, tp, xp):
    r"""Soft F1 loss as written: :math:`1 - 2TP/(2TP + FP + FN)` (``derivations/f1.md``)."""
    return 1 - 2 * tp / (2 * tp + fp + fn)


def f1_log_form(c, m0, m1):
    r"""Soft F1 loss on log counts: ``(J, log k_neg, log(-k_pos))``, or ``None`` if undefined.

    With :math:`E = 2TP + FP + FN` (``derivations/f1.md``, Eq. 8),

    .. math::

        J = \frac{FP + FN}{E},\qquad
        k_- = \frac{\partial J}{\partial FP} - \frac{\partial J}{\partial TN} = \frac{2\,TP}{E^2},\qquad
        -k_+ = \frac{\partial J}{\partial FN} - \frac{\partial J}{\partial TP} = \frac{2\,(TP + FP + FN)}{E^2}.

    Every sum has non-negative terms: ``J`` is a quotient of log-sum-exps, never
    ``1 - F1`` (which would cancel as F1 -> 1). ``None`` when ``E = 0``
    (``TP = FP = FN = 0``: F1 has no limit there; with a positive example
    :math:`E \ge TP + FN = m_1 \ge 1`, so only the counts form of a rounded matrix can
    ask).
    """
    log_d = lse(_LOG2 + c.tp, c.fp, c.fn)
    if log_d == -math.inf:
        return None
    value = math.exp(lse(c.fp, c.fn) - log_d)
    log_k_neg = _LOG2 + c.tp - 2.0 * log_d
    log_mk_pos = _LOG2 + lse(c.tp, c.fp, c.fn) - 2.0 * log_d
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
    return counts_from_log_form(f1_log_form, tn, fp, fn, tp, m0, m1)


register_count_loss(
    "f1",
    definition=f1_definition,
    log_form=f1_log_form,
    label="soft-F1",
    description="soft-F1 loss, 1 - F1 of the approximated matrix (Eq. 8)",
    derivation="f1.md",
)


# ---------------------------------------------------------------------------
# MCC
# ---------------------------------------------------------------------------


def mcc_definition(tn, fp, fn, tp, xp):
    r"""Soft MCC loss as written: :math:`1 - (TP\,TN - FP\,FN)/\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN)}`
    (Eq. 2 on Eq. 8, ``derivations/mcc.md``)."""
    return 1 - (tp * tn - fp * fn) / xp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


def _log_abs_difference(log_a, log_b):
    r"""``(sign, log|e^a - e^b|)``; ``(0, -inf)`` when equal."""
    if log_a == log_b:
        return 0, -math.inf
    hi, lo, sign = (log_a, log_b, 1) if log_a > log_b else (log_b, log_a, -1)
    return sign, hi + math.log(-math.expm1(lo - hi))


def _mcc_value(c, log_r, log_n):
    r""":math:`J = 1 - MCC` without cancellation (``derivations/mcc.md``, section 3).

    :math:`MCC \le 1/2`: ``1 - MCC`` directly. :math:`MCC > 1/2`: :math:`R^2 - \Delta^2 =
    n\,e_3` with :math:`e_3 = FN\,FP\,TN + FN\,FP\,TP + FN\,TN\,TP + FP\,TN\,TP`, so
    :math:`J = n\,e_3 / (R(R + \Delta))`, a quotient of sums of non-negative terms.
    """
    sign, log_num = _log_abs_difference(c.tp + c.tn, c.fp + c.fn)  # Delta = TP TN - FP FN
    mcc = sign * math.exp(log_num - log_r)
    if mcc <= 0.5:
        return 1.0 - mcc
    log_e3 = lse(c.fn + c.fp + c.tn, c.fn + c.fp + c.tp, c.fn + c.tn + c.tp, c.fp + c.tn + c.tp)
    return math.exp(log_n + log_e3 - log_r - lse(log_r, log_num))


def mcc_log_form(c, m0, m1):
    r"""Soft MCC loss on log counts: ``(J, log k_neg, log(-k_pos))``, or ``None`` if undefined.

    With :math:`P = TP + FP`, :math:`Q = TN + FN` (the predicted marginals),
    :math:`n = m_0 + m_1` and :math:`R = \sqrt{P\,Q\,m_0 m_1}` (``derivations/mcc.md``),

    .. math::

        k_- = \frac{n\,(FN\,FP + 2\,FN\,TP + TN\,TP)}{2\,(PQ)^{3/2}\sqrt{m_0 m_1}},\qquad
        -k_+ = \frac{n\,(FN\,FP + 2\,FP\,TN + TN\,TP)}{2\,(PQ)^{3/2}\sqrt{m_0 m_1}},

    and ``J`` as in :func:`_mcc_value`. As a marginal vanishes (every output -> 0,
    :math:`P \to 0`; or -> 1, :math:`Q \to 0`), :math:`|MCC| \le \max(m_0, m_1)
    \sqrt{P/(m_0 m_1 Q)} \to 0`: ``J -> 1``, and :math:`|k_\pm|` grows like
    :math:`P^{-1/2}` while the row gradients :math:`k p_i(1 - p_i)` shrink like
    :math:`P^{1/2}`; in log space both are exact. ``None`` when ``P = 0`` or
    ``Q = 0`` exactly (only the counts form of a rounded matrix can ask).
    """
    log_p = lse(c.tp, c.fp)
    log_q = lse(c.tn, c.fn)
    if log_p == -math.inf or log_q == -math.inf:
        return None
    log_m = math.log(m0) + math.log(m1)
    log_n = math.log(m0 + m1)
    log_r = 0.5 * (log_p + log_q + log_m)
    value = _mcc_value(c, log_r, log_n)
    log_den = _LOG2 + 1.5 * (log_p + log_q) + 0.5 * log_m
    log_k_neg = log_n + lse(c.fn + c.fp, _LOG2 + c.fn + c.tp, c.tn + c.tp) - log_den
    log_mk_pos = log_n + lse(c.fn + c.fp, _LOG2 + c.fp + c.tn, c.tn + c.tp) - log_den
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
    return counts_from_log_form(mcc_log_form, tn, fp, fn, tp, m0, m1)


register_count_loss(
    "mcc",
    definition=mcc_definition,
    log_form=mcc_log_form,
    label="soft-MCC",
    description="soft-MCC loss, 1 - MCC of the approximated matrix (Eq. 8)",
    derivation="mcc.md",
)

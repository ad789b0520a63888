r"""Confusion-matrix metrics: counted (Eq. 1-3) and approximated (Eq. 8, 11).

Conventions for the 0/0 cases (``derivations/metrics.md``):

* rates (TPR, TNR, FNR, FPR) need at least one actual example of the class they
  are conditioned on; otherwise ``ValueError`` (a test fold without a positive is a
  protocol error, not a number);
* MCC (Eq. 2) is 0 when any marginal of the matrix is empty (no predicted
  positives, no predicted negatives): the numerator is then 0 too, and 0 is the
  value MCC tends to as a classifier approaches the constant one (scikit-learn's
  convention);
* G-Mean (Eq. 3) is ``sqrt(TPR * TNR)``.

Approximated metrics use the soft matrix of Eq. 8. In training they are computed
from logits (:func:`approx_metrics_from_logits`), in log space, so that the
e-ratio (Eq. 11) stays finite when ``FPR_apx`` or ``FNR_apx`` underflows.
"""
import numpy as np

from ._count_chain import log_counts
from ._validation import check_binary_labels, check_both_classes, check_finite, check_same_shape
from .losses import approx_confusion

__all__ = [
    "confusion_matrix",
    "rates",
    "mcc",
    "g_mean",
    "approx_rates",
    "approx_mcc",
    "approx_g_mean",
    "e_ratio",
    "log_approx_confusion",
    "approx_fnr_from_logits",
    "log_e_ratio",
    "approx_metrics_from_logits",
]


def confusion_matrix(y_true, y_pred):
    r"""Counted confusion matrix, Eq. 1: ``[[TN, FP], [FN, TP]]`` (int64).

    Rows are actual labels, columns predicted labels; both must be binary 0/1 and
    non-empty (an empty matrix has no rates; ``ValueError``).

    >>> confusion_matrix([0, 0, 1, 1], [0, 1, 0, 1]).tolist()
    [[1, 1], [1, 1]]
    """
    yt = check_binary_labels(y_true, "y_true")
    yp = check_binary_labels(y_pred, "y_pred")
    check_same_shape("y_true", yt, "y_pred", yp)
    if yt.size == 0:
        raise ValueError("y_true and y_pred are empty; a confusion matrix needs at least one example")
    yt = yt.astype(bool)
    yp = yp.astype(bool)
    return np.array(
        [
            [np.count_nonzero(~yt & ~yp), np.count_nonzero(~yt & yp)],
            [np.count_nonzero(yt & ~yp), np.count_nonzero(yt & yp)],
        ],
        dtype=np.int64,
    )


def _check_cm(cm):
    cm = check_finite("cm", cm)
    if cm.shape != (2, 2):
        raise ValueError(f"cm must be a 2x2 matrix [[TN, FP], [FN, TP]], got shape {cm.shape}")
    if np.any(cm < 0):
        raise ValueError(f"cm must be non-negative, got {cm.tolist()}")
    return cm


#: Above this largest entry, the metrics scale the matrix first (``(1e150)**2`` and
#: sums of such products stay far below the float64 maximum).
_SCALE_ABOVE = 1e150


def _share(a, b):
    r""":math:`a/(a+b)` for ``a, b >= 0``, ``a + b > 0``. When the entries are so large
    that ``a + b`` could overflow, both are first divided by the larger, so any finite
    counts give the right share."""
    m = max(a, b)
    if m > _SCALE_ABOVE:
        a, b = a / m, b / m
    return a / (a + b)


def rates(cm):
    r"""TPR, TNR, FNR, FPR of a (counted or approximated) matrix ``[[TN, FP], [FN, TP]]``.

    Raises ``ValueError`` if the matrix has no actual positive (``TP + FN = 0``) or
    no actual negative (``TN + FP = 0``). Exact for any finite counts: ``TP + FN`` is
    never formed unscaled, so it cannot overflow (``rates`` of four 1e308 entries are 0.5).
    """
    cm = _check_cm(cm)
    (tn, fp), (fn, tp) = cm
    if tp == 0 and fn == 0:
        raise ValueError(f"cm has no actual positive (TP + FN = 0): {cm.tolist()}")
    if tn == 0 and fp == 0:
        raise ValueError(f"cm has no actual negative (TN + FP = 0): {cm.tolist()}")
    return {"tpr": float(_share(tp, fn)), "tnr": float(_share(tn, fp)),
            "fnr": float(_share(fn, tp)), "fpr": float(_share(fp, tn))}


def mcc(cm):
    r"""Matthews correlation coefficient, Eq. 2; 0 when a marginal is empty.

    MCC is invariant to scaling the matrix: when an entry exceeds 1e150 the matrix is
    divided by its largest entry first, so the products cannot overflow; the
    denominator is a product of square roots. Finite and correct for any finite counts
    (``mcc([[1e308, 1], [1, 1e308]])`` is 1).

    >>> mcc([[5, 0], [0, 5]]), mcc([[5, 5], [0, 0]])
    (1.0, 0.0)
    >>> mcc([[99, 0], [0, 3]]), mcc([[0, 99], [3, 0]])    # never beyond +-1 by rounding
    (1.0, -1.0)
    """
    cm = _check_cm(cm)
    top = cm.max()
    if top > _SCALE_ABOVE:
        cm = cm / top
    (tn, fp), (fn, tp) = cm
    den = np.sqrt(tp + fp) * np.sqrt(tp + fn) * np.sqrt(tn + fp) * np.sqrt(tn + fn)
    if den == 0:
        return 0.0
    if fp == 0 and fn == 0:   # a perfect classifier: exactly 1, not the rounded quotient
        return 1.0
    if tp == 0 and tn == 0:   # every example on the wrong side: exactly -1
        return -1.0
    # |MCC| <= 1 (Cauchy-Schwarz). The roundings of the four square roots, their product
    # and the quotient can put a quotient within an ulp or two of the bound beyond it;
    # the bound is then the nearer float to the exact value, so it is returned.
    return float(min(max((tp * tn - fp * fn) / den, -1.0), 1.0))


def g_mean(cm):
    r"""G-Mean, Eq. 3: :math:`\sqrt{TPR \cdot TNR}`."""
    r = rates(cm)
    return float(np.sqrt(r["tpr"]) * np.sqrt(r["tnr"]))


def approx_rates(p, y):
    r"""Rates of the approximated matrix (Eq. 8): ``dict(tpr, tnr, fnr, fpr)``.

    Needs at least one example of each class in ``y``.
    """
    check_both_classes(check_binary_labels(y))
    return rates(approx_confusion(p, y))


def approx_mcc(p, y):
    r"""MCC (Eq. 2) of the approximated matrix (Eq. 8)."""
    return mcc(approx_confusion(p, y))


def approx_g_mean(p, y):
    r"""G-Mean (Eq. 3) of the approximated matrix (Eq. 8); ``1 - gmn(p, y)``."""
    return g_mean(approx_confusion(p, y))


def e_ratio(p, y):
    r"""e-ratio, Eq. 11: :math:`FNR_{apx}/FPR_{apx}` from probabilities.

    Returns ``inf`` when ``FPR_apx = 0`` exactly (every negative has ``p = 0``), which
    can only happen once the probabilities have underflowed; :func:`log_e_ratio`
    works from logits and is always finite.
    """
    r = approx_rates(p, y)
    if r["fpr"] == 0:
        return float("inf")
    return float(r["fnr"] / r["fpr"])


def _logits_labels(logit, y):
    logit = check_finite("logit", logit)
    y = check_binary_labels(y)
    check_same_shape("logit", logit, "y", y)
    m0, m1 = check_both_classes(y)
    return logit, y == 1, m0, m1


def log_approx_confusion(logit, y):
    r"""Natural logs of the approximated matrix (Eq. 8) from logits ``l`` (``p = sigmoid(l)``).

    Returns ``(log TN, log FP, log FN, log TP)``, each a log-sum-exp of
    ``log_expit(+-l)`` over one class: finite even when every ``p`` in a class
    underflows. Needs both classes.
    """
    logit, pos, _, _ = _logits_labels(logit, y)
    return log_counts(logit, pos)


def approx_fnr_from_logits(logit, y):
    r""":math:`FNR_{apx} = FN_{apx}/m_1` from logits (the paper's validation monitor)."""
    logit, pos, _, m1 = _logits_labels(logit, y)
    log_fn = log_counts(logit, pos)[2]
    return float(np.exp(log_fn - np.log(m1)))


def log_e_ratio(logit, y):
    r"""Natural log of the e-ratio (Eq. 11) from logits, always finite.

    :math:`\log(FN_{apx}/m_1) - \log(FP_{apx}/m_0)`; divide by ``log(10)`` for the
    decimal log of Fig. 4.
    """
    logit, pos, m0, m1 = _logits_labels(logit, y)
    _, log_fp, log_fn, _ = log_counts(logit, pos)
    return float((log_fn - np.log(m1)) - (log_fp - np.log(m0)))


def approx_metrics_from_logits(logit, y):
    r"""All approximated metrics of Eq. 8 from logits, in one pass.

    Returns a dict with ``fnr``, ``fpr``, ``tpr``, ``tnr``, ``g_mean``, ``mcc`` and
    ``log_e_ratio`` (natural log, Eq. 11). Rates near 1 are formed as ``1 - rate``
    of their complement only through ``exp`` of logs, never by subtraction of
    nearly equal numbers.
    """
    logit, pos, m0, m1 = _logits_labels(logit, y)
    log_tn, log_fp, log_fn, log_tp = log_counts(logit, pos)
    lm0, lm1 = np.log(m0), np.log(m1)
    tn, fp, fn, tp = np.exp([log_tn, log_fp, log_fn, log_tp])
    return {
        "fnr": float(np.exp(log_fn - lm1)),
        "fpr": float(np.exp(log_fp - lm0)),
        "tpr": float(np.exp(log_tp - lm1)),
        "tnr": float(np.exp(log_tn - lm0)),
        "g_mean": float(np.exp(0.5 * (log_tp - lm1) + 0.5 * (log_tn - lm0))),
        "mcc": mcc(np.array([[tn, fp], [fn, tp]])),
        "log_e_ratio": float((log_fn - lm1) - (log_fp - lm0)),
    }

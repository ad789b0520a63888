"""A soft F-beta loss (beta = 2) on the approximated confusion matrix, as a user adds it.

    python -m astra_np gradcheck --plugin examples/fbeta_loss.py
    python -m astra_np experiment --plugin examples/fbeta_loss.py --methods fbeta2 fbeta2-astra

J = 1 - F_beta = (beta^2 FN + FP) / D with D = (1 + beta^2) TP + beta^2 FN + FP, so
k_neg = dJ/dFP - dJ/dTN = (1 + beta^2) TP / D^2 and
-k_pos = dJ/dFN - dJ/dTP = (1 + beta^2)(beta^2 (TP + FN) + FP) / D^2:
sums of non-negative terms, taken in log space (derivations/count_loss_template.md).
"""
import math

from astra_np import register_count_loss

B2 = 4.0  # beta^2
LOG_B2, LOG_1B2 = math.log(B2), math.log1p(B2)


def fbeta_definition(tn, fp, fn, tp, xp):
    """The loss as written: 1 - (1 + beta^2) TP / ((1 + beta^2) TP + beta^2 FN + FP)."""
    return 1 - (1 + B2) * tp / ((1 + B2) * tp + B2 * fn + fp)


def _lse(*terms):
    m = max(terms)
    return m if m == -math.inf else m + math.log(math.fsum(math.exp(t - m) for t in terms))


def fbeta_log_form(lc, m0, m1):
    """(J, log k_neg, log(-k_pos)) from the logs of the counts; None where D = 0."""
    log_d = _lse(LOG_1B2 + lc.tp, LOG_B2 + lc.fn, lc.fp)
    if log_d == -math.inf:
        return None
    value = math.exp(_lse(LOG_B2 + lc.fn, lc.fp) - log_d)
    log_k_neg = LOG_1B2 + lc.tp - 2.0 * log_d
    log_mk_pos = LOG_1B2 + _lse(LOG_B2 + lc.tp, LOG_B2 + lc.fn, lc.fp) - 2.0 * log_d
    return value, log_k_neg, log_mk_pos


register_count_loss("fbeta2", definition=fbeta_definition, log_form=fbeta_log_form, label="soft-F2",
                    description="soft F-beta loss (beta = 2), 1 - F2 of the approximated matrix (Eq. 8)")

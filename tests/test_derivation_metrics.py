r"""Checks of ``derivations/metrics.md``: the metrics of the approximated confusion matrix.

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import math

import numpy as np
import pytest
from scipy.special import expit

from derivation_helpers import (
    astra_module,
    mpmath,
    relerr,
    sp,
)


def test_metrics_symbolic():
    tn, fp, fn, tp = sp.symbols("TN FP FN TP", positive=True)
    m0, m1 = tn + fp, fn + tp
    tpr, tnr, fnr, fpr = tp / m1, tn / m0, fn / m1, fp / m0
    ppv, npv = tp / (tp + fp), tn / (tn + fn)
    num = tp * tn - fp * fn
    den2 = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    assert sp.simplify(fnr - (1 - tpr)) == 0 and sp.simplify(fpr - (1 - tnr)) == 0
    assert sp.expand(num - (tp * m0 + tn * m1 - m0 * m1)) == 0
    assert sp.simplify(num - m0 * m1 * (tpr + tnr - 1)) == 0
    assert sp.simplify(num - m0 * m1 * (tpr - fpr)) == 0
    # MCC^2 = informedness * markedness
    assert sp.simplify(num ** 2 / den2 - (tpr + tnr - 1) * (ppv + npv - 1)) == 0
    # an empty predicted marginal makes the numerator 0: TP = FP = 0, or TN = FN = 0
    assert num.subs({tp: 0, fp: 0}) == 0 and num.subs({tn: 0, fn: 0}) == 0
    # and an empty actual marginal too: TP = FN = 0, or TN = FP = 0
    assert num.subs({tp: 0, fn: 0}) == 0 and num.subs({tn: 0, fp: 0}) == 0
    # G-Mean = 1 - J_GMN on the same matrix
    assert sp.simplify(sp.sqrt(tpr * tnr) - sp.sqrt(tn * tp / (m0 * m1))) == 0
    # log e-ratio example: y = (1, 0, 0), l = (0, -800, -800)
    ex = sp.log(sp.Rational(1, 2)) - (sp.log(2) - 800 - sp.log(2))
    assert sp.simplify(ex - (800 - sp.log(2))) == 0 and abs(float(ex) - 799.307) < 1e-3


def test_metrics_code_matches_doc(mp60):
    met = astra_module("core.metrics")
    losses = astra_module("core.losses")
    yt = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1])
    yp = np.array([0, 1, 0, 0, 1, 0, 1, 0, 1])
    cm = met.confusion_matrix(yt, yp)
    assert cm.tolist() == [[4, 1], [1, 3]]
    r = met.rates(cm)
    assert (r["tpr"], r["tnr"], r["fnr"], r["fpr"]) == (3 / 4, 4 / 5, 1 / 4, 1 / 5)
    # MCC and G-Mean: the defining formulas, exact rationals; rtol 1e-15 for the float path
    num = 3 * 4 - 1 * 1
    den = math.sqrt(4 * 4 * 5 * 5)
    assert abs(met.mcc(cm) - num / den) <= 1e-15
    assert abs(met.g_mean(cm) - math.sqrt(0.75 * 0.8)) <= 1e-15
    # 0/0 conventions
    assert met.mcc([[5, 0], [3, 0]]) == 0.0   # no predicted positive
    assert met.mcc([[0, 5], [0, 3]]) == 0.0   # no predicted negative
    assert met.mcc([[5, 2], [0, 0]]) == 0.0   # no actual positive
    assert met.g_mean([[5, 0], [3, 0]]) == 0.0
    with pytest.raises(ValueError):
        met.rates([[5, 2], [0, 0]])
    with pytest.raises(ValueError):
        met.g_mean([[0, 0], [1, 2]])
    # approximated == counted for p in {0, 1}
    np.testing.assert_array_equal(losses.approx_confusion(yp.astype(float), yt), cm.astype(float))
    assert met.approx_mcc(yp.astype(float), yt) == met.mcc(cm)
    # approximated metrics from logits against the exact matrix; G-Mean_apx = 1 - J_GMN
    lg = np.array([-3.0, 2.0, -40.0, -800.0, 1.0, -2.0, 35.0, 0.5, 4.0])
    pm = [1 / (1 + mpmath.exp(-mpmath.mpf(v))) for v in lg]
    qm = [1 / (1 + mpmath.exp(mpmath.mpf(v))) for v in lg]
    ex = {
        "tp": sum(p for p, t in zip(pm, yt) if t), "fn": sum(q for q, t in zip(qm, yt) if t),
        "fp": sum(p for p, t in zip(pm, yt) if not t), "tn": sum(q for q, t in zip(qm, yt) if not t),
    }
    ltn, lfp, lfn, ltp = met.log_approx_confusion(lg, yt)
    for got, key in [(ltn, "tn"), (lfp, "fp"), (lfn, "fn"), (ltp, "tp")]:
        assert abs(got - mpmath.log(ex[key])) <= 4e-16 * max(1.0, abs(float(mpmath.log(ex[key]))))
    allm = met.approx_metrics_from_logits(lg, yt)
    m1, m0 = 4, 5
    for key, val in [("tpr", ex["tp"] / m1), ("fnr", ex["fn"] / m1), ("tnr", ex["tn"] / m0),
                     ("fpr", ex["fp"] / m0), ("g_mean", mpmath.sqrt(ex["tp"] * ex["tn"] / (m0 * m1)))]:
        assert relerr(allm[key], val) < 1e-14, key  # exp of a log: a few eps times |log|
    assert relerr(met.approx_fnr_from_logits(lg, yt), ex["fn"] / m1) < 1e-14
    j, _ = losses.gmn_with_logits(lg, yt)
    assert abs(allm["g_mean"] - (1 - j)) < 1e-15
    log_e = mpmath.log(ex["fn"] / m1) - mpmath.log(ex["fp"] / m0)
    assert abs(met.log_e_ratio(lg, yt) - log_e) < 1e-14 * max(1.0, abs(float(log_e)))
    assert abs(allm["log_e_ratio"] - log_e) < 1e-14 * max(1.0, abs(float(log_e)))
    p = expit(lg)
    assert relerr(met.e_ratio(p, yt), mpmath.exp(log_e)) < 1e-14
    # the e-ratio example of metrics.md: ratio from probabilities is inf, the log is 800 - log 2
    lg2, y2 = np.array([0.0, -800.0, -800.0]), np.array([1, 0, 0])
    assert met.e_ratio(expit(lg2), y2) == math.inf
    assert abs(met.log_e_ratio(lg2, y2) - (800 - math.log(2))) < 1e-12
    assert met.e_ratio(np.array([1.0, 0.0, 0.0]), y2) == math.inf  # doubly saturated 0/0
    with pytest.raises(ValueError):
        met.log_e_ratio(np.array([0.0, 1.0]), np.array([0, 0]))

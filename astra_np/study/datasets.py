r"""Built-in, deterministically generated, extremely imbalanced data.

The paper's data files (ref. [19]) are not shipped; :func:`make_imbalanced` makes a
stand-in with the same character (Table 1: IR of several hundred to thousands, a few
dozen positives, few features) so that the figures, the estimator and the protocol
run out of the box.
"""
import numbers

import numpy as np

from ..core._validation import check_random_state, is_integer

__all__ = ["make_imbalanced"]


def make_imbalanced(n_samples=20000, n_features=9, n_positives=34, random_state=0, separation=4.5,
                    heavy_tails=0.0):
    r"""Generate an extremely imbalanced binary data set (minority label 1).

    Negatives are standard normal in ``n_features`` dimensions. Positives come from
    a curved, partly overlapping cluster: along the first three features they sit
    near the point ``separation * (1, 1, 1) / sqrt(3)`` with standard deviation 0.6,
    bent by a quadratic term in the second feature, so that a linear model separates
    them only partly and a small hidden layer helps. The remaining features are
    pure noise. Rows are shuffled.

    Parameters
    ----------
    n_samples : int
        Total number of rows (default 20,000, as skin-588 / skin-4000 in Table 1).
    n_features : int
        Number of features, >= 3 (default 9).
    n_positives : int
        Number of minority examples (default 34: IR = 587.2, close to skin-588).
    random_state : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same bits.
    separation : float
        Distance of the positive cluster's centre from the origin (default 4.5).
        At 4.5 the classes overlap a little (a handful of negatives fall inside the
        positive cluster), and the four methods of the paper separate as on its
        cod-rna data: plain BCE keeps its first epoch under best-on-validation
        FNR_apx, BCE-ASTra finds the positives with few false positives, the GMN
        methods find them with more. Smaller values make the problem harder (at 2.5
        the best achievable MCC is about 0.1), larger ones easier (at 5.5 every
        method succeeds, as on skin-588).
    heavy_tails : float
        Fraction of rows (``0 <= heavy_tails <= 1``) whose features get a heavy-tailed
        outlier, as in real sensor and count data (default 0: none). Each such row has
        one feature, chosen at random, replaced by a Student-t draw with one degree of
        freedom (Cauchy) scaled by 3 and kept within 200 in absolute value: values tens
        of standard deviations out, with a few beyond a hundred. The outliers are
        drawn after the rows above from the same generator, so ``heavy_tails=0`` gives
        the same bits as before the option existed. ``0.02`` gives, after
        standardisation, a largest ``|value|`` of about 100 on the 20,000 default rows.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_features)
    y : ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> X, y = make_imbalanced()
    >>> X.shape, int(y.sum()), round(float((len(y) - y.sum()) / y.sum()), 1)
    ((20000, 9), 34, 587.2)
    """
    for name, value, low in (("n_samples", n_samples, 2), ("n_features", n_features, 3), ("n_positives", n_positives, 1)):
        if not is_integer(value) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if n_positives >= n_samples:
        raise ValueError(f"n_positives must be < n_samples={n_samples}, got {n_positives!r}")
    if isinstance(separation, (bool, np.bool_)) or not isinstance(separation, numbers.Real) \
            or not np.isfinite(separation):
        raise ValueError(f"separation must be a finite real number, got {separation!r}")
    check_random_state(random_state)
    if isinstance(heavy_tails, bool) or not isinstance(heavy_tails, (int, float, np.floating)) \
            or not 0.0 <= heavy_tails <= 1.0:
        raise ValueError(f"heavy_tails must be a number in [0, 1], got {heavy_tails!r}")
    rng = np.random.default_rng(random_state)
    n_neg = n_samples - n_positives
    X_neg = rng.standard_normal((n_neg, n_features))
    X_pos = rng.standard_normal((n_positives, n_features))
    centre = separation / np.sqrt(3.0)
    X_pos[:, :3] = centre + 0.6 * X_pos[:, :3]
    X_pos[:, 0] -= 0.35 * (X_pos[:, 1] - centre) ** 2
    X = np.vstack([X_neg, X_pos])
    y = np.concatenate([np.zeros(n_neg, dtype=np.int64), np.ones(n_positives, dtype=np.int64)])
    order = rng.permutation(n_samples)
    X, y = X[order], y[order]
    if heavy_tails > 0:
        _add_outliers(X, heavy_tails, rng)
    return X, y


def _add_outliers(X, fraction, rng):
    r"""In place: ``round(fraction * n)`` rows get one feature replaced by ``3 t_1`` within +-200."""
    n, d = X.shape
    rows = rng.choice(n, int(round(fraction * n)), replace=False)
    cols = rng.integers(0, d, size=rows.size)
    X[rows, cols] = np.clip(3.0 * rng.standard_cauchy(rows.size), -200.0, 200.0)

r"""Losses: BCE, the approximated confusion matrix (Eq. 8), GMN (Eq. 9), and the
output head that chains ASTra (Eq. 4), the z-transform (Eq. 6) and a loss in logit
space.

Two families of functions live here:

* probability-space functions (``bce``, ``approx_confusion``, ``gmn`` and their
  gradients) that follow the paper's formulas on a probability ``p`` in ``[0, 1]``
  (``z``, or ``y_hat`` for the sigmoid methods);
* logit-space functions (``bce_with_logits``, ``gmn_with_logits``, ``head_loss``),
  the stable path the network trains through. ``head_loss`` never forms ``y_hat``
  or ``z``: it works with ``logit z = logit y_hat - logit tau`` and with
  ``log TP_apx`` / ``log TN_apx``, so it stays finite when every output saturates.

Derivations: ``derivations/bce.md``, ``derivations/gmn.md``, ``derivations/head.md``.
"""

import numpy as np

from . import registry
from ._stable import expit, softplus
from ._validation import (
    check_binary_labels,
    check_bool,
    check_both_classes,
    check_finite,
    check_logits_and_labels,
    check_probability,
    check_same_shape,
    check_scalar,
)
from .activation import (
    astra_logit,
    astra_logit_partials,
    slope_from_beta,
    slope_from_beta_grad,
    threshold_logit,
    threshold_logit_grad,
)
from .count_losses import gmn_from_counts, gmn_with_logits, gmn_with_logits_value_and_grad

__all__ = [
    "METHODS",
    "bce",
    "bce_grad",
    "bce_with_logits",
    "bce_with_logits_grad",
    "bce_with_logits_value_and_grad",
    "approx_confusion",
    "gmn",
    "gmn_grad",
    "gmn_from_counts",
    "gmn_with_logits",
    "gmn_with_logits_value_and_grad",
    "head_logits",
    "head_loss",
]

#: Every training method (Section 4.2) as ``head_loss`` keyword sets, in column order;
#: derived from :mod:`astra_np.core.registry`.
METHODS = registry.MethodTable(registry.Method.head_kwargs)


def _pair(p, y, p_name="p"):
    p = check_probability(p, p_name)
    y = check_binary_labels(y)
    check_same_shape(p_name, p, "y", y)
    if p.size == 0:
        raise ValueError(f"{p_name} must not be empty")
    return p, y


# ---------------------------------------------------------------------------
# BCE
# ---------------------------------------------------------------------------


def _mean(terms):
    """Mean as sum(terms / n): cannot overflow while the mean itself is representable."""
    return float(np.sum(terms / terms.size))


def _check_bce_finite(p, y, alternative):
    """Refuse p = 0 for a positive (p = 1 for a negative): the BCE is infinite there."""
    pos = y == 1
    bad = (pos & (p == 0)) | (~pos & (p == 1))
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"p[{i}] = {float(p.ravel()[i])!r} with y[{i}] = {int(y.ravel()[i])}: the binary cross-entropy "
            f"is infinite there; use {alternative} on logits"
        )
    return pos


def bce(p, y):
    r"""Mean binary cross-entropy :math:`\frac1n\sum_i -y_i\log p_i - (1-y_i)\log(1-p_i)`.

    ``log(1 - p)`` is evaluated as ``log1p(-p)``. A positive example with ``p = 0``
    (or a negative with ``p = 1``) has infinite loss and raises ``ValueError``: pass
    logits to :func:`bce_with_logits` instead, which never saturates.
    """
    p, y = _pair(p, y)
    pos = _check_bce_finite(p, y, "bce_with_logits")
    terms = np.where(pos, -np.log(np.where(pos, p, 1.0)), -np.log1p(-np.where(pos, 0.0, p)))
    return _mean(terms)


def bce_grad(p, y):
    r"""Gradient of :func:`bce` in ``p``: :math:`(-y/p + (1-y)/(1-p))/n`."""
    p, y = _pair(p, y)
    pos = _check_bce_finite(p, y, "bce_with_logits_grad")
    n = p.size
    # (1/n)/p rather than (1/p)/n: a subnormal p of a positive can have a finite
    # gradient (p = 1e-310, n = 100 gives -1e308) although 1/p alone overflows.
    with np.errstate(over="ignore"):  # beyond that, the correctly rounded -inf
        g = np.where(pos, -(1.0 / n) / np.where(pos, p, 1.0), (1.0 / n) / (1.0 - np.where(pos, 0.0, p)))
    return g


def bce_with_logits(logit, y):
    r"""Mean BCE from logits: :math:`\frac1n\sum_i y_i\,\mathrm{sp}(-\ell_i) + (1-y_i)\,\mathrm{sp}(\ell_i)`.

    Derivation of the stable form (``sp`` = softplus, :math:`p = \sigma(\ell)`)::

        -log p       = -log(1 / (1 + e^-l)) = log(1 + e^-l) = sp(-l)
        -log(1 - p)  = -log(e^-l / (1 + e^-l)) = l + sp(-l) = sp(l)

    ``sp`` is ``logaddexp(0, .)``: no overflow for large ``|l|``, no loss of the
    tiny values. The naive ``-log(sigmoid(l))`` is ``inf`` for ``l < -745``.

    >>> float(bce_with_logits([-800.0], [1]))
    800.0
    """
    logit, y = check_logits_and_labels(logit, y)
    terms = np.where(y == 1, softplus(-logit), softplus(logit))
    return _mean(terms)


def bce_with_logits_grad(logit, y):
    r"""Gradient of :func:`bce_with_logits`: :math:`(\sigma(\ell_i) - y_i)/n`.

    For ``y = 1`` it is formed as :math:`-\sigma(-\ell)` so that no digits cancel when
    :math:`\sigma(\ell) \to 1`.
    """
    logit, y = check_logits_and_labels(logit, y)
    return np.where(y == 1, -expit(-logit), expit(logit)) / logit.size


def bce_with_logits_value_and_grad(logit, y):
    r"""``(bce_with_logits(logit, y), bce_with_logits_grad(logit, y))`` in one pass (same bits)."""
    logit, y = check_logits_and_labels(logit, y)
    pos = y == 1
    value = _mean(np.where(pos, softplus(-logit), softplus(logit)))
    return value, np.where(pos, -expit(-logit), expit(logit)) / logit.size


# ---------------------------------------------------------------------------
# Approximated confusion matrix and GMN
# ---------------------------------------------------------------------------


def approx_confusion(p, y):
    r"""Approximated confusion matrix, Eq. 8: ``[[TN, FP], [FN, TP]]`` (floats).

    .. math::

        TN = \sum_i (1-p_i)(1-y_i),\; FP = \sum_i p_i(1-y_i),\;
        FN = \sum_i (1-p_i) y_i,\; TP = \sum_i p_i y_i .
    """
    p, y = _pair(p, y)
    q = 1.0 - p
    return np.array(
        [[np.sum(q * (1 - y)), np.sum(p * (1 - y))], [np.sum(q * y), np.sum(p * y)]],
        dtype=np.float64,
    )


def gmn(p, y):
    r"""GMN loss, Eq. 9: :math:`J = 1 - \sqrt{TN_{apx}\,TP_{apx}/(m_0 m_1)}`.

    Needs at least one example of each class. Formed as
    ``1 - (sqrt(TN)/sqrt(m0)) * (sqrt(TP)/sqrt(m1))`` so that neither the product nor
    a quotient of a subnormal entry can underflow or lose digits.
    """
    p, y = _pair(p, y)
    m0, m1 = check_both_classes(y)
    cm = approx_confusion(p, y)
    # sqrt(TN)/sqrt(m0), not sqrt(TN/m0): the quotient of a subnormal TN would round badly.
    g = (np.sqrt(cm[0, 0]) / np.sqrt(m0)) * (np.sqrt(cm[1, 1]) / np.sqrt(m1))
    return float(1.0 - g)


def gmn_grad(p, y):
    r"""Gradient of :func:`gmn` in ``p`` (Eq. 9).

    .. math::

        \frac{\partial J}{\partial p_i} = -\frac{G}{2\,TP}\ (y_i = 1),\qquad
        +\frac{G}{2\,TN}\ (y_i = 0),\qquad G = \sqrt{TN\,TP/(m_0 m_1)} .

    Infinite (the square root's slope at 0) when ``TP_apx = 0`` or ``TN_apx = 0``:
    that raises ``ValueError``; :func:`head_loss` works in logit space and has no
    such point.
    """
    p, y = _pair(p, y)
    m0, m1 = check_both_classes(y)
    cm = approx_confusion(p, y)
    tn, tp = cm[0, 0], cm[1, 1]
    if tp == 0 or tn == 0:
        raise ValueError(
            f"gmn_grad is infinite at TP_apx = {tp!r}, TN_apx = {tn!r} (all positive p = 0 "
            "or all negative p = 1); use head_loss on logits"
        )
    # G/(2 TP) = 0.5 (sqrt(TN)/sqrt(m0)) / (sqrt(m1) sqrt(TP)), and symmetrically;
    # every square root is taken before dividing, so subnormal TP or TN stay accurate.
    d_pos = -0.5 * (np.sqrt(tn) / np.sqrt(m0)) / (np.sqrt(m1) * np.sqrt(tp))
    d_neg = 0.5 * (np.sqrt(tp) / np.sqrt(m1)) / (np.sqrt(m0) * np.sqrt(tn))
    return np.where(y == 1, d_pos, d_neg)


# ---------------------------------------------------------------------------
# The output head
# ---------------------------------------------------------------------------


def _check_head_args(x, beta, y, loss):
    x = check_finite("x", x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array of pre-activations, got shape {x.shape}")
    beta = check_scalar("beta", beta)
    y = check_binary_labels(y)
    check_same_shape("x", x, "y", y)
    return x, beta, y, registry.get_loss(loss)


def head_logits(x, beta, astra=True, z=True):
    r"""Logit of the quantity the loss sees: :math:`\operatorname{logit} z` or :math:`\operatorname{logit}\hat y`.

    ``astra=True``: :math:`\operatorname{logit}\hat y = ` :func:`~astra_np.core.activation.astra_logit`
    ``(x, b(beta))`` (Eq. 4, 7); ``z=True`` subtracts :math:`\operatorname{logit}\tau(b)`
    (Eq. 6 in logit form). ``astra=False``: the plain sigmoid, logit = ``x`` (``b = 1``,
    ``tau = 0.5``, so the z-transform is the identity).
    """
    astra, z = check_bool("astra", astra), check_bool("z", z)
    x = check_finite("x", x)
    beta = check_scalar("beta", beta)
    if not astra:
        return x.copy()
    b = float(slope_from_beta(beta))
    logit = np.asarray(astra_logit(x, b), dtype=np.float64)
    if not np.all(np.isfinite(logit)):
        bad = x[~np.isfinite(logit)]
        raise ValueError(
            f"x has values {bad[:6].tolist()} whose logit b*x lies beyond the float64 range "
            f"for b={b!r}; the head's domain is |b x| < 1.7e308"
        )
    if z:
        logit = logit - float(threshold_logit(b))
    return logit


def head_loss(x, beta, y, loss=registry.DEFAULT_LOSS, astra=True, z=True):
    r"""The whole output head: pre-activation ``x`` -> ASTra -> z -> loss, with gradients.

    Chain (``derivations/head.md``): :math:`b = b(\beta)` (Eq. 7),
    :math:`\ell_i = \operatorname{logit}\hat y_i - \operatorname{logit}\tau(b)` (Eq. 4-6 in
    logit space; :math:`\ell_i = \operatorname{logit}\hat y_i` with ``z=False``), then the
    loss (BCE (mean), GMN (Eq. 9), soft F1 or soft MCC) on :math:`p_i = \sigma(\ell_i)`.
    The labels are :math:`y_i \in \{0, 1\}`.

    .. math::

        \frac{\partial L}{\partial x_i} = \frac{\partial L}{\partial \ell_i}
            \frac{\partial \operatorname{logit}\hat y_i}{\partial x_i},\qquad
        \frac{\partial L}{\partial \beta} = \frac{db}{d\beta}\sum_i
            \frac{\partial L}{\partial \ell_i}\Big(
            \frac{\partial \operatorname{logit}\hat y_i}{\partial b}
            - \frac{d\operatorname{logit}\tau}{db}\Big).

    Every factor is bounded (``d logit y_hat / dx`` lies in ``[1, b]``), whereas the
    naive chain ``dL/dy_hat * dy_hat/dx`` multiplies ``1/y_hat`` (overflowing when
    ``y_hat`` underflows) by ``dy_hat/dx`` (underflowing to 0): ``inf * 0``.

    Parameters
    ----------
    x : array_like, shape (n,)
        Pre-activations of the output unit; any finite float64.
    beta : float
        Unconstrained slope parameter (Eq. 7). Ignored when ``astra=False``.
    y : array_like, shape (n,)
        Binary targets (minority = 1). GMN needs both classes.
    loss : str
        Loss on the transformed output, a name of :func:`astra_np.core.registry.losses`
        (``"bce"``, the mean over examples; ``"gmn"``, Eq. 9; ``"f1"`` and ``"mcc"``, the
        soft F1 and MCC losses on Eq. 8, :mod:`astra_np.core.count_losses`).
    astra : bool
        ASTra output with ``b = b(beta)``; ``False`` gives the plain sigmoid
        (``b = 1``) and ``dL_dbeta = 0``.
    z : bool
        Apply the z-transform (Eq. 6). The paper applies it with ASTra.

    Returns
    -------
    loss : float
    dL_dx : ndarray, shape (n,)
    dL_dbeta : float

    Examples
    --------
    >>> L, gx, gbeta = head_loss([-1e4, 2.0, -3.0], 5.3963, [1, 0, 0], loss="gmn")
    >>> float(L), bool(np.all(np.isfinite(gx)) and np.isfinite(gbeta))
    (1.0, True)
    >>> L, gx, gbeta = head_loss([-1e4, 2.0, -3.0], 5.3963, [1, 0, 0], loss=registry.DEFAULT_LOSS)
    >>> round(L, 6), round(float(gx[0]), 6)        # the naive chain gives inf * 0 here
    (24655.066405, -2.465433)
    """
    astra, z = check_bool("astra", astra), check_bool("z", z)
    x, beta, y, entry = _check_head_args(x, beta, y, loss)
    logit = head_logits(x, beta, astra=astra, z=z)
    value, d_logit = entry.function("value_and_grad")(logit, y)
    if not astra:
        return value, d_logit, 0.0
    b = float(slope_from_beta(beta))
    dl_dx, dl_db = astra_logit_partials(x, b)
    d_x = d_logit * dl_dx
    d_b = float(np.sum(d_logit * dl_db))
    if z:
        d_b -= float(np.sum(d_logit)) * float(threshold_logit_grad(b))
    d_beta = d_b * float(slope_from_beta_grad(beta))
    return value, d_x, d_beta

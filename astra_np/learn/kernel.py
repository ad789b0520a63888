r"""The fused training epoch: the loss, gradient and approximated counts of
:func:`astra_np.learn.nn.loss_and_grad` and :class:`astra_np.learn.nn.ReferencePath`,
computed faster. The algebra of every fused term, what it equals and which reference
function it must match, is ``derivations/kernel.md``.

:class:`EpochKernel` implements the trainer's interface
(:class:`astra_np.learn.nn.TrainingPath`): ``loss_and_grad(theta, grad)`` returns an
:class:`~astra_np.learn.nn.EpochTerms` ``(loss, log FN_apx, log FP_apx, fallback)`` and
writes the gradient; ``counts(theta)`` returns the counts of Eq. 8. It is tested against
the reference (``tests/test_kernel.py``: loss and every gradient entry to ``1e-12`` of its
sum of absolute terms, every registered method, several depths). What makes it fast:

* **Features-by-rows layout with folded biases.** The training rows are stored once
  as the columns of ``Xa = [X^T; 1]`` (shape ``(n_x + 1, n)``), every hidden layer's
  output as ``[a_l^T; 1]``, and each layer's parameters as the augmented matrix
  ``[W | c]``: a layer is one matrix product, its weight-and-bias gradient another.
* **Preallocated buffers and ``out=``.** Every array of the epoch is allocated once in
  the constructor; an epoch allocates nothing sizeable (the sparse forms' row index
  aside: 8 bytes per gathered row, at most a quarter of the rows). The buffers are workspace of
  one call: nothing a caller reads is left in them.
* **Few passes over the rows in the hidden layers.** Pre-activations are written into
  the activation buffer and scaled there by the slopes ``S`` (built from the sign mask
  through a ``uint8`` view, the fast cast); the backward signal ``S g`` of the last
  hidden layer is formed in place of its slopes. Those slopes are stored divided by
  :math:`1 - 0.3` (one pass fewer), a factor folded into the output weights. The
  output weights' gradient needs no pass of its own:
  :math:`\sum_n g_n a_{jn} = W_j \cdot \sum_n S_{jn} g_n [a_{prev}; 1]_n`.
* **Algebra of the head** (``derivations/kernel.md``, sections 2-4). With
  :math:`t = bx + \log b`, :math:`q = e^t`, :math:`s = \log(1+q)/b`,
  :math:`e = \operatorname{expm1}(s)`, :math:`c_0 = \tau/(1-\tau)`,
  :math:`r = 1/(c_0 + e)`, the z-transformed output of Eq. 4-6 is :math:`z = e r`,
  :math:`1 - z = c_0 r`, and three transcendental passes (``exp``, ``log1p``,
  ``expm1``) serve every row. The positive (minority) rows are stored first, the
  contiguous slice ``[:m1]``. The beta gradient is reduced with dot products.
* **Loss families as a table.** The registry's ``fused`` family of the loss
  (:data:`astra_np.core.registry.FUSED_TERMS`) selects the row terms:
  ``"cross-entropy"`` (per-row terms of the mean BCE) or ``"counts"`` (any loss of the
  four approximated counts, through its ``counts`` function ``(J, k_neg, k_pos)``; no
  code per loss).
* **Validation for the price of its positives.** :math:`FNR_{apx}` (Section 4.3)
  depends on the positive validation rows only (:meth:`EpochKernel.fnr`).

Every finite input stays on the fused path but one corner, which is handed to the
reference path and flagged (``EpochTerms.fallback``, counted by
:func:`astra_np.learn.train.train` in ``TrainResult.epochs_off_fused_path``). The
regimes, which rows leave the bulk forms, the constants below that bound them and the
corner, are listed in ``derivations/kernel.md``, section 5; results never depend on the
path beyond rounding.

Each buffer of :meth:`EpochKernel._allocate` holds one quantity, named by its attribute;
where a quantity is formed in steps (``sigma = q/(1 + q)`` from ``1 + q``), its buffer
holds those steps in the lines that form it, and nothing else. The one exception, for
speed, is the last hidden layer's ``S g`` above.
"""
import math
from typing import NamedTuple

import numpy as np

from ..core import registry
from ..core._stable import expit, log_expit, logsumexp, softplus
from ..core._validation import check_features_and_labels
from ..core.activation import astra_logit, astra_logit_partials
from .nn import LEAKY_SLOPE, ApproxCounts, EpochTerms, MLPParams, ReferencePath

_sum = np.add.reduce  # ndarray.sum without its Python wrapper (same reduction, same bits)
_max = np.maximum.reduce
_min = np.minimum.reduce

__all__ = ["EpochKernel", "ApproxCounts", "layer_offsets", "head_constants", "fast_loss_and_grad"]

#: t above which q = e^t is formed from min(t, T_CLIP) (e^t would overflow past ~709).
T_CLIP = 700.0
#: Rows with t (ASTra) or x (sigmoid) below -T_LOW are evaluated at -T_LOW: their z is below
#: e^-650 ~ 1e-282 either way, and the clamp keeps every bulk pass free of subnormal numbers
#: (an arithmetic slow path of the processor). FP_apx is then recomputed in log space when
#: it is below FP_EXACT_BELOW, so that the e-ratio (Eq. 11) keeps its digits.
T_LOW = 650.0
FP_EXACT_BELOW = 1e-240
_Q_LOW = math.exp(-T_LOW)  # the z (sigma) of a clamped row, the largest it can be
#: Below TINY_ARG, log1p(v) = v and expm1(v) = v exactly in float64, and the library
#: functions take a slow path there (their internal v*v underflows): such arguments are
#: replaced by TINY_ARG and the identity is applied (same bits, several times faster).
TINY_ARG = 2.0 ** -60
#: Rows are *asymptotic* when every argument of their transcendental passes is below
#: TINY_ARG (ASTra: t < log TINY_ARG + min(0, log c0); sigmoid: x < log TINY_ARG): there
#: log1p and expm1 are the identity and 1 + q is 1 in float64. When at most
#: SPARSE_MAX_FRACTION of at least SPARSE_MIN_ROWS rows are not asymptotic (late in
#: training most negatives are far below the threshold), the transcendental passes run on
#: those rows only (gathered) and the others take the identity: the same bits. A quarter:
#: over the states of a complete fit on heavy-tailed data, the gathered forms measured
#: faster than the full passes up to about that share.
SPARSE_MIN_ROWS = 1024
SPARSE_MAX_FRACTION = 0.25
_LOG_TINY = math.log(TINY_ARG)
#: The library's slow path is taken for arguments whose square is subnormal (below about
#: 1.5e-154); the tiny forms are used only when some argument may lie below SLOW_ARG
#: (a margin over that bound), since elsewhere the library is fast and they cost passes.
SLOW_ARG = 1e-140
_LOG_SLOW = math.log(SLOW_ARG)
#: Positive rows with b x = t - log b below -T_POS take the core's stable functions: there
#: e = expm1(s) ~ s ~ e^(b x) could underflow (the bulk forms divide by e).
T_POS = 600.0
#: Rows with s = softplus(t)/b above S_MAX + min(0, log c0) are saturated: e = expm1(s) and
#: e/c0 could overflow, so they take their exact row terms from the core functions.
S_MAX = 650.0
#: Largest slope of the fused path: beyond it c0 < 1e-148 and the squared row factor
#: r^2 = 1/(c0 + e)^2 of the count-based terms could overflow (the one corner left to the
#: reference path together with an undefined counts function).
B_MAX = 1e150
#: Largest |k_pos/k_neg| of a count-based loss for which the fused backward factors the
#: gradient by k_neg (the positives' row terms scaled by k_pos/k_neg); beyond it the
#: gradient is factored by k_pos (the negatives' row terms scaled by k_neg/k_pos).
GMN_RATIO_MAX = 1e100
_LOG2 = math.log(2.0)
_NO_ROWS = np.empty(0, dtype=np.intp)



def layer_offsets(layer_sizes):
    r"""``[(start, stop, (n_out, n_in + 1)), ...]`` of each layer's ``[W | c]`` in the flat vector.

    The flat layout is that of :meth:`astra_np.learn.nn.MLPParams.to_vector`; beta is last.
    """
    out, k = [], 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        out.append((k, k + n_out * (n_in + 1), (n_out, n_in + 1)))
        k += n_out * (n_in + 1)
    return out



def head_constants(beta):
    r"""Scalars of the ASTra head for ``beta`` (Eq. 5, 7), with Python's ``math``.

    Returns ``(b, log_b, c0, dlogit_tau_db, db_dbeta)`` where ``c0 = tau/(1-tau)`` and
    ``dlogit_tau_db = -g(log b)(1 + c0)/(c0 b^2)`` with ``g(u) = softplus(u) - sigmoid(u)``,
    i.e. :func:`astra_np.core.activation.threshold_logit_grad`. For ``b > 1e150``
    (where ``b^2`` overflows) the two divisions by ``b`` are taken one at a time.
    """
    if beta > 0:
        b, db = 2.0 + beta, 1.0
    else:
        db = math.exp(beta)
        b = 1.0 + db
    log_b = math.log(b)
    s0 = math.log1p(b) / b
    c0 = math.expm1(s0)
    g0 = math.log1p(b) - b / (1.0 + b)
    if b < 1e150:
        dl0 = -g0 * (1.0 + c0) / (c0 * b * b)
    else:
        dl0 = -g0 * ((1.0 + c0) / c0) / b / b
    return b, log_b, c0, dl0, db


def _log(v):
    return math.log(v) if v > 0 else -math.inf


def _count_terms(loss, tn, fp, fn, tp, m0, m1, clamped=False):
    r"""``(J, k_neg, k_pos)`` of a count-based loss (:mod:`astra_np.core.registry`), or ``None``.

    ``None`` (the corner left to the reference path) when the loss's counts function
    has no finite value there, or when negatives were clamped (``clamped``: their z was
    taken at ``e^-T_LOW``, above its true value) while ``FP_apx < FP_EXACT_BELOW`` and
    the loss weighs the negatives so heavily that the clamped rows' terms,
    ``|k_neg| m0 e^-T_LOW``, are not negligible (below ``1e-16``) against the positives'
    ``|k_pos| TP_apx``: the soft MCC with every output next to 0, whose ``k``'s grow
    like one over the vanishing marginal. GMN and F1 are never sent back by this test
    in practice: their ``k_neg`` is at most of order ``1/m0`` there.
    """
    out = loss.function("counts")(tn, fp, fn, tp, m0, m1)
    if out is None or not all(math.isfinite(v) for v in out):
        return None
    if clamped and fp < FP_EXACT_BELOW and abs(out[1]) * m0 * _Q_LOW > 1e-16 * abs(out[2]) * tp:
        return None
    return out


def _factor(g_neg, k_neg, k_pos):
    r"""The factor of the fused backward for row terms ``k z(1 - z) dlogit/dx``.

    ``g_neg`` holds the negatives' terms without ``k_neg``. Returns ``(scale, pos_factor)``:
    the gradient is ``scale`` times the backward of the row terms, the positives' terms
    multiplied by ``pos_factor``; when ``|k_pos| > GMN_RATIO_MAX |k_neg|`` the factor is
    ``k_pos`` and ``g_neg`` is rescaled in place by ``k_neg/k_pos`` (no row term
    overflows); with ``k_neg = k_pos = 0`` the gradient is 0.
    """
    if abs(k_pos) > GMN_RATIO_MAX * abs(k_neg):
        g_neg *= k_neg / k_pos
        return k_pos, 1.0
    if k_neg == 0.0:
        g_neg *= 0.0
        return 1.0, 0.0
    return k_neg, k_pos / k_neg


class _Head(NamedTuple):
    r"""Scalars of the ASTra head for one epoch and the rows that leave the bulk forms."""

    b: float
    log_b: float
    c0: float
    log_c0: float
    dl0: float
    db: float
    positives_by_core: bool  # the positives take the core functions
    saturated_negatives: np.ndarray  # saturated negative rows (indices into the negatives)
    clamped: bool  # some t was below -T_LOW
    tiny: bool  # some q, s or e/c0 may be below SLOW_ARG
    active_rows: np.ndarray | None  # the rows that are not asymptotic, when they are few (else None)


class _RowTerms(NamedTuple):
    r"""Per-row head terms of a set of rows of one class (the positives, or the saturated
    negatives). Fields not needed by the caller are None."""

    z: np.ndarray | None
    one_minus_z: np.ndarray
    dl_dx: np.ndarray | None  # partials of l = logit z
    dl_db: np.ndarray | None
    output_error: np.ndarray | None  # the row's term of FN_apx (1 - y-hat) or FP_apx (y-hat) on the output
    bce: float | None  # the sum of the rows' BCE terms



def _check_xy(X, y):
    X, y = check_features_and_labels("X", X, "y", y)
    return X, y.astype(bool)




def _exp_and_one_minus_sigmoid(x, q, w, m1, work=None):
    r"""In place: ``q = e^x`` and ``w = 1/(1 + q) = 1 - sigma(x)``; returns
    ``(saturated rows, min x, active rows)``.

    Rows with ``x > T_CLIP`` (where ``e^x`` could overflow) are saturated: they get the
    exact ``w = e^{-x}`` and ``q = 0``, so they drop out of every product ``q w``;
    their ``sigma(x)`` is 1 to rounding (``1 - e^{-700}``) and is added by the caller
    (the indices are returned, sorted). Negative rows (``[m1:]``) with ``x < -T_LOW`` take
    ``q = e^{-T_LOW}`` (clamped): no subnormal number enters the passes. The
    positive rows ``[:m1]`` keep the exact ``q`` (TP_apx, and the counts of a count-based
    loss, need it to full relative precision). With a workspace ``work``
    (:class:`_SparseRows`), the active rows are those that are not asymptotic (``x`` above
    ``log TINY_ARG``) when they are few: ``w`` is formed on them alone (``w = 1`` exactly
    elsewhere); otherwise they are None.
    """
    x_min, x_max = float(_min(x)), float(_max(x))
    hi, lo = x_max > T_CLIP, x_min < -T_LOW
    if hi and lo:
        np.clip(x, -T_LOW, T_CLIP, out=q)
    elif lo:
        np.maximum(x, -T_LOW, out=q)
    elif hi:
        np.minimum(x, T_CLIP, out=q)
    np.exp(q if hi or lo else x, out=q)
    if lo and m1:
        np.minimum(x[:m1], T_CLIP, out=q[:m1])
        np.exp(q[:m1], out=q[:m1])
    active = None if work is None else work.select(x, x_min, x_max, _LOG_TINY)
    if active is None:
        np.add(q, 1.0, out=w)
        np.reciprocal(w, out=w)
    else:  # 1 + q = 1 off the active rows
        w.fill(1.0)
        one_plus_q = work.gather(q, active, work.one_plus_q)
        one_plus_q += 1.0
        w[active] = np.reciprocal(one_plus_q, out=work.one_minus_sigma[:active.size])
    if not hi:
        return _NO_ROWS, x_min, active
    saturated = np.flatnonzero(x > T_CLIP)
    w[saturated] = np.exp(-x[saturated])
    q[saturated] = 0.0
    return saturated, x_min, active


def _log1p_tiny(v, out):
    r"""``out = log1p(v)`` for ``v >= 0`` (``out`` not ``v``), bit for bit, without the slow
    path of tiny arguments: :math:`\min(\operatorname{log1p}(\max(v, T)), v)`, since
    ``log1p(v) <= v`` and ``log1p(v) = v`` below ``T = TINY_ARG``."""
    np.maximum(v, TINY_ARG, out=out)
    np.log1p(out, out=out)
    np.minimum(out, v, out=out)


def _expm1_tiny(v, out, factor):
    r"""``out = expm1(v)`` for ``v >= 0`` (``out`` may be ``v``; ``factor`` is neither), bit
    for bit, without the slow path of tiny arguments: :math:`\operatorname{expm1}(\max(v, T))
    \cdot \min(v / T, 1)`. Above ``T = TINY_ARG`` the factor is 1; below it
    :math:`\operatorname{expm1}(T) = T` and :math:`T \cdot (v / T) = v` exactly (``T`` is a
    power of two)."""
    np.multiply(v, 1.0 / TINY_ARG, out=factor)
    np.minimum(factor, 1.0, out=factor)
    np.maximum(v, TINY_ARG, out=out)
    np.expm1(out, out=out)
    out *= factor


class _SparseRows:
    r"""Workspace of the row-selective forms: preallocated, so that an epoch allocates only
    the index of the active rows (8 bytes a row, at most ``SPARSE_MAX_FRACTION`` of them).

    :meth:`select` finds the active rows (those that are not asymptotic) when they are
    few; :meth:`EpochKernel._head_rows_sparse`, :func:`_exp_and_one_minus_sigmoid` and
    :meth:`log1p` then evaluate the library functions on those rows alone, gathered into
    the buffer named for the quantity (the first ``rows.size`` entries of each), and the
    identity elsewhere.
    """

    def __init__(self, n, astra):
        self.above_bound = np.empty(n, dtype=bool)
        names = ("q", "s", "clip_excess", "e", "one_plus_e", "K", "one_plus_q", "sigma") if astra else \
            ("one_plus_q", "one_minus_sigma")
        for name in names + ("log1p_arg", "log1p_value"):
            setattr(self, name, np.empty(n))

    def select(self, v, v_min, v_max, bound):
        r"""Sorted indices of the rows with ``v > bound`` when they are few, else None.

        Few: at most ``SPARSE_MAX_FRACTION`` of at least ``SPARSE_MIN_ROWS`` rows (the
        gathered forms cost more than the full passes beyond that).
        """
        n = v.size
        if n < SPARSE_MIN_ROWS or v_min > bound:
            return None
        if v_max <= bound:
            return _NO_ROWS
        np.greater(v, bound, out=self.above_bound)
        if np.count_nonzero(self.above_bound) > SPARSE_MAX_FRACTION * n:
            return None
        return np.flatnonzero(self.above_bound)

    @staticmethod
    def gather(v, rows, buffer):
        r"""``v[rows]`` in the first ``rows.size`` entries of ``buffer``; ``mode="clip"`` (the
        rows are in range) writes straight into it, without a temporary."""
        return np.take(v, rows, out=buffer[:rows.size], mode="clip")

    def log1p(self, v, out, rows, scale=None):
        r"""``out = log1p(u)`` with ``u = v`` or ``u = v * scale`` (``out`` not ``v``), where
        every ``u`` off ``rows`` is below ``TINY_ARG`` (``log1p(u) = u`` there): ``u`` is
        formed in ``out`` and the library runs on ``rows`` alone, same bits."""
        if scale is None:
            np.copyto(out, v)
        else:
            np.multiply(v, scale, out=out)
        arg = self.gather(v, rows, self.log1p_arg)
        if scale is not None:
            arg *= scale
        out[rows] = np.log1p(arg, out=self.log1p_value[:rows.size])


def _log1p_any(v, out, tiny):
    r"""``out = log1p(v)`` for ``v >= 0`` (``out`` not ``v``), by :func:`_log1p_tiny` when some
    argument may be below ``SLOW_ARG`` (``tiny``; same bits)."""
    if tiny:
        _log1p_tiny(v, out)
    else:
        np.log1p(v, out=out)


def _expm1_any(v, out, tiny, factor):
    r"""``out = expm1(v)`` for ``v >= 0`` (``out`` may be ``v``; ``factor`` is neither), by
    :func:`_expm1_tiny` when some argument may be below ``SLOW_ARG`` (``tiny``; same bits)."""
    if tiny:
        _expm1_tiny(v, out, factor)
    else:
        np.expm1(v, out=out)


def _exact_sum_sigmoid(logit):
    r""":math:`\sum \sigma(l)` in log space (log-sum-exp of ``log_expit``): exact when every term is tiny."""
    return float(np.exp(logsumexp(log_expit(logit)))) if logit.size else 0.0


class EpochKernel:
    r"""Loss, gradient and approximated confusion counts of one network on fixed rows.

    The fused :class:`astra_np.learn.nn.TrainingPath`.

    Parameters
    ----------
    X : ndarray, shape (n, n_x)
    y : ndarray, shape (n,)
        Binary labels. The loss needs both classes (``need_grad=True``); a kernel used
        only for :meth:`counts` may hold one class (the positives of a validation set).
    layer_sizes : tuple of int
        ``(n_x, n_h1, ..., 1)``.
    method : str
        A method of :func:`astra_np.core.registry.methods`.
    metrics_on : {"z", "output"}
        Space of the approximated counts (e-ratio, monitors): the z-transformed output
        (Eq. 6) or the ASTra output :math:`\hat y` itself. Identical for the
        plain-sigmoid methods.
    need_grad : bool
        Allocate the backward buffers.

    The rows are reordered positives first; sums do not depend on the order beyond
    rounding.
    """

    def __init__(self, X, y, layer_sizes, method=registry.DEFAULT_METHOD, metrics_on="z", need_grad=True):
        X, positive = _check_xy(X, y)
        entry = registry.get_method(method)
        if metrics_on not in ("z", "output"):
            raise ValueError(f"metrics_on must be 'z' or 'output', got {metrics_on!r}")
        self._build(X, positive, layer_sizes, entry, metrics_on, need_grad)

    @classmethod
    def from_checked(cls, X, positive, layer_sizes, method, metrics_on="z", need_grad=True):
        r"""The kernel of rows and options checked by the caller (the trainer checks them once).

        ``X`` float64, finite, shape ``(n, n_x)``; ``positive`` a boolean mask of shape
        ``(n,)``; ``method`` a registry :class:`astra_np.core.registry.Method`;
        ``metrics_on`` ``"z"`` or ``"output"``. Nothing of them is checked again.
        """
        kernel = cls.__new__(cls)
        kernel._build(X, positive, layer_sizes, method, metrics_on, need_grad)
        return kernel

    def _build(self, X, positive, layer_sizes, entry, metrics_on, need_grad):
        if entry.loss.fused not in self._FAMILIES:
            raise ValueError(f"no fused terms for loss {entry.loss.name!r} (fused={entry.loss.fused!r})")
        self.method, self.loss, self.astra = entry, entry.loss, entry.astra
        self.metrics_z = metrics_on == "z" or not self.astra
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        if self.layer_sizes[0] != X.shape[1] or self.layer_sizes[-1] != 1:
            raise ValueError(f"layer_sizes {self.layer_sizes} do not fit X of shape {X.shape}")
        n = X.shape[0]
        self.n, self.m1 = n, int(positive.sum())
        self.m0 = n - self.m1
        if need_grad and (self.m1 == 0 or self.m0 == 0):
            raise ValueError("the training rows need at least one example of each class")
        self.need_grad = need_grad
        self.y_sorted = np.concatenate([np.ones(self.m1), np.zeros(self.m0)])
        self.Xa = np.empty((X.shape[1] + 1, n))
        self.Xa[-1] = 1.0
        self._store_rows(X, positive)
        self.offsets = layer_offsets(self.layer_sizes)
        self.size = self.offsets[-1][1] + 1
        self._allocate(n, self.layer_sizes[1:-1])

    def _store_rows(self, X, positive):
        order = np.concatenate([np.flatnonzero(positive), np.flatnonzero(~positive)])
        self.Xa[:-1] = X[order].T

    def _allocate(self, n, hidden):
        r"""Every buffer of an epoch, once: one quantity each, named by its attribute.

        Hidden layer ``l`` (rows are columns): ``A[l]``, its output ``[a_l^T; 1]`` (the
        pre-activations ``Z`` are written into it and scaled there into the activations);
        with ``need_grad``, ``above_zero[l]`` (``Z > 0``), ``slopes[l]`` (the Leaky ReLU's
        slopes, the last layer's divided by ``1 - LEAKY_SLOPE``) and, below the last layer,
        ``delta[l]`` (the backward signal at ``Z``); without, ``leaky_branch[l]``
        (``LEAKY_SLOPE * Z``). One exception to one quantity per buffer: the last hidden
        layer's signal :math:`\delta_L = S_L g` (before its row scaling by the output
        weights) is formed in place of its slopes ``slopes[-1]``, which the epoch does not
        read again: a buffer of its own costs about a sixth of an epoch on the paper's
        network (an ``h``-by-``n`` array more in the cache). The output: ``x``
        (pre-activations), ``g`` (the row terms the backward receives), ``w_out`` (the
        output weights folded with ``_out_fold``), ``_out_weight_products`` (``W_L`` times
        its gradient, whose row sums are the output weights' gradient).

        The head, one value per row (``derivations/kernel.md``; the attribute is the name
        with a leading underscore): ASTra, ``t``, ``q = e^t``, ``sigma = sigma(t)``, ``s``,
        ``e = expm1(s)``, ``r = 1/(c0 + e)``, ``K = (1 + e) r``, ``clip_excess``
        (``t - min(t, T_CLIP)``), ``expm1_factor`` (of :func:`_expm1_tiny`); for the
        cross-entropy family ``e_over_c0`` and ``softplus_l`` (the BCE terms of the
        negatives, ``log1p(e/c0)``); for the count family ``K_r`` (``K r``) and ``z``
        (``e r``); with ``metrics_on="output"``, ``one_minus_y_hat``. Plain sigmoid:
        ``q = e^x``, ``one_minus_sigma``, and for the cross-entropy family ``softplus_x``.
        The row-selective forms gather into :class:`_SparseRows`.
        """
        self.A = []
        for h in hidden:
            a = np.empty((h + 1, n))
            a[h] = 1.0
            self.A.append(a)
        if self.need_grad:
            self.above_zero = [np.empty((h, n), dtype=bool) for h in hidden]
            self._above_zero_u8 = [m.view(np.uint8) for m in self.above_zero]  # the fast cast to float64
            self.slopes = [np.empty((h, n)) for h in hidden]
            self.delta = [np.empty((h, n)) for h in hidden[:-1]]
        else:
            self.leaky_branch = [np.empty((h, n)) for h in hidden]
        self.x = np.empty((1, n))
        self.g = np.empty((1, n))
        family = self.loss.fused
        if self.astra:
            names = ["t", "q", "sigma", "s", "e", "r", "K", "clip_excess", "expm1_factor"]
            names += ["e_over_c0", "softplus_l"] if family == "cross-entropy" else ["K_r", "z"]
            names += [] if self.metrics_z else ["one_minus_y_hat"]
        else:
            names = ["q", "one_minus_sigma"] + (["softplus_x"] if family == "cross-entropy" else [])
        for name in names:
            setattr(self, "_" + name, np.empty(n))
        self._sparse = _SparseRows(n, self.astra)
        self._view_cache = [(None, None), (None, None)]
        self._head_cache = (None, None)  # (beta, _head_constants(beta)) of the last beta
        if hidden:  # output weights [(1 - 0.3) w | c] on the last hidden layer's scaled activations
            self._out_fold = np.full(self.offsets[-1][2], 1.0 - LEAKY_SLOPE)
            self._out_fold[0, -1] = 1.0
            self.w_out = np.empty(self.offsets[-1][2])
            self._out_weight_products = np.empty(self.offsets[-2][2])

    def set_rows(self, X, y):
        r"""Replace the rows by others with the same numbers of positives and negatives.

        Reuses every buffer (mini-batches of a fixed composition).
        """
        self.set_checked_rows(*_check_xy(X, y))

    def set_checked_rows(self, X, positive):
        r""":meth:`set_rows` for rows checked by the caller (float64 ``X``, a boolean mask
        ``positive``; see :meth:`from_checked`)."""
        if X.shape != (self.n, self.layer_sizes[0]) or int(positive.sum()) != self.m1:
            raise ValueError(
                f"set_rows needs {self.n} rows with {self.m1} positives and {self.layer_sizes[0]} features, "
                f"got shape {X.shape} with {int(positive.sum())} positives"
            )
        self._store_rows(X, positive)

    # -- forward ------------------------------------------------------------------

    def _forward(self, theta):
        r"""Output pre-activations ``x`` of the held rows at ``theta``.

        With ``need_grad`` the slopes of every hidden layer are kept for
        :meth:`_backward`, and those of the last hidden layer are stored divided by
        ``1 - LEAKY_SLOPE`` (values 1/(1 - 0.3) and 0.3/(1 - 0.3): one pass fewer), so that
        layer's activations are too; the factor is folded into the output weights
        ``self.w_out`` that are used instead of ``[w | c]``.
        """
        a_prev = self.Xa
        views = self._views(theta)
        last = len(views) - 2
        for l, W in enumerate(views[:-1]):
            A = self.A[l]
            Z = A[:-1]  # pre-activations, turned into activations in place
            np.matmul(W, a_prev, out=Z)
            if self.need_grad:  # keep the slopes for the backward pass: A = slopes Z
                slopes = self.slopes[l]
                np.greater(Z, 0.0, out=self.above_zero[l])
                np.copyto(slopes, self._above_zero_u8[l])
                if l == last:
                    slopes += LEAKY_SLOPE / (1.0 - LEAKY_SLOPE)
                else:
                    slopes *= 1.0 - LEAKY_SLOPE
                    slopes += LEAKY_SLOPE
                Z *= slopes
            else:  # forward only: A = max(Z, 0.3 Z)
                leaky = self.leaky_branch[l]
                np.multiply(Z, LEAKY_SLOPE, out=leaky)
                np.maximum(Z, leaky, out=Z)
            a_prev = A
        if self.need_grad and last >= 0:
            np.multiply(views[-1], self._out_fold, out=self.w_out)
            np.matmul(self.w_out, a_prev, out=self.x)
        else:
            np.matmul(views[-1], a_prev, out=self.x)
        return self.x[0]

    def _views(self, vec, slot=0):
        r"""Each layer's ``[W | c]`` as a view of the flat ``vec``.

        Kept while the same vector comes back (``slot`` 0: parameters, 1: gradient).
        """
        cached = self._view_cache[slot]
        if vec is cached[0]:
            return cached[1]
        views = [vec[start:stop].reshape(shape) for start, stop, shape in self.offsets]
        if vec.flags.c_contiguous:  # views, not copies: they follow the vector's contents
            self._view_cache[slot] = (vec, views)
        return views


    # -- the head: bulk passes, saturated rows, positives ------------------------

    def _head_constants(self, beta):
        r""":func:`head_constants` followed by :math:`\log c_0`, kept for the last ``beta``.

        Held by the kernel: calls at one ``beta`` (an epoch's loss and its counts, the
        validation monitor's repeated evaluations) compute them once.
        """
        beta = float(beta)  # one key per value: a float32 beta is not its float64 neighbour
        cached_beta, constants = self._head_cache
        if beta != cached_beta:
            constants = head_constants(beta)
            constants += (math.log(constants[2]),)
            self._head_cache = (beta, constants)
        return constants

    def _head_setup(self, x, beta, light=False):
        r"""Head constants and the bulk passes over every row (:meth:`_head_rows`).

        Finds the saturated rows, :math:`s > S_{MAX} + \min(0, \log c_0)` (only when
        :math:`\max t + \log 2 > b\,s_{cap}`, since :math:`s \le (\max(t, 0) + \log 2)/b`),
        and whether the positives need the core functions.
        """
        b, log_b, c0, dl0, db, log_c0 = self._head_constants(beta)
        if not b <= B_MAX:
            return None
        t = self._t
        np.multiply(x, b, out=t)
        t += log_b
        t_max, t_min = float(_max(t)), float(_min(t))
        clamped = t_min < -T_LOW
        if clamped:
            np.maximum(t, -T_LOW, out=t)
        s_cap = S_MAX + min(0.0, log_c0)
        capped = t_max + _LOG2 > b * s_cap
        # some q, s = log1p(q)/b or e/c0 may be below SLOW_ARG (s ~ q/b and e/c0 ~ s/c0 there)
        tiny = t_min < _LOG_SLOW + log_b - log_c0 + 1.0
        # rows below this t are asymptotic: q, s = q/b, e = s and e/c0 are below TINY_ARG
        active = self._sparse.select(t, t_min, t_max, _LOG_TINY + min(0.0, log_c0))
        if active is None:
            saturated = self._head_rows(b, c0, t_max > T_CLIP, s_cap if capped else None, light, tiny)
        else:
            saturated = self._head_rows_sparse(b, c0, t_max > T_CLIP, s_cap if capped else None, light, active)
        m1 = self.m1
        positives_by_core = m1 > 0 and (float(_min(t[:m1])) - log_b < -T_POS
                                        or bool(saturated.size and saturated[0] < m1))
        saturated_negatives = saturated[saturated >= m1] - m1 if saturated.size else saturated
        return _Head(b, log_b, c0, log_c0, dl0, db, positives_by_core, saturated_negatives, clamped, tiny, active)

    def _head_rows(self, b, c0, clip, s_cap, light, tiny=False):
        r"""t -> q = e^t, sigma(t), s, e = expm1(s), r = 1/(c0 + e), K = (1 + e) r.

        ``light``: only q, s, e and r (what the approximated counts need).
        ``clip``: some t exceeds ``T_CLIP``; q is formed from ``min(t, T_CLIP)`` and the
        softplus corrected by ``t - min(t, T_CLIP)`` (exact to ``e^-T_CLIP``).
        ``s_cap``: some s may exceed it; ``e`` is formed from ``min(s, s_cap)`` and the
        rows beyond (returned, sorted) get ``e = r = 0``, hence ``K = 0``: they drop
        out of every bulk sum and are evaluated by :meth:`_saturated`.
        ``tiny``: some q or s may lie below ``SLOW_ARG``; ``log1p`` and ``expm1`` avoid their
        slow path there (:func:`_log1p_tiny`, :func:`_expm1_tiny`; same bits).
        """
        t, q, sigma, s, e, r, K = self._t, self._q, self._sigma, self._s, self._e, self._r, self._K
        if clip:
            np.minimum(t, T_CLIP, out=q)
            np.exp(q, out=q)
        else:
            np.exp(t, out=q)
        if not light:
            np.add(q, 1.0, out=sigma)
            np.divide(q, sigma, out=sigma)
        _log1p_any(q, s, tiny)
        if clip:  # the softplus's excess over log1p(e^T_CLIP): t - min(t, T_CLIP)
            excess = self._clip_excess
            np.subtract(t, T_CLIP, out=excess)
            np.maximum(excess, 0.0, out=excess)
            s += excess
        s *= 1.0 / b
        saturated = _NO_ROWS
        if s_cap is None:
            _expm1_any(s, e, tiny, self._expm1_factor)
        else:
            np.minimum(s, s_cap, out=e)
            saturated = np.flatnonzero(s > s_cap)
            _expm1_any(e, e, tiny, self._expm1_factor)
        np.add(e, c0, out=r)
        np.reciprocal(r, out=r)
        if saturated.size:
            e[saturated] = 0.0
            r[saturated] = 0.0
        if not light:
            np.add(e, 1.0, out=K)
            K *= r
        return saturated

    def _head_rows_sparse(self, b, c0, clip, s_cap, light, active):
        r"""The terms of :meth:`_head_rows` with the library functions on the ``active`` rows alone.

        Every other row is asymptotic (:meth:`_SparseRows.select`: q, s, e and e/c0 below
        ``TINY_ARG``), where ``log1p(q) = q``, ``expm1(s) = s`` and ``1 + q = 1 + e = 1``
        in float64: :math:`\sigma = q`, :math:`s = q/b`, :math:`e = s` and :math:`K = r`,
        the bits :meth:`_head_rows` computes for them. The active rows are gathered,
        evaluated by the operations of :meth:`_head_rows` (``K`` as ``r (1 + e)``), and
        written back.
        """
        t, q, sigma, s, e, r, K = self._t, self._q, self._sigma, self._s, self._e, self._r, self._K
        work, k = self._sparse, active.size
        if clip:
            np.minimum(t, T_CLIP, out=q)
            np.exp(q, out=q)
        else:
            np.exp(t, out=q)
        np.multiply(q, 1.0 / b, out=s)
        np.copyto(e, s)
        q_a = work.gather(q, active, work.q)
        s_a = np.log1p(q_a, out=work.s[:k])
        if clip:
            excess = work.gather(t, active, work.clip_excess)
            np.subtract(excess, T_CLIP, out=excess)
            np.maximum(excess, 0.0, out=excess)
            s_a += excess
        s_a *= 1.0 / b
        s[active] = s_a
        e_a = work.e[:k]
        saturated = _NO_ROWS
        if s_cap is None:
            np.expm1(s_a, out=e_a)
        else:
            saturated_a = np.flatnonzero(s_a > s_cap)
            saturated = active[saturated_a]
            np.minimum(s_a, s_cap, out=e_a)
            np.expm1(e_a, out=e_a)
        e[active] = e_a
        np.add(e, c0, out=r)
        np.reciprocal(r, out=r)
        if saturated.size:
            e[saturated] = 0.0
            r[saturated] = 0.0
            e_a[saturated_a] = 0.0
        if not light:
            np.copyto(K, r)
            one_plus_e = np.add(e_a, 1.0, out=work.one_plus_e[:k])
            K_a = work.gather(r, active, work.K)
            K_a *= one_plus_e
            K[active] = K_a
            np.copyto(sigma, q)
            one_plus_q = np.add(q_a, 1.0, out=work.one_plus_q[:k])
            sigma[active] = np.divide(q_a, one_plus_q, out=work.sigma[:k])
        return saturated

    def _positives(self, x, head, grad=True):
        r"""Positive rows as :class:`_RowTerms` (``output_error`` = ``1 - y-hat``).

        The bulk forms divide by e = expm1(s); when ``head.positives_by_core`` (some
        positive with ``b x < -T_POS``, where e could underflow, or saturated) the core
        functions are used instead. Not needed (None): ``grad=False``, everything but
        ``1 - z`` and ``1 - y-hat``; ``1 - y-hat`` unless ``metrics_on="output"``; the BCE
        sum for a count-based loss.
        """
        m1 = self.m1
        b, c0 = head.b, head.c0
        z = dl_dx = dl_db = one_minus_y_hat = bce = None
        if not head.positives_by_core:
            e, r = self._e[:m1], self._r[:m1]
            one_minus_z = c0 * r
            if not self.metrics_z:
                one_minus_y_hat = 1.0 / (1.0 + e)
            if grad:
                sigma, s = self._sigma[:m1], self._s[:m1]
                z = e * r
                dlogit_y_ds = (1.0 + e) / e
                dl_dx = sigma * dlogit_y_ds
                dl_db = dlogit_y_ds * (sigma * (x[:m1] + 1.0 / b) - s) / b
                if self.loss.fused == "cross-entropy":
                    bce = float(_sum(np.log1p(c0 / e)))
            return _RowTerms(z, one_minus_z, dl_dx, dl_db, one_minus_y_hat, bce)
        logit = astra_logit(x[:m1], b) - head.log_c0
        z, one_minus_z = expit(logit), expit(-logit)
        if not self.metrics_z:
            one_minus_y_hat = np.exp(-self._s[:m1])
        if grad:
            dl_dx, dl_db = astra_logit_partials(x[:m1], b)
            bce = float(softplus(-logit).sum())
        return _RowTerms(z, one_minus_z, dl_dx, dl_db, one_minus_y_hat, bce)

    def _saturated(self, x, head, grad=True):
        r"""Saturated negative rows as :class:`_RowTerms` (``output_error`` = ``y-hat``), or None.

        Their exact terms from the core functions: :math:`\operatorname{logit} z =
        \operatorname{logit}\hat y - \log c_0`, :math:`z = \sigma(\operatorname{logit} z)`,
        the BCE term :math:`\operatorname{softplus}(\operatorname{logit} z)`.
        """
        if not head.saturated_negatives.size:
            return None
        xs = x[self.m1:][head.saturated_negatives]
        logit_y = astra_logit(xs, head.b)
        logit = logit_y - head.log_c0
        dl_dx, dl_db = astra_logit_partials(xs, head.b) if grad else (None, None)
        bce = float(softplus(logit).sum()) if grad else None
        return _RowTerms(expit(logit), expit(-logit), dl_dx, dl_db, expit(logit_y), bce)

    def _astra_fn_fp(self, x, head, pos_terms, sat_terms, fp_z):
        r"""``(FN_apx, FP_apx)`` in ``metrics_on`` space; ``fp_z`` is the bulk sum of z over the
        negatives. A clamped FP below ``FP_EXACT_BELOW`` is summed in log space."""
        m1 = self.m1
        fn = self._astra_fn(pos_terms)
        if self.metrics_z:
            fp = fp_z
        else:
            e, one_minus_y_hat = self._e[m1:], self._one_minus_y_hat[m1:]
            np.add(e, 1.0, out=one_minus_y_hat)
            np.reciprocal(one_minus_y_hat, out=one_minus_y_hat)  # 1 - y-hat = 1/(1 + e)
            fp = float(np.dot(e, one_minus_y_hat))
        if sat_terms is not None:
            fp += float(_sum(sat_terms.z if self.metrics_z else sat_terms.output_error))
        if head.clamped and fp < FP_EXACT_BELOW:
            logit = astra_logit(x[m1:], head.b) - (head.log_c0 if self.metrics_z else 0.0)
            fp = _exact_sum_sigmoid(logit)
        return fn, fp

    def _astra_fn(self, pos_terms):
        r""":math:`FN_{apx}` of the positives' :class:`_RowTerms` in ``metrics_on`` space."""
        if not self.m1:
            return 0.0
        return float(_sum(pos_terms.one_minus_z if self.metrics_z else pos_terms.output_error))

    # -- counts (validation) ------------------------------------------------------

    def counts(self, theta):
        r"""Approximated confusion counts (Eq. 8) of the held rows, in ``metrics_on`` space."""
        x = self._forward(theta)
        m1 = self.m1
        if self.astra:
            head = self._head_setup(x, float(theta[-1]), light=True)
            if head is None:
                return self._reference_path().counts(theta)
            pos_terms = self._positives(x, head, grad=False) if m1 else None
            sat_terms = self._saturated(x, head, grad=False)
            fp_z = float(np.dot(self._e[m1:], self._r[m1:]))
            fn, fp = self._astra_fn_fp(x, head, pos_terms, sat_terms, fp_z)
        else:
            q, w = self._q, self._one_minus_sigma
            saturated, x_min, _ = _exp_and_one_minus_sigmoid(x, q, w, m1)
            fn = float(_sum(w[:m1]))
            fp = float(np.dot(q[m1:], w[m1:]))
            if saturated.size:
                fp += float(saturated.size - np.searchsorted(saturated, m1))
            if x_min < -T_LOW and fp < FP_EXACT_BELOW:
                fp = _exact_sum_sigmoid(x[m1:])
        return ApproxCounts(self.m0 - fp, fp, fn, m1 - fn, self.m0, m1)

    def fnr(self, theta):
        r""":math:`FNR_{apx}` of the held rows: ``counts(theta).fnr()``, same bits.

        Only the positive rows are evaluated (the validation monitor of Section 4.3).
        """
        m1 = self.m1
        if not m1:
            return self.counts(theta).fnr()
        if self.astra:  # counts() without the negatives' sums
            x = self._forward(theta)
            head = self._head_setup(x, float(theta[-1]), light=True)
            if head is None:
                return self._reference_path().counts(theta).fnr()
            return self._astra_fn(self._positives(x, head, grad=False)) / m1
        x = self._forward(theta)[:m1]
        q, w = self._q[:m1], self._one_minus_sigma[:m1]
        _exp_and_one_minus_sigmoid(x, q, w, m1)  # 1 - sigma is exact on saturated rows too
        return float(_sum(w)) / m1

    # -- loss and gradient --------------------------------------------------------

    def loss_and_grad(self, theta, grad):
        r"""Loss of the method at ``theta`` (flat vector); writes the gradient into ``grad``.

        Returns :class:`~astra_np.learn.nn.EpochTerms` with the logs of
        :math:`FN_{apx}` and :math:`FP_{apx}` of this forward pass (Eq. 8, for the
        e-ratio of Eq. 11) and ``fallback=True`` when the epoch was handed to the
        reference path (the corner named in the module docstring).
        """
        x = self._forward(theta)
        family = self._FAMILIES[self.loss.fused]
        if self.astra:
            out = self._astra(theta, grad, x, family[0])
        else:
            out = self._sigmoid(theta, grad, x, family[1])
        if out is None:
            return self._reference(theta, grad)
        return out

    def _astra(self, theta, grad, x, row_terms):
        r"""ASTra + z: bulk and saturated rows, the family's row terms, backward, beta."""
        head = self._head_setup(x, float(theta[-1]))
        if head is None:
            return None
        m1 = self.m1
        pos_terms, sat_terms = self._positives(x, head), self._saturated(x, head)
        fp_z = float(np.dot(self._e[m1:], self._r[m1:]))  # FP_apx: sum of z = e r over the negatives
        out = row_terms(self, x, head, pos_terms, sat_terms, fp_z)
        if out is None:
            return None
        loss, scale, beta = out
        self._backward(theta, grad, scale)
        grad[-1] = beta * head.db
        fn, fp = self._astra_fn_fp(x, head, pos_terms, sat_terms, fp_z)
        return EpochTerms(loss, _log(fn), _log(fp))

    def _astra_cross_entropy(self, x, head, pos_terms, sat_terms, fp_z):
        r"""Mean BCE on z (``derivations/kernel.md``, section 3): the row terms in ``g``;
        returns ``(loss, scale, dJ/db)``."""
        m1, n = self.m1, self.n
        b, c0, dl0 = head.b, head.c0, head.dl0
        g_neg = self.g[0][m1:]
        # negatives: g_l = z/n, z dlogit/dx = U = sigma K, z dlogit/db = (U (x + 1/b) - s K)/b
        np.multiply(self._sigma[m1:], self._K[m1:], out=g_neg)
        # their BCE terms softplus(l) = log1p(e/c0)
        if head.active_rows is None:
            e_over_c0 = self._e_over_c0[m1:]
            np.multiply(self._e[m1:], 1.0 / c0, out=e_over_c0)
            _log1p_any(e_over_c0, self._softplus_l[m1:], head.tiny)
        else:  # e/c0 is below TINY_ARG off the active rows, where log1p is the identity
            self._sparse.log1p(self._e, self._softplus_l, head.active_rows, scale=1.0 / c0)
        bce_neg = float(_sum(self._softplus_l[m1:]))
        if sat_terms is not None:
            bce_neg += sat_terms.bce
        loss = (bce_neg + pos_terms.bce) / n
        scale = 1.0 / n
        s_dot_K = float(np.dot(self._s[m1:], self._K[m1:]))
        sum_g_neg = float(_sum(g_neg))
        beta = scale * (float(np.dot(g_neg, x[m1:])) + sum_g_neg / b - s_dot_K) / b - dl0 * (fp_z * scale)
        if sat_terms is not None:
            beta += self._saturated_grad(head.saturated_negatives, sat_terms, sat_terms.z * scale, scale, dl0)
        gl_pos = -pos_terms.one_minus_z * scale
        self.g[0][:m1] = gl_pos * pos_terms.dl_dx / scale
        beta += float(np.dot(gl_pos, pos_terms.dl_db)) - dl0 * float(_sum(gl_pos))
        return loss, scale, beta

    def _astra_counts(self, x, head, pos_terms, sat_terms, fp_z):
        r"""A loss of the approximated counts on z (``derivations/kernel.md``, section 4): the
        row terms in ``g``; returns ``(loss, scale, dJ/db)`` or None (the corner)."""
        m1, m0 = self.m1, self.m0
        b, c0, dl0 = head.b, head.c0, head.dl0
        r, K_r, z, g_neg = self._r[m1:], self._K_r[m1:], self._z[m1:], self.g[0][m1:]
        tn, fp, tp = c0 * float(_sum(r)), fp_z, float(_sum(pos_terms.z))
        if sat_terms is not None:
            tn, fp = tn + float(_sum(sat_terms.one_minus_z)), fp + float(_sum(sat_terms.z))
        terms = _count_terms(self.loss, tn, fp, float(_sum(pos_terms.one_minus_z)), tp, m0, m1, head.clamped)
        if terms is None:
            return None
        loss, kn, kp = terms
        # negatives: g_l = kn z (1 - z) = kn c0 e r^2; g_x = kn c0 r U = kn c0 sigma K r
        scale_n = kn * c0
        np.multiply(self._K[m1:], r, out=K_r)
        np.multiply(self._sigma[m1:], K_r, out=g_neg)
        s_dot_K_r = float(np.dot(self._s[m1:], K_r))
        np.multiply(self._e[m1:], r, out=z)
        sum_gl_neg = scale_n * float(np.dot(z, r))
        sum_g_neg = float(_sum(g_neg))
        beta = scale_n * (float(np.dot(g_neg, x[m1:])) + sum_g_neg / b - s_dot_K_r) / b - dl0 * sum_gl_neg
        scale, _ = _factor(g_neg, scale_n, kp)
        if sat_terms is not None:
            gl_sat = kn * sat_terms.z * sat_terms.one_minus_z
            beta += self._saturated_grad(head.saturated_negatives, sat_terms, gl_sat, scale, dl0)
        gl_pos = kp * pos_terms.z * pos_terms.one_minus_z
        self.g[0][:m1] = gl_pos * pos_terms.dl_dx / scale
        beta += float(np.dot(gl_pos, pos_terms.dl_db)) - dl0 * float(_sum(gl_pos))
        return loss, scale, beta

    def _saturated_grad(self, saturated_negatives, sat_terms, gl, scale, dl0):
        r"""The saturated negatives' row terms ``gl dlogit/dx / scale`` into ``g``; returns their dJ/db."""
        self.g[0][self.m1:][saturated_negatives] = gl * sat_terms.dl_dx / scale
        return float(np.dot(gl, sat_terms.dl_db)) - dl0 * float(_sum(gl))

    def _sigmoid(self, theta, grad, x, row_terms):
        r"""Plain sigmoid: ``q = e^x``, ``w = 1 - sigma``, the family's row terms, backward.

        Saturated rows (``x > T_CLIP``, :func:`_exp_and_one_minus_sigmoid`) have
        ``sigma = 1``, ``1 - sigma = e^{-x}`` and softplus ``x``, patched row by row.
        """
        saturated, x_min, active = _exp_and_one_minus_sigmoid(x, self._q, self._one_minus_sigma, self.m1,
                                                              self._sparse)
        out = row_terms(self, x, saturated, x_min < _LOG_SLOW + 1.0, active)
        if out is None:
            return None
        loss, scale, fn, fp = out
        if x_min < -T_LOW and fp < FP_EXACT_BELOW:
            fp = _exact_sum_sigmoid(x[self.m1:])
        self._backward(theta, grad, scale)
        grad[-1] = 0.0
        return EpochTerms(loss, _log(fn), _log(fp))

    def _sigmoid_cross_entropy(self, x, saturated, tiny, active):
        r"""Mean BCE on sigma(x): row terms in ``g``; ``(loss, scale, FN, FP)``."""
        m1, n = self.m1, self.n
        g, q, w, softplus_x = self.g[0], self._q, self._one_minus_sigma, self._softplus_x
        np.multiply(q, w, out=g)  # sigma: the gradient of the negatives
        fn = float(_sum(w[:m1]))
        fp = float(np.dot(q[m1:], w[m1:]))
        if active is None:
            _log1p_any(q, softplus_x, tiny)
        else:
            self._sparse.log1p(q, softplus_x, active)
        if saturated.size:
            g[saturated] = 1.0
            softplus_x[saturated] = x[saturated]
            fp += float(saturated.size - np.searchsorted(saturated, m1))
        loss = (float(_sum(softplus_x)) - float(_sum(x[:m1]))) / n
        np.negative(w[:m1], out=g[:m1])
        return loss, 1.0 / n, fn, fp

    def _sigmoid_counts(self, x, saturated, tiny, active):
        r"""A loss of the approximated counts on sigma(x): row terms ``sigma (1 - sigma)``
        in ``g``; ``(loss, scale, FN, FP)`` or None (the corner)."""
        m1, m0 = self.m1, self.m0
        g, q, w = self.g[0], self._q, self._one_minus_sigma
        # FP = sum of sigma = q (1 - sigma) over the negatives, TN = m0 - FP (exact to
        # 2 ulp of TN while FP <= m0/2; summed directly otherwise)
        fp = float(np.dot(q[m1:], w[m1:]))
        tn = m0 - fp if fp <= 0.5 * m0 else float(_sum(w[m1:]))
        tp = float(np.dot(q[:m1], w[:m1]))
        if saturated.size:  # sigma = 1 on the saturated rows
            n_pos = int(np.searchsorted(saturated, m1))
            fp, tp = fp + float(saturated.size - n_pos), tp + float(n_pos)
            tn = m0 - fp if fp <= 0.5 * m0 else float(_sum(w[m1:]))
        fn = float(_sum(w[:m1]))
        clamped = fp < FP_EXACT_BELOW and float(_min(x[m1:])) < -T_LOW
        terms = _count_terms(self.loss, tn, fp, fn, tp, m0, m1, clamped)
        if terms is None:
            return None
        loss, kn, kp = terms
        np.multiply(q, w, out=g)
        g *= w  # sigma (1 - sigma)
        if saturated.size:
            g[saturated] = w[saturated]
        scale, pos_factor = _factor(g[m1:], kn, kp)
        if pos_factor != 1.0:
            g[:m1] *= pos_factor
        return loss, scale, fn, fp

    #: Row terms of each family of :data:`astra_np.core.registry.FUSED_TERMS`:
    #: ``(ASTra + z, plain sigmoid)``.
    _FAMILIES = {
        "cross-entropy": (_astra_cross_entropy, _sigmoid_cross_entropy),
        "counts": (_astra_counts, _sigmoid_counts),
    }

    def _backward(self, theta, grad, scale):
        g = self.g
        offs = self.offsets
        L = len(offs) - 1
        shape = offs[-1][2]
        W_views, g_views = self._views(theta), self._views(grad, 1)
        g_out = g_views[-1]
        if not L:
            np.matmul(g, self.Xa.T, out=g_out)
        else:
            # output layer folded: dz_L = S_L * (w g) = w * (S_L g); delta_L = S_L g, and the
            # row scaling by w is carried into the products. S_L and the weights w are stored
            # scaled by 1/(1 - 0.3) and (1 - 0.3): see _forward. delta_L is formed in place of
            # S_L, the one buffer that holds two quantities in turn (see _allocate)
            h = shape[1] - 1
            delta = self.slopes[-1]
            delta *= g
            carry = self.w_out[0, :h, None]  # row scaling of delta_L that gives dz_L
            for l in range(L - 1, -1, -1):
                a_prev = self.A[l - 1] if l else self.Xa
                gW, Wl = g_views[l], W_views[l]
                np.matmul(delta, a_prev.T, out=gW)
                if l == L - 1:
                    # the output weights from the same product, without another pass over
                    # the rows: sum_n g a_jn = sum_n g S_jn (W_j a_prev)_n = W_j . (delta_j a_prev^T)
                    products = self._out_weight_products
                    np.multiply(Wl, gW, out=products)
                    _sum(products, axis=1, out=g_out[0, :h])
                    g_out[0, :h] *= 1.0 - LEAKY_SLOPE  # S_L was stored scaled
                    g_out[0, h] = _sum(g[0])
                gW *= carry
                if l:
                    delta_prev = self.delta[l - 1]
                    np.matmul((Wl[:, :-1] * carry).T, delta, out=delta_prev)
                    delta_prev *= self.slopes[l - 1]
                    delta = delta_prev
                    carry = 1.0
        grad[:-1] *= scale

    def _reference(self, theta, grad):
        r"""The corner: the reference path on the same rows, flagged ``fallback=True``."""
        return self._reference_path().loss_and_grad(theta, grad)._replace(fallback=True)

    def _reference_path(self):
        return ReferencePath.from_checked(self.Xa[:-1].T, self.y_sorted, self.layer_sizes, self.method,
                                          "z" if self.metrics_z else "output")


def fast_loss_and_grad(params, X, y, method=registry.DEFAULT_METHOD):
    r"""Convenience wrapper: :class:`EpochKernel` on ``(X, y)`` at ``params``.

    Returns ``(loss, grads)`` like :func:`astra_np.learn.nn.loss_and_grad`.
    """
    kernel = EpochKernel(X, y, params.layer_sizes, method=method)
    theta = params.to_vector()
    grad = np.empty_like(theta)
    loss = kernel.loss_and_grad(theta, grad).loss
    if not kernel.astra:
        grad[-1] = 0.0
    return loss, MLPParams.from_vector(grad, params.layer_sizes)

r"""The fused training epoch: the loss, gradient and approximated counts of
:func:`astra_np.learn.nn.loss_and_grad` and :class:`astra_np.learn.nn.ReferencePath`,
computed faster. The algebra of every fused term, what it equals and which reference
function it must match, is ``derivations/kernel.md``.

:class:`EpochKernel` implements the trainer's interface
(:class:`astra_np.learn.nn.TrainingPath`): ``loss_and_grad(theta, grad)`` returns an
:class:`~astra_np.learn.nn.EpochTerms` ``(loss, log FN_apx, log FP_apx, fallback)`` and
writes the gradient; ``counts(theta)`` returns the counts of Eq. 8. It is tested against
the reference (``tests/test_fast.py``: loss and every gradient entry to ``1e-12`` of its
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
  through a ``uint8`` view, the fast cast); the backward product ``S g`` is formed in
  place of the last layer's slopes. Those slopes are stored divided by
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

Every finite input stays on the fused path (``derivations/kernel.md``, section 5),
except the named corner:

* negative rows with :math:`t < -650` (``T_LOW``) are evaluated at :math:`t = -650`
  (their :math:`z` is below :math:`10^{-282}` either way), so that no subnormal number
  enters the bulk passes (a slow path of the processor); :math:`FP_{apx}` is then summed
  in log space when it is below ``FP_EXACT_BELOW``, so the e-ratio keeps its digits;
* ``log1p`` and ``expm1`` of arguments below ``TINY_ARG`` (:math:`2^{-60}`, where both are
  the identity in float64) skip the library's slow path for tiny arguments (squares
  subnormal), with the same bits, whenever some argument may be below ``SLOW_ARG``;
* **asymptotic rows** (every argument below ``TINY_ARG``; late in training most negatives)
  have :math:`\sigma = q`, :math:`s = q/b`, :math:`e = s`, :math:`K = r` bit for bit: when
  the other rows are few (``SPARSE_MAX_FRACTION``), the library functions run on those
  alone (:meth:`EpochKernel._head_rows_sparse`, same bits);
* rows with :math:`t > 700` (``T_CLIP``) take ``q`` from ``min(t, 700)`` and correct the
  softplus by the excess, exact to :math:`e^{-700}`;
* positive rows with :math:`bx = t - \log b < -600` (``T_POS``: there :math:`e \approx e^{bx}`
  could underflow) or a saturated positive row (below)
  are evaluated with the core's stable functions
  (:func:`~astra_np.core.activation.astra_logit`,
  :func:`~astra_np.core.activation.astra_logit_partials`);
* **saturated rows**, :math:`s > 650 + \min(0, \log c_0)` (``S_MAX``; pre-activations in
  the hundreds or thousands, or a large slope), where ``expm1(s)`` or ``e/c_0`` would
  overflow, are removed from the bulk passes (their ``e`` and ``r`` set to 0) and
  evaluated row by row with the same core functions; they cost one comparison pass
  and work proportional to their number;
* any slope up to ``B_MAX`` (``1e150``, :math:`\tau \approx 10^{-148}`) for which
  :math:`b x` is finite (the head's domain);
* count-based losses with :math:`|k_+/k_-|` beyond ``GMN_RATIO_MAX`` factor the
  gradient by :math:`k_+` instead of :math:`k_-` (the negatives' row terms are
  rescaled), so no row term overflows;
* **the corner**: a count-based loss whose ``counts`` function has no finite value
  (GMN: :math:`TN_{apx}` or :math:`TP_{apx}` underflows to 0, every row of a class
  saturated beyond :math:`e^{-745}`); a count-based loss that weighs clamped negatives
  too heavily for the clamp to be exact (the soft MCC with every output next to 0,
  :func:`_count_terms`); or a slope beyond ``B_MAX``. The epoch is then evaluated by the reference path
  (finite for every finite input, in log space) and flagged:
  ``EpochTerms.fallback`` is True and :func:`astra_np.learn.train.train` counts it in
  ``TrainResult.epochs_off_fused_path``.

Results never depend on the path beyond rounding. The beta gradient, reduced with dot
products, loses about :math:`\log_{10}(b \max|x|)` digits to cancellation for rows with
large positive pre-activations (``1e-13`` relative at ``|x| ~ 100``).
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


_LAST_CONSTANTS = (None, None)  # (beta, head_constants(beta) + (log c0,)) of the last call


def _head_constants_and_log_c0(beta):
    r""":func:`head_constants` followed by :math:`\log c_0`, kept for the last ``beta``.

    An epoch asks twice for the same ``beta``: the validation monitor after the update
    and the next epoch's forward pass. One tuple is stored and read at once, so kernels
    in other threads never see a half-written pair.
    """
    global _LAST_CONSTANTS
    beta = float(beta)  # one key per value: a float32 beta is not its float64 neighbour
    last_beta, constants = _LAST_CONSTANTS
    if beta != last_beta:
        constants = head_constants(beta)
        constants += (math.log(constants[2]),)
        _LAST_CONSTANTS = (beta, constants)
    return constants


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

    ``g_neg`` holds the negatives' terms without ``k_neg``. Returns ``(scale, pos)``:
    the gradient is ``scale`` times the backward of the row terms, the positives' terms
    multiplied by ``pos``; when ``|k_pos| > GMN_RATIO_MAX |k_neg|`` the factor is
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
    robust: bool  # the positives take the core functions
    sat: np.ndarray  # saturated negative rows (indices into the negatives)
    clamped: bool  # some t was below -T_LOW
    tiny: bool  # some q, s or e/c0 may be below SLOW_ARG
    rows: np.ndarray | None  # the rows that are not asymptotic, when they are few (else None)


class _Rows(NamedTuple):
    r"""Per-row head terms of a set of rows: ``z``, ``1 - z``, the logit's partials,
    ``1 - y-hat`` (positives) or ``y-hat`` (saturated negatives), and the BCE sum.
    Fields not needed by the caller are None."""

    z: np.ndarray | None
    omz: np.ndarray
    dldx: np.ndarray | None
    dldb: np.ndarray | None
    y_out: np.ndarray | None
    bce: float | None



def _check_xy(X, y):
    X, y = check_features_and_labels("X", X, "y", y)
    return X, y.astype(bool)




def _exp_and_one_minus_sigmoid(x, q, w, m1, work=None):
    r"""In place: ``q = e^x`` and ``w = 1/(1 + q) = 1 - sigma(x)``; returns
    ``(saturated rows, min x, rows)``.

    Rows with ``x > T_CLIP`` (where ``e^x`` could overflow) are saturated: they get the
    exact ``w = e^{-x}`` and ``q = 0``, so they drop out of every product ``q w``;
    their ``sigma(x)`` is 1 to rounding (``1 - e^{-700}``) and is added by the caller
    (the indices are returned, sorted). Negative rows (``[m1:]``) with ``x < -T_LOW`` take
    ``q = e^{-T_LOW}`` (clamped): no subnormal number enters the passes. The
    positive rows ``[:m1]`` keep the exact ``q`` (TP_apx, and the counts of a count-based
    loss, need it to full relative precision). With a workspace ``work``
    (:class:`_SparseRows`), ``rows`` are the rows that are not asymptotic (``x`` above
    ``log TINY_ARG``) when they are few: ``w`` is formed on them alone (``w = 1`` exactly
    elsewhere); otherwise ``rows`` is None.
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
    rows = None if work is None else work.select(x, x_min, x_max, _LOG_TINY)
    if rows is None:
        np.add(q, 1.0, out=w)
        np.reciprocal(w, out=w)
    else:  # 1 + q = 1 off the rows
        w.fill(1.0)
        a = work.gather(q, rows)
        a += 1.0
        np.reciprocal(a, out=a)
        w[rows] = a
    if not hi:
        return _NO_ROWS, x_min, rows
    sat = np.flatnonzero(x > T_CLIP)
    w[sat] = np.exp(-x[sat])
    q[sat] = 0.0
    return sat, x_min, rows


def _log1p_tiny(v, out):
    r"""``out = log1p(v)`` for ``v >= 0`` (``out`` not ``v``), bit for bit, without the slow
    path of tiny arguments: :math:`\min(\operatorname{log1p}(\max(v, T)), v)`, since
    ``log1p(v) <= v`` and ``log1p(v) = v`` below ``T = TINY_ARG``."""
    np.maximum(v, TINY_ARG, out=out)
    np.log1p(out, out=out)
    np.minimum(out, v, out=out)


def _expm1_tiny(v, out, tmp):
    r"""``out = expm1(v)`` for ``v >= 0`` (``out``, ``tmp`` not ``v``), bit for bit, without
    the slow path of tiny arguments: :math:`\operatorname{expm1}(\max(v, T)) \cdot
    \min(v / T, 1)`. Above ``T = TINY_ARG`` the factor is 1; below it
    :math:`\operatorname{expm1}(T) = T` and :math:`T \cdot (v / T) = v` exactly (``T`` is a
    power of two)."""
    np.maximum(v, TINY_ARG, out=out)
    np.expm1(out, out=out)
    np.multiply(v, 1.0 / TINY_ARG, out=tmp)
    np.minimum(tmp, 1.0, out=tmp)
    out *= tmp


class _SparseRows:
    r"""Workspace of the row-selective forms: preallocated, so that an epoch allocates only
    the index of the gathered rows (8 bytes a row, at most ``SPARSE_MAX_FRACTION`` of them).

    :meth:`select` finds the rows that are not asymptotic when they are few;
    :meth:`EpochKernel._head_rows_sparse` and :meth:`log1p` then evaluate the library
    functions on those rows alone (gathered into ``values``) and the identity elsewhere.
    """

    def __init__(self, n):
        self.mask = np.empty(n, dtype=bool)
        self.values = (np.empty(n), np.empty(n), np.empty(n))

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
        np.greater(v, bound, out=self.mask)
        if np.count_nonzero(self.mask) > SPARSE_MAX_FRACTION * n:
            return None
        return np.flatnonzero(self.mask)

    def gather(self, v, rows, slot=0):
        r"""``v[rows]`` in the workspace's buffer ``slot`` (0, 1 or 2); ``mode="clip"`` (the
        rows are in range) writes straight into it, without a temporary."""
        return np.take(v, rows, out=self.values[slot][:rows.size], mode="clip")

    def log1p(self, v, out, rows, scale=None):
        r"""``out = log1p(u)`` with ``u = v`` or ``u = v * scale`` (``out`` not ``v``), where
        every ``u`` off ``rows`` is below ``TINY_ARG`` (``log1p(u) = u`` there): ``u`` is
        formed in ``out`` and the library runs on ``rows`` alone, same bits."""
        if scale is None:
            np.copyto(out, v)
        else:
            np.multiply(v, scale, out=out)
        a = self.gather(v, rows)
        if scale is not None:
            a *= scale
        np.log1p(a, out=a)
        out[rows] = a


def _log1p_any(v, out, tiny):
    r"""``out = log1p(v)`` for ``v >= 0`` (``out`` not ``v``), by :func:`_log1p_tiny` when some
    argument may be below ``SLOW_ARG`` (``tiny``; same bits)."""
    if tiny:
        _log1p_tiny(v, out)
    else:
        np.log1p(v, out=out)


def _expm1_any(v, out, tiny, tmp):
    r"""``out = expm1(v)`` for ``v >= 0`` (``out``, ``tmp`` not ``v``), by :func:`_expm1_tiny`
    when some argument may be below ``SLOW_ARG`` (``tiny``; same bits)."""
    if tiny:
        _expm1_tiny(v, out, tmp)
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
        X, pos = _check_xy(X, y)
        entry = registry.get_method(method)
        if metrics_on not in ("z", "output"):
            raise ValueError(f"metrics_on must be 'z' or 'output', got {metrics_on!r}")
        if entry.loss.fused not in self._FAMILIES:
            raise ValueError(f"no fused terms for loss {entry.loss.name!r} (fused={entry.loss.fused!r})")
        self.method, self.loss, self.astra = method, entry.loss, entry.astra
        self.metrics_z = metrics_on == "z" or not self.astra
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        if self.layer_sizes[0] != X.shape[1] or self.layer_sizes[-1] != 1:
            raise ValueError(f"layer_sizes {self.layer_sizes} do not fit X of shape {X.shape}")
        n = X.shape[0]
        self.n, self.m1 = n, int(pos.sum())
        self.m0 = n - self.m1
        if need_grad and (self.m1 == 0 or self.m0 == 0):
            raise ValueError("the training rows need at least one example of each class")
        self.need_grad = need_grad
        self.y_sorted = np.concatenate([np.ones(self.m1), np.zeros(self.m0)])
        self.Xa = np.empty((X.shape[1] + 1, n))
        self.Xa[-1] = 1.0
        self._store_rows(X, pos)
        self.offsets = layer_offsets(self.layer_sizes)
        self.size = self.offsets[-1][1] + 1
        self._allocate(n, self.layer_sizes[1:-1])

    def _store_rows(self, X, pos):
        order = np.concatenate([np.flatnonzero(pos), np.flatnonzero(~pos)])
        self.Xa[:-1] = X[order].T

    def _allocate(self, n, hidden):
        r"""Every buffer of an epoch, once."""
        self.M = [np.empty((h, n), dtype=bool) for h in hidden]
        self._M8 = [m.view(np.uint8) for m in self.M]  # the uint8 -> float64 cast is the fast one
        self.S = [np.empty((h, n)) for h in hidden]
        self.A = []
        for h in hidden:
            a = np.empty((h + 1, n))
            a[h] = 1.0
            self.A.append(a)
        # backward of layer l < L - 1 (the last hidden layer's is formed in place of its slopes)
        self.P = [np.empty((h, n)) for h in hidden[:-1]] if self.need_grad else []
        self.x = np.empty((1, n))
        for name in ("t", "q", "sig", "s", "em", "r", "K", "w"):
            setattr(self, "_" + name, np.empty(n))
        self._sparse = _SparseRows(n)
        self.g = np.empty((1, n))
        self._view_cache = [(None, None), (None, None)]
        self._w_tmp = np.empty(self.offsets[-2][2]) if hidden else None
        if hidden:  # output weights [(1 - 0.3) w | c] on the last hidden layer's scaled activations
            self._out_fold = np.full(self.offsets[-1][2], 1.0 - LEAKY_SLOPE)
            self._out_fold[0, -1] = 1.0
            self.w_out = np.empty(self.offsets[-1][2])

    def set_rows(self, X, y):
        r"""Replace the rows by others with the same numbers of positives and negatives.

        Reuses every buffer (mini-batches of a fixed composition).
        """
        X, pos = _check_xy(X, y)
        if X.shape != (self.n, self.layer_sizes[0]) or int(pos.sum()) != self.m1:
            raise ValueError(
                f"set_rows needs {self.n} rows with {self.m1} positives and {self.layer_sizes[0]} features, "
                f"got shape {X.shape} with {int(pos.sum())} positives"
            )
        self._store_rows(X, pos)

    # -- forward ------------------------------------------------------------------

    def _forward(self, theta):
        r"""Output pre-activations ``x`` of the held rows at ``theta``.

        With ``need_grad`` the slopes ``S`` of every hidden layer are kept for
        :meth:`_backward`, and those of the last hidden layer are stored divided by
        ``1 - LEAKY_SLOPE`` (values 1/(1 - 0.3) and 0.3/(1 - 0.3): one pass fewer), so that
        layer's activations are too; the factor is folded into the output weights
        ``self.w_out`` that are used instead of ``[w | c]``.
        """
        a_prev = self.Xa
        views = self._views(theta)
        last = len(views) - 2
        for l, W in enumerate(views[:-1]):
            S, A = self.S[l], self.A[l]
            Z = A[:-1]  # pre-activations, turned into activations in place
            np.matmul(W, a_prev, out=Z)
            if self.need_grad:  # keep the slopes S for the backward pass: A = Z S
                np.greater(Z, 0.0, out=self.M[l])
                np.copyto(S, self._M8[l])
                if l == last:
                    S += LEAKY_SLOPE / (1.0 - LEAKY_SLOPE)
                else:
                    S *= 1.0 - LEAKY_SLOPE
                    S += LEAKY_SLOPE
                Z *= S
            else:  # forward only: A = max(Z, 0.3 Z)
                np.multiply(Z, LEAKY_SLOPE, out=S)
                np.maximum(Z, S, out=Z)
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

    def _head_setup(self, x, beta, light=False):
        r"""Head constants and the bulk passes over every row (:meth:`_head_rows`).

        Finds the saturated rows, :math:`s > S_{MAX} + \min(0, \log c_0)` (only when
        :math:`\max t + \log 2 > b\,s_{cap}`, since :math:`s \le (\max(t, 0) + \log 2)/b`),
        and whether the positives need the core functions.
        """
        b, log_b, c0, dl0, db, log_c0 = _head_constants_and_log_c0(beta)
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
        rows = self._sparse.select(t, t_min, t_max, _LOG_TINY + min(0.0, log_c0))
        if rows is None:
            sat = self._head_rows(b, c0, t_max > T_CLIP, s_cap if capped else None, light, tiny)
        else:
            sat = self._head_rows_sparse(b, c0, t_max > T_CLIP, s_cap if capped else None, light, rows)
        m1 = self.m1
        robust = m1 > 0 and (float(_min(t[:m1])) - log_b < -T_POS or bool(sat.size and sat[0] < m1))
        return _Head(b, log_b, c0, log_c0, dl0, db, robust, sat[sat >= m1] - m1 if sat.size else sat, clamped, tiny,
                     rows)

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
        t, q, sig, s, em, r, K = self._t, self._q, self._sig, self._s, self._em, self._r, self._K
        if clip:
            tc = self._w
            np.minimum(t, T_CLIP, out=tc)
            np.exp(tc, out=q)
        else:
            np.exp(t, out=q)
        if not light:
            np.add(q, 1.0, out=sig)
            np.divide(q, sig, out=sig)
        _log1p_any(q, s, tiny)
        if clip:
            np.subtract(t, tc, out=tc)
            s += tc
        s *= 1.0 / b
        sat = _NO_ROWS
        v = s
        if s_cap is not None:
            v = r
            np.minimum(s, s_cap, out=v)
            sat = np.flatnonzero(s > s_cap)
        _expm1_any(v, em, tiny, K)
        np.add(em, c0, out=r)
        np.reciprocal(r, out=r)
        if sat.size:
            em[sat] = 0.0
            r[sat] = 0.0
        if not light:
            np.add(em, 1.0, out=K)
            K *= r
        return sat

    def _head_rows_sparse(self, b, c0, clip, s_cap, light, rows):
        r"""The terms of :meth:`_head_rows` with the library functions on ``rows`` alone.

        Every other row is asymptotic (:meth:`_SparseRows.select`: q, s, e and e/c0 below
        ``TINY_ARG``), where ``log1p(q) = q``, ``expm1(s) = s`` and ``1 + q = 1 + e = 1``
        in float64: :math:`\sigma = q`, :math:`s = q/b`, :math:`e = s` and :math:`K = r`,
        the bits :meth:`_head_rows` computes for them. The rows are gathered, evaluated by
        operations that give :meth:`_head_rows`'s bits (its own, but for the clip excess
        taken as ``max(t - T_CLIP, 0)`` and ``K`` as ``r (1 + e)``), and written back;
        ``q`` is formed in the buffer of :math:`\sigma`, which it equals off the rows.
        """
        t, sig, s, em, r, K, work = self._t, self._sig, self._s, self._em, self._r, self._K, self._sparse
        q = sig
        if clip:
            np.minimum(t, T_CLIP, out=q)
            np.exp(q, out=q)
        else:
            np.exp(t, out=q)
        np.multiply(q, 1.0 / b, out=s)
        np.copyto(em, s)
        q_a = work.gather(q, rows, 0)
        s_a = np.log1p(q_a, out=work.values[1][:rows.size])
        if clip:  # the softplus's excess over log1p(e^T_CLIP): t - min(t, T_CLIP)
            excess = work.gather(t, rows, 2)
            np.subtract(excess, T_CLIP, out=excess)
            np.maximum(excess, 0.0, out=excess)
            s_a += excess
        s_a *= 1.0 / b
        s[rows] = s_a
        sat = _NO_ROWS
        if s_cap is not None:
            sat_a = np.flatnonzero(s_a > s_cap)
            sat = rows[sat_a]
            np.minimum(s_a, s_cap, out=s_a)
        e_a = np.expm1(s_a, out=s_a)
        em[rows] = e_a
        np.add(em, c0, out=r)
        np.reciprocal(r, out=r)
        if sat.size:
            em[sat] = 0.0
            r[sat] = 0.0
            e_a[sat_a] = 0.0
        if not light:
            np.copyto(K, r)
            e_a += 1.0
            K_a = work.gather(r, rows, 2)
            K_a *= e_a
            K[rows] = K_a
            one_plus_q = np.add(q_a, 1.0, out=work.values[2][:rows.size])
            np.divide(q_a, one_plus_q, out=q_a)
            sig[rows] = q_a
        return sat

    def _positives(self, x, head, grad=True):
        r"""Positive rows as :class:`_Rows` (``y_out`` = ``1 - y-hat``).

        The bulk forms divide by e = expm1(s); when ``head.robust`` (some positive with
        ``b x < -T_POS``, where e could underflow, or saturated) the core functions are
        used instead. Not needed (None): ``grad=False``, everything but ``1 - z`` and
        ``1 - y-hat``; ``1 - y-hat`` unless ``metrics_on="output"``; the BCE sum for a
        count-based loss.
        """
        m1 = self.m1
        b, c0 = head.b, head.c0
        z = dldx = dldb = omy = bce = None
        if not head.robust:
            em, r = self._em[:m1], self._r[:m1]
            omz = c0 * r
            if not self.metrics_z:
                omy = 1.0 / (1.0 + em)
            if grad:
                sig, s = self._sig[:m1], self._s[:m1]
                z = em * r
                k = (1.0 + em) / em
                dldx = sig * k
                dldb = k * (sig * (x[:m1] + 1.0 / b) - s) / b
                if self.loss.fused == "cross-entropy":
                    bce = float(_sum(np.log1p(c0 / em)))
            return _Rows(z, omz, dldx, dldb, omy, bce)
        logit = astra_logit(x[:m1], b) - head.log_c0
        z, omz = expit(logit), expit(-logit)
        if not self.metrics_z:
            omy = np.exp(-self._s[:m1])
        if grad:
            dldx, dldb = astra_logit_partials(x[:m1], b)
            bce = float(softplus(-logit).sum())
        return _Rows(z, omz, dldx, dldb, omy, bce)

    def _saturated(self, x, head, grad=True):
        r"""Saturated negative rows as :class:`_Rows` (``y_out`` = ``y-hat``), or None.

        Their exact terms from the core functions: :math:`\operatorname{logit} z =
        \operatorname{logit}\hat y - \log c_0`, :math:`z = \sigma(\operatorname{logit} z)`,
        the BCE term :math:`\operatorname{softplus}(\operatorname{logit} z)`.
        """
        if not head.sat.size:
            return None
        xs = x[self.m1:][head.sat]
        logit_y = astra_logit(xs, head.b)
        logit = logit_y - head.log_c0
        dldx, dldb = astra_logit_partials(xs, head.b) if grad else (None, None)
        bce = float(softplus(logit).sum()) if grad else None
        return _Rows(expit(logit), expit(-logit), dldx, dldb, expit(logit_y), bce)

    def _astra_fn_fp(self, x, head, P, S, fp_z):
        r"""``(FN_apx, FP_apx)`` in ``metrics_on`` space; ``fp_z`` is the bulk sum of z over the
        negatives (``w`` is overwritten). A clamped FP below ``FP_EXACT_BELOW`` is summed in
        log space."""
        m1 = self.m1
        fn = self._astra_fn(P)
        if self.metrics_z:
            fp = fp_z
        else:
            em, w = self._em[m1:], self._w[m1:]
            np.add(em, 1.0, out=w)
            np.reciprocal(w, out=w)  # 1 - y-hat = 1/(1 + e)
            fp = float(np.dot(em, w))
        if S is not None:
            fp += float(_sum(S.z if self.metrics_z else S.y_out))
        if head.clamped and fp < FP_EXACT_BELOW:
            logit = astra_logit(x[m1:], head.b) - (head.log_c0 if self.metrics_z else 0.0)
            fp = _exact_sum_sigmoid(logit)
        return fn, fp

    def _astra_fn(self, P):
        r""":math:`FN_{apx}` of the positives :class:`_Rows` ``P`` in ``metrics_on`` space."""
        if not self.m1:
            return 0.0
        return float(_sum(P.omz if self.metrics_z else P.y_out))

    # -- counts (validation) ------------------------------------------------------

    def counts(self, theta):
        r"""Approximated confusion counts (Eq. 8) of the held rows, in ``metrics_on`` space."""
        x = self._forward(theta)
        m1 = self.m1
        if self.astra:
            head = self._head_setup(x, float(theta[-1]), light=True)
            if head is None:
                return self._reference_path().counts(theta)
            P = self._positives(x, head, grad=False) if m1 else None
            S = self._saturated(x, head, grad=False)
            fn, fp = self._astra_fn_fp(x, head, P, S, float(np.dot(self._em[m1:], self._r[m1:])))
        else:
            q, w = self._q, self._w
            sat, x_min, _ = _exp_and_one_minus_sigmoid(x, q, w, m1)
            fn = float(_sum(w[:m1]))
            fp = float(np.dot(q[m1:], w[m1:]))
            if sat.size:
                fp += float(sat.size - np.searchsorted(sat, m1))
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
        q, w = self._q[:m1], self._w[:m1]
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
        P, S = self._positives(x, head), self._saturated(x, head)
        fp_z = float(np.dot(self._em[m1:], self._r[m1:]))  # FP_apx: sum of z = e r over the negatives
        out = row_terms(self, x, head, P, S, fp_z)
        if out is None:
            return None
        loss, scale, beta = out
        self._backward(theta, grad, scale)
        grad[-1] = beta * head.db
        fn, fp = self._astra_fn_fp(x, head, P, S, fp_z)
        return EpochTerms(loss, _log(fn), _log(fp))

    def _astra_cross_entropy(self, x, head, P, S, fp_z):
        r"""Mean BCE on z (``derivations/kernel.md``, section 3): the row terms in ``g``;
        returns ``(loss, scale, dJ/db)``."""
        m1, n = self.m1, self.n
        b, c0, dl0 = head.b, head.c0, head.dl0
        gn, w = self.g[0][m1:], self._w[m1:]
        # negatives: g_l = z/n, z dlogit/dx = U = sigma K, z dlogit/db = (U (x + 1/b) - s K)/b
        np.multiply(self._sig[m1:], self._K[m1:], out=gn)
        # log1p(e/c0) into t (free once the head's passes are done)
        if head.rows is None:
            np.multiply(self._em[m1:], 1.0 / c0, out=w)
            _log1p_any(w, self._t[m1:], head.tiny)
        else:  # e/c0 is below TINY_ARG off the rows, where log1p is the identity
            self._sparse.log1p(self._em, self._t, head.rows, scale=1.0 / c0)
        w = self._t[m1:]
        bce_n = float(_sum(w)) if S is None else float(_sum(w)) + S.bce
        loss = (bce_n + P.bce) / n
        scale = 1.0 / n
        wsum = float(np.dot(self._s[m1:], self._K[m1:]))
        sum_gN = float(_sum(gn))
        beta = scale * (float(np.dot(gn, x[m1:])) + sum_gN / b - wsum) / b - dl0 * (fp_z * scale)
        if S is not None:
            beta += self._saturated_grad(head.sat, S, S.z * scale, scale, dl0)
        gl_P = -P.omz * scale
        self.g[0][:m1] = gl_P * P.dldx / scale
        beta += float(np.dot(gl_P, P.dldb)) - dl0 * float(_sum(gl_P))
        return loss, scale, beta

    def _astra_counts(self, x, head, P, S, fp_z):
        r"""A loss of the approximated counts on z (``derivations/kernel.md``, section 4): the
        row terms in ``g``; returns ``(loss, scale, dJ/db)`` or None (the corner)."""
        m1, m0 = self.m1, self.m0
        b, c0, dl0 = head.b, head.c0, head.dl0
        r, w, gn = self._r[m1:], self._w[m1:], self.g[0][m1:]
        tn, fp, tp = c0 * float(_sum(r)), fp_z, float(_sum(P.z))
        if S is not None:
            tn, fp = tn + float(_sum(S.omz)), fp + float(_sum(S.z))
        terms = _count_terms(self.loss, tn, fp, float(_sum(P.omz)), tp, m0, m1, head.clamped)
        if terms is None:
            return None
        loss, kn, kp = terms
        # negatives: g_l = kn z (1 - z) = kn c0 e r^2; g_x = kn c0 r U = kn c0 sigma K r
        scale_n = kn * c0
        np.multiply(self._K[m1:], r, out=w)
        np.multiply(self._sig[m1:], w, out=gn)
        wsum = float(np.dot(self._s[m1:], w))
        np.multiply(self._em[m1:], r, out=w)
        sum_gl_N = scale_n * float(np.dot(w, r))
        sum_gN = float(_sum(gn))
        beta = scale_n * (float(np.dot(gn, x[m1:])) + sum_gN / b - wsum) / b - dl0 * sum_gl_N
        scale, _ = _factor(gn, scale_n, kp)
        if S is not None:
            beta += self._saturated_grad(head.sat, S, kn * S.z * S.omz, scale, dl0)
        gl_P = kp * P.z * P.omz
        self.g[0][:m1] = gl_P * P.dldx / scale
        beta += float(np.dot(gl_P, P.dldb)) - dl0 * float(_sum(gl_P))
        return loss, scale, beta

    def _saturated_grad(self, sat, S, gl, scale, dl0):
        r"""Saturated negatives ``sat``: row terms ``gl dlogit/dx / scale`` into ``g``; return their dJ/db."""
        self.g[0][self.m1:][sat] = gl * S.dldx / scale
        return float(np.dot(gl, S.dldb)) - dl0 * float(_sum(gl))

    def _sigmoid(self, theta, grad, x, row_terms):
        r"""Plain sigmoid: ``q = e^x``, ``w = 1 - sigma``, the family's row terms, backward.

        Saturated rows (``x > T_CLIP``, :func:`_exp_and_one_minus_sigmoid`) have
        ``sigma = 1``, ``1 - sigma = e^{-x}`` and softplus ``x``, patched row by row.
        """
        sat, x_min, rows = _exp_and_one_minus_sigmoid(x, self._q, self._w, self.m1, self._sparse)
        out = row_terms(self, x, sat, x_min < _LOG_SLOW + 1.0, rows)
        if out is None:
            return None
        loss, scale, fn, fp = out
        if x_min < -T_LOW and fp < FP_EXACT_BELOW:
            fp = _exact_sum_sigmoid(x[self.m1:])
        self._backward(theta, grad, scale)
        grad[-1] = 0.0
        return EpochTerms(loss, _log(fn), _log(fp))

    def _sigmoid_cross_entropy(self, x, sat, tiny, rows):
        r"""Mean BCE on sigma(x): row terms in ``g``; ``(loss, scale, FN, FP)``."""
        m1, n = self.m1, self.n
        g, q, w, sp = self.g[0], self._q, self._w, self._s
        np.multiply(q, w, out=g)  # sigma: the gradient of the negatives
        fn = float(_sum(w[:m1]))
        fp = float(np.dot(q[m1:], w[m1:]))
        if rows is None:  # softplus(x)
            _log1p_any(q, sp, tiny)
        else:
            self._sparse.log1p(q, sp, rows)
        if sat.size:
            g[sat] = 1.0
            sp[sat] = x[sat]
            fp += float(sat.size - np.searchsorted(sat, m1))
        loss = (float(_sum(sp)) - float(_sum(x[:m1]))) / n
        np.negative(w[:m1], out=g[:m1])
        return loss, 1.0 / n, fn, fp

    def _sigmoid_counts(self, x, sat, tiny, rows):
        r"""A loss of the approximated counts on sigma(x): row terms ``sigma (1 - sigma)``
        in ``g``; ``(loss, scale, FN, FP)`` or None (the corner)."""
        m1, m0 = self.m1, self.m0
        g, q, w = self.g[0], self._q, self._w
        # FP = sum of sigma = q (1 - sigma) over the negatives, TN = m0 - FP (exact to
        # 2 ulp of TN while FP <= m0/2; summed directly otherwise)
        fp = float(np.dot(q[m1:], w[m1:]))
        tn = m0 - fp if fp <= 0.5 * m0 else float(_sum(w[m1:]))
        tp = float(np.dot(q[:m1], w[:m1]))
        if sat.size:  # sigma = 1 on the saturated rows
            n_pos = int(np.searchsorted(sat, m1))
            fp, tp = fp + float(sat.size - n_pos), tp + float(n_pos)
            tn = m0 - fp if fp <= 0.5 * m0 else float(_sum(w[m1:]))
        fn = float(_sum(w[:m1]))
        clamped = fp < FP_EXACT_BELOW and float(_min(x[m1:])) < -T_LOW
        terms = _count_terms(self.loss, tn, fp, fn, tp, m0, m1, clamped)
        if terms is None:
            return None
        loss, kn, kp = terms
        np.multiply(q, w, out=g)
        g *= w  # sigma (1 - sigma)
        if sat.size:
            g[sat] = w[sat]
        scale, pos = _factor(g[m1:], kn, kp)
        if pos != 1.0:
            g[:m1] *= pos
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
            # output layer folded: dz_L = S_L * (w g) = w * (S_L g); P_L = S_L g, formed in
            # place of S_L (the slopes are not needed again before the next forward pass).
            # S_L and the weights w are stored scaled by 1/(1 - 0.3) and (1 - 0.3): see _forward
            h = shape[1] - 1
            P = self.S[-1]
            P *= g
            carry = self.w_out[0, :h, None]  # row scaling of P that gives dz
            for l in range(L - 1, -1, -1):
                a_prev = self.A[l - 1] if l else self.Xa
                gW, Wl = g_views[l], W_views[l]
                np.matmul(P, a_prev.T, out=gW)
                if l == L - 1:
                    # the output weights from the same product, without another pass over
                    # the rows: sum_n g a_jn = sum_n g S_jn (W_j a_prev)_n = W_j . (P_j a_prev^T)
                    w_tmp = self._w_tmp
                    np.multiply(Wl, gW, out=w_tmp)
                    _sum(w_tmp, axis=1, out=g_out[0, :h])
                    g_out[0, :h] *= 1.0 - LEAKY_SLOPE  # S_L was stored scaled
                    g_out[0, h] = _sum(g[0])
                gW *= carry
                if l:
                    Pn = self.P[l - 1]
                    np.matmul((Wl[:, :-1] * carry).T, P, out=Pn)
                    Pn *= self.S[l - 1]
                    P = Pn
                    carry = 1.0
        grad[:-1] *= scale

    def _reference(self, theta, grad):
        r"""The corner: the reference path on the same rows, flagged ``fallback=True``."""
        return self._reference_path().loss_and_grad(theta, grad)._replace(fallback=True)

    def _reference_path(self):
        return ReferencePath(self.Xa[:-1].T, self.y_sorted, self.layer_sizes, self.method,
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

r"""A fused, allocation-free training epoch: the same loss and gradients as
:func:`astra_np.learn.nn.loss_and_grad`, computed faster.

The reference path (:mod:`astra_np.learn.nn` + :func:`astra_np.core.losses.head_loss`) is the
readable truth; :class:`EpochKernel` is an optimisation of it, tested against it
(``tests/test_fast.py``: loss and every gradient to ``1e-12`` relative, all four
methods, one and two hidden layers). What makes it fast:

* **Features-by-rows layout with folded biases.** The training rows are stored once
  as the columns of ``Xa = [X^T; 1]`` (shape ``(n_x + 1, n)``), every hidden layer's
  output as ``[a_l^T; 1]``, and each layer's parameters as the augmented matrix
  ``[W | c]``: a layer is one matrix product, its weight-and-bias gradient another.
* **Preallocated buffers and ``out=``.** Every array of the epoch is allocated once in
  the constructor; an epoch allocates nothing sizeable (no page faults).
* **Few passes over the rows in the hidden layers.** Pre-activations are written into
  the activation buffer and scaled there by the slopes ``S`` (built from the sign mask
  through a ``uint8`` view, the fast cast); the backward product ``S g`` is formed in
  place of the last layer's slopes. Those slopes are stored divided by
  :math:`1 - 0.3` (one pass fewer), a factor folded into the output weights. The
  output weights' gradient needs no pass of its own:
  :math:`\sum_n g_n a_{jn} = W_j \cdot \sum_n S_{jn} g_n [a_{prev}; 1]_n`, the
  hidden layer's weight gradient before its scaling by :math:`w_j`. With a few units
  and many rows (``ROWWISE_MAX_UNITS``, ``ROWWISE_MIN_ROWS``) that gradient is one
  matrix-vector product per unit, faster than one general product of such a shape.
* **Algebra of the head.** With :math:`t = bx + \log b`, :math:`q = e^t`,
  :math:`s = \log(1+q)/b`, :math:`e = \operatorname{expm1}(s)` and
  :math:`c_0 = \tau/(1-\tau) = \operatorname{expm1}(\log(1+b)/b)`, the z-transformed
  output of Eq. 4-6 is :math:`z = e/(c_0 + e)`, :math:`1 - z = c_0/(c_0 + e)`, and

  .. math::

      z\,\frac{\partial\,\mathrm{logit}\,\hat y}{\partial x} = \sigma(t)\,\frac{1+e}{c_0+e},
      \qquad
      \frac{\partial\,\mathrm{logit}\,\hat y}{\partial b} =
      \frac{1+e}{e}\;\frac{\sigma(t)(x + 1/b) - s}{b},

  so three transcendental passes (``exp``, ``log1p``, ``expm1``) serve every row,
  and the per-row loss needs one more (``log1p``; BCE only). The terms that divide by
  :math:`e` (the positive, minority rows of BCE) are evaluated on those rows alone:
  the rows are stored positives first, so they are the contiguous slice ``[:m1]``.
  The beta gradient is reduced with dot products instead of per-row arrays.
* **Plain sigmoid.** One ``exp``, then :math:`1 - \sigma = 1/(1 + q)`;
  :math:`FP_{apx} = q \cdot (1 - \sigma)` over the negatives is a dot product, and
  :math:`TN_{apx} = m_0 - FP_{apx}` while :math:`FP_{apx} \le m_0/2` (exact to 2 ulp
  of :math:`TN_{apx}`; summed directly otherwise).
* **Validation for the price of its positives.** The paper's monitor,
  :math:`FNR_{apx}` (Section 4.3), depends on the positive validation rows only, so
  :class:`EpochKernel` built on those rows alone evaluates it for almost nothing
  (:meth:`EpochKernel.fnr`).

Ranges, all handled without leaving the fused path unless stated:

* negative rows may have any :math:`t \to -\infty`: ``q``, ``s`` and ``e`` underflow to
  0 harmlessly (their terms vanish; nothing divides by them);
* rows with :math:`t > 700` (``T_CLIP``) take ``q`` from ``min(t, 700)`` and correct the
  softplus by the excess, exact to :math:`e^{-700}`;
* positive rows with :math:`t < -600` (``T_POS``), where ``e`` could underflow, are
  evaluated with the core's stable functions
  (:func:`~astra_np.core.activation.astra_logit`, :func:`~astra_np.core.activation.astra_logit_partials`);
* only when :math:`s > 650` (``expm1`` would overflow; pre-activations in the hundreds,
  a diverging network), :math:`b > 10^{20}`, or GMN with an empty
  :math:`TP_{apx}`/:math:`TN_{apx}` or with :math:`TN_{apx}/TP_{apx}` beyond
  ``GMN_RATIO_MAX`` (``1e100``; the fused backward scales rows by that ratio) does the
  epoch fall back to the reference path, which is finite for every finite input.

Results never depend on the path beyond rounding. The beta gradient, reduced with dot
products, loses about :math:`\log_{10}(b \max|x|)` digits to cancellation for rows with
large positive pre-activations (``1e-13`` relative at ``|x| ~ 100``).
"""
import math

import numpy as np

from ..core import registry
from ..core._stable import expit, log_expit, logsumexp, softplus
from ..core.activation import astra_logit, astra_logit_partials
from ..core.losses import head_logits, head_loss
from ..core.metrics import log_approx_confusion
from .nn import LEAKY_SLOPE, MLPParams, backward, forward

_sum = np.add.reduce  # ndarray.sum without its Python wrapper (same reduction, same bits)
_max = np.maximum.reduce

__all__ = ["EpochKernel", "ApproxCounts", "layer_offsets", "head_constants", "fast_loss_and_grad"]

#: t above which q = e^t is formed from min(t, T_CLIP) (e^t would overflow past ~709).
T_CLIP = 700.0
#: Positive rows with t below -T_POS take the core's stable functions (e = expm1(s) could underflow).
T_POS = 600.0
#: Largest s = softplus(t)/b of the fused path (expm1(s)/c0 must stay finite).
S_MAX = 650.0
#: Largest slope handled by the fused path.
B_MAX = 1e20
#: Weight gradients of hidden layers with at most this many units, on at least
#: ``ROWWISE_MIN_ROWS`` rows, are formed one unit at a time (matrix-vector products):
#: a general matrix product with so few rows and columns is slower.
ROWWISE_MAX_UNITS = 8
ROWWISE_MIN_ROWS = 1024


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
    i.e. :func:`astra_np.core.activation.threshold_logit_grad`.
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
    dl0 = -g0 * (1.0 + c0) / (c0 * b * b)
    return b, log_b, c0, dl0, db


class ApproxCounts(tuple):
    r"""``(TN, FP, FN, TP, m0, m1)`` of the approximated confusion matrix (Eq. 8)."""

    __slots__ = ()

    def __new__(cls, tn, fp, fn, tp, m0, m1):
        return tuple.__new__(cls, (tn, fp, fn, tp, m0, m1))

    def fnr(self):
        r""":math:`FNR_{apx} = FN_{apx}/m_1`."""
        return self[2] / self[5]

    def mcc(self):
        r"""Approximated MCC (Eq. 2 on Eq. 8); 0 when a marginal is empty."""
        tn, fp, fn, tp = self[:4]
        den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
        if not den > 0:
            return 0.0
        return (tp * tn - fp * fn) / math.sqrt(den)

    def g_mean(self):
        r"""Approximated G-Mean (Eq. 3 on Eq. 8)."""
        tn, fp, fn, tp, m0, m1 = self
        return math.sqrt(max(tn, 0.0) / m0) * math.sqrt(max(tp, 0.0) / m1)


def _check_xy(X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite (no NaN or inf)")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"y must hold binary labels 0/1, got {np.unique(y)[:6]}")
    return X, y.astype(bool)



def _exp_and_one_minus_sigmoid(x, q, w):
    r"""In place: ``q = e^{min(x, T_CLIP)}`` and ``w = 1/(1 + q)`` (``= 1 - sigma(x)``).

    Rows beyond ``T_CLIP`` (where ``e^x`` would overflow) get ``w = 1/(1 + e^700)``,
    within ``e^-700`` of the exact ``1 - sigma(x)``; ``q w`` is still ``sigma(x)`` to
    rounding.
    """
    if float(_max(x)) > T_CLIP:
        np.minimum(x, T_CLIP, out=q)
        np.exp(q, out=q)
    else:
        np.exp(x, out=q)
    np.add(q, 1.0, out=w)
    np.reciprocal(w, out=w)


#: Largest |k_pos/k_neg| the fused backward of a count-based loss accepts (for GMN,
#: TN_apx/TP_apx): it factors the gradient as k_neg times per-row terms scaled by
#: k_pos/k_neg, which must stay far from overflow through the backward products; beyond
#: it the reference path is used.
GMN_RATIO_MAX = 1e100


def _count_scalars(loss, tn, fp, fn, tp, m0, m1):
    r"""``(J, k_neg, k_pos)`` of a count-based loss (:mod:`astra_np.core.registry`), or ``None``.

    ``None`` (use the reference path) when the loss's counts function has no finite
    value there, or when ``|k_pos/k_neg|`` lies outside ``[1/GMN_RATIO_MAX, GMN_RATIO_MAX]``.
    """
    out = loss.function("counts")(tn, fp, fn, tp, m0, m1)
    if out is None:
        return None
    _, k_neg, k_pos = out
    if not (k_neg != 0 and 1.0 / GMN_RATIO_MAX <= abs(k_pos / k_neg) <= GMN_RATIO_MAX):
        return None
    return out

class EpochKernel:
    r"""Loss, gradient and approximated confusion counts of one network on fixed rows.

    Parameters
    ----------
    X : ndarray, shape (n, n_x)
    y : ndarray, shape (n,)
        Binary labels. The loss needs both classes (``need_grad=True``); a kernel used
        only for :meth:`counts` may hold one class (the positives of a validation set).
    layer_sizes : tuple of int
        ``(n_x, n_h1, ..., 1)``.
    method : str
        One of :data:`astra_np.core.losses.METHODS`.
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
        self.method = method
        self.loss = entry.loss
        if self.loss.fused not in registry.FUSED_TERMS:
            raise ValueError(f"no fused terms for loss {self.loss.name!r} (fused={self.loss.fused!r})")
        self.astra = entry.astra
        self.use_z = entry.z
        self.metrics_z = metrics_on == "z" or not self.astra
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        if self.layer_sizes[0] != X.shape[1] or self.layer_sizes[-1] != 1:
            raise ValueError(f"layer_sizes {self.layer_sizes} do not fit X of shape {X.shape}")
        order = np.concatenate([np.flatnonzero(pos), np.flatnonzero(~pos)])
        n, d = X.shape
        self.n, self.m1 = n, int(pos.sum())
        self.m0 = n - self.m1
        if need_grad and (self.m1 == 0 or self.m0 == 0):
            raise ValueError("the training rows need at least one example of each class")
        self.y_sorted = np.concatenate([np.ones(self.m1), np.zeros(self.m0)])
        self.Xa = np.empty((d + 1, n))
        self.Xa[:d] = X[order].T
        self.Xa[d] = 1.0
        self.offsets = layer_offsets(self.layer_sizes)
        hidden = self.layer_sizes[1:-1]
        self.M = [np.empty((h, n), dtype=bool) for h in hidden]
        self._M8 = [m.view(np.uint8) for m in self.M]  # the uint8 -> float64 cast is the fast one
        self.S = [np.empty((h, n)) for h in hidden]
        self.A = []
        for h in hidden:
            a = np.empty((h + 1, n))
            a[h] = 1.0
            self.A.append(a)
        self.need_grad = need_grad
        # backward of layer l < L - 1 (the last hidden layer's is formed in place of its slopes)
        self.P = [np.empty((h, n)) for h in hidden[:-1]] if need_grad else []
        # weight gradients as one matrix-vector product per unit (a few units, many rows)
        self.rowwise = n >= ROWWISE_MIN_ROWS and max(hidden, default=0) <= ROWWISE_MAX_UNITS
        self.x = np.empty((1, n))
        names = ("t", "q", "sig", "s", "em", "r", "K", "w")
        for name in names:
            setattr(self, "_" + name, np.empty(n))
        self.g = np.empty((1, n))
        self._U = self.g[0]  # U = sigma K is the BCE gradient of the negatives: built in place
        self.size = self.offsets[-1][1] + 1
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
        order = np.concatenate([np.flatnonzero(pos), np.flatnonzero(~pos)])
        self.Xa[:-1] = X[order].T

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

    def _head_common(self, x, b, log_b, c0, clip, light=False):
        r"""t, q = e^t, sigma(t), s, e = expm1(s), r = 1/(c0 + e), K = (1 + e) r, U = sigma K.

        ``light``: only q, s, e and r (what the approximated counts need).

        ``clip``: some t exceeds ``T_CLIP``; q is formed from ``min(t, T_CLIP)`` and the
        softplus corrected by ``t - min(t, T_CLIP)`` (exact to ``e^-T_CLIP``).
        """
        t, q, sig, s, em, r, K, U = self._t, self._q, self._sig, self._s, self._em, self._r, self._K, self._U
        if clip:
            tc = self._w
            np.minimum(t, T_CLIP, out=tc)
            np.exp(tc, out=q)
        else:
            np.exp(t, out=q)
        if not light:
            np.add(q, 1.0, out=sig)
            np.divide(q, sig, out=sig)
        np.log1p(q, out=s)
        if clip:
            np.subtract(t, tc, out=tc)
            s += tc
        s *= 1.0 / b
        np.expm1(s, out=em)
        np.add(em, c0, out=r)
        np.reciprocal(r, out=r)
        if not light:
            np.add(em, 1.0, out=K)
            K *= r
            np.multiply(sig, K, out=U)

    def _astra_setup(self, x, beta, light=False):
        r"""Head constants and the t pass; None when the fused path cannot be used."""
        b, log_b, c0, dl0, db = head_constants(beta)
        if not b <= B_MAX:
            return None
        t = self._t
        np.multiply(x, b, out=t)
        t += log_b
        t_max = float(t.max())
        if t_max > b * S_MAX:  # expm1(s) could overflow
            return None
        self._head_common(x, b, log_b, c0, clip=t_max > T_CLIP, light=light)
        m1 = self.m1
        robust = m1 > 0 and float(t[:m1].min()) < -T_POS
        return b, log_b, c0, dl0, db, robust

    def _positives(self, x, b, c0, robust, grad=True):
        r"""Positive rows: ``(z, 1 - z, dlogit/dx, dlogit/db, 1 - y-hat, sum softplus(-logit z))``.

        The cheap forms divide by e = expm1(s); when some positive has
        ``t < -T_POS`` (e could underflow) the core functions are used instead.
        Quantities not needed (``grad=False``: the counts only; ``1 - y-hat`` unless
        ``metrics_on="output"``; the BCE sum for GMN) are returned as None.
        """
        m1 = self.m1
        xp = x[:m1]
        z = dldx = dldb = omy = bce = None
        if not robust:
            em, r = self._em[:m1], self._r[:m1]
            omz = c0 * r
            if not self.metrics_z:
                omy = 1.0 / (1.0 + em)
            if grad:
                sig, s = self._sig[:m1], self._s[:m1]
                z = em * r
                k = (1.0 + em) / em
                dldx = sig * k
                dldb = k * (sig * (xp + 1.0 / b) - s) / b
                if self.loss.fused == "cross-entropy":
                    bce = float(np.log1p(c0 / em).sum())
        else:
            logit = astra_logit(xp, b) - math.log(c0)
            z, omz = expit(logit), expit(-logit)
            if not self.metrics_z:
                omy = np.exp(-self._s[:m1])
            if grad:
                dldx, dldb = astra_logit_partials(xp, b)
                bce = float(softplus(-logit).sum())
        return z, omz, dldx, dldb, omy, bce

    # -- counts (validation) ------------------------------------------------------

    def counts(self, theta):
        r"""Approximated confusion counts (Eq. 8) of the held rows, in ``metrics_on`` space."""
        x = self._forward(theta)
        m1 = self.m1
        beta = float(theta[-1])
        if self.astra:
            setup = self._astra_setup(x, beta, light=True)
            if setup is None:
                return self._counts_reference(x, beta)
            b, _, c0, _, _, robust = setup
            em = self._em[m1:]
            if m1:
                z, omz, _, _, omy, _ = self._positives(x, b, c0, robust, grad=False)
                fn = float(omz.sum()) if self.metrics_z else float(omy.sum())
            else:
                fn = 0.0
            if self.metrics_z:
                fp = float(np.dot(em, self._r[m1:]))
            else:
                w = self._w[m1:]
                np.add(em, 1.0, out=w)
                np.reciprocal(w, out=w)  # 1 - y-hat = 1/(1 + e)
                fp = float(np.dot(em, w))
        else:
            q, w = self._q, self._w
            _exp_and_one_minus_sigmoid(x, q, w)
            fn = float(w[:m1].sum())
            fp = float(np.dot(q[m1:], w[m1:]))
        return ApproxCounts(self.m0 - fp, fp, fn, m1 - fn, self.m0, m1)

    def fnr(self, theta):
        r""":math:`FNR_{apx}` of the held rows: ``counts(theta).fnr()``, same bits.

        Only the positive rows are evaluated (the validation monitor of Section 4.3).
        """
        if self.astra or not self.m1:
            return self.counts(theta).fnr()
        m1 = self.m1
        x = self._forward(theta)[:m1]
        q, w = self._q[:m1], self._w[:m1]
        _exp_and_one_minus_sigmoid(x, q, w)
        return float(_sum(w)) / m1

    def _counts_reference(self, x, beta):
        m1 = self.m1
        logit = head_logits(x, beta, astra=self.astra, z=self.metrics_z and self.use_z)
        fn = float(np.exp(logsumexp(log_expit(-logit[:m1])))) if m1 else 0.0
        fp = float(np.exp(logsumexp(log_expit(logit[m1:])))) if self.m0 else 0.0
        return ApproxCounts(self.m0 - fp, fp, fn, m1 - fn, self.m0, m1)

    # -- loss and gradient --------------------------------------------------------

    def loss_and_grad(self, theta, grad):
        r"""Loss of the method at ``theta`` (flat vector); writes the gradient into ``grad``.

        Returns ``(loss, log_e_ratio)`` with the train-set
        :math:`\log(FNR_{apx}/FPR_{apx})` (Eq. 11) of this forward pass; the logs of
        :math:`FN_{apx}` and :math:`FP_{apx}` are left in ``log_fn`` and ``log_fp``.
        """
        x = self._forward(theta)
        out = self._astra(theta, grad, x) if self.astra else self._sigmoid(theta, grad, x)
        if out is None:
            return self._reference(theta, grad)
        return out

    def _astra(self, theta, grad, x):
        setup = self._astra_setup(x, float(theta[-1]))
        if setup is None:
            return None
        b, log_b, c0, dl0, db, robust = setup
        m1, m0, n = self.m1, self.m0, self.n
        g = self.g[0]
        em, r, K, U, s, w = self._em[m1:], self._r[m1:], self._K[m1:], self._U[m1:], self._s[m1:], self._w[m1:]
        xn, gn = x[m1:], g[m1:]
        zP, omzP, dldxP, dldbP, omyP, bceP = self._positives(x, b, c0, robust)
        fp = float(np.dot(em, r))  # FP_apx: sum of z = e r over the negatives
        fn = float(omzP.sum())
        if self.loss.fused == "cross-entropy":
            # negatives: g_l = z/n, z dlogit/dx = U, z dlogit/db = (U (x + 1/b) - s K)/b
            np.multiply(em, 1.0 / c0, out=w)
            np.log1p(w, out=w)
            loss = (float(w.sum()) + bceP) / n
            scale = 1.0 / n  # gn is U already (same buffer)
            wsum = float(np.dot(s, K))
            gl_P = -omzP * scale
            sum_gl_N = fp * scale
        elif self.loss.fused == "counts":
            tn = c0 * float(r.sum())
            tp = float(zP.sum())
            scalars = _count_scalars(self.loss, tn, fp, fn, tp, m0, m1)
            if scalars is None:
                return None
            loss, kn, kp = scalars
            # negatives: g_l = kn z (1 - z) = kn c0 e r^2; g_x = kn c0 r U
            scale = kn * c0
            np.multiply(U, r, out=gn)
            np.multiply(K, r, out=w)
            wsum = float(np.dot(s, w))
            np.multiply(em, r, out=w)
            sum_gl_N = scale * float(np.dot(w, r))
            gl_P = kp * zP * omzP
        sum_gN = float(gn.sum())
        beta_N = scale * (float(np.dot(gn, xn)) + sum_gN / b - wsum) / b - dl0 * sum_gl_N
        g[:m1] = gl_P * dldxP / scale
        beta_P = float(np.dot(gl_P, dldbP)) - dl0 * float(gl_P.sum())
        self._backward(theta, grad, scale)
        grad[-1] = (beta_N + beta_P) * db
        if not self.metrics_z:
            np.add(em, 1.0, out=w)
            np.reciprocal(w, out=w)
            fn = float(omyP.sum())
            fp = float(np.dot(em, w))
        return loss, self._set_log_counts(math.log(fn) if fn > 0 else -math.inf,
                                          math.log(fp) if fp > 0 else -math.inf)

    def _sigmoid(self, theta, grad, x):
        m1, m0, n = self.m1, self.m0, self.n
        g = self.g[0]
        q, w, sp = self._q, self._w, self._s
        clip = float(_max(x)) > T_CLIP
        if clip:
            np.minimum(x, T_CLIP, out=sp)
            np.exp(sp, out=q)
        else:
            np.exp(x, out=q)
        np.add(q, 1.0, out=w)
        np.reciprocal(w, out=w)  # 1 - sigma
        if self.loss.fused == "cross-entropy":
            np.multiply(q, w, out=g)  # sigma: the gradient of the negatives
            fn = float(_sum(w[:m1]))
            fp = float(np.dot(q[m1:], w[m1:]))
            if clip:
                np.subtract(x, sp, out=sp)  # max(x - T_CLIP, 0)
                t = self._t
                np.log1p(q, out=t)
                sp += t
            else:
                np.log1p(q, out=sp)
            loss = (float(_sum(sp)) - float(_sum(x[:m1]))) / n
            np.negative(w[:m1], out=g[:m1])
            scale = 1.0 / n
        elif self.loss.fused == "counts":
            # FP = sum of sigma = q (1 - sigma) over the negatives, TN = m0 - FP (exact to
            # 2 ulp of TN while FP <= m0/2; summed directly otherwise)
            fp = float(np.dot(q[m1:], w[m1:]))
            tn = m0 - fp if fp <= 0.5 * m0 else float(_sum(w[m1:]))
            tp = float(np.dot(q[:m1], w[:m1]))
            fn = float(_sum(w[:m1]))
            scalars = _count_scalars(self.loss, tn, fp, fn, tp, m0, m1)
            if scalars is None:
                return None
            loss, kn, kp = scalars
            np.multiply(q, w, out=g)
            g *= w  # sigma (1 - sigma)
            g[:m1] *= kp / kn
            scale = kn
        self._backward(theta, grad, scale)
        grad[-1] = 0.0
        return loss, self._set_log_counts(math.log(fn) if fn > 0 else -math.inf,
                                          math.log(fp) if fp > 0 else -math.inf)

    def _set_log_counts(self, log_fn, log_fp):
        r"""Store log FN_apx and log FP_apx of the last pass; return the log e-ratio (Eq. 11)."""
        self.log_fn, self.log_fp = log_fn, log_fp
        if math.isinf(log_fn) and math.isinf(log_fp):
            return math.nan
        return (log_fn - math.log(self.m1)) - (log_fp - math.log(self.m0))

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
                if self.rowwise:
                    for j in range(gW.shape[0]):
                        np.dot(a_prev, P[j], out=gW[j])
                else:
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
        params = MLPParams.from_vector(theta, self.layer_sizes)
        X = self.Xa[:-1].T
        x, cache = forward(params, X)
        loss, gx, gbeta = head_loss(x, params.beta, self.y_sorted, **registry.get_method(self.method).head_kwargs())
        grad[:] = backward(params, cache, gx, gbeta).to_vector()
        logit = head_logits(x, params.beta, astra=self.astra, z=self.metrics_z and self.use_z)
        _, log_fp, log_fn, _ = log_approx_confusion(logit, self.y_sorted)
        return loss, self._set_log_counts(log_fn, log_fp)


def fast_loss_and_grad(params, X, y, method=registry.DEFAULT_METHOD):
    r"""Convenience wrapper: :class:`EpochKernel` on ``(X, y)`` at ``params``.

    Returns ``(loss, grads)`` like :func:`astra_np.learn.nn.loss_and_grad`.
    """
    kernel = EpochKernel(X, y, params.layer_sizes, method=method)
    theta = params.to_vector()
    grad = np.empty_like(theta)
    loss, _ = kernel.loss_and_grad(theta, grad)
    if not kernel.astra:
        grad[-1] = 0.0
    return loss, MLPParams.from_vector(grad, params.layer_sizes)

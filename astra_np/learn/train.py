r"""The training procedure of Section 4.2: Adam, adaptive eta_b, best-on-validation.

:func:`train` runs a fixed number of epochs (default 10,000; no early stopping) of
full-batch gradient descent (mini-batches optional) with Adam on the weights
(:math:`\eta = 0.001`) and on beta (:math:`\eta_b`, Eq. 10), and keeps the
parameters (weights and beta) of the epoch with the best validation monitor
(:math:`FNR_{apx}` by default, Section 4.3).

One epoch, in order:

1. forward pass on the training rows, loss of the method and its gradient in every
   parameter (:mod:`astra_np.learn.kernel`, or the reference :func:`astra_np.learn.nn.loss_and_grad`
   with ``fast=False``); the train-set e-ratio (Eq. 11) of the same forward pass;
2. one Adam step for the weights with :math:`\eta`; one step for beta with the
   current :math:`\eta_b` (``beta_update``);
3. the validation monitor at the updated parameters; if it improves strictly on every
   earlier epoch, the parameters are kept as the best;
4. :math:`\eta_b` for the next epoch from this epoch's e-ratio (Eq. 10).

Choices the paper leaves open (documented here, each a parameter):

* ``beta_update="adam"`` (default): beta is one more entry of the Adam update, with
  its own learning rate :math:`\eta_b` (a parameter group, as in PyTorch). The paper
  says all models were trained with Adam and calls :math:`\eta_b` "the training rate
  associated with the slope parameter b", and its range :math:`[0.01, 0.5]` is a
  sensible step size in units of beta only for a scale-free (Adam) step: a plain
  gradient step :math:`\eta_b\,\partial J/\partial\beta` would barely move beta,
  since :math:`\partial J/\partial\beta` of a mean loss is typically ``1e-3`` or
  smaller. ``beta_update="sgd"`` gives the plain step.
* ``metrics_on="z"`` (default): the e-ratio and the approximated validation metrics
  are computed on the z-transformed output (Eq. 6), the quantity the loss sees and
  whose crossing point is the decision threshold; ``"output"`` uses the ASTra output
  :math:`\hat y` itself. The two coincide for the plain-sigmoid methods.
* Full batch by default (``batch_size=None``): 10,000 epochs on ~12,000 rows is the
  paper's budget. Mini-batches are stratified (every batch gets its share of the
  positives), so that GMN, which needs both classes, is defined on each batch.
* A non-finite loss or gradient (or a floating-point overflow) stops training; the
  result keeps the best parameters so far, with ``stopped=True`` and a message.
"""
import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from .kernel import ApproxCounts, EpochKernel
from ..core.registry import DEFAULT_METHOD
from ..core._stable import log_expit, logsumexp
from ..core.activation import slope_from_beta, threshold
from ..core.losses import head_logits
from ..core.metrics import log_approx_confusion
from ..core.metrics import log_e_ratio as _log_e_ratio
from .nn import MLPParams, forward, init_params, loss_and_grad, method_flags
from .optim import Adam, EtaBRule

__all__ = ["MONITORS", "HISTORY_KEYS", "TrainResult", "train", "approx_counts"]

#: Validation monitors: name -> (direction, description). ``-1``: lower is better.
MONITORS = {
    "fnr_apx": (-1, "approximated false negative rate FN_apx / m1 (Section 4.3)"),
    "mcc_apx": (+1, "MCC (Eq. 2) of the approximated confusion matrix (Eq. 8)"),
    "gmean_apx": (+1, "G-Mean (Eq. 3) of the approximated confusion matrix (Eq. 8)"),
}

#: Keys of :attr:`TrainResult.history` (one entry per completed epoch).
HISTORY_KEYS = ("epoch", "loss", "log_e_ratio", "e_ratio", "beta", "b", "tau", "eta_b", "val_monitor")


@dataclass(frozen=True, eq=False)
class TrainResult:
    r"""Outcome of :func:`train`.

    Attributes
    ----------
    params : MLPParams
        Best-on-validation parameters (the last epoch's without validation data;
        the initial ones if no epoch completed).
    last_params : MLPParams
        Parameters after the last completed epoch.
    best_epoch : int
        1-based epoch of ``params`` (0: the initial parameters).
    best_score : float
        Validation monitor at ``best_epoch`` (NaN without validation data).
    history : dict of str -> ndarray
        Per completed epoch (keys :data:`HISTORY_KEYS`): ``loss`` (training loss of
        the epoch's forward pass, before the update), ``log_e_ratio`` (natural log of
        the train-set e-ratio, Eq. 11, same forward pass) and ``e_ratio``, ``beta``,
        ``b`` and ``tau`` after the update, ``eta_b`` used by the update, and
        ``val_monitor`` (validation monitor after the update; NaN without validation).
    n_epochs : int
        Completed epochs.
    stopped : bool
        True when a non-finite loss or gradient ended training early.
    message : str
        Why training ended.
    method, monitor : str
    """

    params: MLPParams
    last_params: MLPParams
    best_epoch: int
    best_score: float
    history: dict = field(repr=False)
    n_epochs: int
    stopped: bool
    message: str
    method: str
    monitor: str


def _monitor_value(counts, monitor):
    if monitor == "fnr_apx":
        return counts.fnr()
    if monitor == "mcc_apx":
        return counts.mcc()
    return counts.g_mean()


def approx_counts(params, X, y, method=DEFAULT_METHOD, metrics_on="z"):
    r"""Approximated confusion counts (Eq. 8) of a network on ``(X, y)``; reference path.

    Returns an :class:`astra_np.learn.kernel.ApproxCounts` ``(TN, FP, FN, TP, m0, m1)``
    computed from :func:`astra_np.learn.nn.forward` and :func:`astra_np.core.losses.head_logits`
    with log-sum-exp (finite when every output saturates). ``metrics_on`` as in
    :func:`train`.
    """
    flags = method_flags(method)
    y = np.asarray(y)
    pos = y == 1
    x, _ = forward(params, X)
    logit = head_logits(x, params.beta, astra=flags["astra"], z=flags["z"] and metrics_on == "z")
    m1 = int(pos.sum())
    m0 = int(y.size - m1)
    fn = math.exp(logsumexp(log_expit(-logit[pos]))) if m1 else 0.0
    tp = math.exp(logsumexp(log_expit(logit[pos]))) if m1 else 0.0
    fp = math.exp(logsumexp(log_expit(logit[~pos]))) if m0 else 0.0
    tn = math.exp(logsumexp(log_expit(-logit[~pos]))) if m0 else 0.0
    return ApproxCounts(tn, fp, fn, tp, m0, m1)


class _ReferencePath:
    r"""Training-set loss/gradient through :func:`astra_np.learn.nn.loss_and_grad` (``fast=False``)."""

    def __init__(self, X, y, layer_sizes, method, metrics_on):
        self.X, self.y = X, np.asarray(y, dtype=np.float64)
        self.sizes, self.method = layer_sizes, method
        flags = method_flags(method)
        self.metric_z = flags["z"] and metrics_on == "z"
        self.astra = flags["astra"]

    def loss_and_grad(self, theta, grad):
        params = MLPParams.from_vector(theta, self.sizes)
        loss, grads = loss_and_grad(params, self.X, self.y, self.method)
        grad[:] = grads.to_vector()
        x, _ = forward(params, self.X)
        logit = head_logits(x, params.beta, astra=self.astra, z=self.metric_z)
        _, self.log_fp, self.log_fn, _ = log_approx_confusion(logit, self.y)
        return loss, _log_e_ratio(logit, self.y)


class _ReferenceCounts:
    def __init__(self, X, y, layer_sizes, method, metrics_on):
        self.X, self.y, self.sizes, self.method, self.metrics_on = X, y, layer_sizes, method, metrics_on

    def counts(self, theta):
        params = MLPParams.from_vector(theta, self.sizes)
        return approx_counts(params, self.X, self.y, self.method, self.metrics_on)


def _check_data(X, y, name_X, name_y):
    X = np.asarray(X)
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise ValueError(f"{name_X} must be a numeric array, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name_X} must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name_X} contains NaN or inf")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"{name_y} must have shape ({X.shape[0]},) to match {name_X}, got {y.shape}")
    if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name_y} must hold binary labels 0/1 (minority = 1), got {np.unique(y)[:6]}")
    return X, y.astype(np.int64)


def _log_sum(logs):
    r"""log of a sum of exp(logs), with -inf entries (zero terms) allowed."""
    finite = [v for v in logs if v != -math.inf]
    return logsumexp(finite) if finite else -math.inf


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


_BLAS_CONTROLLER = []  # threadpoolctl's view of the loaded libraries, found once per process


def _blas_limit(blas_threads):
    if blas_threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it BLAS keeps its own thread count
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return contextlib.nullcontext()
        return threadpool_limits(limits=int(blas_threads), user_api="blas")
    # Scanning the process for libraries costs a millisecond or more; NumPy's BLAS, the one
    # training uses, is loaded before the first call, so the first scan finds it.
    if not _BLAS_CONTROLLER:
        _BLAS_CONTROLLER.append(ThreadpoolController())
    return _BLAS_CONTROLLER[0].limit(limits=int(blas_threads), user_api="blas")


def train(X, y, X_val=None, y_val=None, *, method=DEFAULT_METHOD, hidden_layer_sizes=None, epochs=10000,
          learning_rate=1e-3, tau_init=0.25, monitor="fnr_apx", eta_b=None, beta_update="adam",
          metrics_on="z", batch_size=None, random_state=None, params=None, betas=(0.9, 0.999),
          eps=1e-8, fast=True, blas_threads=1):
    r"""Train a network with one of the four methods (Section 4.2); return a :class:`TrainResult`.

    Parameters
    ----------
    X, y : arrays, shapes (n, n_x) and (n,)
        Training rows and binary labels (minority = 1); both classes needed.
    X_val, y_val : arrays, optional
        Validation rows for best-on-validation selection. Without them the last
        epoch's parameters are returned and ``val_monitor`` is NaN.
    method : {"bce", "gmn", "bce-astra", "gmn-astra"}
        :data:`astra_np.core.losses.METHODS`.
    hidden_layer_sizes : None, int or sequence of int
        ``None``: one layer of :math:`\lceil (n_x+1)/2 \rceil` units.
    epochs : int
        Number of epochs (default 10,000; no early stopping).
    learning_rate : float
        Adam learning rate :math:`\eta` of the weights (0.001).
    tau_init : float
        Initial threshold (0.25, :math:`b = 7.396`, :math:`\beta = b - 2`).
    monitor : {"fnr_apx", "mcc_apx", "gmean_apx"}
        Validation monitor (:data:`MONITORS`); FNR is minimised, the others maximised.
    eta_b : None, float or EtaBRule
        :math:`\eta_b` of beta. ``None``: the paper's adaptive rule (Eq. 10,
        :class:`astra_np.learn.optim.EtaBRule` defaults); a float: that fixed rate.
    beta_update : {"adam", "sgd"}
        Adam step with rate :math:`\eta_b` (default; see the module docstring) or a
        plain gradient step :math:`\beta \leftarrow \beta - \eta_b\,\partial J/\partial\beta`.
    metrics_on : {"z", "output"}
        Space of the e-ratio and of the approximated validation metrics.
    batch_size : None or int
        ``None``: full batch. Otherwise ``ceil(n / batch_size)`` stratified
        mini-batches per epoch, reshuffled every epoch; needs at least one positive per
        batch.
    random_state : None, int or numpy.random.Generator
        Seeds the initial weights (and the mini-batch shuffles); the same seed gives
        the same bits.
    params : MLPParams, optional
        Initial parameters (overrides ``hidden_layer_sizes``, ``tau_init`` and the
        random initialisation).
    betas, eps :
        Adam constants (0.9, 0.999), 1e-8.
    fast : bool
        Use the fused kernel of :mod:`astra_np.learn.kernel` (default) or the reference
        :func:`astra_np.learn.nn.loss_and_grad` (identical up to rounding, slower).
    blas_threads : None or int
        BLAS threads during training (default 1, through ``threadpoolctl`` when it is
        installed). The matrices of these networks are small: a second BLAS thread gains
        little on an idle machine and costs several times that when cores are shared
        (for instance by parallel cross-validation workers). ``None`` leaves BLAS alone.

    Returns
    -------
    TrainResult
    """
    flags = method_flags(method)
    X, y = _check_data(X, y, "X", "y")
    m1 = int(y.sum())
    if m1 == 0 or m1 == y.size:
        raise ValueError(f"y needs both classes (minority = 1), got {m1} positive(s) of {y.size}")
    epochs = _positive_int("epochs", epochs)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.floating)) \
            or not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {sorted(MONITORS)}, got {monitor!r}")
    if beta_update not in ("adam", "sgd"):
        raise ValueError(f"beta_update must be 'adam' or 'sgd', got {beta_update!r}")
    if metrics_on not in ("z", "output"):
        raise ValueError(f"metrics_on must be 'z' or 'output', got {metrics_on!r}")
    if eta_b is None:
        rule = EtaBRule()
    elif isinstance(eta_b, EtaBRule):
        rule = eta_b
    elif isinstance(eta_b, (int, float, np.floating)) and not isinstance(eta_b, bool):
        if not (math.isfinite(eta_b) and eta_b >= 0):
            raise ValueError(f"eta_b must be a finite number >= 0, got {eta_b!r}")
        rule = EtaBRule(init=float(eta_b), min=max(float(eta_b), 1e-300), max=max(float(eta_b), 1e-300),
                        adaptive=False)
    else:
        raise ValueError(f"eta_b must be None, a number or an EtaBRule, got {eta_b!r}")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    if params is None:
        params = init_params(X.shape[1], hidden_layer_sizes, tau_init=tau_init, random_state=rng)
    elif not isinstance(params, MLPParams):
        raise ValueError(f"params must be an MLPParams, got {type(params).__name__}")
    sizes = params.layer_sizes
    if sizes[0] != X.shape[1]:
        raise ValueError(f"params expect {sizes[0]} features, but X has {X.shape[1]}")

    have_val = X_val is not None or y_val is not None
    if have_val:
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together")
        X_val, y_val = _check_data(X_val, y_val, "X_val", "y_val")
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(f"X_val has {X_val.shape[1]} features, X has {X.shape[1]}")
        v1 = int(y_val.sum())
        if v1 == 0:
            raise ValueError(f"y_val has no positive (label 1) example; monitor {monitor!r} needs one")
        if monitor != "fnr_apx" and v1 == y_val.size:
            raise ValueError(f"y_val has no negative (label 0) example; monitor {monitor!r} needs one")

    # -- batches ------------------------------------------------------------------
    n = y.size
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if batch_size is None:
        n_batches = 1
    else:
        batch_size = _positive_int("batch_size", batch_size)
        n_batches = -(-n // batch_size)
        if n_batches > m1:
            raise ValueError(
                f"batch_size={batch_size} gives {n_batches} batches but y has only {m1} positive(s): "
                f"every stratified batch needs one; use batch_size >= {-(-n // m1)}"
            )

    def make_train_path(Xb, yb):
        if fast:
            return EpochKernel(Xb, yb, sizes, method=method, metrics_on=metrics_on)
        return _ReferencePath(Xb, yb, sizes, method, metrics_on)

    if n_batches == 1:
        paths = [make_train_path(X, y)]
    batch_paths = {}  # fused kernels by batch composition (n_pos, n_neg), refilled each epoch

    def batch_path(rows):
        Xb, yb = X[rows], y[rows]
        key = (int(yb.sum()), int(yb.size))
        if not fast:
            return make_train_path(Xb, yb)
        if key not in batch_paths:
            batch_paths[key] = make_train_path(Xb, yb)
        else:
            batch_paths[key].set_rows(Xb, yb)
        return batch_paths[key]

    if have_val:
        Xv, yv = (X_val[y_val == 1], y_val[y_val == 1]) if monitor == "fnr_apx" else (X_val, y_val)
        if fast:
            val_eval = EpochKernel(Xv, yv, sizes, method=method, metrics_on=metrics_on, need_grad=False)
        else:
            val_eval = _ReferenceCounts(Xv, yv, sizes, method, metrics_on)
        if fast and monitor == "fnr_apx":
            val_score = val_eval.fnr  # the positive rows only; same value as counts(theta).fnr()
        else:
            def val_score(theta_):
                return _monitor_value(val_eval.counts(theta_), monitor)

    # -- state ----------------------------------------------------------------------
    theta = params.to_vector()
    grad = np.zeros_like(theta)
    best_theta = theta.copy()
    last_good = theta.copy()
    opt = Adam(theta.size, lr=learning_rate, betas=betas, eps=eps)
    lr_vec = np.full(theta.size, float(learning_rate))
    train_beta = flags["astra"]
    lr_vec[-1] = 0.0
    # per-entry rates with a trained beta; otherwise the scalar rate (a NumPy scalar: Adam.step
    # reads its ndim without a conversion)
    step_lr = lr_vec if train_beta else np.float64(learning_rate)
    beta_adam = train_beta and beta_update == "adam"
    beta_sgd = train_beta and beta_update == "sgd"
    direction = MONITORS[monitor][0]
    best_score, best_epoch = math.nan, 0
    hist = {k: np.full(epochs, np.nan) for k in ("loss", "log_e_ratio", "beta", "eta_b", "val_monitor")}
    h_loss, h_log_er, h_beta, h_eta_b, h_val = hist.values()
    eta = float(rule.init)
    stopped, message = False, ""
    done = 0
    with _blas_limit(blas_threads), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        for epoch in range(1, epochs + 1):
            if n_batches == 1:
                batches = (None,)
            else:
                pp = np.array_split(rng.permutation(pos_idx), n_batches)
                nn_ = np.array_split(rng.permutation(neg_idx), n_batches)
                batches = [np.concatenate(rows) for rows in zip(pp, nn_)]
            loss_sum, log_fn, log_fp, bad = 0.0, [], [], None
            try:
                for rows in batches:
                    path = paths[0] if rows is None else batch_path(rows)
                    loss, log_er = path.loss_and_grad(theta, grad)
                    if not (math.isfinite(loss) and np.isfinite(grad).all()):
                        bad = f"non-finite loss ({loss!r}) or gradient"
                        break
                    if beta_adam:
                        lr_vec[-1] = eta
                    opt.step(theta, grad, step_lr)
                    if beta_sgd:
                        theta[-1] -= eta * grad[-1]
                    loss_sum += loss
                    log_fn.append(path.log_fn)
                    log_fp.append(path.log_fp)
                score = val_score(theta) if have_val and bad is None else None
            except FloatingPointError as exc:
                bad = f"floating-point error ({exc})"
            if bad is not None:
                stopped = True
                theta[:] = last_good
                kept = best_epoch if have_val else epoch - 1
                message = (f"training stopped at epoch {epoch} of {epochs}: {bad}; "
                           f"keeping the parameters of epoch {kept}"
                           + (" (the initial ones)" if kept == 0 else ""))
                break
            if n_batches == 1:
                log_er_epoch = log_er
            else:  # FN_apx and FP_apx summed over the batches (Eq. 11 on the whole epoch)
                log_er_epoch = (_log_sum(log_fn) - math.log(m1)) - (_log_sum(log_fp) - math.log(n - m1))
            i = epoch - 1
            h_loss[i] = loss_sum / n_batches
            h_log_er[i] = log_er_epoch
            h_beta[i] = theta[-1]
            h_eta_b[i] = eta
            if have_val:
                if not math.isfinite(score):
                    stopped = True
                    theta[:] = last_good
                    message = (f"training stopped at epoch {epoch} of {epochs}: non-finite validation "
                               f"{monitor} ({score!r}); keeping the parameters of epoch {best_epoch}")
                    break
                h_val[i] = score
                if best_epoch == 0 or (score - best_score) * direction > 0:
                    best_score, best_epoch = score, epoch
                    best_theta[:] = theta
            if train_beta:
                eta = rule.update(eta, log_er_epoch)
            last_good[:] = theta
            done = epoch
    if not have_val:
        best_theta[:] = theta
        best_epoch = done
    if not stopped:
        message = f"completed {done} epochs" + (
            f"; best validation {monitor} = {best_score:.6g} at epoch {best_epoch}" if have_val else ""
        )
    history = {k: v[:done].copy() for k, v in hist.items()}
    history["epoch"] = np.arange(1, done + 1)
    with np.errstate(over="ignore"):
        history["e_ratio"] = np.exp(history["log_e_ratio"])
    if flags["astra"]:
        b = np.asarray(slope_from_beta(history["beta"]), dtype=np.float64) if done else np.empty(0)
        history["b"] = b
        history["tau"] = np.asarray(threshold(b), dtype=np.float64) if done else np.empty(0)
    else:
        history["b"] = np.ones(done)
        history["tau"] = np.full(done, 0.5)
    history = {k: history[k] for k in HISTORY_KEYS}
    return TrainResult(
        params=MLPParams.from_vector(best_theta, sizes),
        last_params=MLPParams.from_vector(theta, sizes),
        best_epoch=int(best_epoch),
        best_score=float(best_score),
        history=history,
        n_epochs=int(done),
        stopped=stopped,
        message=message,
        method=method,
        monitor=monitor,
    )

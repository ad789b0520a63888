r"""The training procedure of Section 4.2: Adam, adaptive eta_b, best-on-validation.

:func:`train` runs a fixed number of epochs (default 10,000; no early stopping) of
full-batch gradient descent (mini-batches optional) with Adam on the weights
(:math:`\eta = 0.001`) and on beta (:math:`\eta_b`, Eq. 10), and keeps the
parameters (weights and beta) of the epoch with the best validation monitor
(:math:`FNR_{apx}` by default, Section 4.3).

One epoch, in order:

1. forward pass on the training rows, loss of the method and its gradient in every
   parameter, through the :class:`astra_np.learn.nn.TrainingPath` interface: the fused
   :class:`astra_np.learn.kernel.EpochKernel` (default), or the reference
   :class:`astra_np.learn.nn.ReferencePath` with ``fast=False``; the train-set e-ratio
   (Eq. 11) of the same forward pass;
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

from ..core._stable import logsumexp
from ..core._validation import check_features_and_labels, check_size
from ..core.activation import slope_from_beta, threshold
from ..core.losses import head_logits
from ..core.registry import DEFAULT_METHOD, Method, get_method
from .kernel import EpochKernel
from .nn import ApproxCounts, MLPParams, ReferencePath, check_network_size, forward, init_params, log_e_ratio_from_counts, method_flags
from .optim import Adam, EtaBRule

__all__ = [
    "MONITORS",
    "HISTORY_KEYS",
    "TrainingConfig",
    "TrainingData",
    "TrainResult",
    "approx_counts",
    "training_config",
    "training_data",
    "checked_training_data",
    "train",
    "train_checked",
]

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
    epochs_off_fused_path : int
        Completed epochs in which the fused kernel handed some loss and gradient to the
        reference path (the one corner named in :mod:`astra_np.learn.kernel`); 0 with
        ``fast=False``, which uses the reference path by choice.
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
    epochs_off_fused_path: int = 0


@dataclass(frozen=True)
class TrainingConfig:
    r"""The options of a training run, validated once (:func:`training_config`, or
    :meth:`astra_np.learn.estimator.ASTraClassifier.check_params`).

    What :func:`train_checked` and the training paths below it take: they check
    nothing of it again. ``method`` is the registry's :class:`astra_np.core.registry.Method`
    (resolved from its name once), ``eta_b`` an :class:`astra_np.learn.optim.EtaBRule`,
    ``epochs`` and ``batch_size`` bounded sizes; the others as in :func:`train`.
    ``hidden_layer_sizes`` is checked with the data (its default and its bound depend
    on the number of features and rows).
    """

    method: Method
    epochs: int = 10000
    hidden_layer_sizes: object = None
    learning_rate: float = 1e-3
    tau_init: float = 0.25
    monitor: str = "fnr_apx"
    eta_b: EtaBRule = field(default_factory=EtaBRule)
    beta_update: str = "adam"
    metrics_on: str = "z"
    batch_size: int | None = None
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    fast: bool = True
    blas_threads: int | None = 1


@dataclass(frozen=True, eq=False)
class TrainingData:
    r"""The rows of a training run, validated once (:func:`training_data`).

    ``X`` float64, finite, shape ``(n, n_x)``; ``y`` int64 0/1 (minority = 1) with both
    classes; ``X_val``, ``y_val`` the same, or both None. With validation rows, ``y_val``
    holds the classes the monitor needs (a positive; a negative too except for
    ``fnr_apx``).
    """

    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def training_config(method=DEFAULT_METHOD, *, hidden_layer_sizes=None, epochs=10000, learning_rate=1e-3,
                    tau_init=0.25, monitor="fnr_apx", eta_b=None, beta_update="adam", metrics_on="z",
                    batch_size=None, betas=(0.9, 0.999), eps=1e-8, fast=True, blas_threads=1):
    r"""The :class:`TrainingConfig` of the options of :func:`train`, each checked once here
    (``ValueError`` naming the option and the value); the method name resolved in the
    registry."""
    entry = get_method(method)
    epochs = check_size("epochs", epochs)
    _check_options(learning_rate, monitor, beta_update, metrics_on)
    rule = _eta_b_rule(eta_b)
    if batch_size is not None:
        batch_size = check_size("batch_size", batch_size)
    return TrainingConfig(
        method=entry, epochs=epochs, hidden_layer_sizes=hidden_layer_sizes, learning_rate=learning_rate,
        tau_init=tau_init, monitor=monitor, eta_b=rule, beta_update=beta_update, metrics_on=metrics_on,
        batch_size=batch_size, betas=betas, eps=eps, fast=fast, blas_threads=blas_threads,
    )


def training_data(X, y, X_val=None, y_val=None, monitor="fnr_apx"):
    r"""The :class:`TrainingData` of the arrays of :func:`train`: each array checked once
    here (:func:`astra_np.core._validation.check_features_and_labels`), then
    :func:`checked_training_data`."""
    X, y = _check_data(X, y, "X", "y")
    if X_val is not None and y_val is not None:
        X_val, y_val = _check_data(X_val, y_val, "X_val", "y_val")
    return checked_training_data(X, y, X_val, y_val, monitor)


def checked_training_data(X, y, X_val, y_val, monitor):
    r"""The :class:`TrainingData` of arrays already checked (float64 ``X``, 0/1 ``y``;
    the estimator checks them with scikit-learn's messages): what concerns the problem
    rather than the arrays, both classes in ``y``, the validation rows given together,
    with ``X``'s features and the classes that ``monitor`` needs."""
    m1 = int(y.sum())
    if m1 == 0 or m1 == y.size:
        raise ValueError(f"y needs both classes (minority = 1), got {m1} positive(s) of {y.size}")
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    if X_val is not None:
        _check_validation(X_val, y_val, X.shape[1], monitor)
    return TrainingData(X, y, X_val, y_val)


def approx_counts(params, X, y, method=DEFAULT_METHOD, metrics_on="z"):
    r"""Approximated confusion counts (Eq. 8) of a network on ``(X, y)``; reference path.

    Returns an :class:`astra_np.learn.nn.ApproxCounts` ``(TN, FP, FN, TP, m0, m1)``
    computed from :func:`astra_np.learn.nn.forward` and :func:`astra_np.core.losses.head_logits`
    with log-sum-exp (:meth:`~astra_np.learn.nn.ApproxCounts.from_logits`; finite when every
    output saturates). ``metrics_on`` as in :func:`train`.
    """
    flags = method_flags(method)
    x, _ = forward(params, X)
    logit = head_logits(x, params.beta, astra=flags["astra"], z=flags["z"] and metrics_on == "z")
    return ApproxCounts.from_logits(logit, np.asarray(y) == 1)


def _check_data(X, y, name_X, name_y):
    return check_features_and_labels(name_X, X, name_y, y)


def _eta_b_rule(eta_b):
    r"""The :class:`EtaBRule` of ``eta_b`` (None: Eq. 10 with the paper's constants; a number: fixed)."""
    if eta_b is None:
        return EtaBRule()
    if isinstance(eta_b, EtaBRule):
        return eta_b
    if isinstance(eta_b, (int, float, np.floating)) and not isinstance(eta_b, bool):
        if not (math.isfinite(eta_b) and eta_b >= 0):
            raise ValueError(f"eta_b must be a finite number >= 0, got {eta_b!r}")
        return EtaBRule.fixed(eta_b)
    raise ValueError(f"eta_b must be None, a number or an EtaBRule, got {eta_b!r}")


def _check_options(learning_rate, monitor, beta_update, metrics_on):
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.floating)) \
            or not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {sorted(MONITORS)}, got {monitor!r}")
    if beta_update not in ("adam", "sgd"):
        raise ValueError(f"beta_update must be 'adam' or 'sgd', got {beta_update!r}")
    if metrics_on not in ("z", "output"):
        raise ValueError(f"metrics_on must be 'z' or 'output', got {metrics_on!r}")


def _check_validation(X_val, y_val, n_features, monitor):
    r"""Checked validation rows: ``X``'s features, the classes the monitor needs."""
    if X_val.shape[1] != n_features:
        raise ValueError(f"X_val has {X_val.shape[1]} features, X has {n_features}")
    v1 = int(y_val.sum())
    if v1 == 0:
        raise ValueError(f"y_val has no positive (label 1) example; monitor {monitor!r} needs one")
    if monitor != "fnr_apx" and v1 == y_val.size:
        raise ValueError(f"y_val has no negative (label 0) example; monitor {monitor!r} needs one")


def _initial_params(params, n_rows, n_features, hidden_layer_sizes, tau_init, rng):
    if params is None:
        check_network_size(n_rows, n_features, hidden_layer_sizes)
        return init_params(n_features, hidden_layer_sizes, tau_init=tau_init, random_state=rng)
    if not isinstance(params, MLPParams):
        raise ValueError(f"params must be an MLPParams, got {type(params).__name__}")
    if params.layer_sizes[0] != n_features:
        raise ValueError(f"params expect {params.layer_sizes[0]} features, but X has {n_features}")
    return params


def _number_of_batches(batch_size, n, m1):
    if batch_size is None:
        return 1
    n_batches = -(-n // batch_size)
    if n_batches > m1:
        raise ValueError(
            f"batch_size={batch_size} gives {n_batches} batches but y has only {m1} positive(s): "
            f"every stratified batch needs one; use batch_size >= {-(-n // m1)}"
        )
    return n_batches


class _Batches:
    r"""The training paths of each epoch: the full batch, or stratified mini-batches
    reshuffled every epoch (fused kernels reused by batch composition)."""

    def __init__(self, X, y, make_path, n_batches, rng):
        self.X, self.y, self.make_path, self.n_batches, self.rng = X, y, make_path, n_batches, rng
        self.full = make_path(X, y) if n_batches == 1 else None
        self.pos, self.neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        self.by_composition = {}

    def epoch(self):
        r"""The paths of one epoch, one at a time (a reused kernel is refilled when reached)."""
        if self.full is not None:
            yield self.full
            return
        pp = np.array_split(self.rng.permutation(self.pos), self.n_batches)
        nn_ = np.array_split(self.rng.permutation(self.neg), self.n_batches)
        for rows in zip(pp, nn_):
            yield self._path(np.concatenate(rows))

    def _path(self, rows):
        Xb, yb = self.X[rows], self.y[rows]
        key = (int(yb.sum()), int(yb.size))
        path = self.by_composition.get(key)
        if path is None or not hasattr(path, "set_checked_rows"):
            path = self.by_composition[key] = self.make_path(Xb, yb)
        else:
            path.set_checked_rows(Xb, yb == 1)
        return path


def _validation_score(val, make_eval, monitor, fast):
    r"""The validation monitor as a function of the flat parameters (None without validation).

    :math:`FNR_{apx}` needs the positive validation rows only.
    """
    if val is None:
        return None
    X_val, y_val = val
    keep = y_val == 1 if monitor == "fnr_apx" else np.ones(y_val.size, dtype=bool)
    evaluator = make_eval(X_val[keep], y_val[keep])
    if fast and monitor == "fnr_apx":
        return evaluator.fnr  # same value as counts(theta).fnr()
    return lambda theta: _monitor_value(evaluator.counts(theta), monitor)


def _monitor_value(counts, monitor):
    return {"fnr_apx": counts.fnr, "mcc_apx": counts.mcc, "gmean_apx": counts.g_mean}[monitor]()


class _ParameterStep:
    r"""Step 2 of the epoch: Adam on the weights (:math:`\eta`) and, with ASTra, on beta
    (:math:`\eta_b`) or a plain gradient step on beta (``beta_update="sgd"``)."""

    def __init__(self, size, learning_rate, betas, eps, astra, beta_update):
        self.adam = Adam(size, lr=learning_rate, betas=betas, eps=eps)
        self.lr = np.full(size, float(learning_rate))
        self.lr[-1] = 0.0
        # per-entry rates with a trained beta; otherwise the scalar rate (a NumPy scalar:
        # Adam.step reads its ndim without a conversion)
        self.step_lr = self.lr if astra else np.float64(learning_rate)
        self.beta_adam = astra and beta_update == "adam"
        self.beta_sgd = astra and beta_update == "sgd"

    def __call__(self, theta, grad, eta_b):
        if self.beta_adam:
            self.lr[-1] = eta_b
        self.adam.step(theta, grad, self.step_lr)
        if self.beta_sgd:
            theta[-1] -= eta_b * grad[-1]


class _EpochLog:
    r"""History, best-on-validation bookkeeping and the fallback count of a run."""

    def __init__(self, theta, epochs, monitor):
        self.hist = {k: np.full(epochs, np.nan) for k in ("loss", "log_e_ratio", "beta", "eta_b", "val_monitor")}
        self.best_theta, self.last_good = theta.copy(), theta.copy()
        self.best_score, self.best_epoch = math.nan, 0
        self.monitor, self.direction = monitor, MONITORS[monitor][0]
        self.done, self.off_fused = 0, 0

    def record(self, epoch, theta, loss, log_er, eta_b, score, fallback):
        i = epoch - 1
        h = self.hist
        h["loss"][i], h["log_e_ratio"][i], h["beta"][i], h["eta_b"][i] = loss, log_er, theta[-1], eta_b
        h["val_monitor"][i] = score
        if not math.isnan(score) and (self.best_epoch == 0 or (score - self.best_score) * self.direction > 0):
            self.best_score, self.best_epoch = score, epoch
            self.best_theta[:] = theta
        self.off_fused += bool(fallback)
        self.last_good[:] = theta
        self.done = epoch


class _Stop(Exception):
    r"""A non-finite loss, gradient or monitor: training ends, keeping the best so far."""


def _log_sum(logs):
    r"""log of a sum of exp(logs), with -inf entries (zero terms) allowed."""
    finite = [v for v in logs if v != -math.inf]
    return logsumexp(finite) if finite else -math.inf


def _descend(theta, grad, paths, step, eta_b, m1, m0):
    r"""Steps 1-2 on every batch: forward, loss, backward (``TrainingPath.loss_and_grad``),
    then the parameter step. Returns ``(mean loss, log e-ratio of Eq. 11, fallback)``."""
    loss_sum, log_fn, log_fp, fallback = 0.0, [], [], False
    for path in paths:  # one per batch
        terms = path.loss_and_grad(theta, grad)
        if not (math.isfinite(terms.loss) and np.isfinite(grad).all()):
            raise _Stop(f"non-finite loss ({terms.loss!r}) or gradient")
        step(theta, grad, eta_b)
        loss_sum += terms.loss
        log_fn.append(terms.log_fn)
        log_fp.append(terms.log_fp)
        fallback |= terms.fallback
    if len(log_fn) == 1:
        log_er = log_e_ratio_from_counts(log_fn[0], log_fp[0], m1, m0)
    else:  # FN_apx and FP_apx summed over the batches (Eq. 11 on the whole epoch)
        log_er = log_e_ratio_from_counts(_log_sum(log_fn), _log_sum(log_fp), m1, m0)
    return loss_sum / len(log_fn), log_er, fallback


def _run(theta, epochs, batches, step, rule, score_fn, log, astra, m1, m0):
    r"""The epochs of Section 4.2; returns the stop message (empty when all completed)."""
    grad = np.zeros_like(theta)
    eta_b = float(rule.init)
    for epoch in range(1, epochs + 1):
        try:
            # 1-2. forward, loss, backward, Adam step (weights at eta, beta at eta_b)
            loss, log_er, fallback = _descend(theta, grad, batches.epoch(), step, eta_b, m1, m0)
            # 3. validation monitor at the updated parameters
            score = math.nan if score_fn is None else score_fn(theta)
            if score_fn is not None and not math.isfinite(score):
                raise _Stop(f"non-finite validation {log.monitor} ({score!r})")
        except (_Stop, FloatingPointError) as exc:
            theta[:] = log.last_good
            kept = log.best_epoch if score_fn is not None else epoch - 1
            reason = f"floating-point error ({exc})" if isinstance(exc, FloatingPointError) else str(exc)
            return (f"training stopped at epoch {epoch} of {epochs}: {reason}; keeping the parameters of "
                    f"epoch {kept}" + (" (the initial ones)" if kept == 0 else ""))
        # keep the best; history
        log.record(epoch, theta, loss, log_er, eta_b, score, fallback)
        # 4. eta_b of the next epoch from this epoch's e-ratio (Eq. 10)
        if astra:
            eta_b = rule.update(eta_b, log_er)
    return ""


def _history(log, astra):
    done = log.done
    history = {k: v[:done].copy() for k, v in log.hist.items()}
    history["epoch"] = np.arange(1, done + 1)
    with np.errstate(over="ignore"):
        history["e_ratio"] = np.exp(history["log_e_ratio"])
    if astra:
        b = np.asarray(slope_from_beta(history["beta"]), dtype=np.float64) if done else np.empty(0)
        history["b"] = b
        history["tau"] = np.asarray(threshold(b), dtype=np.float64) if done else np.empty(0)
    else:
        history["b"] = np.ones(done)
        history["tau"] = np.full(done, 0.5)
    return {k: history[k] for k in HISTORY_KEYS}


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
    r"""Train a network with one of the registered methods (Section 4.2); return a :class:`TrainResult`.

    The options are checked once (:func:`training_config`), the arrays once
    (:func:`training_data`), then :func:`train_checked` trains on them.

    Parameters
    ----------
    X, y : arrays, shapes (n, n_x) and (n,)
        Training rows and binary labels (minority = 1); both classes needed.
    X_val, y_val : arrays, optional
        Validation rows for best-on-validation selection. Without them the last
        epoch's parameters are returned and ``val_monitor`` is NaN.
    method : str
        A method of :func:`astra_np.core.registry.method_names` (``"bce"``, ``"gmn"``,
        ``"bce-astra"``, ``"gmn-astra"``, ...).
    hidden_layer_sizes : None, int or sequence of int
        ``None``: one layer of :math:`\lceil (n_x+1)/2 \rceil` units.
    epochs : int
        Number of epochs (default 10,000; no early stopping), at most
        ``SIZE_LIMITS["epochs"]`` (:mod:`astra_np.core._validation`). The network too is
        bounded before it is allocated: at most ``SIZE_LIMITS["network_entries"]`` float64
        entries (rows x hidden units + parameters).
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
        :class:`astra_np.learn.nn.ReferencePath` (identical up to rounding, slower).
    blas_threads : None or int
        BLAS threads during training (default 1, through ``threadpoolctl`` when it is
        installed). The matrices of these networks are small: a second BLAS thread gains
        little on an idle machine and costs several times that when cores are shared
        (for instance by parallel cross-validation workers). ``None`` leaves BLAS alone.

    Returns
    -------
    TrainResult
    """
    config = training_config(
        method, hidden_layer_sizes=hidden_layer_sizes, epochs=epochs, learning_rate=learning_rate,
        tau_init=tau_init, monitor=monitor, eta_b=eta_b, beta_update=beta_update, metrics_on=metrics_on,
        batch_size=batch_size, betas=betas, eps=eps, fast=fast, blas_threads=blas_threads,
    )
    data = training_data(X, y, X_val, y_val, config.monitor)
    return train_checked(data, config, random_state=random_state, params=params)


def _make_path(config, sizes):
    r"""The training path of a set of checked rows: the fused kernel or the reference path."""
    def make_path(Xb, yb, need_grad=True):
        if config.fast:
            return EpochKernel.from_checked(Xb, yb == 1, sizes, config.method, config.metrics_on,
                                            need_grad=need_grad)
        return ReferencePath.from_checked(Xb, yb, sizes, config.method, config.metrics_on)
    return make_path


def train_checked(data, config, random_state=None, params=None):
    r"""Train on validated rows with validated options: the body of :func:`train`.

    Parameters
    ----------
    data : TrainingData
        From :func:`training_data` (or :func:`checked_training_data`).
    config : TrainingConfig
        From :func:`training_config` (or the estimator's ``check_params``).
    random_state, params :
        As in :func:`train`.

    Nothing of ``data`` or ``config`` is checked again here or in the training paths
    (the kernel and the reference path are built by their ``from_checked``); what
    depends on both is checked once: the network's size (or ``params``' features) and
    the number of mini-batches.

    Returns
    -------
    TrainResult
    """
    X, y, astra, monitor = data.X, data.y, config.method.astra, config.monitor
    m1 = int(y.sum())
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    n_rows = y.size + (0 if data.y_val is None else data.y_val.size)
    params = _initial_params(params, n_rows, X.shape[1], config.hidden_layer_sizes, config.tau_init, rng)
    val = None if data.X_val is None else (data.X_val, data.y_val)
    n_batches = _number_of_batches(config.batch_size, y.size, m1)
    sizes = params.layer_sizes
    make_path = _make_path(config, sizes)
    batches = _Batches(X, y, make_path, n_batches, rng)
    score_fn = _validation_score(val, lambda Xv, yv: make_path(Xv, yv, need_grad=False), monitor, config.fast)
    theta = params.to_vector()
    step = _ParameterStep(theta.size, config.learning_rate, config.betas, config.eps, astra, config.beta_update)
    log = _EpochLog(theta, config.epochs, monitor)
    with _blas_limit(config.blas_threads), np.errstate(over="raise", divide="raise", invalid="raise",
                                                       under="ignore"):
        message = _run(theta, config.epochs, batches, step, config.eta_b, score_fn, log, astra, m1, y.size - m1)
    return _result(log, theta, sizes, config.method.name, monitor, message, have_val=val is not None,
                   astra=astra)


def _result(log, theta, sizes, method, monitor, message, have_val, astra):
    stopped = bool(message)
    if not have_val:
        log.best_theta[:] = theta
        log.best_epoch = log.done
    if not message:
        message = f"completed {log.done} epochs" + (
            f"; best validation {monitor} = {log.best_score:.6g} at epoch {log.best_epoch}" if have_val else "")
    return TrainResult(
        params=MLPParams.from_vector(log.best_theta, sizes),
        last_params=MLPParams.from_vector(theta, sizes),
        best_epoch=int(log.best_epoch),
        best_score=float(log.best_score),
        history=_history(log, astra),
        n_epochs=int(log.done),
        stopped=stopped,
        message=message,
        method=method,
        monitor=monitor,
        epochs_off_fused_path=int(log.off_fused),
    )

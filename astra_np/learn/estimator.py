r"""``ASTraClassifier``: the paper's network and training behind scikit-learn conventions.

The estimator follows scikit-learn's API (``fit`` / ``predict`` / ``predict_proba`` /
``decision_function`` / ``score``, ``get_params`` / ``set_params``, fitted attributes
with a trailing underscore, ``classes_``, ``n_features_in_``) without importing
scikit-learn, so it works in pipelines, ``clone``, grid searches and
``check_estimator`` when scikit-learn is installed, and without it otherwise.

Conventions specific to ASTra:

* **Positive class.** ASTra assumes the minority class is the positive one (label 1;
  Section 3.1 and footnote 2 of Section 4.1). By default the positive class is the
  rarer class of the training labels (``classes_[1]`` if both are equally frequent);
  set ``positive_class`` to choose it. ``decision_function`` is oriented so that it
  is positive for ``classes_[1]``, as scikit-learn expects.
* **Prediction.** Positive iff the output pre-activation :math:`x \ge 0`;
  equivalently :math:`\hat y \ge \tau` or :math:`z \ge 0.5` (Eq. 4-6), the threshold
  that moves with the learned slope.
* **Probabilities.** ``predict_proba`` returns columns ``[1 - p, p]`` (in
  ``classes_`` order) with ``p = z`` (Eq. 6) by default: ``z`` crosses 0.5 exactly at
  the decision threshold, so ``argmax`` of the probabilities agrees with ``predict``.
  ``proba="output"`` gives the raw ASTra output :math:`\hat y` instead, whose natural
  threshold is :math:`\tau`, not 0.5. For the plain-sigmoid methods both are
  :math:`\sigma(x)`.
* **Scaling.** ``standardize=True`` (default) centres and scales every feature with
  the training rows' mean and standard deviation (a constant feature is centred
  only; a feature of tiny values is rescaled exactly, see :func:`standardization`),
  the usual choice, which the paper does not specify. Data that is already
  standardised is unchanged by it.
"""
import inspect
import math
import numbers
import warnings

import numpy as np

from ..core._stable import expit, log_expit
from ..core._validation import check_random_state, check_size, check_tau
from ..core.activation import slope_from_beta, threshold
from ..core.losses import head_logits
from ..core.registry import DEFAULT_METHOD, get_method
from .model_file import MODEL_FORMAT, read_model, write_model
from .nn import _check_sizes, forward, method_flags
from .optim import EtaBRule
from .preprocess import (
    DataConversionWarning,
    _check_feature_names,
    _check_X,
    _check_y,
    _feature_names,
    _sk_compatible,
    _stratified_split,
    classes_and_positive,
    labels_to01,
    standardization,
    standardize_rows,
)
from .train import MONITORS, TrainingConfig, checked_training_data, train_checked

__all__ = [
    "ASTraClassifier",
    "NotFittedError",
    "DataConversionWarning",
    "TrainingStoppedWarning",
    "MODEL_FORMAT",
    "standardization",
    "standardize_rows",
]


class NotFittedError(ValueError, AttributeError):
    r"""Raised when a method needing a fitted model is called before ``fit``.

    A ``ValueError`` and an ``AttributeError`` (as scikit-learn's). When scikit-learn
    is already imported, the raised exception also derives from
    ``sklearn.exceptions.NotFittedError``.
    """


class TrainingStoppedWarning(RuntimeWarning):
    r"""Training ended early on a non-finite loss; the best parameters so far are kept."""


def _not_fitted(name, method):
    cls = _sk_compatible(NotFittedError)
    return cls(
        f"This {name} instance is not fitted yet. Call 'fit' with appropriate arguments "
        f"before using '{method}'."
    )


def _check_real(name, value, low=None, strict=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if low is not None and (value < low or (strict and value == low)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")



class ASTraClassifier:
    r"""Binary classifier for extreme imbalance: an MLP with an ASTra output (Section 3-4).

    Trains the network of Section 4.2 (Leaky ReLU hidden layer(s), ASTra or sigmoid
    output) with one of the registered methods (the paper's four, or the soft F1 / soft
    MCC ones) for a fixed number of epochs and keeps
    the best-on-validation parameters (:func:`astra_np.learn.train.train`).

    Parameters
    ----------
    method : str
        Loss and output, a method of :func:`astra_np.core.registry.method_names`
        (Section 4.2; default ``"gmn-astra"``).
    hidden_layer_sizes : None, int or tuple of int
        ``None``: one hidden layer of :math:`\lceil (n_x + 1)/2 \rceil` units.
    epochs : int
        Number of (full-batch) epochs; 10,000 in the paper. No early stopping. Every size
        parameter has a maximum, checked before anything is allocated
        (``astra_np.core._validation.SIZE_LIMITS``: epochs 1,000,000; 100 hidden layers of
        at most 100,000 units; rows x hidden units + parameters at most 2**28).
    learning_rate : float
        Adam learning rate of the weights (0.001).
    tau_init : float
        Initial threshold :math:`\tau` of ASTra (0.25, :math:`b = 7.396`).
    monitor : {"fnr_apx", "mcc_apx", "gmean_apx"}
        Validation monitor for best-on-validation selection (:math:`FNR_{apx}`,
        Section 4.3).
    validation_fraction : float or None
        Fraction of each class held out (stratified) as validation data when ``fit``
        gets no ``validation_data``; ``None`` or 0 trains on everything and keeps the
        last epoch.
    random_state : None or int
        Seeds the split, the initial weights and any mini-batch order; the same seed
        gives bit-identical models.
    eta_b : float
        Initial :math:`\eta_b` of Eq. 10 (0.01), or the fixed rate when
        ``adaptive_eta_b=False``.
    eta_b_min, eta_b_max, k_mult, k_dec : float
        Constants of Eq. 10 (0.01, 0.5, 1.1, 0.99).
    adaptive_eta_b : bool
        Adapt :math:`\eta_b` to the train-set e-ratio (Eq. 10, default) or keep it fixed.
    beta_update : {"adam", "sgd"}
        Adam step for beta with rate :math:`\eta_b` (default) or a plain gradient step;
        see :mod:`astra_np.learn.train`.
    metrics_on : {"z", "output"}
        Space of the e-ratio and approximated validation metrics (z by default).
    batch_size : None or int
        ``None``: full batch (the paper is silent; 10,000 epochs on ~12,000 rows
        suggests it); else stratified mini-batches.
    standardize : bool
        Standardise features with the training rows' statistics (default True).
    proba : {"z", "output"}
        What ``predict_proba`` reports as the positive-class probability.
    positive_class : None or label
        The label that ASTra treats as positive (the minority); ``None``: the rarer
        class of ``y`` in ``fit`` (``classes_[1]`` on a tie).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str objects, shape (n_features_in_,)
        Only when ``X`` in ``fit`` was a data frame whose column names are all ``str``:
        the names, checked at every later use as scikit-learn does (``ValueError`` when
        they or their order differ, a warning for an array without names), and kept in
        the model file.
    params_ : MLPParams
        Best-on-validation weights, biases and beta.
    history_ : dict of str -> ndarray
        Per-epoch ``loss``, ``log_e_ratio``, ``e_ratio``, ``beta``, ``b``, ``tau``,
        ``eta_b``, ``val_monitor`` (see :class:`astra_np.learn.train.TrainResult`).
    best_epoch_ : int
    best_score_ : float
        Validation monitor at ``best_epoch_``.
    slope_ : float
        Slope ``b`` of the kept parameters (1 for the plain-sigmoid methods).
    threshold_ : float
        Threshold :math:`\tau(b)` (0.5 for the plain sigmoid).
    n_epochs_ : int
        Completed epochs.
    epochs_off_fused_path_ : int
        Epochs the fused kernel handed to the reference path
        (:attr:`astra_np.learn.train.TrainResult.epochs_off_fused_path`; set by ``fit``).
    stopped_ : bool
        True if a non-finite loss stopped training (a :class:`TrainingStoppedWarning`
        is emitted).
    mean_, scale_ : ndarray
        Standardisation statistics (zeros/ones with ``standardize=False``).
    validation_indices_ : ndarray or None
        Rows of ``X`` held out for validation by ``validation_fraction`` (``None`` when
        ``validation_data`` was given or nothing was held out).

    Examples
    --------
    >>> from astra_np.study.datasets import make_imbalanced
    >>> X, y = make_imbalanced(n_samples=2000, n_positives=12, random_state=0)
    >>> clf = ASTraClassifier(epochs=50, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape, clf.predict_proba(X[:3]).shape
    ((3,), (3, 2))
    >>> clf.slope_ > 1.0
    True
    """

    def __init__(self, method=DEFAULT_METHOD, hidden_layer_sizes=None, epochs=10000, learning_rate=0.001,
                 tau_init=0.25, monitor="fnr_apx", validation_fraction=0.25, random_state=None,
                 eta_b=0.01, eta_b_min=0.01, eta_b_max=0.5, k_mult=1.1, k_dec=0.99, adaptive_eta_b=True,
                 beta_update="adam", metrics_on="z", batch_size=None, standardize=True, proba="z",
                 positive_class=None):
        self.method = method
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.tau_init = tau_init
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.eta_b = eta_b
        self.eta_b_min = eta_b_min
        self.eta_b_max = eta_b_max
        self.k_mult = k_mult
        self.k_dec = k_dec
        self.adaptive_eta_b = adaptive_eta_b
        self.beta_update = beta_update
        self.metrics_on = metrics_on
        self.batch_size = batch_size
        self.standardize = standardize
        self.proba = proba
        self.positive_class = positive_class

    # -- scikit-learn protocol ---------------------------------------------------------

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        r"""Constructor parameters as a dict (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        r"""Set constructor parameters; unknown names raise ``ValueError``. Returns ``self``."""
        valid = set(self._get_param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(valid)}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
                    if p.name != "self"}
        items = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name]
            if value is default or (type(value) is type(default) and value == default):
                continue
            items.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(items)})"

    def __sklearn_tags__(self):
        r"""Estimator tags for scikit-learn >= 1.6 (imported only when scikit-learn asks)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False),
            input_tags=InputTags(),
        )

    def _more_tags(self):  # scikit-learn < 1.6
        return {"binary_only": True, "requires_y": True}

    def __sklearn_is_fitted__(self):
        return hasattr(self, "params_")

    # -- validation of the parameters ------------------------------------------------

    def check_params(self):
        r"""Validate every constructor parameter against its declared constraint.

        Raises ``ValueError`` naming the parameter and the value; called by ``fit``
        (and by the experiment protocol and the ``train`` command before anything is
        written). Returns the training options it validated, a
        :class:`astra_np.learn.train.TrainingConfig` (the method resolved in the registry,
        the :math:`\eta_b` rule of Eq. 10 or a fixed rate), which ``fit`` passes down to
        the trainer: nothing below checks them again.
        """
        method = get_method(self.method)
        epochs = check_size("epochs", self.epochs)
        batch_size = None if self.batch_size is None else check_size("batch_size", self.batch_size)
        if self.hidden_layer_sizes is not None:
            _check_sizes(self.hidden_layer_sizes, 1)
        _check_real("learning_rate", self.learning_rate, 0.0, strict=True)
        _check_real("tau_init", self.tau_init)
        check_tau(float(self.tau_init), "tau_init")
        _check_real("eta_b", self.eta_b, 0.0)
        for name in ("eta_b_min", "eta_b_max", "k_mult", "k_dec"):
            _check_real(name, getattr(self, name))
        _check_choice("monitor", self.monitor, MONITORS)
        vf = self.validation_fraction
        if vf is not None and (isinstance(vf, (bool, np.bool_)) or not isinstance(vf, numbers.Real)
                               or not 0 <= vf < 1):
            raise ValueError(f"validation_fraction must be None or in [0, 1), got {vf!r}")
        _check_choice("proba", self.proba, ("z", "output"))
        _check_choice("beta_update", self.beta_update, ("adam", "sgd"))
        _check_choice("metrics_on", self.metrics_on, ("z", "output"))
        _check_flag("standardize", self.standardize)
        _check_flag("adaptive_eta_b", self.adaptive_eta_b)
        check_random_state(self.random_state)
        pc = self.positive_class
        if pc is not None and not isinstance(pc, (str, bytes, numbers.Number, np.generic)):
            raise ValueError(f"positive_class must be None or a single class label, got {pc!r}")
        if self.adaptive_eta_b:
            rule = EtaBRule(init=float(self.eta_b), min=float(self.eta_b_min), max=float(self.eta_b_max),
                            k_mult=float(self.k_mult), k_dec=float(self.k_dec))
        else:
            rule = EtaBRule.fixed(float(self.eta_b))
        return TrainingConfig(
            method=method, epochs=epochs, hidden_layer_sizes=self.hidden_layer_sizes,
            learning_rate=float(self.learning_rate), tau_init=float(self.tau_init), monitor=self.monitor,
            eta_b=rule, beta_update=self.beta_update, metrics_on=self.metrics_on, batch_size=batch_size,
        )

    def _labels_to01(self, y, name="y"):
        return labels_to01(y, self.classes_, self._pos_index_, name)

    # -- fit ---------------------------------------------------------------------------

    def _training_rows(self, X, y01, validation_data, rng):
        r"""``(X_tr, y_tr, X_val, y_val, held_out)``: the explicit validation rows, or a
        stratified ``validation_fraction`` held out of ``X``, or no validation."""
        if validation_data is not None:
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, y_val)") from None
            _check_feature_names(getattr(self, "feature_names_in_", None), X_val, type(self).__name__)
            X_val = _check_X(X_val, "X_val")
            if X_val.shape[1] != X.shape[1]:
                raise ValueError(f"X_val has {X_val.shape[1]} features, but X has {X.shape[1]}")
            y_val = self._labels_to01(_check_y(y_val, X_val.shape[0]), "y_val")
            return X, y01, X_val, y_val, None
        if self.validation_fraction:
            tr, va = _stratified_split(y01, float(self.validation_fraction), rng)
            return X[tr], y01[tr], X[va], y01[va], va
        return X, y01, None, None, None

    def fit(self, X, y, validation_data=None):
        r"""Train on ``(X, y)``; returns ``self``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
            Two class labels (any type).
        validation_data : (X_val, y_val), optional
            Explicit validation rows for best-on-validation selection (the protocol's
            validation fold). Without it, ``validation_fraction`` of each class is held
            out, stratified.
        """
        return self._fit_with(self.check_params(), X, y, validation_data)

    def _fit_with(self, config, X, y, validation_data=None):
        r""":meth:`fit` with the options already validated: ``config`` from :meth:`check_params`
        (the ``train`` command validates them before it reads the data)."""
        feature_names = _feature_names(X)
        X = _check_X(X)
        y = _check_y(y, X.shape[0])
        classes, pos_index = classes_and_positive(y, self.positive_class, type(self).__name__)
        for attr in list(vars(self)):
            if attr.endswith("_") and not attr.startswith("_"):
                delattr(self, attr)
        self.classes_ = classes
        self._pos_index_ = pos_index
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        y01 = self._labels_to01(y)
        rng = np.random.default_rng(self.random_state)
        X_tr, y_tr, X_val, y_val, held_out = self._training_rows(X, y01, validation_data, rng)
        if self.standardize:
            mean, scale = standardization(X_tr)
        else:
            mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        X_tr = standardize_rows(X_tr, mean, scale)
        if X_val is not None:
            X_val = standardize_rows(X_val, mean, scale, "X_val")
        data = checked_training_data(X_tr, y_tr, X_val, y_val, config.monitor)
        result = train_checked(data, config, random_state=rng)
        self._set_fitted(config.method, result.params, mean, scale, result.history, result.best_epoch,
                         result.best_score, result.n_epochs, result.stopped, result.message)
        self.validation_indices_ = held_out
        self.epochs_off_fused_path_ = int(result.epochs_off_fused_path)
        if result.stopped:
            warnings.warn(result.message, TrainingStoppedWarning, stacklevel=3)
        return self

    def _set_fitted(self, method, params, mean, scale, history, best_epoch, best_score, n_epochs, stopped,
                    message):
        r"""The fitted attributes; ``method`` the registry's :class:`~astra_np.core.registry.Method`
        of ``self.method``."""
        self.params_ = params
        self.n_features_in_ = int(params.layer_sizes[0])
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.best_score_ = float(best_score)
        self.validation_indices_ = None  # set by fit; not stored by save
        self.n_epochs_ = int(n_epochs)
        self.stopped_ = bool(stopped)
        self.training_message_ = str(message)
        if method.astra:
            self.beta_ = float(params.beta)
            self.slope_ = float(slope_from_beta(params.beta))
            self.threshold_ = float(threshold(self.slope_))
        else:
            self.beta_ = float("nan")
            self.slope_, self.threshold_ = 1.0, 0.5

    # -- prediction ----------------------------------------------------------------------

    def _pre_activation(self, X, method_name):
        if not self.__sklearn_is_fitted__():
            raise _not_fitted(type(self).__name__, method_name)
        _check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        X = _check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            x, _ = forward(self.params_, standardize_rows(X, self.mean_, self.scale_))
        if not np.all(np.isfinite(x)):
            i = int(np.flatnonzero(~np.isfinite(x))[0])
            raise ValueError(
                f"X: the network's output overflows float64 at row {i} (largest |feature| "
                f"{float(np.max(np.abs(X[i]))):.6g}); rescale the features or use standardize=True"
            )
        return x

    def _logit(self, X, method_name):
        x = self._pre_activation(X, method_name)
        flags = method_flags(self.method)
        return head_logits(x, self.params_.beta, astra=flags["astra"], z=flags["z"] and self.proba == "z")

    def decision_function(self, X):
        r"""Output pre-activation ``x``, signed so that ``> 0`` means ``classes_[1]``.

        Positive predictions are ``x >= 0`` (:math:`\hat y \ge \tau`, :math:`z \ge 0.5`).
        """
        x = self._pre_activation(X, "decision_function")
        return x if self._pos_index_ == 1 else -x

    def predict(self, X):
        r"""Class labels: the positive class iff the pre-activation is ``>= 0``."""
        x = self._pre_activation(X, "predict")
        pos = x >= 0
        return np.where(pos, self.classes_[self._pos_index_], self.classes_[1 - self._pos_index_])

    def predict_proba(self, X):
        r"""``[P(classes_[0]), P(classes_[1])]`` per row, with ``P(positive) = z`` (or y-hat).

        Both columns come from the logit (``sigmoid(+-logit)``), so the complement is
        accurate when the probability is close to 1.
        """
        logit = self._logit(X, "predict_proba")
        p, q = expit(logit), expit(-logit)
        cols = [q, p] if self._pos_index_ == 1 else [p, q]
        return np.column_stack(cols)

    def predict_log_proba(self, X):
        r"""Natural log of :meth:`predict_proba`, finite when the probabilities underflow."""
        logit = self._logit(X, "predict_log_proba")
        lp, lq = log_expit(logit), log_expit(-logit)
        cols = [lq, lp] if self._pos_index_ == 1 else [lp, lq]
        return np.column_stack(cols)

    def score(self, X, y, sample_weight=None):
        r"""Mean accuracy of :meth:`predict` (scikit-learn's classifier default).

        For imbalanced data prefer :func:`astra_np.core.metrics.g_mean` or
        :func:`astra_np.core.metrics.mcc` of the confusion matrix.
        """
        pred = self.predict(X)
        y = _check_y(y, pred.shape[0])
        return float(np.average(pred == y, weights=sample_weight))

    # -- save / load -----------------------------------------------------------------------

    def save(self, path):
        r"""Write the fitted model to an ``.npz`` file (no pickles; ``load`` reads it back;
        the format: :mod:`astra_np.learn.model_file`)."""
        if not self.__sklearn_is_fitted__():
            raise _not_fitted(type(self).__name__, "save")
        write_model(self, path)

    @classmethod
    def load(cls, path):
        r"""Read a model written by :meth:`save`.

        Every field is validated (type, shape, range and consistency with the others),
        so a model that loads predicts exactly like the one saved. Raises ``ValueError``
        naming the file, and the field for a damaged one: missing file, not an ``.npz``
        archive, truncated or corrupted data, pickled objects, another program's
        archive, a field missing, of the wrong type or shape, non-finite or out of range.
        """
        return read_model(cls, path)

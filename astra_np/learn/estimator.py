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
import json
import math
import numbers
import os
import stat
import sys
import warnings
import zipfile

import numpy as np

from ..core._io import atomic_output, loads_json
from ..core._stable import expit, log_expit
from ..core._validation import check_random_state, check_size, check_tau
from ..core.activation import slope_from_beta, threshold
from ..core.losses import head_logits
from ..core.registry import DEFAULT_METHOD
from .nn import MLPParams, _check_sizes, forward, method_flags
from .optim import EtaBRule
from .train import HISTORY_KEYS, MONITORS, train

__all__ = [
    "ASTraClassifier",
    "NotFittedError",
    "DataConversionWarning",
    "TrainingStoppedWarning",
    "MODEL_FORMAT",
    "standardization",
    "standardize_rows",
]

#: Tag stored in every saved model file (``format`` entry of the .npz archive).
MODEL_FORMAT = "astra_np.ASTraClassifier"
_MODEL_VERSION = 1


class NotFittedError(ValueError, AttributeError):
    r"""Raised when a method needing a fitted model is called before ``fit``.

    A ``ValueError`` and an ``AttributeError`` (as scikit-learn's). When scikit-learn
    is already imported, the raised exception also derives from
    ``sklearn.exceptions.NotFittedError``.
    """


class DataConversionWarning(UserWarning):
    r"""Warning used when the input was converted (a column-vector ``y`` was raveled)."""


class TrainingStoppedWarning(RuntimeWarning):
    r"""Training ended early on a non-finite loss; the best parameters so far are kept."""


_SK_CLASSES = {}


def _sk_compatible(cls):
    r"""``cls``, or a subclass also deriving from scikit-learn's class of the same name.

    Only when scikit-learn is already imported (by the caller); astra_np never imports
    it. Lets scikit-learn's tools (``check_is_fitted``, warning filters) recognise the
    exceptions and warnings raised here.
    """
    sk = sys.modules.get("sklearn.exceptions")
    sk_cls = getattr(sk, cls.__name__, None) if sk is not None else None
    if sk_cls is None:
        return cls
    if cls not in _SK_CLASSES:
        _SK_CLASSES[cls] = type(cls.__name__, (cls, sk_cls), {"__module__": cls.__module__})
    return _SK_CLASSES[cls]


def _not_fitted(name, method):
    cls = _sk_compatible(NotFittedError)
    return cls(
        f"This {name} instance is not fitted yet. Call 'fit' with appropriate arguments "
        f"before using '{method}'."
    )


def _is_sparse(X):
    return hasattr(X, "toarray") and (hasattr(X, "nnz") or hasattr(X, "tocsr"))


def _feature_names(X):
    r"""The column names of a data frame ``X`` (anything with ``columns``), as
    scikit-learn reads them: an object array when every name is a ``str``, None when
    none is (or ``X`` is an array); ``TypeError`` for a mix."""
    columns = None if isinstance(X, np.ndarray) else getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.size == 0:
        return None
    types = sorted({type(v).__qualname__ for v in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type."
        )
    return names if types == ["str"] else None


def _names_message(fitted, given):
    r"""scikit-learn's message for feature names that differ from those seen in fit."""
    unseen = sorted(set(given) - set(fitted))
    missing = sorted(set(fitted) - set(given))
    message = "The feature names should match those that were passed during fit.\n"
    for title, names in (("Feature names unseen at fit time:", unseen),
                         ("Feature names seen at fit time, yet now missing:", missing)):
        if names:
            message += title + "\n" + "".join(f"- {n}\n" for n in names[:5]) + ("- ...\n" if len(names) > 5 else "")
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    return message


def _check_feature_names(fitted, X, estimator="ASTraClassifier"):
    r"""Check the column names of ``X`` against ``fitted`` (``feature_names_in_`` or
    None), as scikit-learn does: ``ValueError`` when the names or their order differ
    (columns are never matched by position behind the user's back), a ``UserWarning``
    when only one of the two has names."""
    given = _feature_names(X)
    if fitted is None and given is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {estimator} was fitted without feature names", UserWarning,
                      stacklevel=3)
    elif given is None:
        warnings.warn(f"X does not have valid feature names, but {estimator} was fitted with feature names",
                      UserWarning, stacklevel=3)
    elif len(fitted) != len(given) or np.any(fitted != given):
        raise ValueError(_names_message(list(fitted), list(given)))


def _check_X(X, name="X", estimator="ASTraClassifier"):
    r"""Validate a feature matrix: dense, numeric, real, 2-D, non-empty, finite. Returns float64."""
    if X is None:
        raise ValueError(f"{estimator} needs {name}, got None")
    if _is_sparse(X):
        raise TypeError(f"sparse input is not supported by {estimator}; pass a dense array ({name}.toarray())")
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype == object:
        try:  # a TypeError (e.g. a dict in X) propagates, as from np.asarray(X, dtype=float)
            arr = arr.astype(np.float64)
        except ValueError as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from None
        if np.iscomplexobj(arr):
            raise ValueError(f"Complex data not supported in {name}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"Expected 2D array for {name}, got {arr.ndim}D array of shape {arr.shape} instead. "
            "Reshape your data with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) "
            "for a single sample."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return arr


def _check_y(y, n_samples, estimator="ASTraClassifier"):
    r"""Validate targets: 1-D (a column vector is raveled with a warning), finite, discrete,
    of one kind that NumPy keeps exactly (numbers, booleans or str; see
    :func:`_exact_labels`): bytes, datetime64 and timedelta64 labels are refused."""
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None")
    if _is_sparse(y):
        raise TypeError("sparse y is not supported; pass a dense 1-D array")
    arr = np.asarray(y)
    if not isinstance(y, np.ndarray) and arr.dtype != object:
        # a list or a Series: its labels checked one by one (np.asarray would turn [1, "1"]
        # into two "1", [True, 1] into two 1, and drop the NUL of "a\x00")
        arr = np.asarray(y, dtype=object).reshape(arr.shape)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            _sk_compatible(DataConversionWarning),
            stacklevel=3,
        )
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {arr.shape} instead.")
    if arr.shape[0] != n_samples:
        raise ValueError(f"X and y have inconsistent numbers of samples: {n_samples} and {arr.shape[0]}")
    if arr.dtype.kind == "c":
        raise ValueError("Complex data not supported in y")
    if arr.dtype == object:
        arr = _exact_labels(arr)
    if arr.dtype.kind in "SMmV":
        what = {"S": "bytes", "M": "datetime64", "m": "timedelta64", "V": "structured"}[arr.dtype.kind]
        raise ValueError(f"y: labels of dtype {what} ({arr.dtype}) are not supported; use numbers, "
                         f"booleans or str (decode bytes, format dates)")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("Input y contains NaN or infinity.")
        if np.any(arr != np.round(arr)):
            raise ValueError(
                "Unknown label type: continuous. ASTraClassifier needs binary class labels."
            )
    return arr


def _label_kind(value):
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (str, np.str_)):
        return "string"
    if isinstance(value, numbers.Number) and not isinstance(value, (complex, np.complexfloating)):
        return "number"
    if isinstance(value, (bytes, np.bytes_)):
        return "bytes"
    return type(value).__name__


def _exact_labels(arr):
    r"""An object array of labels as a NumPy array that keeps every label distinct.

    Refused with one line: a mix of kinds (``1`` and ``"1"`` would become one string,
    ``True`` and ``1`` one number), bytes, objects other than numbers, booleans and
    str, and str labels ending in a NUL character (NumPy's strings drop it, merging
    ``"a\x00"`` with ``"a"``)."""
    values = arr.tolist()
    kinds = sorted({_label_kind(v) for v in values})
    if len(kinds) > 1:
        raise ValueError(f"Mix of label input types ({' and '.join(kinds)}): labels are compared exactly, "
                         f"give y labels of one type")
    kind = kinds[0] if kinds else "number"
    if kind not in ("boolean", "string", "number"):
        raise ValueError(f"y: labels of type {kind} are not supported; use numbers, booleans or str")
    if kind == "string":
        tail = next((v for v in values if v.endswith("\x00")), None)
        if tail is not None:
            raise ValueError(f"y: label {tail!r} ends with a NUL character, which NumPy strings drop (it would "
                             f"merge with {tail.rstrip(chr(0))!r}); remove it")
        return np.array(values, dtype=str)
    out = np.asarray(values)
    if out.dtype == object:
        raise ValueError(f"y: labels beyond the int64 range are not supported (e.g. {values[0]!r}); use str")
    return out


#: Below this standard deviation the squares of the deviations may underflow: such a
#: feature's statistics are computed again on the feature scaled up by a power of two.
_SMALL_SCALE = 2.0 ** -500


def _rescaled_statistics(X, columns):
    r"""Mean and standard deviation of ``X[:, columns]``, computed with each of these
    columns multiplied by ``2**-e`` (``e`` the binary exponent of its largest magnitude)
    and scaled back. Multiplying by a power of two is exact and the reduction is the
    one of the whole matrix, so these are, bit for bit, the statistics of the plain
    formulas without underflow."""
    e = np.frexp(np.max(np.abs(X[:, columns]), axis=0))[1]
    scaled = X.copy()
    scaled[:, columns] = np.ldexp(X[:, columns], -e)
    return np.ldexp(scaled.mean(axis=0)[columns], e), np.ldexp(scaled.std(axis=0)[columns], e)


def standardization(X, name="X"):
    r"""Per-feature ``(mean, scale)`` of ``X``: the mean and the standard deviation, with
    a constant feature's scale set to 1 (centred only).

    A feature whose values are all tiny (around 1e-170: the squares of its deviations
    underflow, and its standard deviation would come out 0 or inaccurate) is not taken
    for a constant one: its statistics are computed again on the feature rescaled
    exactly by a power of two. A feature whose standard deviation is below the
    float64 normal range (about 2.2e-308) even so is refused with ``ValueError``
    naming it, as is one whose mean or standard deviation is beyond the float64 range
    (features of magnitude near 1e308), instead of returning inf/NaN with
    RuntimeWarnings.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
    bad = ~(np.isfinite(mean) & np.isfinite(scale))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: the standardisation overflows float64: feature {j} (largest |value| "
            f"{float(np.max(np.abs(X[:, j]))):.6g}) has a mean or standard deviation beyond "
            f"1.8e308; rescale the features (or pass standardize=False)"
        )
    constant = np.all(X == X[:1], axis=0)
    tiny = np.flatnonzero((scale < _SMALL_SCALE) & ~constant)
    if tiny.size:
        mean[tiny], scale[tiny] = _rescaled_statistics(X, tiny)
    for j in tiny:
        if scale[j] < np.finfo(np.float64).tiny:
            raise ValueError(
                f"{name}: feature {j} varies, but its standard deviation {scale[j]:.6g} is below the "
                f"float64 normal range (largest |value| {float(np.max(np.abs(X[:, j]))):.6g}); rescale "
                f"the features"
            )
    scale[constant] = 1.0
    return mean, scale


def standardize_rows(A, mean, scale, name="X"):
    r"""``(A - mean) / scale``; ``ValueError`` naming the row and feature if it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = (A - mean) / scale
    if not np.all(np.isfinite(out)):
        i, j = (int(v) for v in np.argwhere(~np.isfinite(out))[0])
        raise ValueError(
            f"{name}: the standardisation overflows float64 at row {i}, feature {j} (value "
            f"{float(A[i, j]):.6g}, training mean {float(mean[j]):.6g}, scale {float(scale[j]):.6g})"
        )
    return out


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


def _stratified_split(y01, fraction, rng):
    r"""Indices ``(train, val)`` with ``round(fraction * n_c)`` rows of each class in val.

    Every class keeps at least one row on each side; needs two rows per class.
    """
    train_idx, val_idx = [], []
    for c in (0, 1):
        idx = np.flatnonzero(y01 == c)
        if idx.size < 2:
            raise ValueError(
                f"validation_fraction={fraction!r} needs at least 2 samples of each class for a "
                f"stratified split, got {idx.size} of class {'positive' if c else 'negative'}; "
                "pass validation_data or set validation_fraction=None"
            )
        k = min(max(int(round(fraction * idx.size)), 1), idx.size - 1)
        perm = rng.permutation(idx)
        val_idx.append(perm[:k])
        train_idx.append(perm[k:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


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
        (and by the experiment protocol before anything is written). Returns the
        :math:`\eta_b` rule (an :class:`astra_np.learn.optim.EtaBRule` or a fixed rate).
        """
        method_flags(self.method)
        check_size("epochs", self.epochs)
        if self.batch_size is not None:
            check_size("batch_size", self.batch_size)
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
            return EtaBRule(init=float(self.eta_b), min=float(self.eta_b_min), max=float(self.eta_b_max),
                            k_mult=float(self.k_mult), k_dec=float(self.k_dec))
        return float(self.eta_b)

    def _labels_to01(self, y, name="y"):
        classes = self.classes_
        known = np.isin(y, classes)
        if not np.all(known):
            raise ValueError(f"{name} has labels not seen in fit: {np.unique(y[~known])[:6].tolist()}; "
                             f"classes_ = {classes.tolist()}")
        return (y == classes[self._pos_index_]).astype(np.int64)

    # -- fit ---------------------------------------------------------------------------

    def _classes_and_positive(self, y):
        r"""The two classes of ``y`` and the index of the positive one (``positive_class``,
        else the rarer class; ``classes_[1]`` on a tie)."""
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(
                f"ASTraClassifier needs samples of 2 classes, but the data contains only 1 class: "
                f"{classes.tolist()}"
            )
        if classes.size > 2:
            raise ValueError(
                f"Only binary classification is supported. The type of the target is multiclass "
                f"({classes.size} classes)."
            )
        if self.positive_class is None:
            counts = np.array([np.count_nonzero(y == c) for c in classes])
            return classes, 0 if counts[0] < counts[1] else 1
        match = np.flatnonzero(classes == self.positive_class)
        if match.size != 1:
            raise ValueError(f"positive_class={self.positive_class!r} is not one of the classes "
                             f"{classes.tolist()}")
        return classes, int(match[0])

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
        rule = self.check_params()
        feature_names = _feature_names(X)
        X = _check_X(X)
        y = _check_y(y, X.shape[0])
        classes, pos_index = self._classes_and_positive(y)
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
        result = train(
            X_tr, y_tr, X_val, y_val, method=self.method, hidden_layer_sizes=self.hidden_layer_sizes,
            epochs=int(self.epochs), learning_rate=float(self.learning_rate), tau_init=float(self.tau_init),
            monitor=self.monitor, eta_b=rule, beta_update=self.beta_update, metrics_on=self.metrics_on,
            batch_size=self.batch_size, random_state=rng,
        )
        self._set_fitted(result.params, mean, scale, result.history, result.best_epoch, result.best_score,
                         result.n_epochs, result.stopped, result.message)
        self.validation_indices_ = held_out
        self.epochs_off_fused_path_ = int(result.epochs_off_fused_path)
        if result.stopped:
            warnings.warn(result.message, TrainingStoppedWarning, stacklevel=2)
        return self

    def _set_fitted(self, params, mean, scale, history, best_epoch, best_score, n_epochs, stopped, message):
        flags = method_flags(self.method)
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
        if flags["astra"]:
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
        r"""Write the fitted model to an ``.npz`` file (no pickles; ``load`` reads it back)."""
        if not self.__sklearn_is_fitted__():
            raise _not_fitted(type(self).__name__, "save")
        params = self.get_params()
        if not isinstance(params["random_state"], (type(None), numbers.Integral)):
            params["random_state"] = None
        classes = np.asarray(self.classes_)
        if classes.dtype == object:
            classes = classes.astype(str)
        arrays = {
            "format": np.array(MODEL_FORMAT),
            "version": np.array(_MODEL_VERSION),
            "params_json": np.array(json.dumps(params, default=_json_default)),
            "layer_sizes": np.asarray(self.params_.layer_sizes, dtype=np.int64),
            "theta": self.params_.to_vector(),
            "classes": classes,
            "classes_dtype": np.array(classes.dtype.str),
            "pos_index": np.array(self._pos_index_),
            "mean": self.mean_,
            "scale": self.scale_,
            "fit_info": np.array([self.best_epoch_, self.best_score_, self.n_epochs_, float(self.stopped_)]),
            "message": np.array(self.training_message_),
        }
        for key in HISTORY_KEYS:
            arrays["history__" + key] = np.asarray(self.history_[key])
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_json"] = np.array(json.dumps(list(self.feature_names_in_)))
        with atomic_output(path) as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path):
        r"""Read a model written by :meth:`save`.

        Every field is validated (type, shape, range and consistency with the others),
        so a model that loads predicts exactly like the one saved. Raises ``ValueError``
        naming the file, and the field for a damaged one: missing file, not an ``.npz``
        archive, truncated or corrupted data, pickled objects, another program's
        archive, a field missing, of the wrong type or shape, non-finite or out of range.
        """
        path = os.fspath(path)
        with _Archive(path) as arrays:
            try:
                fmt = _field(arrays, "format", "U", shape=())
            except _FieldError:
                fmt = None
            if fmt is None or str(fmt) != MODEL_FORMAT:
                raise ValueError(f"{path!r} is not an astra_np model file (no '{MODEL_FORMAT}' format tag)")
            try:
                return _model_from_fields(cls, arrays)
            except _FieldError as exc:
                raise ValueError(f"{path!r} is a damaged astra_np model file: field {exc.field!r}: {exc}") from None


class _FieldError(ValueError):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


class _Unreadable(ValueError):
    r"""A model file that astra_np does not read at all (one line naming the file)."""


#: Largest ``.npy`` header read from a model file (numpy's own default).
_MAX_HEADER = 10000
#: Largest expansion of a deflated archive member (deflate's limit is about 1032:1).
_DEFLATE_RATIO = 1100


class _Archive:
    r"""The members of an ``.npz`` model file, read one known field at a time.

    Nothing is read until a field is asked for, so unknown members cost nothing; a
    field's ``.npy`` header (dtype, shape) is checked against what the field must be
    before its data are read, and a header that declares more data than the member
    holds is refused before anything is allocated. ``ValueError`` (one line) for a
    file that is not a readable ``.npz`` archive; :class:`_FieldError` naming the field
    for a damaged member.
    """

    def __init__(self, path):
        self.path = path
        try:
            mode = os.stat(path).st_mode
        except OSError:
            raise ValueError(f"model file {path!r} does not exist") from None
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, a device or a socket)"
            raise ValueError(f"model file {path!r} is {what}")
        self._size = os.path.getsize(path)
        try:
            with open(path, "rb") as fh:
                if fh.read(6) == b"\x93NUMPY":
                    raise ValueError("it holds a single array, not an .npz archive")
            self._zip = zipfile.ZipFile(path)
            self._members = {i.filename[:-4]: i for i in self._zip.infolist() if i.filename.endswith(".npy")}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zipfile.LargeZipFile) as exc:
            raise ValueError(f"{path!r} is not a readable astra_np model file (corrupted, truncated or not "
                             f"an .npz archive): {exc}") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()

    def __contains__(self, name):
        return name in self._members

    def _header(self, name, fh):
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_MAX_HEADER)
            else:
                raise ValueError(f".npy format version {version} is not one that astra_np writes")
        except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
            raise _FieldError(name, f"unreadable .npy header ({exc})") from None
        return shape, dtype, fh.tell()

    def _check_size(self, name, info, count, dtype, offset):
        r"""The data the header declares fit in the member, and the member in the file."""
        if info.compress_type == zipfile.ZIP_STORED:
            holds_max = info.compress_size
        else:
            holds_max = info.compress_size * _DEFLATE_RATIO
        declared = count * dtype.itemsize
        if info.compress_size > self._size or info.file_size > holds_max or declared > info.file_size - offset:
            raise _FieldError(name, f"its header declares {declared} bytes of data, the archive member holds "
                                    f"{max(info.file_size - offset, 0)} (of {self._size} bytes in the file)")

    def read(self, name, kinds, shape=None, ndim=None):
        r"""The array ``name``, checked for dtype kind and shape before it is read."""
        info = self._members.get(name)
        if info is None:
            raise _FieldError(name, "missing")
        try:
            with self._zip.open(info) as fh:
                found, dtype, offset = self._header(name, fh)
                if dtype.hasobject:
                    raise _Unreadable(f"{self.path!r} is not a readable astra_np model file: field {name!r} "
                                     f"holds pickled Python objects, which astra_np never reads")
                if dtype.kind not in kinds:
                    raise _FieldError(name, f"dtype {dtype} is not of kind {kinds!r}")
                if shape is not None and found != shape:
                    raise _FieldError(name, f"shape {found}, expected {shape}")
                if ndim is not None and len(found) != ndim:
                    raise _FieldError(name, f"{len(found)}-D, expected {ndim}-D (shape {found})")
                self._check_size(name, info, math.prod(found), dtype, offset)
            with self._zip.open(info) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False, max_header_size=_MAX_HEADER)
        except (EOFError, OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise _FieldError(name, f"unreadable ({exc})") from None
        except ValueError as exc:
            if isinstance(exc, (_FieldError, _Unreadable)):
                raise
            raise _FieldError(name, f"unreadable ({exc})") from None


def _field(arrays, name, kinds, shape=None, ndim=None):
    r"""The array ``name``, checked for dtype kind (``"iu"``, ``"U"``, ...) and shape
    before it is read (:meth:`_Archive.read`)."""
    return arrays.read(name, kinds, shape=shape, ndim=ndim)


def _float_field(arrays, name, shape):
    a = _field(arrays, name, "f", shape=shape)
    if a.dtype != np.float64:
        raise _FieldError(name, f"dtype {a.dtype}, expected float64")
    return a


def _load_params(cls, arrays):
    text = str(_field(arrays, "params_json", "U", shape=()))
    try:
        params = loads_json(text, "params_json")
    except ValueError as exc:
        raise _FieldError("params_json", str(exc).removeprefix("params_json: ")) from None
    if not isinstance(params, dict):
        raise _FieldError("params_json", f"expected a JSON object of parameters, got {type(params).__name__}")
    names = set(cls._get_param_names())
    missing, unknown = sorted(names - set(params)), sorted(set(params) - names)
    if missing or unknown:
        raise _FieldError("params_json", f"missing parameters {missing}, unknown parameters {unknown}")
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    est = cls(**params)
    try:
        est.check_params()
    except ValueError as exc:
        raise _FieldError("params_json", str(exc)) from None
    return est


def _load_network(est, arrays):
    sizes_arr = _field(arrays, "layer_sizes", "iu", ndim=1)
    sizes = tuple(int(v) for v in sizes_arr)
    if len(sizes) < 3 or min(sizes) < 1 or sizes[-1] != 1:
        raise _FieldError("layer_sizes", f"expected (n_x, hidden..., 1) of positive sizes, got {sizes}")
    want = _check_sizes(est.hidden_layer_sizes, sizes[0])
    if sizes[1:-1] != want:
        raise _FieldError("layer_sizes", f"hidden sizes {sizes[1:-1]} disagree with params_json's "
                                         f"hidden_layer_sizes {want}")
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + 1  # weights, biases, beta
    theta = _float_field(arrays, "theta", (n_params,))
    if not np.all(np.isfinite(theta)):
        raise _FieldError("theta", "parameters contain NaN or inf")
    try:
        return sizes, MLPParams.from_vector(theta, sizes)
    except ValueError as exc:
        raise _FieldError("theta", str(exc)) from None


def _load_classes(est, arrays):
    classes = _field(arrays, "classes", "biufU", shape=(2,))
    if "classes_dtype" in arrays:  # absent in files of earlier releases
        kind = str(_field(arrays, "classes_dtype", "U", shape=()))
        if classes.dtype.str != kind:
            raise _FieldError("classes", f"dtype {classes.dtype.str} differs from field 'classes_dtype' "
                                           f"({kind!r})")
    if classes.dtype.kind == "f" and not np.all(np.isfinite(classes)):
        raise _FieldError("classes", f"labels must be finite, got {classes.tolist()}")
    if classes[0] == classes[1]:
        raise _FieldError("classes", f"the two labels must differ, got {classes.tolist()}")
    pos = _field(arrays, "pos_index", "iu", shape=())
    if int(pos) not in (0, 1):
        raise _FieldError("pos_index", f"must be 0 or 1, got {int(pos)}")
    if est.positive_class is not None and not classes[int(pos)] == est.positive_class:
        raise _FieldError("pos_index", f"classes[{int(pos)}] = {classes[int(pos)]!r} is not the "
                                       f"positive_class={est.positive_class!r} of field 'params_json'")
    return classes, int(pos)


def _load_scaling(arrays, n_x):
    mean = _float_field(arrays, "mean", (n_x,))
    scale = _float_field(arrays, "scale", (n_x,))
    if not np.all(np.isfinite(mean)):
        raise _FieldError("mean", "contains NaN or inf")
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise _FieldError("scale", f"must be finite and > 0, got {scale[~(np.isfinite(scale) & (scale > 0))][:3]}")
    return mean, scale


def _load_fit_info(est, arrays):
    info = _float_field(arrays, "fit_info", (4,))
    best_epoch, best_score, n_epochs, stopped = info.tolist()
    for name, v in (("best epoch", best_epoch), ("number of epochs", n_epochs)):
        if not (math.isfinite(v) and v == int(v) and 0 <= v <= est.epochs):
            raise _FieldError("fit_info", f"{name} must be an integer in [0, epochs={est.epochs}], got {v!r}")
    if best_epoch > n_epochs or stopped not in (0.0, 1.0):
        raise _FieldError("fit_info", f"inconsistent (best epoch {best_epoch!r}, epochs {n_epochs!r}, "
                                      f"stopped {stopped!r})")
    message = str(_field(arrays, "message", "U", shape=()))
    history = {}
    for key in HISTORY_KEYS:
        name = "history__" + key
        history[key] = _field(arrays, name, "iuf", shape=(int(n_epochs),))
    return (int(best_epoch), float(best_score), int(n_epochs), bool(stopped), message), history


def _model_from_fields(cls, arrays):
    version = _field(arrays, "version", "iu", shape=())
    if int(version) != _MODEL_VERSION:
        raise _FieldError("version", f"unsupported model file version {int(version)} "
                                     f"(this astra_np reads {_MODEL_VERSION})")
    est = _load_params(cls, arrays)
    sizes, params = _load_network(est, arrays)
    classes, pos_index = _load_classes(est, arrays)
    mean, scale = _load_scaling(arrays, sizes[0])
    (best_epoch, best_score, n_epochs, stopped, message), history = _load_fit_info(est, arrays)
    est.classes_ = classes
    est._pos_index_ = pos_index
    est._set_fitted(params, mean, scale, history, best_epoch, best_score, n_epochs, stopped, message)
    if "feature_names_json" in arrays:  # absent for a model fitted without column names
        est.feature_names_in_ = _load_feature_names(arrays, sizes[0])
    return est


def _load_feature_names(arrays, n_x):
    text = str(_field(arrays, "feature_names_json", "U", shape=()))
    try:
        names = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _FieldError("feature_names_json", f"not valid JSON ({type(exc).__name__})") from None
    if not (isinstance(names, list) and len(names) == n_x and all(isinstance(n, str) for n in names)):
        raise _FieldError("feature_names_json", f"expected a list of {n_x} str, got {text[:80]!r}")
    return np.asarray(names, dtype=object)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store parameter value {value!r} in a model file")

r"""Input validation shared by every public function.

Every check raises ``ValueError`` whose message names the argument and shows the
offending value, in the spirit of scikit-learn's parameter validation. Nothing is
silently clipped or dropped. Numeric inputs of any real dtype (integers, float16,
float32, float64) are converted to float64, so results are float64 whatever the
input dtype; the conversion is exact for every float16/float32 value and every
integer of magnitude up to 2**53. Booleans are not numbers here: ``True`` is refused
where a number is expected, and a number where a boolean is expected.
"""
import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_finite",
    "check_slope",
    "check_tau",
    "check_probability",
    "check_binary_labels",
    "check_same_shape",
    "check_both_classes",
    "check_bool",
    "check_random_state",
    "SIZE_LIMITS",
    "check_size",
]


def _show(value, limit=6):
    """Short printable form of a (possibly large) value for error messages."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    flat = arr.ravel()
    text = ", ".join(repr(v) for v in flat[:limit].tolist())
    more = ", ..." if flat.size > limit else ""
    return f"array of shape {arr.shape} [{text}{more}]"


def as_float_array(name, value):
    r"""Convert ``value`` to a float64 array, refusing complex, object or string data."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be numeric, got {value!r}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic containers
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype} ({_show(arr)})")
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must be real, got complex values ({_show(arr)})")
    return np.asarray(arr, dtype=np.float64)


def _refuse_bool(name, value):
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise ValueError(f"{name} must be a real number, not a boolean, got {_show(value)}")


def is_integer(value):
    r"""An integer, Python or NumPy; a ``bool`` is not one (though Python counts it as ``int``)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


#: The largest value of every size argument (of the estimator, the trainer, the protocol
#: and the commands), checked before anything is allocated. The paper's settings sit far
#: inside: 10,000 epochs, one hidden layer of a few units, 10 repeats of 5 folds.
SIZE_LIMITS = {
    "epochs": 10 ** 6,             # the per-epoch history holds 5 float64s an epoch: 40 MB
    "hidden_units": 10 ** 5,       # units of one hidden layer
    "hidden_layers": 100,          # hidden layers
    "network_entries": 2 ** 28,    # training rows x hidden units + parameters (float64: 2 GiB)
    "batch_size": 2 ** 31 - 1,
    "repeats": 1000,
    "folds": 1000,
    "positives": 2 ** 31 - 1,
    "history_points": 10 ** 6,
    "workers": 1024,
    "max_in_flight": 10 ** 5,
    "points": 10 ** 6,             # gradcheck: points per elementwise derivative
    "draws": 10 ** 4,              # gradcheck: draws of 40 examples
    "mp_points": 10 ** 4,          # gradcheck: points checked against mpmath
    "max_failures": 10 ** 6,       # vectors --validate: failing cases printed
}


def check_size(name, value, limit=None, minimum=1):
    r"""Validate a size argument: an integer in ``[minimum, SIZE_LIMITS[limit or name]]``.

    Returns it as an ``int``; ``ValueError`` naming the argument, the value and the bounds.
    """
    maximum = SIZE_LIMITS[limit or name]
    if not is_integer(value) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {value!r}")
    return int(value)


def check_finite(name, value):
    r"""Return ``value`` as float64, raising ``ValueError`` if any entry is NaN or inf."""
    arr = as_float_array(name, value)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{name} must be finite, got {_show(bad)} (in {_show(arr)})")
    return arr


#: Smallest accepted slope. Below it ``softplus(b x + log b)`` (about ``b`` near
#: ``x = 0``) is subnormal while ``s = softplus(.)/b`` is of order 1, so no float64
#: evaluation of Eq. 4 keeps its digits; the paper's range is ``b >= 1``.
B_MIN = 1e-100


def check_slope(value, name="b"):
    r"""Validate the ASTra slope: finite and ``b >= 1e-100`` (``b >= 1`` is the paper's range).

    ``b <= 0`` is outside Eq. 4's domain; ``0 < b < 1e-100`` (:data:`B_MIN`) is inside
    it but its intermediates are subnormal, so it is refused rather than answered
    inaccurately. A boolean (``b=True``) is refused, as for every scalar parameter.
    """
    _refuse_bool(name, value)
    arr = check_finite(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {_show(arr[arr <= 0])}")
    if np.any(arr < B_MIN):
        raise ValueError(
            f"{name} must be >= {B_MIN!r} (smaller slopes have subnormal intermediates), "
            f"got {_show(arr[arr < B_MIN])}"
        )
    return arr


def check_tau(value, name="tau"):
    r"""Validate a threshold: in (0, 0.5] and not subnormal (``tau >= 2.2e-308``).

    A subnormal ``tau`` is refused: ``dz/dy_hat = (1 - tau)/tau`` at ``y_hat = 0`` (Eq. 6)
    would overflow, and ``tau`` itself carries no relative precision there.
    """
    _refuse_bool(name, value)
    arr = check_finite(name, value)
    bad = (arr <= 0) | (arr > 0.5)
    if np.any(bad):
        raise ValueError(f"{name} must be in (0, 0.5], got {_show(arr[bad])}")
    tiny = np.finfo(np.float64).tiny
    if np.any(arr < tiny):
        raise ValueError(f"{name} must be in (0, 0.5] and >= {tiny!r} (not subnormal), got {_show(arr[arr < tiny])}")
    return arr


def check_probability(value, name="p"):
    r"""Validate probabilities: finite and in the closed interval [0, 1]."""
    arr = check_finite(name, value)
    bad = (arr < 0) | (arr > 1)
    if np.any(bad):
        raise ValueError(f"{name} must be in [0, 1], got {_show(arr[bad])}")
    return arr


def check_binary_labels(value, name="y"):
    r"""Validate labels: every entry is 0 or 1 (bool or numeric). Returns float64."""
    arr = np.asarray(value)
    if arr.dtype == bool:
        return arr.astype(np.float64)
    arr = check_finite(name, arr)
    bad = (arr != 0) & (arr != 1)
    if np.any(bad):
        raise ValueError(
            f"{name} must hold binary labels 0/1 (minority = 1), got {_show(np.unique(arr[bad]))}"
        )
    return arr


def check_same_shape(name_a, a, name_b, b):
    r"""Raise ``ValueError`` unless ``a`` and ``b`` have identical shapes."""
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {np.shape(a)} and {np.shape(b)}"
        )


def check_both_classes(y, name="y"):
    r"""Raise ``ValueError`` unless ``y`` holds at least one 0 and one 1. Returns (m0, m1)."""
    m1 = int(np.count_nonzero(y))
    m0 = int(np.size(y)) - m1
    if m1 == 0:
        raise ValueError(f"{name} has no positive (label 1) example; need at least one of each class")
    if m0 == 0:
        raise ValueError(f"{name} has no negative (label 0) example; need at least one of each class")
    return m0, m1


def check_scalar(name, value):
    r"""Validate a finite real scalar (Python or NumPy); returns it as float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    arr = check_finite(name, value)
    if arr.ndim != 0 and arr.size != 1:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    return float(arr.reshape(()))


def finish(arr):
    r"""Return a NumPy scalar for a 0-d result and the array itself otherwise."""
    arr = np.asarray(arr)
    return arr[()] if arr.ndim == 0 else arr


def broadcast_pair(name_a, a, name_b, b):
    r"""Broadcast two arrays, raising ``ValueError`` naming both if their shapes clash."""
    try:
        return np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(
            f"{name_a} and {name_b} must have broadcast-compatible shapes, "
            f"got {np.shape(a)} and {np.shape(b)}"
        ) from None


def check_bool(name, value):
    r"""Validate a flag: ``True`` or ``False`` (Python or NumPy bool) only; returns a bool.

    Strings, numbers and ``None`` are refused: ``astra="no"`` is not ``True``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_random_state(value, name="random_state"):
    r"""Validate a seed: None, an integer >= 0, or a NumPy ``Generator``, ``SeedSequence``
    or ``BitGenerator`` (what ``numpy.random.default_rng`` accepts, bar arrays)."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be None, an integer >= 0 or a numpy.random.Generator, got {value!r}")
    return value


def check_features(name, X, n_features=None):
    r"""A feature matrix: numeric (bool, int or float), 2-D, non-empty, finite; returns a
    float64 copy. ``n_features``: the number of columns it must have.

    The one check of ``X`` for the trainer, the network, the fused kernel and the
    protocol (the estimator adds scikit-learn's conventions on top of it).
    """
    X = np.asarray(X)
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        i, j = (int(v) for v in np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"{name} must be finite (no NaN or inf): {name}[{i}, {j}] = {float(X[i, j])}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but {n_features} are expected")
    return X


def check_features_and_labels(name_X, X, name_y, y):
    r"""``(X, y)`` for training: :func:`check_features`, and ``y`` of shape ``(n,)`` holding
    0/1 labels (minority = 1); returns ``(float64 X, int64 y)``."""
    X = check_features(name_X, X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"{name_y} must have shape ({X.shape[0]},) to match {name_X}, got {y.shape}")
    if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name_y} must hold binary labels 0/1 (minority = 1), got {np.unique(y)[:6]}")
    return X, y.astype(np.int64)


def check_logits_and_labels(logit, y):
    r"""``(logit, y)`` of a loss on logits: finite, non-empty, the same shape, 0/1 labels."""
    logit = check_finite("logit", logit)
    y = check_binary_labels(y)
    check_same_shape("logit", logit, "y", y)
    if logit.size == 0:
        raise ValueError("logit must not be empty")
    return logit, y


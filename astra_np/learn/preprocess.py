r"""The preprocessing of :class:`astra_np.learn.estimator.ASTraClassifier`: the rows and
labels a user passes, made into what the trainer takes.

* **Checks** of ``X`` (dense, numeric, real, 2-D, non-empty, finite) and ``y`` (1-D,
  labels of one kind that NumPy keeps exactly), with scikit-learn's messages, and of
  the column names of a data frame against those seen in ``fit`` (columns are matched
  by name, never by position).
* **Labels**: the two classes, the positive one (``positive_class``, else the rarer),
  and the mapping of labels to 0/1 (minority = 1).
* **Standardisation**: the training rows' per-feature mean and standard deviation
  (:func:`standardization`, exact for features of tiny values) and
  :func:`standardize_rows`.
* **The stratified hold-out** of ``validation_fraction``.
"""
import numbers
import sys
import warnings

import numpy as np

__all__ = [
    "DataConversionWarning",
    "standardization",
    "standardize_rows",
    "classes_and_positive",
    "labels_to01",
]


class DataConversionWarning(UserWarning):
    r"""Warning used when the input was converted (a column-vector ``y`` was raveled)."""



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


def classes_and_positive(y, positive_class=None, estimator="ASTraClassifier"):
    r"""The two classes of ``y`` (sorted) and the index of the positive one:
    ``positive_class``, else the rarer class (``classes[1]`` on a tie)."""
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(
            f"{estimator} needs samples of 2 classes, but the data contains only 1 class: "
            f"{classes.tolist()}"
        )
    if classes.size > 2:
        raise ValueError(
            f"Only binary classification is supported. The type of the target is multiclass "
            f"({classes.size} classes)."
        )
    if positive_class is None:
        counts = np.array([np.count_nonzero(y == c) for c in classes])
        return classes, 0 if counts[0] < counts[1] else 1
    match = np.flatnonzero(classes == positive_class)
    if match.size != 1:
        raise ValueError(f"positive_class={positive_class!r} is not one of the classes "
                         f"{classes.tolist()}")
    return classes, int(match[0])


def labels_to01(y, classes, pos_index, name="y"):
    r"""``y`` as 0/1 (1 for ``classes[pos_index]``); ``ValueError`` naming ``name`` for a
    label that is not one of ``classes``."""
    known = np.isin(y, classes)
    if not np.all(known):
        raise ValueError(f"{name} has labels not seen in fit: {np.unique(y[~known])[:6].tolist()}; "
                         f"classes_ = {classes.tolist()}")
    return (y == classes[pos_index]).astype(np.int64)

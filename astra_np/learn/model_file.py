r"""The model file of :class:`astra_np.learn.estimator.ASTraClassifier`: an ``.npz`` archive,
no pickles.

:func:`write_model` stores a fitted estimator (its parameters as ``params_json``, the
network as ``layer_sizes`` and the flat ``theta``, the classes, the standardisation
statistics, the fit's outcome and history, and ``feature_names_json`` when ``fit`` saw
column names), written atomically. :func:`read_model` reads it back field by field:
each member's ``.npy`` header (dtype, shape) is checked against what the field must be
before its data are read, and every value against its range and the other fields, so
that a model that loads predicts exactly like the one saved; a damaged file is one
``ValueError`` naming the file and the field.
"""
import json
import math
import numbers
import os
import stat
import zipfile

import numpy as np

from ..core._io import atomic_output, loads_json
from .nn import MLPParams, _check_sizes
from .train import HISTORY_KEYS

__all__ = ["MODEL_FORMAT", "write_model", "read_model"]

#: Tag stored in every saved model file (``format`` entry of the .npz archive).
MODEL_FORMAT = "astra_np.ASTraClassifier"
_MODEL_VERSION = 1


def write_model(est, path):
    r"""Write the fitted estimator ``est`` to the ``.npz`` file ``path`` (atomically)."""
    params = est.get_params()
    if not isinstance(params["random_state"], (type(None), numbers.Integral)):
        params["random_state"] = None
    classes = np.asarray(est.classes_)
    if classes.dtype == object:
        classes = classes.astype(str)
    arrays = {
        "format": np.array(MODEL_FORMAT),
        "version": np.array(_MODEL_VERSION),
        "params_json": np.array(json.dumps(params, default=_json_default)),
        "layer_sizes": np.asarray(est.params_.layer_sizes, dtype=np.int64),
        "theta": est.params_.to_vector(),
        "classes": classes,
        "classes_dtype": np.array(classes.dtype.str),
        "pos_index": np.array(est._pos_index_),
        "mean": est.mean_,
        "scale": est.scale_,
        "fit_info": np.array([est.best_epoch_, est.best_score_, est.n_epochs_, float(est.stopped_)]),
        "message": np.array(est.training_message_),
    }
    for key in HISTORY_KEYS:
        arrays["history__" + key] = np.asarray(est.history_[key])
    if hasattr(est, "feature_names_in_"):
        arrays["feature_names_json"] = np.array(json.dumps(list(est.feature_names_in_)))
    with atomic_output(path) as fh:
        np.savez(fh, **arrays)


def read_model(cls, path):
    r"""The estimator of class ``cls`` stored in ``path`` by :func:`write_model`.

    ``ValueError`` naming the file, and the field for a damaged one (see
    :meth:`astra_np.learn.estimator.ASTraClassifier.load`).
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
        config = est.check_params()
    except ValueError as exc:
        raise _FieldError("params_json", str(exc)) from None
    return est, config.method


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
    est, method = _load_params(cls, arrays)
    sizes, params = _load_network(est, arrays)
    classes, pos_index = _load_classes(est, arrays)
    mean, scale = _load_scaling(arrays, sizes[0])
    (best_epoch, best_score, n_epochs, stopped, message), history = _load_fit_info(est, arrays)
    est.classes_ = classes
    est._pos_index_ = pos_index
    est._set_fitted(method, params, mean, scale, history, best_epoch, best_score, n_epochs, stopped, message)
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

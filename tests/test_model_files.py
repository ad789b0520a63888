"""Damaged model files: hypothesis mutations of a saved ``.npz`` (a field removed,
retyped, reshaped, set to NaN or out of range, the parameters' JSON broken). ``load``
either returns a model that predicts exactly like the saved one, or raises one
``ValueError`` naming the field."""
import json
import os
import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from astra_np.learn.estimator import ASTraClassifier
from astra_np.study.datasets import make_imbalanced

X, Y = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
LABELS = np.where(Y == 1, "pos", "neg")


def _saved(labels, frame=False):
    clf = ASTraClassifier(epochs=6, random_state=0).fit(_frame(X) if frame else X, labels)
    fd, path = tempfile.mkstemp(suffix=".npz")
    os.close(fd)
    clf.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    os.unlink(path)
    return clf, arrays


def _frame(A):
    return pd.DataFrame(A, columns=[f"x{j}" for j in range(A.shape[1])])


MODELS = {"int": _saved(Y), "str": _saved(LABELS), "names": _saved(Y, frame=True)}

# Values outside each field's range (a model saved by astra_np never holds them). Any
# other value of ``classes`` or ``mean`` would be a different valid model, not damage.
OUT_OF_RANGE = {
    "version": [0, 2, -1], "layer_sizes": [0, -1, 10 ** 6], "pos_index": [-1, 2, 10 ** 9],
    "theta": [np.inf, -np.inf], "mean": [np.inf, -np.inf], "scale": [0.0, -1.0, np.inf, 1e-320 * 0],
    "fit_info": [-1.0, 1e308, 0.5, np.inf, 7.0], "classes": [],
}
RETYPES = ["float64", "float32", "float16", "int64", "int32", "uint8", "bool", "U", "S"]
PARAM_VALUES = [-1, 0, 1e308, "x", None, True, [], {}]
JSON_TEXTS = ["[]", "[1, 2]", "{}", "null", "{bad", "3", '"text"']


def _retype(a, kind):
    if kind == "U":
        return a.astype(str)
    if kind == "S":
        return np.char.encode(a.astype(str), "ascii")
    return a.astype(kind)


@st.composite
def mutations(draw, arrays):
    field = draw(st.sampled_from(sorted(arrays)))
    a = arrays[field]
    what = draw(st.sampled_from(["remove", "retype", "reshape", "nan", "range", "json"]))
    if what == "remove":
        return field, None
    if what == "retype":
        kind = draw(st.sampled_from(RETYPES))
        try:
            return field, _retype(a, kind)
        except (ValueError, TypeError, UnicodeEncodeError, OverflowError):
            assume(False)
    if what == "reshape":
        shapes = [(1,) + a.shape, a.shape + (1,), (0,), (a.size + 1,)]
        if a.size == 1:
            shapes.append(())
        shape = draw(st.sampled_from(shapes))
        if shape == (a.size + 1,):
            return field, np.concatenate([a.ravel(), a.ravel()[:1]])
        return field, a.reshape(shape) if int(np.prod(shape)) == a.size else a.ravel()[:0].reshape(shape)
    if what == "nan":
        assume(a.size > 0)
        b = a.astype(np.float64) if a.dtype.kind in "biuf" else np.full(a.shape, np.nan)
        b = b.copy()
        b.ravel()[draw(st.integers(0, a.size - 1))] = np.nan
        return field, b
    if what == "range":
        values = OUT_OF_RANGE.get(field, [])
        if field == "classes":  # duplicate labels
            return field, np.array([a[0], a[0]])
        assume(values and a.size > 0)
        b = a.copy()
        v = draw(st.sampled_from(values))
        try:
            b.ravel()[draw(st.integers(0, a.size - 1))] = v
        except (ValueError, OverflowError):
            assume(False)
        return field, b
    # a damaged parameter list
    assume(field == "params_json")
    params = json.loads(str(a))
    choice = draw(st.sampled_from(["text", "drop", "value", "extra"]))
    if choice == "text":
        return field, np.array(draw(st.sampled_from(JSON_TEXTS)))
    key = draw(st.sampled_from(sorted(params)))
    if choice == "drop":
        del params[key]
    elif choice == "extra":
        params["no_such_parameter"] = 1
    else:
        # none of these is a valid, different setting of a parameter that shapes the
        # prediction (method, proba, hidden_layer_sizes, positive_class)
        params[key] = draw(st.sampled_from(PARAM_VALUES))
    return field, np.array(json.dumps(params))


def _predictions(clf):
    A = _frame(X) if hasattr(clf, "feature_names_in_") else X
    return clf.predict(A), clf.predict_proba(A), clf.decision_function(A)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), which=st.sampled_from(sorted(MODELS)))
def test_mutated_model_file_loads_identically_or_names_the_field(data, which):
    clf, arrays = MODELS[which]
    field, value = data.draw(mutations(arrays))
    damaged = dict(arrays)
    if value is None:
        del damaged[field]
    else:
        damaged[field] = value
    fd, path = tempfile.mkstemp(suffix=".npz")
    os.close(fd)
    try:
        np.savez(path, **damaged)
        try:
            back = ASTraClassifier.load(path)
        except ValueError as exc:
            msg = str(exc)
            assert "\n" not in msg
            if field == "format":
                assert "not an astra_np model file" in msg, msg
            else:
                assert f"field {field!r}" in msg, msg
            return
    finally:
        os.unlink(path)
    for got, want in zip(_predictions(back), _predictions(clf)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.classes_.dtype == clf.classes_.dtype
    assert getattr(back, "feature_names_in_", None) is None or (
        back.feature_names_in_.tolist() == clf.feature_names_in_.tolist())


def test_unmodified_file_round_trips_exactly():
    for clf, arrays in MODELS.values():
        fd, path = tempfile.mkstemp(suffix=".npz")
        os.close(fd)
        np.savez(path, **arrays)
        back = ASTraClassifier.load(path)
        os.unlink(path)
        for got, want in zip(_predictions(back), _predictions(clf)):
            np.testing.assert_array_equal(got, want)


def test_pickled_field_is_named(tmp_path):
    clf, arrays = MODELS["int"]
    damaged = dict(arrays, classes=np.array([0, "a"], dtype=object))
    np.savez(tmp_path / "m.npz", **damaged)
    with pytest.raises(ValueError, match="field 'classes'"):
        ASTraClassifier.load(tmp_path / "m.npz")

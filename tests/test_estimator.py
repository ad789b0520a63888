"""Tests of astra_np.learn.estimator.ASTraClassifier and the ``train`` command line."""
import json
import pickle
import zipfile

import numpy as np
import pytest

import astra_np
from astra_np.cli import train as train_cli
from astra_np.core.activation import threshold
from astra_np.core.metrics import confusion_matrix, g_mean
from astra_np.learn.estimator import (
    ASTraClassifier,
    DataConversionWarning,
    NotFittedError,
    TrainingStoppedWarning,
)
from astra_np.study.datasets import make_imbalanced


@pytest.fixture(scope="module")
def data():
    X, y = make_imbalanced(n_samples=1500, n_features=5, n_positives=14, random_state=1, separation=4.0)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return ASTraClassifier(epochs=150, random_state=0).fit(X, y)


def test_fitted_attributes(fitted, data):
    X, y = data
    clf = fitted
    assert clf.classes_.tolist() == [0, 1]
    assert clf.n_features_in_ == 5
    assert clf.params_.layer_sizes == (5, 3, 1)
    assert 1 <= clf.best_epoch_ <= 150 and clf.n_epochs_ == 150 and not clf.stopped_
    assert len(clf.history_["loss"]) == 150
    # slope_ and threshold_ are those of the kept (best-epoch) parameters
    assert clf.slope_ == clf.history_["b"][clf.best_epoch_ - 1]
    assert clf.threshold_ == pytest.approx(float(threshold(clf.slope_)), rel=1e-15, abs=0)  # same formula
    assert clf.mean_.shape == clf.scale_.shape == (5,)


def test_prediction_rules_agree(fitted, data):
    X, y = data
    clf = fitted
    d = clf.decision_function(X)
    pred = clf.predict(X)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(pred, (d >= 0).astype(int))
    np.testing.assert_array_equal(np.argmax(proba, axis=1), (proba[:, 1] > 0.5).astype(int))
    assert np.all((proba[:, 1] >= 0.5) == (d >= 0))  # z >= 0.5 iff x >= 0
    # the columns are sigmoid(+-logit): they sum to 1 within an ulp or two
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=4e-16)
    lp = clf.predict_log_proba(X)
    # log of the same quantities, two formulas (log_expit vs log(expit)): 1e-14 relative
    np.testing.assert_allclose(np.exp(lp), proba, rtol=1e-13, atol=1e-300)
    out = ASTraClassifier(**{**clf.get_params(), "proba": "output"})
    out.__dict__.update({k: v for k, v in vars(clf).items() if k.endswith("_")})
    yhat = out.predict_proba(X)[:, 1]
    # y-hat >= tau iff x >= 0 (Eq. 5); rows within 1e-12 of the threshold are ambiguous
    clear = np.abs(yhat - clf.threshold_) > 1e-12
    np.testing.assert_array_equal((yhat >= clf.threshold_)[clear], (d >= 0)[clear])
    assert clf.score(X, y) == pytest.approx(np.mean(pred == y), rel=0, abs=0)


def test_astra_finds_the_minority_where_bce_does_not():
    # IR = 599 (20 positives in 12,000 rows). Same budget (2,000 epochs, Adam 0.001) for
    # every method; the trained networks are compared on held-out rows. Plain BCE
    # learns to call everything negative (G-Mean 0); both ASTra methods find the
    # minority. (Best-on-validation by FNR_apx is switched off: it would pick BCE's
    # near-random first epochs, which says nothing about what BCE learns.)
    X, y = make_imbalanced(n_samples=12000, n_features=9, n_positives=20, random_state=0, separation=4.5)
    assert (y.size - y.sum()) / y.sum() >= 500
    rng = np.random.default_rng(0)
    pos, neg = rng.permutation(np.flatnonzero(y == 1)), rng.permutation(np.flatnonzero(y == 0))
    test = np.concatenate([pos[: pos.size // 3], neg[: neg.size // 3]])
    train = np.setdiff1d(np.arange(y.size), test)
    scores = {}
    for method in ("bce", "bce-astra", "gmn-astra"):
        clf = ASTraClassifier(method=method, epochs=2000, validation_fraction=None, random_state=0)
        clf.fit(X[train], y[train])
        scores[method] = g_mean(confusion_matrix(y[test], clf.predict(X[test])))
    assert scores["bce"] == 0.0, scores
    assert scores["bce-astra"] > 0.7, scores
    assert scores["gmn-astra"] > 0.9, scores


def test_determinism_and_pickle(data):
    X, y = data
    a = ASTraClassifier(epochs=40, random_state=3).fit(X, y)
    b = ASTraClassifier(epochs=40, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.params_.to_vector(), b.params_.to_vector())
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.decision_function(X), a.decision_function(X))


def test_get_set_params_and_repr():
    clf = ASTraClassifier(epochs=7, method="bce")
    p = clf.get_params()
    assert p["epochs"] == 7 and p["method"] == "bce" and p["validation_fraction"] == 0.25
    assert {"method", "hidden_layer_sizes", "epochs", "learning_rate", "tau_init", "monitor",
            "validation_fraction", "random_state"} <= set(p)
    clone = ASTraClassifier(**p)
    assert clone.get_params() == p
    assert clf.set_params(epochs=9) is clf and clf.epochs == 9
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(n_epochs=3)
    assert repr(clf) == "ASTraClassifier(epochs=9, method='bce')"


def test_string_labels_and_positive_class(data):
    X, y = data
    labels = np.where(y == 1, "rare", "common")
    a = ASTraClassifier(epochs=30, random_state=0).fit(X, labels)
    assert a.classes_.tolist() == ["common", "rare"]  # positive = classes_[1] = "rare"
    labels2 = np.where(y == 1, "a_rare", "b_common")
    b = ASTraClassifier(epochs=30, random_state=0, positive_class="a_rare").fit(X, labels2)
    # same 0/1 problem, so the same network; the decision is negated for classes_[0]
    np.testing.assert_array_equal(b.decision_function(X), -a.decision_function(X))
    np.testing.assert_array_equal(b.predict(X) == "a_rare", a.predict(X) == "rare")
    np.testing.assert_array_equal(b.predict_proba(X)[:, ::-1], a.predict_proba(X))
    with pytest.raises(ValueError, match="positive_class"):
        ASTraClassifier(epochs=2, positive_class="zzz").fit(X, labels)


def test_validation_options(data):
    X, y = data
    Xv, yv = X[:500], y[:500]
    a = ASTraClassifier(epochs=20, random_state=0).fit(X[500:], y[500:], validation_data=(Xv, yv))
    assert np.all(np.isfinite(a.history_["val_monitor"]))
    b = ASTraClassifier(epochs=20, random_state=0, validation_fraction=None).fit(X, y)
    assert b.best_epoch_ == 20 and np.all(np.isnan(b.history_["val_monitor"]))
    with pytest.raises(ValueError, match="pair"):
        ASTraClassifier(epochs=2).fit(X, y, validation_data=Xv)
    with pytest.raises(ValueError, match="not seen in fit"):
        ASTraClassifier(epochs=2).fit(X, y, validation_data=(Xv, yv + 5))
    tiny_y = np.zeros(50, dtype=int)
    tiny_y[0] = 1
    with pytest.raises(ValueError, match="stratified"):
        ASTraClassifier(epochs=2).fit(np.random.default_rng(0).standard_normal((50, 2)), tiny_y)


def test_standardize_makes_affine_feature_changes_irrelevant(data):
    X, y = data
    a = ASTraClassifier(epochs=30, random_state=0).fit(X, y)
    b = ASTraClassifier(epochs=30, random_state=0).fit(10.0 * X + 3.0, y)
    # identical after standardisation up to rounding of (10x + 3 - mean) / sd
    np.testing.assert_allclose(b.decision_function(10.0 * X + 3.0), a.decision_function(X), rtol=1e-9, atol=1e-9)
    c = ASTraClassifier(epochs=30, random_state=0, standardize=False).fit(X, y)
    assert np.all(c.mean_ == 0) and np.all(c.scale_ == 1)


def test_input_errors(data, fitted):
    X, y = data
    with pytest.raises(NotFittedError, match="not fitted"):
        ASTraClassifier().predict(X)
    with pytest.raises(ValueError, match="Only binary"):
        ASTraClassifier(epochs=2).fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="1 class"):
        ASTraClassifier(epochs=2).fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        ASTraClassifier(epochs=2).fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="requires y"):
        ASTraClassifier(epochs=2).fit(X, None)
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        fitted.predict(Xn)
    with pytest.raises(ValueError, match="X has 2 features, but ASTraClassifier is expecting 5"):
        fitted.predict(X[:, :2])
    with pytest.raises(ValueError, match="Complex"):
        fitted.predict(X.astype(complex))
    with pytest.raises(ValueError, match="method"):
        ASTraClassifier(method="focal").fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        ASTraClassifier(epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction"):
        ASTraClassifier(validation_fraction=1.5).fit(X, y)
    with pytest.warns(DataConversionWarning, match="column-vector"):
        ASTraClassifier(epochs=2, random_state=0).fit(X, y[:, None])


def test_training_stopped_warning(data):
    X, y = data
    with pytest.warns(TrainingStoppedWarning, match="training stopped at epoch"):
        clf = ASTraClassifier(epochs=30, learning_rate=1e300, random_state=0).fit(X, y)
    assert clf.stopped_ and clf.n_epochs_ < 30
    assert np.all(np.isfinite(clf.decision_function(X)))


# ------------------------------------------------------------------ save / load


def test_save_load_round_trip(fitted, data, tmp_path):
    X, _ = data
    path = tmp_path / "model.npz"
    fitted.save(path)
    back = ASTraClassifier.load(path)
    np.testing.assert_array_equal(back.decision_function(X), fitted.decision_function(X))
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    assert back.get_params() == fitted.get_params()
    for k in fitted.history_:
        np.testing.assert_array_equal(back.history_[k], fitted.history_[k])
    for attr in ("best_epoch_", "best_score_", "slope_", "threshold_", "n_epochs_", "stopped_"):
        assert getattr(back, attr) == getattr(fitted, attr)
    with np.load(path, allow_pickle=False) as f:  # no pickles inside
        assert str(f["format"]) == "astra_np.ASTraClassifier"


def test_save_load_string_classes(data, tmp_path):
    X, y = data
    clf = ASTraClassifier(epochs=5, random_state=0, hidden_layer_sizes=(4, 2)).fit(X, np.where(y, "r", "c"))
    clf.save(tmp_path / "m.npz")
    back = ASTraClassifier.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    assert back.hidden_layer_sizes == (4, 2)


def test_load_rejects_bad_files(fitted, tmp_path):
    good = tmp_path / "good.npz"
    fitted.save(good)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    text = tmp_path / "text.npz"
    text.write_text("hello")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array([{"x": 1}], dtype=object))
    wrong_version = tmp_path / "v99.npz"
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(wrong_version, **{**arrays, "version": np.array(99)})
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.arange(4.0))
    bad_theta = tmp_path / "theta.npz"
    np.savez(bad_theta, **{**arrays, "theta": arrays["theta"][:-2]})
    cases = [
        (tmp_path / "missing.npz", "does not exist"),
        (truncated, "not a readable astra_np model file"),
        (text, "not a readable astra_np model file"),
        (foreign, "not an astra_np model file"),
        (pickled, "not a readable astra_np model file"),
        (npy, "single array"),
        (wrong_version, "version 99"),
        (bad_theta, "damaged"),
    ]
    for path, match in cases:
        with pytest.raises(ValueError, match=match):
            ASTraClassifier.load(path)
    assert zipfile.is_zipfile(good)
    with pytest.raises(NotFittedError):
        ASTraClassifier().save(tmp_path / "x.npz")


# ------------------------------------------------------------------ command line


def test_train_command(tmp_path, capsys):
    X, y = make_imbalanced(n_samples=800, n_features=3, n_positives=6, random_state=2, separation=4.5)
    csv = tmp_path / "d.csv"
    rows = ["f1,f2,f3,cls"] + [
        ",".join(f"{v:.8f}" for v in r) + ("," + ("yes" if t else "no")) for r, t in zip(X, y)
    ]
    csv.write_text("\n".join(rows) + "\n")
    model, hist = tmp_path / "m.npz", tmp_path / "h.csv"
    code = train_cli.main(["--data", str(csv), "--label", "cls", "--epochs", "40", "--seed", "1",
                           "--save", str(model), "--history", str(hist)])
    out = capsys.readouterr().out
    assert code == 0
    assert "6 positive(s)" in out and "threshold tau" in out and "G-Mean" in out
    clf = ASTraClassifier.load(model)
    assert clf.n_epochs_ == 40 and clf.random_state == 1
    table = np.loadtxt(hist, delimiter=",", skiprows=1)
    assert table.shape == (40, 9)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, 41))
    assert train_cli.main(["--data", str(tmp_path / "none.csv")]) == 2
    assert "error:" in capsys.readouterr().err
    assert train_cli.main(["--data", str(csv), "--epochs", "0"]) == 2
    assert "argument --epochs: expected an integer in [1, 1000000], got '0'" in capsys.readouterr().err


def test_importable_from_package():
    assert astra_np.ASTraClassifier is ASTraClassifier
    json.dumps(ASTraClassifier().get_params())  # parameters are plain values


def test_default_positive_class_is_the_rarer_one():
    # ASTra's positive is the minority: with the labels flipped (minority = 0) the
    # estimator must still treat the minority as positive, not classes_[1].
    X, y = make_imbalanced(n_samples=800, n_features=3, n_positives=6, random_state=2, separation=4.5)
    flipped = ASTraClassifier(method="gmn-astra", epochs=300, random_state=0).fit(X, 1 - y)
    straight = ASTraClassifier(method="gmn-astra", epochs=300, random_state=0).fit(X, y)
    assert flipped._pos_index_ == 0 and straight._pos_index_ == 1
    # the same network is trained either way: predictions are the flipped labels
    np.testing.assert_array_equal(flipped.predict(X), 1 - straight.predict(X))
    # and the majority can still be chosen explicitly
    majority = ASTraClassifier(method="bce", epochs=5, random_state=0, positive_class=1).fit(X, 1 - y)
    assert majority._pos_index_ == 1

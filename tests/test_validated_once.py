"""Validated once: the public entry points (ASTraClassifier.fit, train, EpochKernel,
ReferencePath, the train command) check X, y and the options once and resolve the
method's name once; the trainer and the training paths below them check nothing again.

Every checking function is replaced, in every astra_np module that holds it, by a
counter of its calls."""
import sys

import numpy as np
import pytest

from astra_np.cli import train as train_cli
from astra_np.core import _validation, registry
from astra_np.learn import preprocess
from astra_np.learn.estimator import ASTraClassifier
from astra_np.learn.kernel import EpochKernel
from astra_np.learn.nn import ReferencePath, default_hidden_sizes
from astra_np.learn.train import train
from astra_np.study.datasets import make_imbalanced

COUNTED = {
    "get_method": (registry, "get_method"),
    "check_features_and_labels": (_validation, "check_features_and_labels"),
    "check_features": (_validation, "check_features"),
    "estimator_check_X": (preprocess, "_check_X"),
    "estimator_check_y": (preprocess, "_check_y"),
}


@pytest.fixture
def calls(monkeypatch):
    r"""``calls[name]``: the first argument of every call of each counted function made
    from outside its own module (``check_features`` inside ``check_features_and_labels``
    is part of that one check)."""
    seen = {name: [] for name in COUNTED}
    for name, (home, attr) in COUNTED.items():
        original = getattr(home, attr)

        def counter(*args, _name=name, _original=original, **kwargs):
            seen[_name].append(args[0] if args else None)
            return _original(*args, **kwargs)

        for module in list(sys.modules.values()):
            if module is home and name == "check_features":
                continue
            if getattr(module, "__name__", "").startswith("astra_np") and getattr(module, attr, None) is original:
                monkeypatch.setattr(module, attr, counter)
    return seen


@pytest.fixture(scope="module")
def data():
    X, y = make_imbalanced(n_samples=400, n_features=3, n_positives=40, random_state=3)
    Xv, yv = make_imbalanced(n_samples=200, n_features=3, n_positives=20, random_state=4)
    return X, y, Xv, yv


def _counts(calls):
    return {name: len(v) for name, v in calls.items()}


def test_the_counters_count(calls):
    registry.get_method("gmn")
    ASTraClassifier(method="gmn").check_params()
    assert _counts(calls)["get_method"] == 2


@pytest.mark.parametrize("batch_size", [None, 100])
def test_fit_checks_X_y_once_and_resolves_the_method_once(calls, data, batch_size):
    X, y, Xv, yv = data
    clf = ASTraClassifier(epochs=3, random_state=0, batch_size=batch_size)
    clf.fit(X, y, validation_data=(Xv, yv))
    assert clf.n_epochs_ == 3
    assert _counts(calls) == {"get_method": 1, "check_features_and_labels": 0, "check_features": 0,
                              "estimator_check_X": 2, "estimator_check_y": 2}
    assert calls["get_method"] == ["gmn-astra"]


def test_fit_with_a_held_out_fraction_checks_once(calls, data):
    X, y, _, _ = data
    ASTraClassifier(epochs=2, random_state=0, validation_fraction=0.25).fit(X, y)
    assert _counts(calls) == {"get_method": 1, "check_features_and_labels": 0, "check_features": 0,
                              "estimator_check_X": 1, "estimator_check_y": 1}


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("batch_size", [None, 100])
def test_train_checks_each_array_pair_once(calls, data, fast, batch_size):
    X, y, Xv, yv = data
    result = train(X, y, Xv, yv, method="bce-astra", epochs=3, random_state=0, fast=fast, batch_size=batch_size)
    assert result.n_epochs == 3 and result.method == "bce-astra"
    assert _counts(calls) == {"get_method": 1, "check_features_and_labels": 2, "check_features": 0,
                              "estimator_check_X": 0, "estimator_check_y": 0}
    assert calls["check_features_and_labels"] == ["X", "X_val"]


@pytest.mark.parametrize("path", [EpochKernel, ReferencePath])
def test_a_training_path_checks_at_its_own_entry_once(calls, data, path):
    X, y, _, _ = data
    sizes = (X.shape[1], default_hidden_sizes(X.shape[1])[0], 1)
    p = path(X, y, sizes, "gmn")
    theta = np.full(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + 1, 0.1)
    grad = np.empty_like(theta)
    for _ in range(3):
        p.loss_and_grad(theta, grad)
        p.counts(theta)
    assert _counts(calls)["get_method"] == 1
    assert _counts(calls)["check_features_and_labels"] == 1
    assert _counts(calls)["check_features"] == 0


def test_the_train_command_checks_the_options_once(calls, data, tmp_path, capsys, monkeypatch):
    X, y, _, _ = data
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",", fmt="%.17g", header="a,b,c,y",
               comments="")
    fit, at_end_of_fit = ASTraClassifier._fit_with, []

    def counted_fit(self, *args, **kwargs):
        out = fit(self, *args, **kwargs)
        at_end_of_fit.append(_counts(calls))  # the report's predictions come after
        return out

    monkeypatch.setattr(ASTraClassifier, "_fit_with", counted_fit)
    assert train_cli.main(["--data", str(tmp_path / "d.csv"), "--epochs", "2", "--seed", "0"]) == 0
    capsys.readouterr()
    assert at_end_of_fit == [{"get_method": 1, "check_features_and_labels": 0, "check_features": 0,
                              "estimator_check_X": 1, "estimator_check_y": 1}]

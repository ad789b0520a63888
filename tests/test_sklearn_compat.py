"""scikit-learn compatibility of ASTraClassifier (skipped without scikit-learn)."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from astra_np.learn.estimator import ASTraClassifier  # noqa: E402


def _quick():
    # check_estimator fits dozens of times on tiny, balanced data: few epochs and a
    # larger learning rate so that its accuracy checks (> 0.83 on blobs) are met quickly
    return ASTraClassifier(epochs=100, learning_rate=0.05)


def test_check_estimator():
    with warnings.catch_warnings():
        # scikit-learn warns that the class does not inherit from its BaseEstimator
        # (deliberately: astra_np does not import scikit-learn), and that it skips the
        # pandas / array-API checks when those are not installed.
        warnings.filterwarnings("ignore", message=".*does not inherit from", category=UserWarning)
        warnings.simplefilter("ignore", sklearn.exceptions.SkipTestWarning)
        results = check_estimator(_quick(), on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_clone_pipeline_and_cross_validation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 1.2).astype(int)
    est = make_pipeline(StandardScaler(), ASTraClassifier(epochs=150, learning_rate=0.02, random_state=0))
    scores = cross_val_score(est, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.8)
    c = clone(ASTraClassifier(method="bce", epochs=5))
    assert c.get_params()["method"] == "bce"
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(c)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        c.predict(X)
    with pytest.warns(sklearn.exceptions.DataConversionWarning):
        clone(c).set_params(epochs=2).fit(X, y[:, None])
    c.fit(X, y)
    check_is_fitted(c)

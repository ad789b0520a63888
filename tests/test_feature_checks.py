"""One check of feature matrices and labels, shared by the trainer, the network, the
fused kernel and the protocol: the same refusal, naming the argument and the entry."""
import numpy as np
import pytest

from astra_np.core._validation import check_features, check_features_and_labels
from astra_np.learn import nn
from astra_np.learn.kernel import EpochKernel
from astra_np.learn.train import train
from astra_np.study.protocol import run_experiment

X = np.arange(12.0).reshape(6, 2)
Y = np.array([1, 0, 0, 1, 0, 0])


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), r"X must be finite \(no NaN or inf\): X\[0, 1\] = nan"),
    (np.array([[1.0, 2.0], [np.inf, 1.0]]), r"X\[1, 0\] = inf"),
    (np.zeros((0, 2)), "non-empty 2-D"),
    (np.zeros(4), "non-empty 2-D"),
    (np.array([["a", "b"]]), "numeric"),
])
def test_every_consumer_refuses_the_same_way(bad, message):
    y = np.array([1, 0])[: len(bad)] if bad.ndim == 2 else np.array([1, 0, 0, 0])
    with pytest.raises(ValueError, match=message):
        check_features("X", bad)
    with pytest.raises(ValueError, match=message):
        train(bad, y, epochs=1)
    with pytest.raises(ValueError, match=message):
        EpochKernel(bad, y, (2, 1), method="bce")
    with pytest.raises(ValueError, match=message):
        run_experiment(bad, y, "never-written", epochs=1)
    if bad.ndim == 2 and bad.shape[0] and bad.dtype.kind == "f":
        with pytest.raises(ValueError, match=message):
            nn.forward(nn.init_params(2, (3,), random_state=0), bad)


def test_labels_and_feature_count():
    with pytest.raises(ValueError, match=r"y must have shape \(6,\) to match X"):
        check_features_and_labels("X", X, "y", Y[:5])
    with pytest.raises(ValueError, match="y must hold binary labels"):
        check_features_and_labels("X", X, "y", Y + 1)
    with pytest.raises(ValueError, match="X has 2 features, but 3 are expected"):
        check_features("X", X, 3)
    Xc, yc = check_features_and_labels("X", X.astype(np.float32), "y", Y.astype(bool))
    assert Xc.dtype == np.float64 and yc.dtype == np.int64
    np.testing.assert_array_equal(Xc, X)
    np.testing.assert_array_equal(yc, Y)

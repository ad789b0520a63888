"""An experiment's result prints as a short summary; the records stay one attribute away
(astra_np.study.protocol.ExperimentResult)."""
import numpy as np

from astra_np.study.datasets import make_imbalanced
from astra_np.study.protocol import run_experiment
from astra_np.study.report import METRICS


def test_an_experiment_result_prints_as_a_short_summary(tmp_path):
    X, y = make_imbalanced(n_samples=600, n_positives=10, random_state=3)
    res = run_experiment(X, y, tmp_path / "run", dataset="small", repeats=1, folds=5,
                         epochs=20, seed=1, progress=False, history_points=20,
                         methods=("gmn", "gmn-astra"))
    assert res.complete and len(res.records) == 10
    for text in (str(res), repr(res)):
        assert len(text) < 2000
        assert "10 of 10 folds done (complete" in text and "data set: small" in text
        for key, label in METRICS:
            mean = np.mean([r[key] for r in res.records if r["method"] == "gmn-astra"])
            assert f"{label} {mean:.3f}" in text
        assert "GMN-ASTra" in text and "history" not in text
    assert all("history" in r for r in res.records)

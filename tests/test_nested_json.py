"""Deeply nested JSON is one clear line, never a RecursionError, wherever astra_np reads
JSON: the model file's params_json, the store's records and meta.json, the splits, the
vectors (the last ones also in tests/test_store.py and tests/test_validate_strict.py)."""
import numpy as np
import pytest

from astra_np.core._io import loads_json
from astra_np.learn.estimator import ASTraClassifier
from astra_np.study.datasets import make_imbalanced
from astra_np.study.splits import load_splits
from astra_np.study.store import ResultsStore

DEEP = "[" * 100000 + "]" * 100000


def test_loads_json_one_line():
    for text in (DEEP, DEEP.encode(), '{"a":' * 50000 + "1" + "}" * 50000):
        with pytest.raises(ValueError, match=r"^what: not valid JSON \(nested too deeply\)$"):
            loads_json(text, "what")
    with pytest.raises(ValueError, match=r"^what: not UTF-8 text"):
        loads_json(b"\xff[]", "what")
    assert loads_json("[[1]]", "what") == [[1]]


def test_model_params_json_nested(tmp_path):
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
    path = tmp_path / "m.npz"
    ASTraClassifier(epochs=2, random_state=0).fit(X, y).save(path)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["params_json"] = np.array(DEEP)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"field 'params_json': not valid JSON \(nested too deeply\)") as err:
        ASTraClassifier.load(tmp_path / "bad.npz")
    assert "\n" not in str(err.value)


def test_meta_and_splits_nested(tmp_path):
    (tmp_path / "meta.json").write_text(DEEP)
    with pytest.raises(ValueError, match=r"meta.json: not valid JSON \(nested too deeply\)"):
        ResultsStore(tmp_path).read_meta()
    with pytest.raises(ValueError, match=r"^splits: not valid JSON \(nested too deeply\)$"):
        load_splits(DEEP)

"""No silent wrong answers: each defect of the reliability audit, one test (or more) each.

Ctrl-C during an experiment is covered by tests/test_interrupt.py, the classes of
problem by tests/test_fuzz_files.py, tests/test_cli_contract.py and
tests/test_model_files.py.
"""
import json
import warnings

import numpy as np
import pytest

from astra_np.cli import experiment as experiment_cli
from astra_np.cli import gradcheck as gradcheck_cli
from astra_np.cli import train as train_cli
from astra_np.core.activation import astra
from astra_np.core.losses import head_logits, head_loss
from astra_np.core.metrics import approx_metrics_from_logits, confusion_matrix, g_mean, mcc, rates
from astra_np.learn.estimator import ASTraClassifier
from astra_np.study.data import MAX_FEATURE_INDEX, load_dataset
from astra_np.study.datasets import make_imbalanced
from astra_np.study.protocol import run_experiment
from astra_np.study.store import ResultsStore


def _write_csv(path, X, labels, header=True):
    with open(path, "w") as fh:
        if header:
            fh.write(",".join([f"f{j}" for j in range(X.shape[1])] + ["y"]) + "\n")
        for row, lab in zip(X, labels):
            fh.write(",".join(repr(float(v)) for v in row) + f",{lab}\n")


def _one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --------------------------------------------------------------------------- defect 1
@pytest.fixture
def train_and_val(tmp_path):
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
    _write_csv(tmp_path / "train.csv", X, np.where(y == 1, "pos", "neg"))
    Xv, yv = make_imbalanced(n_samples=60, n_features=3, n_positives=20, random_state=2)
    yv = 1 - yv  # the validation file's positives are its majority: 40 "pos", 20 "neg"
    _write_csv(tmp_path / "val.csv", Xv, np.where(yv == 1, "pos", "neg"))
    return tmp_path


def test_defect1_validation_file_takes_the_training_positive_class(train_and_val, capsys, monkeypatch):
    d = train_and_val
    _, _, info = load_dataset(d / "train.csv", return_info=True)
    assert info["positive"] == "pos" and info["classes"] == ["neg", "pos"]
    Xv, yv = load_dataset(d / "val.csv", minority=info["positive"], classes=info["classes"])
    assert int(yv.sum()) == 40  # not inverted to the file's rarer class
    seen = {}
    fit = ASTraClassifier._fit_with  # the training of fit and of the train command

    def spy(self, config, X, y, validation_data=None):
        seen["y_val"], seen["positive_class"] = validation_data[1], self.positive_class
        return fit(self, config, X, y, validation_data=validation_data)

    monkeypatch.setattr(ASTraClassifier, "_fit_with", spy)
    assert train_cli.main(["--data", str(d / "train.csv"), "--val-data", str(d / "val.csv"),
                           "--epochs", "5"]) == 0
    assert int(seen["y_val"].sum()) == 40 and seen["positive_class"] == 1
    out = capsys.readouterr().out
    val_line = [ln for ln in out.splitlines() if ln.startswith("validation")][0]
    tp = int(val_line.split("TP=")[1].split()[0])
    fn = int(val_line.split("FN=")[1].split()[0])
    assert tp + fn == 40
    assert "positive class 'pos'" in out


def test_defect1_minority_given_is_the_positive_class_of_the_model(train_and_val, capsys):
    d = train_and_val
    assert train_cli.main(["--data", str(d / "train.csv"), "--minority", "neg", "--epochs", "3",
                           "--validation-fraction", "0"]) == 0
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if ln.startswith("training ") and "TP=" in ln][0]
    tp, fn = (int(line.split(k + "=")[1].split()[0]) for k in ("TP", "FN"))
    assert tp + fn == 292  # the "neg" rows are label 1, as asked


def test_defect1_validation_labels_outside_the_training_set_are_refused(train_and_val, capsys):
    d = train_and_val
    text = (d / "val.csv").read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",other"
    (d / "val2.csv").write_text("\n".join(text) + "\n")
    assert train_cli.main(["--data", str(d / "train.csv"), "--val-data", str(d / "val2.csv"),
                           "--epochs", "5"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("error: --val-data:") and "row 4: label 'other'" in err


# --------------------------------------------------------------------------- defect 2
def test_defect2_a_data_row_is_never_taken_for_a_header(tmp_path, capsys):
    body = "".join(f"{i},{(3 * i) % 7},{'pos' if i % 5 == 0 else 'neg'}\n" for i in range(1, 30))
    (tmp_path / "typo.csv").write_text("1.5x,2,neg\n" + body)
    with pytest.raises(ValueError, match=r"typo.csv: row 1, column '0': '1.5x' is not a number"):
        load_dataset(tmp_path / "typo.csv")
    assert train_cli.main(["--data", str(tmp_path / "typo.csv"), "--epochs", "2"]) == 2
    assert "row 1, column '0'" in _one_line(capsys.readouterr().err)
    # two non-numeric cells of three: still data, refused by cell
    (tmp_path / "typo2.csv").write_text("x,2,neg\n" + body)
    with pytest.raises(ValueError, match=r"row 1, column '0': 'x' is not a number"):
        load_dataset(tmp_path / "typo2.csv")
    # every feature mistyped but the label is a label of other rows: not a header either
    (tmp_path / "typo3.csv").write_text("x,z,neg\n" + body)
    with pytest.raises(ValueError, match=r"row 1, column '0': 'x' is not a number"):
        load_dataset(tmp_path / "typo3.csv")
    # a clean headerless file loads every row, and the output says there is no header
    (tmp_path / "ok.csv").write_text("7,1,neg\n" + body)
    X, y, info = load_dataset(tmp_path / "ok.csv", return_info=True)
    assert X.shape == (30, 2) and info["header"] is None
    assert train_cli.main(["--data", str(tmp_path / "ok.csv"), "--epochs", "2"]) == 0
    assert "30 rows" in capsys.readouterr().out
    (tmp_path / "h.csv").write_text("a,b,label\n7,1,neg\n" + body)
    X, y, info = load_dataset(tmp_path / "h.csv", return_info=True)
    assert X.shape == (30, 2) and info["header"] == ["a", "b", "label"]


# --------------------------------------------------------------------------- defect 3
def test_defect3_output_paths_checked_before_any_work(train_and_val, tmp_path, capsys, monkeypatch):
    def no_training(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(ASTraClassifier, "_fit_with", no_training)  # the training of fit and of the command
    data = str(train_and_val / "train.csv")
    (tmp_path / "file.txt").write_text("")
    for option, path in [("--save", tmp_path / "missing" / "m.npz"), ("--save", tmp_path),
                         ("--history", tmp_path / "file.txt" / "h.csv"), ("--history", tmp_path)]:
        assert train_cli.main(["--data", data, option, str(path)]) == 2
        err = _one_line(capsys.readouterr().err)
        assert f"argument {option}:" in err
    assert not (tmp_path / "missing").exists()


def test_defect3_gradcheck_negative_seed(capsys):
    assert gradcheck_cli.main(["--seed", "-1", "--points", "5"]) == 2
    assert "argument --seed: expected a seed" in _one_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- defect 4
def test_defect4_refused_hyperparameter_writes_nothing(tmp_path, capsys):
    out = tmp_path / "x"
    for args in (["--learning-rate", "-1"], ["--tau-init", "0.9"], ["--learning-rate", "nan"]):
        assert experiment_cli.main(["--quick", "--epochs", "2", "--repeats", "1", "--workers", "1",
                                    "--no-progress", "--methods", "bce", "--out", str(out)] + args) == 2
        assert _one_line(capsys.readouterr().err).startswith("python -m astra_np experiment: error: argument --")
        assert not out.exists()
    X, y = make_imbalanced(n_samples=200, n_positives=6, random_state=0)
    run = dict(repeats=1, folds=3, epochs=2, methods=["bce"], workers=1, progress=False, report=False)
    for params in ({"learning_rate": -1.0}, {"tau_init": 0.9}, {"random_state": 3}, {"hidden_layer_sizes": 0}):
        with pytest.raises(ValueError):
            run_experiment(X, y, out, estimator_params=params, **run)
        assert not out.exists()
    # an explicit default is the same configuration as an omitted one
    run_experiment(X, y, out, **run)
    again = run_experiment(X, y, out, estimator_params={"learning_rate": 0.001, "tau_init": 0.25}, **run)
    assert again.complete and again.new == 0


# --------------------------------------------------------------------------- defect 5
def test_defect5_huge_libsvm_indices_refused_before_allocating(tmp_path):
    (tmp_path / "a.libsvm").write_text("1 1:2 1000000000000:3\n0 1:1\n")
    with pytest.raises(ValueError) as err:
        load_dataset(tmp_path / "a.libsvm")
    msg = str(err.value)
    assert "row 1, column 1000000000000" in msg and str(MAX_FEATURE_INDEX) in msg
    rows = "".join(f"{i % 2} 1:{i} 2:{i * i % 7}\n" for i in range(199)) + "1 100000:1\n"
    (tmp_path / "b.libsvm").write_text(rows)
    with pytest.raises(ValueError) as err:
        load_dataset(tmp_path / "b.libsvm")
    assert len(str(err.value)) < 400 and "\n" not in str(err.value)  # one short line


# --------------------------------------------------------------------------- defect 6
def test_defect6_metrics_of_huge_counts():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            assert mcc([[1e308, 1], [1, 1e308]]) == 1.0
            assert mcc([[1e308, 1e308], [1, 1e308]]) == pytest.approx(0.5, rel=1e-15, abs=0)
            assert rates([[1e308, 1e308], [1e308, 1e308]]) == {"tpr": 0.5, "tnr": 0.5, "fnr": 0.5, "fpr": 0.5}
            assert g_mean([[1e308, 1e308], [1e308, 1e308]]) == pytest.approx(0.5, rel=1e-15, abs=0)
            m = approx_metrics_from_logits(np.array([1e308, -1e308, 1e308, -1e308]), np.array([1, 0, 0, 1]))
            assert m["g_mean"] == pytest.approx(0.5, rel=1e-15, abs=0) and m["log_e_ratio"] == 0.0
            m = approx_metrics_from_logits(np.array([1e308, -1e308, -1e308]), np.array([1, 0, 0]))
            assert m["g_mean"] == 1.0 and m["tpr"] == 1.0 and m["mcc"] == pytest.approx(1.0, rel=1e-15, abs=0)
    # ordinary counts: Eq. 2 as written (products of square roots: a few ulps)
    assert mcc([[5, 1], [2, 3]]) == pytest.approx(13 / np.sqrt(840.0), rel=4e-16, abs=0)
    assert rates([[5, 1], [2, 3]])["fnr"] == 2 / 5


# --------------------------------------------------------------------------- defect 7
def test_defect7_standardisation_overflow_is_one_error_without_warnings():
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="standardisation overflows float64: feature 0"):
            ASTraClassifier(epochs=2, random_state=0).fit(X * 1e307, y)


# --------------------------------------------------------------------------- defect 8
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
    path = tmp_path_factory.mktemp("m") / "m.npz"
    ASTraClassifier(epochs=5, random_state=0).fit(X, y).save(path)
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


@pytest.mark.parametrize("field, value", [
    ("fit_info", np.array([])),
    ("params_json", np.array("[1, 2]")),
    ("pos_index", np.array(2)),
    ("scale", np.array([np.nan, 1.0, 1.0])),
    ("scale", np.array([0.0, 1.0, 1.0])),
    ("classes", np.array([1, 1])),
])
def test_defect8_crafted_model_file_is_one_value_error_naming_the_field(saved, tmp_path, field, value):
    arrays = dict(saved, **{field: value})
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"field '{field}'"):
        ASTraClassifier.load(path)


# --------------------------------------------------------------------------- defect 10
def test_defect10_flags_must_be_booleans_and_numbers_not_booleans():
    with pytest.raises(ValueError, match="astra must be True or False, got 'no'"):
        head_loss([0.5, -1.0], 0.0, [1, 0], astra="no")
    with pytest.raises(ValueError, match="z must be True or False"):
        head_logits([0.5], 0.0, z=1)
    with pytest.raises(ValueError, match="b must be a real number, not a boolean"):
        astra(0.5, b=True)
    with pytest.raises(ValueError, match="random_state must be None, an integer >= 0"):
        ASTraClassifier(random_state="a").fit(np.eye(4), [0, 1, 0, 0])
    with pytest.raises(ValueError, match="random_state must be None, an integer >= 0"):
        make_imbalanced(random_state="a")
    with pytest.raises(ValueError, match="separation must be a finite real number"):
        make_imbalanced(separation=True)


def test_defect10_array_hidden_sizes_save_and_load(tmp_path):
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
    clf = ASTraClassifier(hidden_layer_sizes=np.array([3]), epochs=3, random_state=0).fit(X, y)
    clf.save(tmp_path / "m.npz")
    back = ASTraClassifier.load(tmp_path / "m.npz")
    assert back.hidden_layer_sizes == (3,)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_defect10_empty_confusion_matrix_and_float_dtypes():
    with pytest.raises(ValueError, match="empty"):
        confusion_matrix([], [])
    # documented: every real input dtype is converted to float64, exactly
    import astra_np.core._validation as V

    assert "converted to float64" in V.__doc__
    for dt in (np.float16, np.float32):
        x = np.array([0.5, -2.0], dtype=dt)
        got = astra(x, 2.0)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, astra(x.astype(np.float64), 2.0))


def test_defect10_blank_line_and_bad_record_in_the_store(tmp_path):
    store = ResultsStore(tmp_path / "r")
    store.open({"a": 1}, "v")
    store.append({"repeat": 0, "rotation": 0, "method": "bce"})
    store.close()
    path = tmp_path / "r" / "folds.jsonl"
    path.write_bytes(path.read_bytes() + b"\n  \n")
    again = ResultsStore(tmp_path / "r")
    assert len(again.open({"a": 1}, "v")) == 1  # resumes
    again.append({"repeat": 0, "rotation": 1, "method": "bce"})
    again.close()
    assert len(ResultsStore(tmp_path / "r").load()) == 2
    for bad, what in ((b"[1, 2]\n", "not a fold record"), (b'{"repeat": 0}\n', "key field"),
                      (b"{oops\n", "corrupted")):
        path.write_bytes(b'{"repeat":0,"rotation":0,"method":"bce"}\n' + bad)
        with pytest.raises(ValueError, match=f"folds.jsonl: line 2.*{what}"):
            ResultsStore(tmp_path / "r").load()


def test_defect10_protocol_methods_come_from_the_registry():
    from astra_np.core.losses import METHODS
    from astra_np.core.registry import paper_method_names
    from astra_np.study import protocol

    assert protocol.METHOD_ORDER == tuple(paper_method_names())  # the default: the paper's four
    with pytest.raises(ValueError, match="unknown method"):
        run_experiment(np.eye(6), np.array([0, 1] * 3), "unused", methods=["nope"])
    assert json.dumps(list(METHODS))  # the CLI's choices are the registry's keys, and "all"
    assert experiment_cli.build_parser()._option_string_actions["--methods"].choices == [*METHODS, "all"]
    assert experiment_cli._methods(["all"]) == list(METHODS)
    assert experiment_cli._methods(["gmn-astra", "bce"]) == ["bce", "gmn-astra"]

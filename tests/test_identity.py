"""Data enter by identity: columns matched by name, labels compared exactly, LIBSVM
index bases decided once for the files of a run, model files read field by field
against their declared shapes.

Each numbered case of the second reliability audit on the data and model-file side
has a test here (the others: tests/test_reliability.py and tests/test_cli_contract.py);
the property tests close the class: any column permutation of a headed validation file
or of a DataFrame at predict gives the same fit or a clear refusal, and LIBSVM files
written with either index base give the same arrays.
"""
import io
import json
import os
import threading
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astra_np.cli import train as train_cli
from astra_np.learn.estimator import ASTraClassifier
from astra_np.study.data import load_dataset
from astra_np.study.datasets import make_imbalanced

X3, Y3 = make_imbalanced(n_samples=300, n_features=3, n_positives=8, random_state=1)
NAMES = ["f0", "f1", "f2"]


def _one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _write_table(path, X, labels, names, label_name="y", label_at=None, header=True):
    r"""A CSV of ``X`` and ``labels`` with the columns in ``names`` order (feature names
    ``f0``.. index ``X``'s columns); the label column is inserted at ``label_at``."""
    cols = [int(n[1:]) for n in names]
    order = list(names)
    at = len(order) if label_at is None else label_at
    order.insert(at, label_name)
    with open(path, "w") as fh:
        if header:
            fh.write(",".join(order) + "\n")
        for row, lab in zip(X, labels):
            cells = [repr(float(row[j])) for j in cols]
            cells.insert(at, str(lab))
            fh.write(",".join(cells) + "\n")
    return str(path)


def _labels(y):
    return np.where(y == 1, "pos", "neg")


def _train(argv, capsys):
    capsys.readouterr()
    code = train_cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- defect 1
@pytest.fixture
def files(tmp_path):
    Xv, yv = make_imbalanced(n_samples=80, n_features=3, n_positives=10, random_state=2)
    train = _write_table(tmp_path / "train.csv", X3, _labels(Y3), NAMES)
    return tmp_path, train, Xv, yv


def test_defect1_validation_file_is_aligned_to_the_training_file_by_name(files, capsys):
    d, train, Xv, yv = files
    same = _write_table(d / "same.csv", Xv, _labels(yv), NAMES)
    moved = _write_table(d / "moved.csv", Xv, _labels(yv), ["f2", "f0", "f1"], label_at=0)
    _, _, info = load_dataset(train, return_info=True)
    a = load_dataset(same, training=info)
    b, yb, vinfo = load_dataset(moved, training=info, return_info=True)
    np.testing.assert_array_equal(b, a[0])  # the training file's column order
    np.testing.assert_array_equal(yb, a[1])
    assert vinfo["aligned"] == "by name"
    outs = []
    for val in (same, moved):
        code, out, err = _train(["--data", train, "--val-data", val, "--epochs", "20", "--seed", "3"], capsys)
        assert code == 0, err
        outs.append([ln for ln in out.splitlines() if not ln.startswith("val data")])
    assert outs[0] == outs[1]  # the same fit, the same validation report, to the last digit
    assert "columns matched by name" in out


def test_defect1_validation_columns_that_do_not_match_are_refused(files, capsys):
    d, train, Xv, yv = files
    renamed = _write_table(d / "renamed.csv", Xv, _labels(yv), NAMES, label_name="class")
    code, _, err = _train(["--data", train, "--val-data", renamed, "--epochs", "2"], capsys)
    assert code == 2
    err = _one_line(err)
    assert err.startswith("error: --val-data: ") and "missing ['y']" in err and "['class']" in err
    # no header to align by and another width: refused
    narrow = d / "narrow.csv"
    narrow.write_text("".join(f"{float(r[0])!r},{float(r[1])!r},{lab}\n" for r, lab in zip(Xv, _labels(yv))))
    code, _, err = _train(["--data", train, "--val-data", str(narrow), "--epochs", "2"], capsys)
    assert code == 2
    assert "3 columns, the training file has 4" in _one_line(err)
    # no header, the same width: by position, and the output says so
    plain = _write_table(d / "plain.csv", Xv, _labels(yv), NAMES, header=False)
    code, out, err = _train(["--data", train, "--val-data", plain, "--epochs", "2"], capsys)
    assert code == 0, err
    assert "columns matched by position" in out


# ----------------------------------------------------------------------------- defect 3
def _libsvm(path, X, y, base, top=True):
    with open(path, "w") as fh:
        for row, lab in zip(X, y):
            cells = [f"{j + base}:{float(v)!r}" for j, v in enumerate(row) if v != 0 and (top or j < X.shape[1] - 1)]
            fh.write(" ".join([str(int(lab))] + cells) + "\n")
    return str(path)


def test_defect3_libsvm_index_base_is_the_training_files(tmp_path, capsys):
    Xv, yv = make_imbalanced(n_samples=80, n_features=3, n_positives=10, random_state=2)
    train = _libsvm(tmp_path / "t.libsvm", X3, Y3, base=0)
    val = _libsvm(tmp_path / "v.libsvm", np.column_stack([np.zeros(80), Xv[:, 1:]]), yv, base=0)
    _, _, info = load_dataset(train, return_info=True)
    assert info["index_base"] == 0
    Xg, _ = load_dataset(val, training=info)  # no index 0 in the file, yet 0-based like the training file
    np.testing.assert_array_equal(Xg[:, 1:], Xv[:, 1:])
    np.testing.assert_array_equal(Xg[:, 0], 0.0)
    # a validation file whose rows lack the top index: compatible, accepted
    short = _libsvm(tmp_path / "s.libsvm", Xv, yv, base=0, top=False)
    Xs, _ = load_dataset(short, training=info)
    assert Xs.shape == (80, 3)
    np.testing.assert_array_equal(Xs[:, :2], Xv[:, :2])
    code, _, err = _train(["--data", train, "--val-data", short, "--epochs", "2"], capsys)
    assert code == 0, err
    # an index beyond the training file's, or 0 against a 1-based training file: refused
    one = _libsvm(tmp_path / "one.libsvm", X3, Y3, base=1)
    zero = _libsvm(tmp_path / "zero.libsvm", Xv, yv, base=0)
    code, _, err = _train(["--data", one, "--val-data", zero, "--epochs", "2"], capsys)
    assert code == 2 and "index 0, but the training file's indices are 1-based" in _one_line(err)
    with pytest.raises(ValueError, match=r"give either training= or minority=: a file read with training="):
        load_dataset(short, training=info, minority="1")
    with pytest.raises(ValueError, match=r"training= must be the info of the training file"):
        load_dataset(short, training={"format": "libsvm"})
    wide = _libsvm(tmp_path / "w.libsvm", np.column_stack([Xv, Xv[:, :1]]), yv, base=0)
    with pytest.raises(ValueError, match=r"row 1, column 3: feature index above the training file's largest, 2"):
        load_dataset(wide, training=info)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 5))
def test_identity_libsvm_either_base_gives_the_same_arrays(seed, d):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(12, d)), 3) * (rng.random((12, d)) < 0.7)
    X[0] = 1.0 + np.arange(d)  # every column non-constant, with a value in it
    X[1] = 0.0
    y = np.zeros(12, dtype=np.int64)
    y[[3, 7]] = 1
    with _tmpdir() as tmp:
        got = []
        for base in (0, 1):
            train = _libsvm(os.path.join(tmp, f"t{base}.svm"), X, y, base)
            val = _libsvm(os.path.join(tmp, f"v{base}.svm"), X[1:], y[1:], base, top=False)
            Xt, yt, info = load_dataset(train, return_info=True)
            got.append((Xt, yt) + load_dataset(val, training=info))
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got[0][0], X)


def _tmpdir():
    import tempfile

    return tempfile.TemporaryDirectory()


# ---------------------------------------------------------------------------- defect 10
def test_defect10_a_pandas_header_is_a_header(tmp_path, capsys):
    body = "".join(f"{i},{(3 * i) % 7},{(5 * i) % 11},{i % 4},{int(i % 9 == 0)}\n" for i in range(1, 40))
    p = tmp_path / "pandas.csv"
    p.write_text("0,1,2,3,y\n" + body)
    X, y, info = load_dataset(p, minority="1", return_info=True)
    assert info["header"] == ["0", "1", "2", "3", "y"] and X.shape == (39, 4)
    assert info["classes"] == ["0", "1"]  # no third class "y"
    X2, y2 = load_dataset(p)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    code, out, err = _train(["--data", str(p), "--label", "y", "--epochs", "2"], capsys)
    assert code == 0, err
    assert "39 rows, 4 features" in out and "header row ['0', '1', '2', '3', 'y']" in out
    # a damaged first data row is not a header: a missing or non-finite label, repeated cells
    for first, message in (("0,1,2,3,\n", r"row 1, column '4': missing label"),
                           ("0,1,2,3,nan\n", r"label column holds 3 classes"),
                           ("1,1,2,3,y\n", r"label column holds 3 classes")):
        p.write_text(first + body)
        with pytest.raises(ValueError, match=message):
            load_dataset(p)
    p.write_text("0,1,2,3,y\n" + body)
    # the label named but absent: the message says what the first row holds
    with pytest.raises(ValueError, match=r"no column named 'z': the first row \['0', '1', '2', '3', 'y'\] does not"):
        load_dataset(p, label="z")


# ------------------------------------------------------------------------ labels, exactly
@pytest.mark.parametrize("a, b", [("0.1", "0.10000000000000001"), ("9007199254740993", "9007199254740992"),
                                  ("1e-400", "0"), ("a", "a\x00"), ("1e999999999999999999999", "1")])
def test_low_distinct_labels_never_merge(tmp_path, a, b):
    p = tmp_path / "d.csv"
    rows = [f"{i},{(7 * i) % 5},{a if i % 4 == 0 else b}\n" for i in range(12)]
    p.write_text("x,z,y\n" + "".join(rows))
    _, y, info = load_dataset(p, return_info=True)
    assert len(info["classes"]) == 2 and int(y.sum()) == 3


def test_low_equal_numbers_are_one_label(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("x,y\n1,1\n2,1.0\n3,+1\n4,0\n5,0e5\n6,-0\n7,1E0\n")
    _, y, info = load_dataset(p, minority="1.00", return_info=True)
    assert info["classes"] == ["0", "1"] and y.tolist() == [1, 1, 1, 0, 0, 0, 1]


# ------------------------------------------------------------------- files that never end
def _unblock(fifo, seconds=5.0):
    r"""Open ``fifo`` for writing once a reader waits on it (then close it: end of file), so
    a loader that reads a FIFO fails the test instead of hanging it."""
    def run():
        for _ in range(int(seconds / 0.05)):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:
                time.sleep(0.05)

    threading.Thread(target=run, daemon=True).start()


def test_low_fifo_and_devices_are_refused_before_reading(tmp_path, capsys):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    _unblock(str(fifo))
    for path in (str(fifo), "/dev/zero"):  # the FIFO first: /dev/zero would be read until memory runs out
        with pytest.raises(ValueError, match=r"not a regular file"):
            load_dataset(path)
        code, _, err = _train(["--data", path, "--epochs", "2"], capsys)
        assert code == 2 and "not a regular file" in _one_line(err)


# -------------------------------------------------------------- messages, on the right line
@pytest.mark.parametrize("text, message", [
    ('a,b,y\n1,2,0\n3,"4,1\n5,6,0\n7,8,1\n', r"row 3: a quoted field runs over 2 line break"),
    ("a,b,y\n1,2,0,\n3,4,1,\n5,6,0,\n", r"row 2 has 4 fields, expected 3 like the first row \(a trailing ','"),
    ("a,b,y,\n1,2,0,\n3,4,1,\n5,6,0,\n", r"every row ends with the delimiter ','"),
    ("# my data\na,b,y\n1,2,0\n3,4,1\n5,6,0\n", r"row 1 starts with '#': comment lines are not allowed"),
    ("a,b,y\n1,2,0\n# note\n3,4,1\n5,6,0\n", r"row 3 starts with '#': comment lines are not allowed"),
    ("a,b,y\n1,2,0\n3,1e400,1\n5,6,0\n", r"row 3, column 'b': '1e400' is beyond the float64 range"),
])
def test_low_messages_name_the_right_row_and_cause(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_dataset(p)


def test_low_libsvm_overflowing_value(tmp_path):
    p = tmp_path / "bad.libsvm"
    p.write_text("1 1:2 2:1\n0 1:3 2:-1e999\n")
    with pytest.raises(ValueError, match=r"row 2, column 2: '-1e999' is beyond the float64 range"):
        load_dataset(p)


# ------------------------------------------------------------ the class: any permutation
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(perm=st.permutations(range(4)), renamed=st.sampled_from([None, 0, 1, 2, 3]))
def test_identity_any_column_permutation_of_a_validation_file(files, perm, renamed):
    d, train, Xv, yv = files
    _, _, info = load_dataset(train, return_info=True)
    want = load_dataset(_write_table(d / "ref.csv", Xv, _labels(yv), NAMES), training=info)
    order = [(NAMES + ["y"])[k] for k in perm]
    path = _write_table(d / "perm.csv", Xv, _labels(yv), [n for n in order if n != "y"], label_at=order.index("y"))
    if renamed is not None:  # one column name that the training file does not have
        lines = (d / "perm.csv").read_text().split("\n", 1)
        header = lines[0].split(",")
        header[renamed] = "other"
        (d / "perm.csv").write_text(",".join(header) + "\n" + lines[1])
        with pytest.raises(ValueError, match=r"are not the training file's .*not in the training file \['other'\]"):
            load_dataset(path, training=info)
        return
    got = load_dataset(path, training=info)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


# ----------------------------------------------------------------------------- defect 2
def _frame(X, names=NAMES):
    return pd.DataFrame(X, columns=names)


@pytest.fixture(scope="module")
def frame_model():
    return ASTraClassifier(epochs=30, random_state=0).fit(_frame(X3), Y3)


def test_defect2_dataframe_column_names_are_checked(frame_model, tmp_path):
    clf = frame_model
    assert clf.feature_names_in_.tolist() == NAMES
    want = clf.predict(_frame(X3))
    reversed_ = _frame(X3[:, ::-1], NAMES[::-1])
    with pytest.raises(ValueError, match="Feature names must be in the same order as they were in fit"):
        clf.predict(reversed_)
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- g0\n"):
        clf.predict_proba(_frame(X3, ["g0", "f1", "f2"]))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(clf.predict(X3), want)
    plain = ASTraClassifier(epochs=3, random_state=0).fit(X3, Y3)
    with pytest.warns(UserWarning, match="X has feature names, but ASTraClassifier was fitted without"):
        plain.predict(_frame(X3))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        ASTraClassifier(epochs=3, random_state=0).fit(_frame(X3), Y3, validation_data=(reversed_, Y3))
    with pytest.raises(TypeError, match="Feature names are only supported if all input features have string"):
        ASTraClassifier(epochs=3).fit(pd.DataFrame(X3, columns=["a", 1, "c"]), Y3)
    clf.save(tmp_path / "m.npz")
    back = ASTraClassifier.load(tmp_path / "m.npz")
    assert back.feature_names_in_.tolist() == NAMES
    np.testing.assert_array_equal(back.predict(_frame(X3)), want)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        back.predict(reversed_)


@settings(max_examples=20, deadline=None)
@given(perm=st.permutations(range(3)))
def test_identity_any_column_permutation_of_a_dataframe_at_predict(frame_model, perm):
    names = [NAMES[k] for k in perm]
    frame = _frame(X3[:, list(perm)], names)
    if names == NAMES:
        np.testing.assert_array_equal(frame_model.decision_function(frame),
                                      frame_model.decision_function(_frame(X3)))
        return
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        frame_model.decision_function(frame)


# ----------------------------------------------------------------------------- defect 9
@pytest.mark.parametrize("labels, message", [
    (np.where(Y3 == 1, b"pos", b"neg"), r"labels of dtype bytes"),
    (np.where(Y3 == 1, np.datetime64("2020-01-02"), np.datetime64("2020-01-01")), r"labels of dtype datetime64"),
    (np.array(["pos" if v else "pos\x00" for v in Y3], dtype=object), r"ends with a NUL character"),
    ([1 if v else "1" for v in Y3], r"Mix of label input types \(number and string\)"),
    ([True if v else 1 for v in Y3], r"Mix of label input types \(boolean and number\)"),
])
def test_defect9_labels_that_cannot_be_kept_exactly_are_refused_at_fit(labels, message):
    with pytest.raises(ValueError, match=message) as info:
        ASTraClassifier(epochs=2).fit(X3, labels)
    assert "\n" not in str(info.value)


def test_defect9_labels_of_supported_types_round_trip(tmp_path):
    for labels in (np.where(Y3 == 1, "pos", "neg"), Y3.astype(bool), Y3 * 3 - 1, Y3 + 0.5 * 0):
        clf = ASTraClassifier(epochs=2, random_state=0).fit(X3, labels)
        clf.save(tmp_path / "m.npz")
        back = ASTraClassifier.load(tmp_path / "m.npz")
        np.testing.assert_array_equal(back.predict(X3), clf.predict(X3))
        assert back.classes_.dtype == clf.classes_.dtype


# -------------------------------------------------------- tiny features: rescaled exactly
def test_low_tiny_features_are_not_taken_for_constant_ones():
    tiny = X3.copy()
    tiny[:, 1] *= 2.0 ** -565  # about 1e-170: the squares of the deviations underflow
    a = ASTraClassifier(epochs=20, random_state=0).fit(X3, Y3)
    b = ASTraClassifier(epochs=20, random_state=0).fit(tiny, Y3)
    # a power of two scales the mean and standard deviation exactly: the same fit, bit for bit
    np.testing.assert_array_equal(b.params_.to_vector(), a.params_.to_vector())
    np.testing.assert_array_equal(b.scale_[1], a.scale_[1] * 2.0 ** -565)
    np.testing.assert_array_equal(b.decision_function(tiny), a.decision_function(X3))


def test_low_features_below_the_normal_range_are_refused():
    sub = X3.copy()
    sub[:, 1] = np.where(Y3 == 1, 5e-324, 0.0)  # varies, but its standard deviation is subnormal
    with pytest.raises(ValueError, match=r"feature 1 varies, but its standard deviation .* below the float64"):
        ASTraClassifier(epochs=2).fit(sub, Y3)


# ----------------------------------------------------------------------------- defect 4
def _npy(header, payload=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def _array_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def _replace_members(src, dst, members):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            name = item.filename[:-4]
            if name not in members:
                zout.writestr(item, zin.read(item))
        for name, data in members.items():
            zout.writestr(name + ".npy", data)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.npz"
    clf = ASTraClassifier(epochs=3, random_state=0).fit(X3, Y3)
    clf.save(path)
    return clf, path


def test_defect4_a_header_claiming_8_tib_is_refused_without_allocating(saved_model, tmp_path):
    clf, path = saved_model
    huge = _npy({"descr": "<f8", "fortran_order": False, "shape": (2 ** 40,)}, b"\0" * 64)
    _replace_members(path, tmp_path / "a.npz", {"theta": huge})
    with pytest.raises(ValueError, match=r"field 'theta': shape \(1099511627776,\), expected \(\d+,\)"):
        ASTraClassifier.load(tmp_path / "a.npz")
    # layer sizes within the size bounds that agree with such a header (a gigabyte of
    # parameters): refused by the member's size
    n_x, hidden = 2 ** 15, 2 ** 12
    n_params = (n_x + 1) * hidden + hidden + 1 + 1
    members = {
        "layer_sizes": _array_bytes(np.array([n_x, hidden, 1], dtype=np.int64)),
        "theta": _npy({"descr": "<f8", "fortran_order": False, "shape": (n_params,)}, b"\0" * 64),
        "params_json": _array_bytes(np.array(json.dumps({**clf.get_params(), "hidden_layer_sizes": [hidden]}))),
    }
    _replace_members(path, tmp_path / "b.npz", members)
    with pytest.raises(ValueError, match=r"field 'theta': its header declares \d+ bytes of data, the archive member holds 64"):
        ASTraClassifier.load(tmp_path / "b.npz")


def test_defect4_unknown_members_are_never_read(saved_model, tmp_path):
    clf, path = saved_model
    # an unknown member whose header claims 8 TiB, and one that is not even .npy data
    _replace_members(path, tmp_path / "c.npz", {
        "extra": _npy({"descr": "<f8", "fortran_order": False, "shape": (2 ** 40,)}),
        "notes": b"not an array at all",
    })
    back = ASTraClassifier.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.predict(X3), clf.predict(X3))


def test_low_a_csv_given_as_a_model_file(tmp_path, capsys):
    p = tmp_path / "data.csv"
    p.write_text("a,b,y\n1,2,0\n3,4,1\n")
    with pytest.raises(ValueError) as info:
        ASTraClassifier.load(p)
    msg = str(info.value)
    assert "not a readable astra_np model file" in msg and "pickle" not in msg and "\n" not in msg

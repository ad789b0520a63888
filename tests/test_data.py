"""Data loading (CSV/TSV/LIBSVM), label mapping, validation errors and undersampling."""
import numpy as np
import pytest

from astra_np.study.data import (
    check_cv_feasible,
    dataset_fingerprint,
    imbalance_ratio,
    load_dataset,
    undersample_minority,
)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_with_header_named_label(tmp_path):
    path = _write(tmp_path, "d.csv", "a,cls,b\n1.5,x,2\n-3,y,4e1\n0,x,7\n2,x,1\n")
    X, y = load_dataset(path, label="cls")
    # Exact float parsing of short decimal literals: rtol/atol 0 are justified.
    np.testing.assert_allclose(X, [[1.5, 2], [-3, 40], [0, 7], [2, 1]], rtol=0, atol=0)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert y.tolist() == [0, 1, 0, 0]  # rarer class "y" becomes 1


def test_csv_last_column_default_and_minority(tmp_path):
    path = _write(tmp_path, "d.csv", "1,2,a\n3,4,b\n5,6,c\n7,8,b\n")
    X, y = load_dataset(path, minority="c")
    assert X.shape == (4, 2)
    assert y.tolist() == [0, 0, 1, 0]  # footnote 2: minority -> 1, all else -> 0


def test_minority_numeric_forms_match(tmp_path):
    path = _write(tmp_path, "d.csv", "x,y\n1,1.0\n2,0\n3,0\n4,2\n")
    _, y = load_dataset(path, minority="1")
    assert y.tolist() == [1, 0, 0, 0]


def test_equal_counts_picks_last_sorted(tmp_path):
    path = _write(tmp_path, "d.csv", "1,0\n2,1\n")
    _, y = load_dataset(path)
    assert y.tolist() == [0, 1]


def test_label_by_index_without_header(tmp_path):
    path = _write(tmp_path, "d.csv", "0,1,2\n1,3,4\n0,5,7\n")
    X, y = load_dataset(path, label=0)
    np.testing.assert_allclose(X, [[1, 2], [3, 4], [5, 7]], rtol=0, atol=0)  # exact ints
    assert y.tolist() == [0, 1, 0]


def test_tsv(tmp_path):
    path = _write(tmp_path, "d.tsv", "f1\tf2\tlabel\n1\t2\t0\n3\t4\t1\n5\t7\t0\n")
    X, y = load_dataset(path)
    assert X.shape == (3, 2) and y.tolist() == [0, 1, 0]


def test_libsvm_sparse_and_comments(tmp_path):
    text = "# comment\n+1 1:0.5 3:2 # trailing\n-1 2:1.5 qid:3\n-1 1:1 2:2 3:3\n"
    path = _write(tmp_path, "d.svm", text)
    X, y = load_dataset(path)
    # Exact decimal literals: rtol/atol 0.
    np.testing.assert_allclose(X, [[0.5, 0, 2], [0, 1.5, 0], [1, 2, 3]], rtol=0, atol=0)
    assert y.tolist() == [1, 0, 0]


def test_libsvm_sniffed_from_content(tmp_path):
    path = _write(tmp_path, "data.txt", "1 1:1 2:2\n0 1:3 2:5\n0 1:4 2:1\n")
    X, y = load_dataset(path)
    assert X.shape == (3, 2) and y.tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a,b,y\n1,2,0\n1,nan,1\n2,3,0\n", "row 3, column 'b'"),
        ("a,b,y\n1,2,0\n1,inf,1\n2,3,0\n", "not finite"),
        ("a,b,y\n1,2,0\n1,,1\n2,3,0\n", "row 3, column 'b': missing value"),
        ("a,b,y\n1,2,0\n1,zz,1\n2,3,0\n", "row 3, column 'b': 'zz' is not a number"),
        ("a,b,y\n1,2,0\n1,1\n", "row 3 has 2 fields"),
        ("a,b,y\n1,2,0\n1,3,1\n1,5,0\n", "constant feature column(s) ['a']"),
        ("a,b,y\n1,2,0\n2,3,0\n", "fewer than 2 classes"),
        ("a,b,y\n1,2,0\n2,3,1\n3,4,2\n", "3 classes"),
        ("", "no data rows"),
    ],
)
def test_bad_csv_errors_name_file_row_column(tmp_path, text, fragment):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(ValueError) as info:
        load_dataset(path)
    assert "bad.csv" in str(info.value)
    assert fragment in str(info.value)


def test_bad_libsvm_and_options(tmp_path):
    path = _write(tmp_path, "bad.svm", "1 1:0.5\n0 1:x\n")
    with pytest.raises(ValueError, match=r"bad.svm: row 2, column 1: 'x' is not a number"):
        load_dataset(path)
    path = _write(tmp_path, "bad2.svm", "1 1:0.5 1:2\n0 1:1\n")
    with pytest.raises(ValueError, match="given twice"):
        load_dataset(path)
    good = _write(tmp_path, "g.csv", "a,y\n1,0\n2,1\n")
    with pytest.raises(ValueError, match="minority='q' does not occur"):
        load_dataset(good, minority="q")
    with pytest.raises(ValueError, match="no column named 'nope'"):
        load_dataset(good, label="nope")
    with pytest.raises(ValueError, match="fmt must be one of"):
        load_dataset(good, fmt="xls")
    with pytest.raises(ValueError, match="no such data file"):
        load_dataset(str(tmp_path / "missing.csv"))


def test_check_cv_feasible():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    check_cv_feasible(y, 3)
    with pytest.raises(ValueError, match="3 positive.*5 folds"):
        check_cv_feasible(y, 5, source="f.csv")


def test_undersample_minority():
    y = np.array([0] * 50 + [1] * 10)
    rng = np.random.default_rng(3)
    idx = undersample_minority(y, 5, rng)
    assert np.all(np.diff(idx) > 0)
    assert int(y[idx].sum()) == 5 and int((y[idx] == 0).sum()) == 50
    again = undersample_minority(y, 5, np.random.default_rng(3))
    assert np.array_equal(idx, again)  # same generator state, same draw
    other = undersample_minority(y, 5, np.random.default_rng(4))
    assert not np.array_equal(idx, other)
    # IR of the variant: 50 / 5 exactly; rtol/atol 0 (exact division).
    np.testing.assert_allclose(imbalance_ratio(y[idx]), 10.0, rtol=0, atol=0)
    for bad in (0, 11, 2.5):
        with pytest.raises(ValueError, match="k must be"):
            undersample_minority(y, bad, rng)


def test_fingerprint_changes_with_data():
    X = np.arange(6.0).reshape(3, 2)
    y = np.array([0, 1, 0])
    f = dataset_fingerprint(X, y)
    assert f == dataset_fingerprint(X.copy(), y.copy())
    assert f != dataset_fingerprint(X, np.array([1, 0, 0]))


@pytest.mark.parametrize("cell", ["1_000", "0x1F", "\u0661", "1e", "--1", "1.2.3", "\ufeff1"])
def test_numbers_are_ascii_decimal_only(tmp_path, cell):
    p = tmp_path / "d.csv"
    p.write_text(f"a,b,y\n1,{cell},0\n2,3,1\n4,5,0\n")
    with pytest.raises(ValueError, match=r"row 2, column 'b': .* is not a number"):
        load_dataset(p)


def test_info_header_positive_and_training_classes(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("1,2,b\n3,4,a\n5,7,a\n")
    X, y, info = load_dataset(p, return_info=True)
    assert info["header"] is None and info["positive"] == "b" and info["classes"] == ["a", "b"]
    assert info["rows"] == [1, 2, 3] and y.tolist() == [1, 0, 0]
    v = tmp_path / "v.csv"
    v.write_text("1,2,a\n3,4,a\n5,6,b\n7,8,b\n9,1,b\n")  # one class of the training set is enough,
    _, yv = load_dataset(v, minority="b", classes=info["classes"])  # the positive stays "b"
    assert yv.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="row 2: label 'c' is not a label of the training data"):
        v.write_text("1,2,a\n3,4,c\n")
        load_dataset(v, minority="b", classes=info["classes"])


def test_libsvm_missing_label_and_crlf(tmp_path):
    p = tmp_path / "d.libsvm"
    p.write_text("1 1:2 2:1\r\n1:3 2:4\r\n")
    with pytest.raises(ValueError, match=r"row 2: missing label"):
        load_dataset(p)
    p.write_text("1 1:2 2:1\r\n0 1:3 2:4\r\n\r\n0 2:5\r\n")
    X, y = load_dataset(p)
    assert X.tolist() == [[2, 1], [3, 4], [0, 5]] and y.tolist() == [1, 0, 0]

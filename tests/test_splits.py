"""Stratified R x K splits: stratification, rotation, purity, undersampling, JSON round trip."""
import json

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from astra_np.study.splits import CVSplits, load_splits, make_splits, rotation


def _labels(n_pos, n_neg, seed=0):
    y = np.array([1] * n_pos + [0] * n_neg)
    return np.random.default_rng(seed).permutation(y)


@given(n_pos=st.integers(5, 40), n_neg=st.integers(5, 200), K=st.integers(3, 6),
       seed=st.integers(0, 2**31))
def test_stratification_and_partition(n_pos, n_neg, K, seed):
    assume(n_pos >= K and n_neg >= K)
    y = _labels(n_pos, n_neg, seed % 7)
    s = make_splits(y, n_repeats=2, n_folds=K, seed=seed)
    for r in range(2):
        sizes = [s.fold(r, k).size for k in range(K)]
        pos = [int(y[s.fold(r, k)].sum()) for k in range(K)]
        # every test fold holds its share of positives: floor or ceil of m1 / K
        assert set(pos) <= {n_pos // K, -(-n_pos // K)}
        assert sum(pos) == n_pos
        assert max(sizes) - min(sizes) <= 1
        all_rows = np.concatenate([s.fold(r, k) for k in range(K)])
        assert np.array_equal(np.sort(all_rows), np.arange(y.size))  # a partition


def test_rotation_each_fold_test_and_validation_once():
    y = _labels(10, 90)
    K = 5
    s = make_splits(y, n_repeats=3, n_folds=K, seed=11)
    for r in range(3):
        test_seen, val_seen = [], []
        for k in range(K):
            tr, va, te = s.rotation(r, k)
            assert np.array_equal(te, s.fold(r, k))
            assert np.array_equal(va, s.fold(r, (k + 1) % K))
            assert not (set(tr) & set(va)) and not (set(tr) & set(te)) and not (set(va) & set(te))
            assert tr.size + va.size + te.size == y.size  # 3 train folds + val + test
            test_seen.append(rotation(k, K)[0])
            val_seen.append(rotation(k, K)[1])
        assert sorted(test_seen) == list(range(K)) and sorted(val_seen) == list(range(K))
    assert rotation(0, 5) == (0, 1, [2, 3, 4])


def test_pure_function_of_labels_and_seed():
    y = _labels(8, 120)
    a = make_splits(y, n_repeats=4, n_folds=5, seed=5)
    b = make_splits(y.copy(), n_repeats=4, n_folds=5, seed=5)
    c = make_splits(y, n_repeats=4, n_folds=5, seed=6)
    assert a == b and np.array_equal(a.assignments, b.assignments)
    assert not np.array_equal(a.assignments, c.assignments)
    # repeats differ from one another
    assert not np.array_equal(a.assignments[0], a.assignments[1])
    # fewer repeats with the same seed give a prefix (repeat r depends only on (seed, r))
    d = make_splits(y, n_repeats=2, n_folds=5, seed=5)
    assert np.array_equal(d.assignments, a.assignments[:2])


def test_five_positive_variant_one_per_fold_redrawn():
    y = _labels(34, 600, seed=1)
    s = make_splits(y, n_repeats=10, n_folds=5, seed=2, positives=5)
    chosen = []
    for r in range(10):
        rows = s.rows(r)
        assert int(y[rows].sum()) == 5 and int((y[rows] == 0).sum()) == 600
        for k in range(5):
            assert int(y[s.fold(r, k)].sum()) == 1  # exactly one positive per fold
        chosen.append(tuple(np.flatnonzero((y == 1) & (s.assignments[r] >= 0))))
    assert len(set(chosen)) > 1  # positives redrawn per repeat


def test_json_round_trip_and_checks(tmp_path):
    y = _labels(7, 50)
    s = make_splits(y, n_repeats=2, n_folds=4, seed=9, positives=5)
    path = tmp_path / "splits.json"
    s.to_json(path)
    doc = json.loads(path.read_text())
    assert doc["rotation"].startswith("test fold k, validation fold (k + 1) mod K")
    assert len(doc["repeats"]) == 2 and len(doc["repeats"][0]["folds"]) == 4
    t = load_splits(str(path), y)
    assert t == s and t.seed == 9 and t.positives == 5
    for r in range(2):
        for k in range(4):
            for a, b in zip(s.rotation(r, k), t.rotation(r, k)):
                assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="fingerprint"):
        load_splits(str(path), 1 - y)
    with pytest.raises(ValueError, match="made for 57 rows"):
        load_splits(str(path), np.r_[y, 0])
    bad = dict(doc, repeats=[{"repeat": 0, "folds": [[0, 1], [1, 2], [3], [4]]}])
    with pytest.raises(ValueError, match="two folds"):
        load_splits(bad)
    with pytest.raises(ValueError, match="format"):
        load_splits({"format": "other"})


def test_bad_arguments():
    y = _labels(3, 50)
    with pytest.raises(ValueError, match="3 positive"):
        make_splits(y, n_folds=5)
    with pytest.raises(ValueError, match=r"n_folds must be an integer in \[3, 1000\]"):
        make_splits(y, n_folds=2)
    with pytest.raises(ValueError, match="positives must be"):
        make_splits(_labels(10, 50), positives=11)
    with pytest.raises(ValueError, match="binary"):
        make_splits(np.array([0, 1, 2, 1, 0]))
    with pytest.raises(ValueError, match="empty"):
        CVSplits(np.zeros((1, 6), dtype=int), 3)


def _valid_splits_doc():
    y = _labels(6, 24)  # 30 rows
    return make_splits(y, n_repeats=2, n_folds=3, seed=4).to_dict()


def _with(**changes):
    doc = _valid_splits_doc()
    doc.update(changes)
    return doc


def _with_fold(fold):
    doc = _valid_splits_doc()
    doc["repeats"][1]["folds"][2] = fold
    return doc


def _without(key):
    doc = _valid_splits_doc()
    del doc[key]
    return doc


MALFORMED_SPLITS = [
    ("[1, 2]", "the JSON must be an object, got list"),
    (42, "source must be a file path, JSON text or a mapping, got int"),
    (_without("n_samples"), "missing field 'n_samples'"),
    (_without("repeats"), "missing field 'repeats'"),
    (_with(n_samples="30"), "n_samples must be an integer >= 1, got '30'"),
    (_with(n_samples=True), "n_samples must be an integer >= 1, got True"),
    (_with(n_samples=30.0), "n_samples must be an integer >= 1, got 30.0"),
    (_with(n_folds=2), r"n_folds must be an integer >= 3 \(train, validation, test\), got 2"),
    (_with(repeats={}), "repeats must be a non-empty list of repeats, got {}"),
    (_with(repeats=[]), "repeats must be a non-empty list of repeats, got \\[\\]"),
    (_with(repeats=[[0, 1, 2]]), "repeat 0 must be an object with a list 'folds'"),
    (_with(repeats=[{"repeat": 0}]), "repeat 0 must be an object with a list 'folds'"),
    (_with(seed="abc"), "seed must be an integer or null, got 'abc'"),
    (_with(positives=0), "positives must be an integer >= 1 or null, got 0"),
    (_with(labels_sha256=123), "labels_sha256 must be a hex digest or null, got 123"),
    (_with_fold([0, 1.5]), r"repeat 1, fold 2 must be a list of integer row indices, got \[0, 1.5\]"),
    (_with_fold([0, True]), r"repeat 1, fold 2 must be a list of integer row indices, got \[0, True\]"),
    (_with_fold(["3"]), r"repeat 1, fold 2 must be a list of integer row indices, got \['3'\]"),
    (_with_fold([[0, 1]]), r"repeat 1, fold 2 must be a list of integer row indices, got \[\[0, 1\]\]"),
    (_with_fold(7), "repeat 1, fold 2 must be a list of integer row indices, got 7"),
    (_with_fold([-1]), r"repeat 1, fold 2: row index -1 out of range \[0, 30\)"),
    (_with_fold([30]), r"repeat 1, fold 2: row index 30 out of range \[0, 30\)"),
    (_with_fold([5, 5]), "repeat 1, fold 2: a row index appears twice"),
    (_with_fold([2 ** 63]), r"repeat 1, fold 2: row index 9223372036854775808 out of range \[0, 30\)"),
    (_with_fold([-2 ** 70]), r"repeat 1, fold 2: row index -1180591620717411303424 out of range"),
    (_with_fold(np.array(5)), "repeat 1, fold 2 must be a list of integer row indices, got array"),
    (_with_fold(np.array([0.0, 1.0])), "repeat 1, fold 2 must be a list of integer row indices"),
    (_with_fold(np.array([2 ** 64 - 1], dtype=np.uint64)), "row index 18446744073709551615 out of range"),
    (_with(version=True), "unsupported version True"),
    (_with(version=1.0), "unsupported version 1.0"),
    (_with(n_samples=2 ** 40), "2 repeats x 1099511627776 rows exceed the 134217728 fold assignments"),
    ("[" * 100000 + "]" * 100000, "not valid JSON \\(nested too deeply\\)"),
]


@pytest.mark.parametrize("source,message", MALFORMED_SPLITS)
def test_malformed_splits_get_one_value_error_naming_the_field(source, message):
    # one ValueError naming the field and the value, never a KeyError or TypeError,
    # and nothing rounded or dropped (1.5, True and "3" are not row indices)
    with pytest.raises(ValueError, match=message):
        load_splits(source)


def test_splits_load_from_any_mapping_path_or_text(tmp_path):
    import types

    doc = _valid_splits_doc()
    want = load_splits(doc)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    assert load_splits(types.MappingProxyType(doc)) == want
    assert load_splits(path) == want and load_splits(str(path)) == want
    assert load_splits(json.dumps(doc)) == want
    with pytest.raises(FileNotFoundError):
        load_splits(tmp_path / "missing.json")


def test_splits_files_are_read_as_files(tmp_path):
    # a directory whose name starts with "[" is a path, not JSON text; a UTF-8 BOM is allowed
    doc = _valid_splits_doc()
    want = load_splits(doc)
    where = tmp_path / "[runs]"
    where.mkdir()
    (where / "s.json").write_text(json.dumps(doc))
    (where / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    assert load_splits(str(where / "s.json")) == want and load_splits(where / "s.json") == want
    assert load_splits(where / "bom.json") == want
    (where / "latin1.json").write_bytes(json.dumps(dict(doc, seed=None)).encode().replace(b"null", b"\xe9"))
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_splits(where / "latin1.json")


def test_splits_y_of_another_length_is_refused_before_the_table_is_built(monkeypatch):
    from astra_np.study import splits as S

    def no_table(*a, **k):
        raise AssertionError("the fold table was allocated before y was checked")

    doc = _valid_splits_doc()
    monkeypatch.setattr(S.np, "full", no_table)
    with pytest.raises(ValueError, match="made for 30 rows, but y has 31"):
        load_splits(doc, np.r_[np.zeros(25), np.ones(6)])

"""Append-only results store: atomic lines, torn-line repair, resume, config refusal."""
import json
import os

import pytest

from astra_np.study.store import ConfigMismatchError, ResultsStore, encode_record

CONFIG = {"dataset": "d", "seed": 0, "epochs": 20, "methods": ["bce", "gmn"]}


def _rec(r, k, m, **extra):
    return dict(repeat=r, rotation=k, method=m, mcc=0.5, **extra)


def test_append_load_and_resume(tmp_path):
    s = ResultsStore(tmp_path / "run")
    assert s.open(CONFIG, "0.1.0") == []
    s.append(_rec(0, 0, "bce"))
    s.append(_rec(0, 1, "bce", history={"log10_e_ratio": [0.25, -1.5]}))
    with pytest.raises(ValueError, match="already stored"):
        s.append(_rec(0, 0, "bce"))
    s.close()
    s2 = ResultsStore(tmp_path / "run")
    records = s2.open(dict(CONFIG), "0.1.0")
    assert [(r["repeat"], r["rotation"], r["method"]) for r in records] == [(0, 0, "bce"), (0, 1, "bce")]
    assert (0, 1, "bce") in s2 and (1, 0, "bce") not in s2
    assert records[1]["history"]["log10_e_ratio"] == [0.25, -1.5]
    s2.close()
    lines = (tmp_path / "run" / "folds.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 2 and all(line.endswith(b"\n") for line in lines)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["config"] == CONFIG and meta["package_version"] == "0.1.0"


def test_torn_last_line_is_cut(tmp_path):
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    s.append(_rec(0, 0, "bce"))
    s.close()
    path = tmp_path / "folds.jsonl"
    good = path.read_bytes()
    torn = encode_record(_rec(0, 1, "bce"))[:-7]  # a kill -9 in the middle of a write
    with open(path, "ab") as fh:
        fh.write(torn)
    assert len(ResultsStore(tmp_path).load()) == 1  # ignored when reading
    assert path.read_bytes() == good + torn  # a plain load does not modify
    s = ResultsStore(tmp_path)
    assert len(s.open(CONFIG, "0.1.0")) == 1
    assert path.read_bytes() == good  # opening for writing truncates the torn tail
    s.append(_rec(0, 1, "bce"))
    s.close()
    assert len(ResultsStore(tmp_path).load()) == 2


def test_corrupted_middle_line_and_duplicates_raise(tmp_path):
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    s.close()
    path = tmp_path / "folds.jsonl"
    path.write_bytes(b'{"repeat":0\n' + encode_record(_rec(0, 0, "bce")))
    with pytest.raises(ValueError, match="line 1 is corrupted"):
        ResultsStore(tmp_path).load()
    path.write_bytes(encode_record(_rec(0, 0, "bce")) * 2)
    with pytest.raises(ValueError, match="line 2 duplicates"):
        ResultsStore(tmp_path).load()


def test_refuses_other_config_or_version(tmp_path):
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    s.append(_rec(0, 0, "bce"))
    s.close()
    with pytest.raises(ConfigMismatchError, match=r"epochs: stored 20, requested 30"):
        ResultsStore(tmp_path).open(dict(CONFIG, epochs=30), "0.1.0")
    with pytest.raises(ConfigMismatchError, match="astra_np '0.1.0'"):
        ResultsStore(tmp_path).open(CONFIG, "0.2.0")
    # the refusals released the lock: the same configuration reopens
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    s.close()


def test_lock_prevents_concurrent_writers(tmp_path):
    pytest.importorskip("fcntl")
    a = ResultsStore(tmp_path)
    a.open(CONFIG, "0.1.0")
    with pytest.raises(RuntimeError, match="in use"):
        ResultsStore(tmp_path).open(CONFIG, "0.1.0")
    a.close()


def test_finalize_canonical_order_and_nan_refused(tmp_path):
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    for key in [(1, 0, "gmn"), (0, 1, "bce"), (0, 0, "gmn"), (0, 0, "bce")]:
        s.append(_rec(*key))
    order = {"bce": 0, "gmn": 1}
    out = s.finalize(lambda r: (r["repeat"], r["rotation"], order[r["method"]]))
    assert [(r["repeat"], r["rotation"], r["method"]) for r in out] == [
        (0, 0, "bce"), (0, 0, "gmn"), (0, 1, "bce"), (1, 0, "gmn")]
    s.append(_rec(2, 0, "bce"))  # still appendable after the rewrite
    s.close()
    assert len(ResultsStore(tmp_path).load()) == 5
    assert not os.path.exists(tmp_path / "folds.jsonl.tmp")
    with pytest.raises(ValueError):
        encode_record(_rec(0, 0, "bce", g_mean=float("nan")))


def test_records_without_meta_refused(tmp_path):
    (tmp_path / "folds.jsonl").write_bytes(encode_record(_rec(0, 0, "bce")))
    with pytest.raises(ValueError, match="without meta.json"):
        ResultsStore(tmp_path).open(CONFIG, "0.1.0")


def test_configuration_is_fixed_by_the_first_record_only(tmp_path):
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    s.close()  # a start that stored nothing (refused, failed, interrupted)
    assert not (tmp_path / "meta.json").exists()
    s = ResultsStore(tmp_path)
    assert s.open(dict(CONFIG, epochs=30), "0.1.0") == []  # a corrected rerun is accepted
    s.append(_rec(0, 0, "bce"))
    s.close()
    assert json.loads((tmp_path / "meta.json").read_text())["config"]["epochs"] == 30
    with pytest.raises(ConfigMismatchError, match=r"epochs: stored 30, requested 20"):
        ResultsStore(tmp_path).open(CONFIG, "0.1.0")


@pytest.mark.parametrize("field, value, what", [
    ("g_mean", 5, "'g_mean' must be a number in \\[0, 1\\]"),
    ("g_mean", "0.5", "'g_mean' must be a number"),
    ("repeat", "0", "'repeat' must be an integer >= 0"),
    ("repeat", -1, "'repeat' must be an integer >= 0"),
    ("repeat", True, "'repeat' must be an integer >= 0"),
    ("method", 3, "'method' must be a method name"),
    ("mcc", -2.0, "'mcc' must be a number in \\[-1, 1\\]"),
    ("tp", 1.5, "'tp' must be an integer >= 0"),
    ("stopped", 0, "'stopped' must be true or false"),
])
def test_records_of_wrong_types_or_ranges_refused_with_file_and_line(tmp_path, field, value, what):
    good = encode_record(_rec(0, 0, "bce", g_mean=0.5))
    bad = json.dumps(dict(_rec(0, 1, "bce", g_mean=0.5), **{field: value})).encode() + b"\n"
    (tmp_path / "folds.jsonl").write_bytes(good + bad)
    with pytest.raises(ValueError, match=f"folds.jsonl: line 2: field {what}") as err:
        ResultsStore(tmp_path).load()
    assert "\n" not in str(err.value)


def test_deeply_nested_record_is_one_line(tmp_path):
    (tmp_path / "folds.jsonl").write_bytes(b"[" * 100000 + b"]" * 100000 + b"\n")
    with pytest.raises(ValueError, match="folds.jsonl: line 1 is corrupted.*nested too deeply") as err:
        ResultsStore(tmp_path).load()
    assert "\n" not in str(err.value)


def test_a_failed_write_is_reported_and_leaves_the_files_as_they_were(tmp_path, monkeypatch):
    s = ResultsStore(tmp_path)
    s.open(CONFIG, "0.1.0")
    s.append(_rec(0, 0, "bce"))
    before = (tmp_path / "folds.jsonl").read_bytes()
    real_write = os.write

    def disk_full(fd, data):
        real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        s.append(_rec(0, 1, "bce"))
    assert (tmp_path / "folds.jsonl").read_bytes() == before  # cut back, no torn line
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left on device"):  # not "Bad file descriptor"
        s.finalize(lambda r: r["rotation"])
    monkeypatch.undo()
    s.close()  # closes each descriptor once
    assert (tmp_path / "folds.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "folds.jsonl", "meta.json"]

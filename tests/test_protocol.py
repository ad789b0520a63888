"""The experiment protocol end to end: records, determinism, executors, resume after kills, CLI."""
import concurrent.futures as cf
import csv
import importlib.util
import io
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import astra_np
from astra_np.cli.experiment import main
from astra_np.study.datasets import make_imbalanced
from astra_np.study.protocol import FoldTask, SerialExecutor, fold_seed, run_experiment, run_fold
from astra_np.study.store import ConfigMismatchError

ROOT = str(Path(astra_np.__file__).resolve().parent.parent)
SMALL = dict(n_samples=800, n_positives=10, random_state=3)
RUN = dict(repeats=1, folds=5, epochs=30, seed=7, progress=False)


class CaptureEstimator:
    """A stand-in classifier that records what it was given (module level: picklable)."""

    def __init__(self, method, random_state, epochs=5, **kw):
        self.method, self.random_state, self.epochs = method, random_state, epochs

    def fit(self, X, y, validation_data=None):
        self.X_, self.Xv_ = X, validation_data[0]
        self.history_ = [{"e_ratio": 10.0 ** -k, "b": 7.0 - k, "loss": 1.0 / (k + 1)}
                         for k in range(self.epochs)]
        self.best_epoch_, self.slope_, self.threshold_ = 2, 6.5, 0.26
        return self

    def predict(self, X):
        return (X[:, 0] > 0).astype(int)


def _data():
    return make_imbalanced(**SMALL)


def _read(path):
    return (Path(path) / "folds.jsonl").read_bytes()


def test_run_fold_standardises_and_records():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(60, 3))
    X[:, 2] = 5.0  # constant on the training rows: centred only
    y = np.zeros(60, dtype=int)
    y[::10] = 1
    task = FoldTask("d", 0, 1, 2, "gmn", X[:36], y[:36], X[36:48], y[36:48], X[48:], y[48:],
                    random_state=11, estimator_params={"epochs": 2500}, history_points=100,
                    estimator=CaptureEstimator)
    rec = run_fold(task)
    assert (rec["repeat"], rec["rotation"], rec["method"], rec["val_fold"]) == (0, 1, "gmn", 2)
    assert rec["tp"] + rec["fn"] == rec["n_test_pos"] == int(y[48:].sum())
    assert rec["tp"] + rec["fp"] + rec["tn"] + rec["fn"] == 12
    assert (rec["best_epoch"], rec["b"], rec["tau"], rec["b_last"]) == (2, 6.5, 0.26, 7.0 - 2499)
    h = rec["history"]["log10_e_ratio"]
    assert len(h) == 2500 and h[:3] == [0.0, -1.0, -2.0]  # every epoch, log10 of e-ratio
    hs = rec["history_sampled"]
    assert hs["epoch"][:3] == [1, 26, 51] and hs["epoch"][-1] == 2500 and len(hs["b"]) == len(hs["epoch"])
    json.dumps(rec, allow_nan=False)  # JSON-ready
    # Standardisation used the training rows only.
    est = CaptureEstimator("gmn", 0, epochs=1)
    mu, sd = X[:36].mean(axis=0), X[:36].std(axis=0)
    task2 = FoldTask("d", 0, 0, 1, "bce", X[:36], y[:36], X[36:48], y[36:48], X[48:], y[48:], 0,
                     estimator=lambda **kw: est, estimator_params={"epochs": 1})
    run_fold(task2)
    # mean 0 / std 1 up to rounding of 36 values: rtol 0, atol 1e-12.
    np.testing.assert_allclose(est.X_.mean(axis=0), 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(est.X_[:, :2].std(axis=0), 1.0, rtol=0, atol=1e-12)
    # validation rows transformed with the training statistics (same formula): rtol 1e-15, atol 1e-15
    np.testing.assert_allclose(est.Xv_[:, :2], (X[36:48, :2] - mu[:2]) / sd[:2], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(est.Xv_[:, 2], 0.0, rtol=0, atol=0)  # constant column: centred, exact
    task2.standardize = False
    run_fold(task2)
    assert np.array_equal(est.X_, X[:36])


def test_fold_seed_shared_by_methods_and_distinct_by_fold():
    assert fold_seed(0, 1, 2) == fold_seed(0, 1, 2)
    assert len({fold_seed(0, r, k) for r in range(3) for k in range(5)}) == 15


def test_deterministic_and_parallel_equals_serial(tmp_path):
    X, y = _data()
    a = run_experiment(X, y, tmp_path / "a", workers=1, **RUN)
    b = run_experiment(X, y, tmp_path / "b", workers=2, **RUN)
    assert a.complete and b.complete and len(a.records) == 20
    assert _read(tmp_path / "a") == _read(tmp_path / "b")  # same seed, identical file
    keys = [(r["repeat"], r["rotation"], r["method"]) for r in a.records]
    assert len(set(keys)) == 20
    for r in a.records:
        assert len(r["history"]["log10_e_ratio"]) == 30
        assert r["tp"] + r["fp"] + r["tn"] + r["fn"] == r["n_test"]
        assert 1 <= r["best_epoch"] <= 30 and 0 < r["tau"] <= 0.5
    c = run_experiment(X, y, tmp_path / "c", workers=1, **dict(RUN, seed=8))
    assert c.complete and _read(tmp_path / "c") != _read(tmp_path / "a")


def test_table_matches_stored_records(tmp_path):
    X, y = _data()
    run_experiment(X, y, tmp_path, workers=1, **RUN)
    raw = [json.loads(line) for line in _read(tmp_path).decode().splitlines()]
    with open(tmp_path / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    for row in rows:
        xs = [r[row["metric"]] for r in raw if r["method"] == row["method"]]
        # standard-library recomputation vs numpy: a few ulps apart; rtol 1e-12, atol 1e-14
        np.testing.assert_allclose(float(row["mean"]), math.fsum(xs) / len(xs), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(float(row["std"]), statistics.stdev(xs), rtol=1e-12, atol=1e-14)
    # G-Mean and MCC of every record from its own counts (Eq. 2, 3)
    for r in raw:
        tp, fp, tn, fn = r["tp"], r["fp"], r["tn"], r["fn"]
        gm = math.sqrt(tp / (tp + fn) * tn / (tn + fp))
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = (tp * tn - fp * fn) / den if den else 0.0
        # closed forms in a different evaluation order: rtol 1e-12, atol 1e-15
        np.testing.assert_allclose([r["g_mean"], r["mcc"]], [gm, mcc], rtol=1e-12, atol=1e-15)
    assert "| G-Mean |" in (tmp_path / "table.md").read_text()


def test_any_executor_threads_and_resume_refusal(tmp_path):
    X, y = _data()
    ref = run_experiment(X, y, tmp_path / "ref", workers=1, **RUN)
    with cf.ThreadPoolExecutor(2) as ex:
        out = run_experiment(X, y, tmp_path / "t", executor=ex, max_in_flight=3, **RUN)
    assert out.complete and _read(tmp_path / "t") == _read(tmp_path / "ref")
    again = run_experiment(X, y, tmp_path / "t", executor=SerialExecutor(), **RUN)
    assert again.new == 0 and again.complete  # nothing to redo
    with pytest.raises(ConfigMismatchError, match="epochs"):
        run_experiment(X, y, tmp_path / "t", workers=1, **dict(RUN, epochs=31))
    assert ref.complete


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    X, y = _data()
    run_experiment(X, y, tmp_path / "ref", workers=1, **RUN)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        with client.get_executor() as ex:
            res = run_experiment(X, y, tmp_path / "dask", executor=ex, **RUN)
    assert res.complete and _read(tmp_path / "dask") == _read(tmp_path / "ref")


def test_progress_display(tmp_path):
    X, y = _data()
    buf = io.StringIO()
    run_experiment(X, y, tmp_path, workers=1, stream=buf, **dict(RUN, progress=True, epochs=5))
    text = buf.getvalue()
    assert "folds 0/20 (0%)" in text and "folds 20/20 (100%)" in text
    assert "elapsed 0:00:" in text and "ETA" in text


def _cli(spawn, args, **kw):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return spawn([sys.executable, "-m", "astra_np", "experiment", *args], cwd=ROOT,
                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_for_records(out, n, proc, timeout=60):
    path = Path(out) / "folds.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc to find worker pids")
def test_resume_after_sigint_and_kills(tmp_path, spawn):
    X, y = make_imbalanced(n_samples=3000, n_positives=10, random_state=4)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%.17g")
    # 2000 epochs (~0.1 s a fold): long enough that every signal below lands mid-run
    args = ["--data", str(data), "--repeats", "2", "--epochs", "2000", "--seed", "3",
            "--workers", "2", "--no-progress"]
    out = tmp_path / "run"
    # 1. Ctrl-C (SIGINT to the main process) mid-run: clean stop, finished folds kept.
    p = _cli(spawn, args + ["--out", str(out)])
    assert _wait_for_records(out, 2, p), p.communicate()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    kept = _read(out).count(b"\n")
    assert p.returncode == 130 and b"rerun the same command to resume" in err, err
    assert 2 <= kept < 40
    # 2. Resume, then kill -9 a worker process mid-run: the run fails, nothing is corrupted.
    p = _cli(spawn, args + ["--out", str(out)])
    assert _wait_for_records(out, kept + 1, p), p.communicate()
    workers = _children(p.pid)
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1 and b"a worker process died" in err, err  # failed, not refused
    kept = _read(out).count(b"\n")
    # 3. Resume, then kill -9 the main process mid-run (its workers exit by themselves).
    p = _cli(spawn, args + ["--out", str(out)])
    assert _wait_for_records(out, kept + 1, p), p.communicate()
    p.kill()
    p.communicate(timeout=60)
    assert _read(out).count(b"\n") < 40
    # 4. Resume to completion and compare with an uninterrupted run.
    p = _cli(spawn, args + ["--out", str(out)])
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    q = _cli(spawn, args + ["--out", str(tmp_path / "clean")])
    _, err = q.communicate(timeout=120)
    assert q.returncode == 0, err
    assert _read(out) == _read(tmp_path / "clean")  # identical records, no duplicates
    lines = _read(out).decode().splitlines()
    assert len(lines) == len({tuple(json.loads(x)[k] for k in ("repeat", "rotation", "method"))
                              for x in lines}) == 40


def test_cli_user_csv_undersampled(tmp_path, capsys):
    X, y = make_imbalanced(n_samples=600, n_positives=9, random_state=1)
    data = tmp_path / "user.csv"
    labels = np.where(y == 1, "rare", "common")
    with open(data, "w") as fh:
        fh.write(",".join([f"f{j}" for j in range(X.shape[1])] + ["cls"]) + "\n")
        for row, lab in zip(X, labels):
            fh.write(",".join(repr(float(v)) for v in row) + f",{lab}\n")
    code = main(["--data", str(data), "--label", "cls", "--minority", "rare", "--positives", "5",
                 "--repeats", "2", "--epochs", "10", "--workers", "1", "--no-progress",
                 "--methods", "bce", "gmn-astra", "--out", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    assert "table.md" in out
    md = (tmp_path / "o" / "table.md").read_text()
    assert "**user-118**" in md and "BCE" in md and "GMN-ASTra" in md  # IR = 591 / 5
    if importlib.util.find_spec("matplotlib") is not None:  # Fig. 4 from the saved histories
        assert (tmp_path / "o" / "fig4_user-118.png").read_bytes()[:4] == b"\x89PNG"
    recs = [json.loads(x) for x in _read(tmp_path / "o").decode().splitlines()]
    assert len(recs) == 2 * 5 * 2 and all(r["n_test_pos"] == 1 for r in recs)
    splits = json.loads((tmp_path / "o" / "splits.json").read_text())
    assert splits["positives"] == 5
    # The exported splits can be imported to score on identical folds.
    code = main(["--data", str(data), "--label", "cls", "--minority", "rare",
                 "--splits", str(tmp_path / "o" / "splits.json"), "--epochs", "10",
                 "--workers", "1", "--no-progress", "--methods", "bce", "--name", "imported",
                 "--out", str(tmp_path / "p")])
    assert code == 0
    recs2 = [json.loads(x) for x in _read(tmp_path / "p").decode().splitlines()]
    same = [r for r in recs if r["method"] == "bce"]
    assert [(r["n_test"], r["n_test_pos"]) for r in recs2] == [(r["n_test"], r["n_test_pos"]) for r in same]
    # Several data sets in one table.
    code = main(["--combine", str(tmp_path / "o"), str(tmp_path / "p"), "--out", str(tmp_path / "t")])
    assert code == 0
    md = (tmp_path / "t" / "table.md").read_text()
    assert md.index("**imported**") < md.index("**user-118**")
    assert main(["--combine", str(tmp_path / "o"), str(tmp_path / "o"), "--out", str(tmp_path / "u")]) == 2


def test_cli_refuses_a_malformed_splits_file_in_one_line(tmp_path, capsys):
    from astra_np.study.splits import make_splits

    labels = [int(i % 4 == 0) for i in range(40)]
    data = tmp_path / "d.csv"
    data.write_text("a,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    doc = make_splits(np.array(labels), n_repeats=1, n_folds=5, seed=0).to_dict()
    doc["repeats"][0]["folds"][1][0] = 1.5  # not a row index: refused, not rounded
    splits = tmp_path / "s.json"
    splits.write_text(json.dumps(doc))
    code = main(["--data", str(data), "--splits", str(splits), "--epochs", "10", "--workers", "1",
                 "--no-progress", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "--splits" in err and "repeat 0, fold 1 must be a list of integer row indices" in err, err
    assert not (tmp_path / "o").exists()


def test_cli_errors_and_quick_builtin(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n1,nan,1\n2,2,0\n")
    assert main(["--data", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: row 3, column 'b'" in err
    few = tmp_path / "few.csv"
    few.write_text("a,y\n" + "".join(f"{i},{int(i < 3)}\n" for i in range(30)))
    assert main(["--data", str(few), "--out", str(tmp_path / "y")]) == 2
    assert "few.csv: 3 positive example(s) but 5 folds" in capsys.readouterr().err
    code = main(["--quick", "--repeats", "1", "--epochs", "5", "--workers", "1", "--no-progress",
                 "--out", str(tmp_path / "q")])
    assert code == 0
    meta = json.loads((tmp_path / "q" / "meta.json").read_text())
    assert meta["config"]["imbalance_ratio"] >= 500 and meta["config"]["dataset"].startswith("builtin-")

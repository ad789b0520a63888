"""Ctrl-C on an experiment stops it at once: the pool's workers are terminated, the folds
in flight are lost and run again on resume, which completes byte-identically."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import astra_np
from astra_np.study.datasets import make_imbalanced

ROOT = str(Path(astra_np.__file__).resolve().parent.parent)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals and fork")

# A stand-in estimator whose "gmn-astra" fits block for two minutes while the file
# MARK exists (the other methods finish at once), so that SIGINT lands while both
# workers are busy with folds that would outlast any wait.
SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from astra_np.study.datasets import make_imbalanced
    from astra_np.study.protocol import run_experiment

    out, mark = sys.argv[1], sys.argv[2]

    class Slow:
        def __init__(self, method, random_state, epochs=1, **kw):
            self.method, self.random_state = method, random_state

        def fit(self, X, y, validation_data=None):
            if self.method == "gmn-astra" and os.path.exists(mark):
                open(os.path.join(os.path.dirname(mark), f"busy-{os.getpid()}"), "w").close()
                time.sleep(120)
            self.best_epoch_, self.slope_, self.threshold_ = 1, 2.0 + self.random_state % 7, 0.4
            return self

        def predict(self, X):
            return (X[:, 0] > 0).astype(int)

    X, y = make_imbalanced(n_samples=600, n_positives=12, random_state=5)
    result = run_experiment(X, y, out, repeats=1, folds=3, epochs=1, seed=2, workers=2,
                            progress=False, report=False, estimator=Slow)
    print("interrupted" if result.interrupted else f"complete {len(result.records)}", flush=True)
    sys.exit(130 if result.interrupted else 0)
""")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _wait_for(predicate, proc, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its dead parent's init) is not running
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_sigint_stops_at_once_and_resume_is_identical(tmp_path, spawn):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    mark = tmp_path / "slow"
    mark.write_text("")
    out = tmp_path / "run"
    p = spawn([sys.executable, str(script), str(out), str(mark)], env=_env(),
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # both workers blocked in a two-minute fold
    assert _wait_for(lambda: len(list(tmp_path.glob("busy-*"))) == 2, p), p.communicate()
    busy = [int(f.name.split("-")[1]) for f in tmp_path.glob("busy-*")]
    p.send_signal(signal.SIGINT)
    # Stopping must not wait for the folds in flight (they would take two minutes).
    stdout, stderr = p.communicate(timeout=20)
    assert p.returncode == 130, stderr
    assert stdout.decode().strip() == "interrupted"
    assert b"Traceback" not in stderr, stderr
    assert not any(_alive(pid) for pid in busy)  # the workers were terminated
    kept = (out / "folds.jsonl").read_bytes().count(b"\n")
    assert 0 < kept < 12  # the fast folds were stored, the blocked ones were not
    # Resume (folds no longer blocked) and compare with an uninterrupted run.
    mark.unlink()
    for target in (out, tmp_path / "clean"):
        q = subprocess.run([sys.executable, str(script), str(target), str(mark)], env=_env(),
                           capture_output=True, timeout=120)
        assert q.returncode == 0, q.stderr
        assert q.stdout.decode().strip() == "complete 12"
    assert (out / "folds.jsonl").read_bytes() == (tmp_path / "clean" / "folds.jsonl").read_bytes()


def test_cli_sigint_prints_one_line_and_exits_130(tmp_path, spawn):
    X, y = make_imbalanced(n_samples=3000, n_positives=10, random_state=4)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%.17g")
    out = tmp_path / "run"
    # 10**6 epochs (the maximum): every fold would run for many minutes
    p = spawn([sys.executable, "-m", "astra_np", "experiment", "--data", str(data),
               "--repeats", "1", "--epochs", "1000000", "--workers", "2", "--no-progress",
               "--out", str(out)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def workers_busy():
        kids = Path(f"/proc/{p.pid}/task/{p.pid}/children")
        return kids.exists() and len(kids.read_text().split()) >= 2

    assert _wait_for(workers_busy, p), p.communicate()
    time.sleep(0.5)  # the folds are now in flight
    workers = [int(s) for s in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 130, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("data:"), lines  # the data line, then one line
    assert "folds in flight are lost" in lines[1] and "rerun the same command" in lines[1]
    assert not any(_alive(pid) for pid in workers)
    # nothing stored: no configuration fixed either (a rerun may change the options)
    assert not (out / "meta.json").exists() and (out / "folds.jsonl").read_bytes() == b""

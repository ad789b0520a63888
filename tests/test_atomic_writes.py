"""Every file astra_np writes is written atomically (astra_np.core._io): each command that
writes a file is run in a child process under a file-size limit (RLIMIT_FSIZE, so every
write past the limit fails as on a full disk). The file previously at the target is
intact, no temporary is left, the error is one line and the exit status is 1."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import astra_np
from astra_np.core._io import atomic_output, write_atomic
from astra_np.study.datasets import make_imbalanced

ROOT = str(Path(astra_np.__file__).resolve().parent.parent)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE, POSIX")

CHILD = textwrap.dedent("""
    import resource, runpy, sys
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv = ["astra_np"] + sys.argv[2:]
    runpy.run_module("astra_np", run_name="__main__", alter_sys=True)
""")


def _run_limited(limit, args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", CHILD, str(limit), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    root = tmp_path_factory.mktemp("atomic")
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=9, random_state=2)
    np.savetxt(root / "d.csv", np.column_stack([X, y]), delimiter=",", fmt="%.17g", header="a,b,c,y",
               comments="")
    # a complete experiment, whose files the limited runs below must leave intact
    from astra_np.cli import experiment

    assert experiment.main(["--data", str(root / "d.csv"), "--repeats", "1", "--folds", "3", "--epochs", "3",
                            "--methods", "bce", "--workers", "1", "--no-progress", "--out",
                            str(root / "res")]) == 0
    return root


PREVIOUS = b"the previous file, which must survive\n"

# (name, file-size limit in bytes, command line, the file that exists before and must survive)
COMMANDS = [
    ("train --save", 2000, ["train", "--data", "d.csv", "--epochs", "3", "--save", "out/m.npz"], "out/m.npz"),
    ("train --history", 1000, ["train", "--data", "d.csv", "--epochs", "40", "--history", "out/h.csv"],
     "out/h.csv"),
    ("vectors --out", 20000, ["vectors", "--no-check", "--cases", "default", "--out", "out/v.json"], "out/v.json"),
    ("figures", 4000, ["figures", "--only", "1", "--format", "png", "--out", "out"], "out/fig1.png"),
    ("experiment --combine", 100, ["experiment", "--combine", "res", "--out", "out"], "out/table.md"),
]


@pytest.mark.parametrize("name, limit, args, target", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_failed_write_leaves_the_previous_file_intact(place, tmp_path, name, limit, args, target):
    if name == "figures":
        pytest.importorskip("matplotlib")
    work = tmp_path / "w"
    work.mkdir()
    (work / "d.csv").write_bytes((place / "d.csv").read_bytes())
    os.symlink(place / "res", work / "res")
    (work / "out").mkdir()
    (work / target).write_bytes(PREVIOUS)
    before = _files(work / "out")
    proc = _run_limited(limit, args, work)
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:") and "File too large" in errors[0], proc.stderr
    assert (work / target).read_bytes() == PREVIOUS
    after = _files(work / "out")
    assert not [f for f in after if f.endswith(".tmp")], after
    assert set(after) <= set(before) | {"table.md", "table.csv", "pvalues.csv"} - {target}


def test_experiment_store_under_the_limit_keeps_its_records(place, tmp_path):
    # a finished run, rerun where nothing can be written: the records and meta stay whole
    work = tmp_path / "w"
    os.system(f"cp -r {place / 'res'} {work}")  # noqa: S605 - a fixed local copy
    records = (work / "folds.jsonl").read_bytes()
    meta = (work / "meta.json").read_bytes()
    proc = _run_limited(100, ["experiment", "--data", str(place / "d.csv"), "--repeats", "1", "--folds", "3",
                              "--epochs", "3", "--methods", "bce", "--workers", "1", "--no-progress",
                              "--out", str(work)], tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("data:") and len(lines) == 2 and lines[1].startswith("error:"), proc.stderr
    assert "File too large" in lines[1] and "Bad file descriptor" not in lines[1]
    assert (work / "folds.jsonl").read_bytes() == records and (work / "meta.json").read_bytes() == meta
    assert not [f for f in os.listdir(work) if f.endswith(".tmp")]


def test_experiment_fold_append_under_the_limit(place, tmp_path):
    # a new run: the first fold cannot be appended; no torn line, no temporary, exit 1
    proc = _run_limited(300, ["experiment", "--data", str(place / "d.csv"), "--repeats", "1", "--folds", "3",
                              "--epochs", "3", "--methods", "bce", "--workers", "1", "--no-progress",
                              "--out", "new"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "Traceback" not in proc.stderr
    files = _files(tmp_path / "new")
    assert not [f for f in files if f.endswith(".tmp")], files
    assert (tmp_path / "new" / "folds.jsonl").read_bytes() == b""


def test_defect12_the_helper_removes_its_temporary_on_any_failure(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(PREVIOUS)
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as fh:
            fh.write(b"half")
            raise KeyboardInterrupt
    with pytest.raises(OSError, match=r"cannot write '.*f.bin': No space left on device"):
        with atomic_output(target) as fh:
            fh.write(b"half")
            raise OSError(28, "No space left on device")
    assert target.read_bytes() == PREVIOUS and os.listdir(tmp_path) == ["f.bin"]
    write_atomic(target, "new text")
    assert target.read_text() == "new text" and os.listdir(tmp_path) == ["f.bin"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # the umask's mode, not mkstemp's


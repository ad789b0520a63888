"""Every exit tells the truth: a table of every command's exit codes, a case each
(0 done, 1 failed, 2 refused, 3 incomplete validation, 130 interrupted), then the
cases that used to lie: a closed stdout pipe, an implementation calling sys.exit, a
diverged training, Ctrl-C in train."""
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
from astra_np import __main__ as dispatcher
from astra_np.cli import _args, experiment, figures, gradcheck, train, vectors
from astra_np.learn.estimator import ASTraClassifier
from astra_np.study import protocol
from astra_np.study.datasets import make_imbalanced

ROOT = str(Path(astra_np.__file__).resolve().parent.parent)


def _env(**extra):
    return {**os.environ, "PYTHONPATH": ROOT, **extra}


@pytest.fixture
def place(tmp_path, monkeypatch):
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=9, random_state=2)
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",", fmt="%.17g", header="a,b,c,y",
               comments="")
    (tmp_path / "wrong_impl.py").write_text("import numpy as np\n\ndef astra(x, b):\n    return np.zeros_like(x)\n")
    (tmp_path / "partial_impl.py").write_text("from astra_np.core.activation import astra  # noqa: F401\n")
    (tmp_path / "exiting_impl.py").write_text("import sys\n\ndef astra(x, b):\n    sys.exit(0)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _interrupt(*a, **k):
    raise KeyboardInterrupt


def _oserror(*a, **k):
    raise OSError(28, "No space left on device")


def _failing_rows(points, seed, draws, mp_points, fd=True):
    return [("a row that fails", "rtol 0", lambda: (_ for _ in ()).throw(ArithmeticError("wrong")))]


RUN = ["--data", "d.csv", "--repeats", "1", "--folds", "3", "--epochs", "2", "--methods", "bce",
       "--workers", "1", "--no-progress", "--out", "res"]

# command -> exit code -> (argv, {(module, attribute): replacement} or None)
TABLE = {
    "train": {
        0: (["--data", "d.csv", "--epochs", "3"], None),
        1: (["--data", "d.csv", "--epochs", "3", "--learning-rate", "1e308"], None),
        2: (["--data", "d.csv", "--epochs", "0"], None),
        130: (["--data", "d.csv", "--epochs", "3"], {(ASTraClassifier, "_fit_with"): _interrupt}),
    },
    "experiment": {
        0: (RUN, None),
        1: (RUN, {(protocol, "run_fold"): _oserror}),
        2: (RUN + ["--splits", "d.csv"], None),
        130: (RUN, {(experiment, "run_experiment"): _interrupt}),
    },
    "gradcheck": {
        0: (["--points", "10", "--draws", "1", "--mp-points", "0", "--no-fd"], None),
        1: (["--points", "5"], {(gradcheck, "certification_rows"): _failing_rows}),
        2: (["--points", "-5"], None),
        130: (["--points", "5"], {(gradcheck, "_run_rows"): _interrupt}),
    },
    "figures": {
        0: (["--only", "1", "--format", "svg", "--out", "figs"], None),
        1: (["--only", "4", "--fig4", "no_such_results", "--out", "figs"], None),
        2: (["--only", "7"], None),
        130: (["--only", "1", "--out", "figs"], {(figures, "save_figure"): _interrupt}),
    },
    "vectors": {
        0: (["--no-check", "--cases", "default", "--out", "v.json"], None),
        1: (["--validate", "wrong_impl", "--functions", "astra", "--cases", "default"], None),
        2: (["--max-failures", "-1", "--validate", "wrong_impl"], None),
        3: (["--validate", "partial_impl", "--functions", "astra,threshold", "--cases", "default"], None),
        130: (["--no-check", "--out", "v.json"], {(vectors, "write"): _interrupt}),
    },
}
CASES = [(c, code) for c, codes in TABLE.items() for code in codes]
MAINS = {"train": train.main, "experiment": experiment.main, "gradcheck": gradcheck.main,
         "figures": figures.main, "vectors": vectors.main}


def test_the_table_has_a_case_of_every_exit_code_for_every_command():
    assert set(_args.EXIT.values()) == {0, 1, 2, 3, 130}
    for command, codes in TABLE.items():
        assert set(codes) >= {0, 1, 2, 130}, command
    assert 3 in TABLE["vectors"]
    assert set(TABLE) == set(dispatcher.COMMANDS)


@pytest.mark.parametrize("command, code", CASES, ids=[f"{c} exits {code}" for c, code in CASES])
def test_exit_codes(place, monkeypatch, capsys, command, code):
    if command == "figures" and code != 2:
        pytest.importorskip("matplotlib")
    argv, patches = TABLE[command][code]
    for (owner, name), replacement in (patches or {}).items():
        monkeypatch.setattr(owner, name, replacement)
    assert MAINS[command](list(argv)) == code
    err = [ln for ln in capsys.readouterr().err.splitlines()
           if ln.strip() and not ln.startswith(("data:", "wrote "))]
    if code in (1, 2, 130) and command not in ("gradcheck",) and not (command == "vectors" and code == 1):
        assert len(err) == 1, err  # one line says why
        assert err[0].startswith({1: "error:", 2: ("error:", "python -m astra_np"), 130: "stopped:"}[code])
    if code == 0:
        assert not any(ln.startswith("error") for ln in err), err


def test_dispatcher_passes_the_codes_through(place, capsys):
    assert dispatcher.main(["nope"]) == 2
    assert dispatcher.main(["train", "--data", "d.csv", "--epochs", "2"]) == 0


# --------------------------------------------------------------------------- defect 8
def test_defect8_a_closed_stdout_is_not_an_error_and_files_are_written(place):
    # unbuffered output (as in CI logs): the first print meets the closed pipe
    p = subprocess.Popen([sys.executable, "-m", "astra_np", "train", "--data", "d.csv", "--epochs", "5",
                          "--save", "m.npz", "--history", "h.csv"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(PYTHONUNBUFFERED="1"))
    p.stdout.close()  # `| head -0`
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=300) == 0, err
    assert err == b""
    assert ASTraClassifier.load(place / "m.npz").n_epochs_ == 5
    assert (place / "h.csv").read_text().count("\n") == 6
    # the document written to standard output: the same
    p = subprocess.Popen([sys.executable, "-m", "astra_np", "vectors", "--no-check", "--cases", "default"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    first = p.stdout.readline()  # `| head -1`
    p.stdout.close()
    err = p.stderr.read()
    p.stderr.close()
    assert first.startswith(b"{") and p.wait(timeout=300) == 0 and err == b""


# --------------------------------------------------------------------------- defect 11
def test_defect11_an_implementation_calling_sys_exit_fails_with_a_table(place, capsys):
    assert vectors.main(["--validate", "exiting_impl", "--functions", "astra", "--cases", "default"]) == 1
    out = capsys.readouterr().out
    assert "raised SystemExit (sys.exit(0))" in out and ": FAIL\n" in out
    assert out.splitlines()[0].startswith("function")  # the table is printed
    proc = subprocess.run([sys.executable, "-m", "astra_np", "vectors", "--validate", "exiting_impl",
                           "--functions", "astra", "--cases", "default"], cwd=place, capture_output=True,
                          env=_env(PYTHONPATH=f"{ROOT}{os.pathsep}{place}"), timeout=300)
    assert proc.returncode == 1 and b"FAIL" in proc.stdout


# --------------------------------------------------------------------------- low items
def test_a_diverged_training_exits_1_in_one_line_and_says_what_is_kept(place, capsys):
    assert train.main(["--data", "d.csv", "--epochs", "20", "--learning-rate", "1e308", "--save", "m.npz"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: training did not complete: training stopped at epoch")
    assert "m.npz hold(s) the parameters kept" in err[0]
    assert ASTraClassifier.load(place / "m.npz").stopped_


def test_ctrl_c_in_train_is_one_line_exit_130_and_nothing_written(place, spawn):
    p = spawn([sys.executable, "-m", "astra_np", "train", "--data", "d.csv", "--epochs", "1000000",
               "--save", "m.npz"], cwd=place, env=_env(PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"data ")  # the data are read: training starts
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped: interrupted"), lines
    assert not (place / "m.npz").exists()


def test_ctrl_c_in_figures_is_one_line_exit_130(place, spawn):
    pytest.importorskip("matplotlib")
    script = textwrap.dedent("""
        import os, signal, sys
        from astra_np.cli import figures
        import astra_np.study.figures as F

        def slow():  # stands in for a long drawing: Ctrl-C arrives while it runs
            os.kill(os.getpid(), signal.SIGINT)
            raise AssertionError("not interrupted")

        figures.FIGURES = {**F.FIGURES, 2: slow}
        sys.exit(figures.main(["--only", "1,2", "--format", "svg", "--out", "figs"]))
    """)
    p = spawn([sys.executable, "-c", script], cwd=place, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert err.decode().strip().splitlines() == [
        "stopped: interrupted; the figures printed above are written, no other"]
    assert out.decode().strip().endswith("fig1.svg") and (place / "figs" / "fig1.svg").exists()


def test_combine_of_an_incomplete_run_says_so(place, capsys, monkeypatch):
    real = protocol.run_fold
    calls = []

    def stop_after_two(task):
        calls.append(task)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(protocol, "run_fold", stop_after_two)
    assert experiment.main(RUN) == 130
    monkeypatch.setattr(protocol, "run_fold", real)
    capsys.readouterr()
    assert experiment.main(["--combine", "res", "--out", "table"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: res is an incomplete run (2 of 3 folds stored); its rows of the table rest on "
                   "the folds stored (rerun its command to complete it)"]
    assert experiment.main(RUN) == 0  # completed
    capsys.readouterr()
    assert experiment.main(["--combine", "res", "--out", "table"]) == 0
    assert capsys.readouterr().err == ""

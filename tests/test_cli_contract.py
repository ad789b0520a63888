"""The command-line contract: every bad argument value of every command is refused with
exit status 2 and one line on stderr naming the argument, before any work starts and
with nothing written. Commands run in-process through their ``main(argv)``; the step
that would start the work is replaced by one that fails the test if it is reached."""
import os

import pytest

from astra_np import __main__ as dispatcher
from astra_np.cli import experiment, figures, gradcheck, train

BAD_INT = ["0", "-1", "nan", "abc", "1.5", ""]
BAD_SEED = ["-1", "abc", "1.5", "nan", str(2 ** 63)]
BAD_POSITIVE_FLOAT = ["0", "-1", "nan", "inf", "-inf", "abc", ""]
BAD_TAU = ["0", "-0.1", "0.9", "nan", "inf", "abc"]


@pytest.fixture
def place(tmp_path, monkeypatch):
    r"""A working directory with a data file, a plain file and a directory."""
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i * i % 7},{int(i % 4 == 0)}\n" for i in range(40)))
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    monkeypatch.chdir(tmp_path)

    def no_work(*a, **k):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(train, "_load", no_work)
    monkeypatch.setattr(experiment, "_prepare", no_work)
    monkeypatch.setattr(experiment, "_combine", no_work)
    monkeypatch.setattr(gradcheck, "_run_rows", no_work)
    monkeypatch.setattr(figures, "_mpl", no_work)
    return tmp_path


BAD_PATHS_OUT_FILE = ["dir", "missing/m.npz", "file.txt/m.npz", ""]
BAD_PATHS_OUT_DIR = ["file.txt", "file.txt/sub", ""]

CASES = {
    "train": (train.main, ["--data", "d.csv"], {
        "--epochs": BAD_INT, "--learning-rate": BAD_POSITIVE_FLOAT, "--tau-init": BAD_TAU,
        "--hidden": BAD_INT, "--validation-fraction": ["-0.1", "1", "nan", "abc"],
        "--fixed-eta-b": ["-1", "nan", "inf", "abc"], "--batch-size": BAD_INT, "--seed": BAD_SEED,
        "--save": BAD_PATHS_OUT_FILE, "--history": BAD_PATHS_OUT_FILE,
        "--data": ["missing.csv", "dir", ""], "--val-data": ["missing.csv", "dir"],
        "--method": ["nope", ""], "--monitor": ["nope"], "--format": ["xls"], "--beta-update": ["x"],
        "--metrics-on": ["x"],
    }),
    "experiment": (experiment.main, ["--out", "res"], {
        "--positives": BAD_INT, "--repeats": BAD_INT, "--folds": ["2", "0", "-1", "abc"],
        "--epochs": BAD_INT, "--workers": BAD_INT, "--seed": BAD_SEED,
        "--learning-rate": BAD_POSITIVE_FLOAT, "--tau-init": BAD_TAU, "--history-points": BAD_INT,
        "--out": BAD_PATHS_OUT_DIR, "--data": ["missing.csv", "dir"], "--splits": ["missing.json", "dir"],
        "--combine": ["missing_dir", "file.txt"], "--methods": ["nope"], "--format": ["xls"],
        "--delimiter": ["", ";;", '"', "\n"],
    }),
    "gradcheck": (gradcheck.main, [], {
        "--points": BAD_INT, "--draws": BAD_INT, "--mp-points": ["-1", "abc", "1.5"], "--seed": BAD_SEED,
    }),
    "figures": (figures.main, ["--only", "3"], {
        "--out": BAD_PATHS_OUT_DIR, "--format": ["jpg", "", "png,gif"], "--epochs": BAD_INT,
        "--folds": ["2", "0", "abc"], "--only": ["5", "0", "abc", ""],
    }),
}

PARAMS = [(cmd, opt, value) for cmd, (_, _, table) in CASES.items() for opt, values in table.items()
          for value in values]


def _snapshot(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, ds, fs in os.walk(root) for f in fs + ds)


@pytest.mark.parametrize("command, option, value", PARAMS, ids=[f"{c} {o} {v!r}" for c, o, v in PARAMS])
def test_bad_value_is_one_line_exit_2_nothing_written(place, capsys, command, option, value):
    main, base, _ = CASES[command]
    before = _snapshot(place)
    argv = list(base)
    if option in argv:  # replace the base value of this option
        k = argv.index(option)
        del argv[k:k + 2]
    code = main(argv + [option, value])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert option in lines[0] and "error" in lines[0], lines[0]
    assert out == ""
    assert _snapshot(place) == before  # nothing written


@pytest.mark.parametrize("command", list(CASES))
def test_unknown_option_and_help(place, capsys, command):
    main, base, _ = CASES[command]
    assert main(base + ["--no-such-option"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--no-such-option" in err[0]
    assert main(["--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_required_arguments_missing(place, capsys):
    assert train.main([]) == 2
    assert "--data" in capsys.readouterr().err.strip()
    assert experiment.main(["--quick"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--out" in err[0]


def test_dispatcher_refuses_in_one_line(capsys):
    assert dispatcher.main(["nope"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "unknown command 'nope'" in err[0]
    assert dispatcher.main([]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert dispatcher.main(["train", "--epochs", "0", "--data", "x"]) == 2
    for name in CASES:
        assert dispatcher.COMMANDS[name][0] == f"astra_np.cli.{name}"


# ------------------------------------------------------------------ meaningless options
from astra_np.cli import vectors  # noqa: E402

VALUES = {"--data": "d.csv", "--val-data": "d.csv", "--validation-fraction": "0.2", "--combine": "dir", "--splits": "file.txt",
          "--fig4": "dir", "--dataset": "x", "--validate": "astra_np", "--out": "o.json", "--functions": "astra",
          "--exclude-tag": "subnormal", "--vectors": "file.txt", "--label": "y", "--minority": "1",
          "--format": "csv", "--delimiter": ";", "--methods": "bce", "--name": "n", "--learning-rate": "0.1",
          "--tau-init": "0.2", "--timeout": "5", "--select-hidden": "paper;32", "--select-by": "mcc"}
FLAGS = {"--quick", "--no-standardize", "--no-progress", "--allow-missing", "--no-check"}
COMMAND_TABLES = {"train": (train, ["--data", "d.csv"]), "experiment": (experiment, ["--out", "res"]),
                  "figures": (figures, []), "vectors": (vectors, [])}


def _given(option):
    if option in FLAGS:
        return [option]
    return [option, VALUES.get(option, "3")]


def _meaningless_cases():
    cases = []
    for command, (module, _) in COMMAND_TABLES.items():
        for option, others, _ in module.CONFLICTS:
            cases += [(command, _given(option) + _given(other), other) for other in others]
        for options, _needed, _ in getattr(module, "REQUIRES", ()):
            cases += [(command, _given(option), option) for option in options]
    cases.append(("experiment", ["--data", "d.csv", "--format", "libsvm", "--delimiter", ";"], "--delimiter"))
    cases.append(("figures", ["--only", "1", "--epochs", "30"], "--epochs"))
    return cases


MEANINGLESS = _meaningless_cases()


@pytest.mark.parametrize("command, argv, refused", MEANINGLESS,
                         ids=[f"{c} {' '.join(a)}" for c, a, _ in MEANINGLESS])
def test_an_option_another_makes_meaningless_is_refused_in_one_line(place, capsys, monkeypatch, command,
                                                                     argv, refused):
    module, base = COMMAND_TABLES[command]
    monkeypatch.setattr(vectors, "_validate", lambda *a: pytest.fail("work started"))
    monkeypatch.setattr(vectors, "_write", lambda *a: pytest.fail("work started"))
    (place / "dir").mkdir(exist_ok=True)  # the directory --combine and --fig4 name
    before = _snapshot(place)
    assert module.main(base + argv) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 1, err
    assert lines[0].startswith(f"error: {refused}: meaningless with") and "(" in lines[0], lines[0]
    assert _snapshot(place) == before


def test_the_meaningless_tables_cover_the_known_pairs():
    pairs = {(c, tuple(a)) for c, a, _ in MEANINGLESS}
    for command, argv in [("train", ["--val-data", "d.csv", "--validation-fraction", "0.2"]),
                          ("experiment", ["--splits", "file.txt", "--repeats", "3"]),
                          ("experiment", ["--combine", "dir", "--data", "d.csv"]),
                          ("figures", ["--fig4", "dir", "--folds", "3"]),
                          ("vectors", ["--validate", "astra_np", "--out", "o.json"])]:
        assert (command, tuple(argv)) in pairs


# --------------------------------------------------------------------------- defect 7
@pytest.mark.parametrize("argv, refused", [
    (["--save", "m.npz", "--history", "./m.npz"], "--history"),
    (["--save", "sub/../m.npz", "--history", "m.npz"], "--history"),
    (["--save", "link.npz", "--history", "m.npz"], "--history"),
    (["--history", "d.csv"], "--history"),
    (["--save", "./d.csv"], "--save"),
])
def test_defect7_output_paths_compared_after_resolving_them(place, capsys, argv, refused):
    (place / "sub").mkdir()
    (place / "m.npz").write_bytes(b"previous")
    os.symlink(place / "m.npz", place / "link.npz")
    assert train.main(["--data", "d.csv"] + argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {refused}: ") and "is the file of" in lines[0]
    assert (place / "m.npz").read_bytes() == b"previous"

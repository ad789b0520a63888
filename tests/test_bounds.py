"""Every size is bounded: each size argument of every command, of the estimator, of the
trainer and of the protocol has a stated maximum (``SIZE_LIMITS``), and its maximum + 1
is refused in one line before anything is allocated or written."""
import os
import tracemalloc

import numpy as np
import pytest

from astra_np.cli import experiment, figures, gradcheck, train, vectors
from astra_np.core._validation import SIZE_LIMITS
from astra_np.learn.estimator import ASTraClassifier
from astra_np.learn.train import train as train_network
from astra_np.study import protocol
from astra_np.study.datasets import make_imbalanced
from astra_np.study.figures import builtin_experiment
from astra_np.study.protocol import run_experiment
from astra_np.study.splits import make_splits

PARSERS = {"train": train.build_parser, "experiment": experiment.build_parser,
           "gradcheck": gradcheck.build_parser, "figures": figures.build_parser,
           "vectors": vectors._parser}
MAINS = {"train": train.main, "experiment": experiment.main, "gradcheck": gradcheck.main,
         "figures": figures.main, "vectors": vectors.main}
BASE = {"train": ["--data", "d.csv"], "experiment": ["--out", "res"], "gradcheck": [],
        "figures": ["--only", "4"], "vectors": ["--validate", "astra_np"]}


def _integer_options():
    """(command, option, limit name, minimum) of every option whose value is an integer."""
    found = []
    for command, build in PARSERS.items():
        for action in build()._actions:
            name = getattr(action.type, "__name__", "")
            if name == "seed" or not action.option_strings:
                continue
            if name in ("positive_int", "int") or name.startswith("int_"):
                found.append((command, action.option_strings[-1], None, None))
            elif name.startswith("size_"):
                found.append((command, action.option_strings[-1], name[len("size_"):], None))
    return found


OPTIONS = _integer_options()


def test_every_integer_option_of_every_command_is_a_bounded_size():
    unbounded = [(c, o) for c, o, limit, _ in OPTIONS if limit is None]
    assert unbounded == []
    assert {(c, o) for c, o, _, _ in OPTIONS} >= {
        ("train", "--epochs"), ("train", "--hidden"), ("train", "--batch-size"),
        ("experiment", "--positives"), ("experiment", "--repeats"), ("experiment", "--folds"),
        ("experiment", "--epochs"), ("experiment", "--workers"), ("experiment", "--history-points"),
        ("gradcheck", "--points"), ("gradcheck", "--draws"), ("gradcheck", "--mp-points"),
        ("figures", "--epochs"), ("figures", "--folds"), ("vectors", "--max-failures")}


@pytest.fixture
def place(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i * i % 7},{int(i % 4 == 0)}\n" for i in range(40)))
    monkeypatch.chdir(tmp_path)

    def no_work(*a, **k):
        raise AssertionError("work started before the sizes were checked")

    for module, name in ((train, "_load"), (experiment, "_prepare"), (experiment, "_combine"),
                         (gradcheck, "_run_rows"), (figures, "_mpl"), (vectors, "_validate")):
        monkeypatch.setattr(module, name, no_work)
    return tmp_path


@pytest.mark.parametrize("command, option, limit", [(c, o, limit) for c, o, limit, _ in OPTIONS],
                         ids=[f"{c} {o}" for c, o, _, _ in OPTIONS])
def test_each_size_option_at_its_maximum_plus_one_is_refused_stating_the_maximum(place, capsys, command,
                                                                                 option, limit):
    maximum = SIZE_LIMITS[limit]
    code = MAINS[command](BASE[command] + [option, str(maximum + 1)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and option in lines[0] and f", {maximum}]" in lines[0], err
    assert sorted(os.listdir(place)) == ["d.csv"]  # nothing written
    args = PARSERS[command]().parse_args(BASE[command] + [option, str(maximum)])  # the maximum is accepted
    value = getattr(args, PARSERS[command]()._option_string_actions[option].dest)
    assert value == maximum or value == [maximum]


def test_defect5_a_huge_epoch_count_is_refused_before_reading_the_data(place, capsys):
    assert train.main(["--data", "d.csv", "--epochs", "1000000000000"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--epochs" in err and "[1, 1000000]" in err and "\n" not in err
    assert train.main(["--data", "d.csv", "--hidden", "4", "200000000"]) == 2
    assert "[1, 100000]" in capsys.readouterr().err


def _peak_bytes(call):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            call()
        return tracemalloc.get_traced_memory()[1], str(err.value)
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def data():
    return make_imbalanced(n_samples=4000, n_features=3, n_positives=12, random_state=0)


@pytest.mark.parametrize("params, bound", [
    ({"epochs": SIZE_LIMITS["epochs"] + 1}, "epochs must be an integer in [1, 1000000]"),
    ({"hidden_layer_sizes": (SIZE_LIMITS["hidden_units"] + 1,)}, "[1, 100000]"),
    ({"hidden_layer_sizes": (2,) * (SIZE_LIMITS["hidden_layers"] + 1)}, "at most 100 hidden layers"),
    ({"hidden_layer_sizes": (SIZE_LIMITS["hidden_units"],)}, "more than the limit 268435456"),
    ({"batch_size": SIZE_LIMITS["batch_size"] + 1}, "batch_size must be an integer in [1, 2147483647]"),
])
def test_estimator_sizes_refused_before_allocation(data, params, bound):
    X, y = data
    peak, message = _peak_bytes(lambda: ASTraClassifier(random_state=0, **params).fit(X, y))
    assert bound in message and "\n" not in message
    assert peak < 8 * X.nbytes + 2 ** 20  # the data's copies, not the history or the network


def test_trainer_and_splits_and_figure_sizes_refused(data):
    X, y = data
    for call, bound in (
        (lambda: train_network(X, y, epochs=SIZE_LIMITS["epochs"] + 1), "[1, 1000000]"),
        (lambda: train_network(X, y, hidden_layer_sizes=(SIZE_LIMITS["hidden_units"],)), "more than the limit"),
        (lambda: make_splits(y, n_repeats=SIZE_LIMITS["repeats"] + 1), "n_repeats must be an integer in [1, 1000]"),
        (lambda: make_splits(y, n_folds=SIZE_LIMITS["folds"] + 1), "n_folds must be an integer in [3, 1000]"),
        (lambda: builtin_experiment("unused", epochs=SIZE_LIMITS["epochs"] + 1), "[1, 1000000]"),
    ):
        peak, message = _peak_bytes(call)
        assert bound in message
        assert peak < 8 * X.nbytes + 2 ** 20


@pytest.mark.parametrize("name, value", [
    ("repeats", SIZE_LIMITS["repeats"] + 1), ("folds", SIZE_LIMITS["folds"] + 1),
    ("epochs", SIZE_LIMITS["epochs"] + 1), ("history_points", SIZE_LIMITS["history_points"] + 1),
    ("workers", SIZE_LIMITS["workers"] + 1), ("max_in_flight", SIZE_LIMITS["max_in_flight"] + 1),
    ("positives", SIZE_LIMITS["positives"] + 1),
])
def test_run_experiment_sizes_refused_before_anything_is_written(data, tmp_path, name, value):
    X, y = data
    out = tmp_path / "r"
    with pytest.raises(ValueError, match=rf"{name} must be an integer in \[\d, {SIZE_LIMITS[name]}\]"):
        run_experiment(X, y, out, methods=["bce"], progress=False, **{name: value})
    assert not out.exists()


def test_defect5_a_failed_start_fixes_no_configuration(tmp_path, monkeypatch, capsys):
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=9, random_state=2)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%.17g", header="a,b,c,y", comments="")
    out = tmp_path / "res"
    run = ["--data", str(data), "--repeats", "1", "--folds", "3", "--methods", "bce", "--workers", "1",
           "--no-progress", "--out", str(out)]
    assert experiment.main(run + ["--epochs", "1000000000000"]) == 2  # refused: nothing written
    assert not out.exists()
    real = protocol.run_fold

    def out_of_memory(task):
        raise MemoryError("Unable to allocate 7.28 TiB for an array")

    monkeypatch.setattr(protocol, "run_fold", out_of_memory)
    capsys.readouterr()
    assert experiment.main(run + ["--epochs", "1000000"]) == 1  # failed at the first fold
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: Unable to allocate") and "Traceback" not in "".join(err)
    assert not (out / "meta.json").exists()
    monkeypatch.setattr(protocol, "run_fold", real)
    assert experiment.main(run + ["--epochs", "3"]) == 0  # the corrected rerun is not "a different configuration"
    assert (out / "meta.json").exists()


def test_defect6_the_pool_is_never_larger_than_the_folds_to_run(tmp_path, monkeypatch):
    sizes = []

    class Recording(protocol.SerialExecutor):
        def __init__(self, max_workers, **kwargs):
            sizes.append(max_workers)

    monkeypatch.setattr(protocol.cf, "ProcessPoolExecutor", Recording)
    X, y = make_imbalanced(n_samples=300, n_features=3, n_positives=9, random_state=2)
    result = run_experiment(X, y, tmp_path / "r", repeats=1, folds=3, epochs=2, methods=["bce"],
                            workers=1000, progress=False, report=False)
    assert result.complete and sizes == [3]  # 3 folds to run: 3 workers, not 1000

"""Architecture selection on the validation fold: candidates, criteria, ties, leakage,
resume (counted fits, kill -9), bad input, the report and select_architecture."""
import io
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import astra_np
from astra_np import ASTraClassifier, select_architecture
from astra_np.cli.experiment import main
from astra_np.core.losses import gmn_with_logits_value_and_grad, head_logits
from astra_np.core.metrics import confusion_matrix, g_mean, mcc
from astra_np.learn.estimator import standardize_rows
from astra_np.learn.nn import forward, method_flags
from astra_np.study.datasets import make_imbalanced
from astra_np.study.protocol import run_experiment
from astra_np.study.selection import (
    CRITERIA,
    MAX_PARAMETERS,
    check_candidates,
    choose,
    parse_candidates,
    validation_scores,
)
from astra_np.study.splits import make_splits
from astra_np.study.store import ConfigMismatchError

ROOT = Path(astra_np.__file__).resolve().parent.parent
SMALL = dict(n_samples=600, n_positives=12, random_state=5)
CANDS = ["paper", (8,), (6, 4)]
RUN = dict(repeats=1, folds=3, epochs=25, seed=3, methods=["gmn-astra", "bce"], progress=False,
           workers=1, report=False)


# -- candidates ---------------------------------------------------------------------------
def test_parse_candidates_spellings():
    got = parse_candidates(" paper ; 32;64, 32")
    assert [c.name for c in got] == ["paper", "32", "64,32"]
    assert [c.sizes for c in got] == [None, (32,), (64, 32)]
    assert [c.resolve(9) for c in got] == [(5,), (32,), (64, 32)]
    assert got[2].n_parameters(9) == (9 + 1) * 64 + (64 + 1) * 32 + (32 + 1) * 1


@pytest.mark.parametrize("spec, message", [
    ("", "no candidate"),
    (";", "no candidate"),
    ("32;;64", "an empty candidate"),
    ("0", "positive integers"),
    ("-3", "neither 'paper' nor hidden-layer sizes"),
    ("3.5", "neither 'paper' nor hidden-layer sizes"),
    ("wide", "neither 'paper' nor hidden-layer sizes"),
    ("32,", "neither 'paper' nor hidden-layer sizes"),
])
def test_parse_candidates_refuses(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_candidates(parse_candidates(spec), 9)


@pytest.mark.parametrize("cands, n_features, message", [
    ([], 9, "the list is empty"),
    ([(32,), (32,)], 9, "'32' and '32' are the same network (32,)"),
    (["paper", 5], 9, "'paper' and '5' are the same network (5,) on 9 features"),
    ([(0,)], 9, "positive integers"),
    ([(4, True)], 9, "positive integers"),
    ([(2.0,)], 9, "positive integers"),
    ([(4097,)], 9, "beyond the size bound"),
    ([(2,) * 9], 9, "beyond the size bound"),
    ([(128,)], 10_000, f"beyond the bound of {MAX_PARAMETERS}"),
    (None, 9, "must be a sequence"),
])
def test_check_candidates_refuses(cands, n_features, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_candidates(cands, n_features)


def test_size_bound_is_inclusive():
    (c,) = check_candidates([(4096,)], 1)  # 2 * 4096 + 4097 weights and biases
    assert c.n_parameters(1) <= MAX_PARAMETERS


# -- criteria and ties ---------------------------------------------------------------------
def _row(g, apx, n, m=0.0):
    return dict(val_g_mean=g, val_g_mean_apx=apx, val_mcc=m, n_parameters=n)


def test_default_criterion_is_counted_g_mean():
    rows = [_row(0.80, 0.99, 10), _row(0.90, 0.10, 500), _row(0.85, 0.98, 20)]
    assert choose(rows) == 1


def test_ties_broken_by_approximated_g_mean_then_smaller_network_then_order():
    assert choose([_row(0.9, 0.5, 10), _row(0.9, 0.6, 500)]) == 1
    assert choose([_row(0.9, 0.6, 500), _row(0.9, 0.6, 10)]) == 1
    assert choose([_row(0.9, 0.6, 10), _row(0.9, 0.6, 10)]) == 0
    # the smallest difference in a score decides before the size does
    assert choose([_row(0.9, 0.6, 10), _row(0.9, math.nextafter(0.6, 1.0), 500)]) == 1


def test_other_criteria():
    rows = [_row(0.9, 0.5, 10, m=0.2), _row(0.8, 0.7, 10, m=0.3), _row(0.7, 0.9, 10, m=0.1)]
    assert choose(rows, "g_mean") == 0
    assert choose(rows, "mcc") == 1
    assert choose(rows, "g_mean_apx") == 2
    assert choose(rows, CRITERIA["mcc"]) == 1
    assert CRITERIA["mcc"].describe() == ("counted MCC of the validation fold; ties: approximated G-Mean, "
                                          "then the smaller network")
    # MCC ties fall to the approximated G-Mean
    assert choose([_row(0.1, 0.5, 10, m=0.3), _row(0.2, 0.6, 10, m=0.3)], "mcc") == 1


def test_non_finite_score_ranks_last():
    assert choose([_row(math.nan, 0.9, 10), _row(0.0, 0.0, 10)]) == 1
    assert choose([_row(None, 0.9, 10), _row(0.0, 0.0, 10)]) == 1


def test_unknown_criterion_is_refused():
    with pytest.raises(ValueError, match="selection: unknown criterion 'auc'; choose from g_mean, mcc, g_mean_apx"):
        choose([_row(1, 1, 1)], "auc")


def test_validation_scores_match_their_definitions():
    X, y = make_imbalanced(**SMALL)
    Xv, yv = X[400:], y[400:]
    clf = ASTraClassifier(epochs=40, random_state=1, hidden_layer_sizes=(4,)).fit(X[:400], y[:400],
                                                                                 validation_data=(Xv, yv))
    got = validation_scores(clf, Xv, yv)
    cm = confusion_matrix(yv, (clf.decision_function(Xv) >= 0).astype(int))
    assert got["val_g_mean"] == g_mean(cm) and got["val_mcc"] == mcc(cm)
    assert [got[k] for k in ("val_tn", "val_fp", "val_fn", "val_tp")] == cm.ravel().tolist()
    x, _ = forward(clf.params_, standardize_rows(Xv, clf.mean_, clf.scale_))
    logit = head_logits(x, clf.params_.beta, astra=method_flags(clf.method)["astra"], z=True)
    gmn, _ = gmn_with_logits_value_and_grad(logit, yv.astype(float))
    np.testing.assert_allclose(got["val_g_mean_apx"], 1.0 - gmn, rtol=1e-12, atol=1e-15)


# -- the protocol --------------------------------------------------------------------------
def _choices(records):
    return {(r["repeat"], r["rotation"], r["method"]):
            (r["selection"]["chosen"], [{k: v for k, v in c.items() if k != "test"}
                                        for c in r["selection"]["candidates"]]) for r in records}


def test_permuting_the_test_fold_labels_leaves_every_choice_unchanged(tmp_path):
    X, y = make_imbalanced(**SMALL)
    splits = make_splits(y, n_repeats=1, n_folds=3, seed=3)
    base = run_experiment(X, y, tmp_path / "base", candidates=CANDS, splits=splits, **RUN).records
    changed_tests = 0
    for k in range(3):
        _, _, te = splits.rotation(0, k)
        y_perm = y.copy()
        y_perm[te] = np.random.default_rng(k).permutation(y[te])
        assert not np.array_equal(y_perm, y)
        perm = run_experiment(X, y_perm, tmp_path / f"perm{k}", candidates=CANDS, splits=splits, **RUN).records
        mine = [r for r in base if r["rotation"] == k]
        theirs = [r for r in perm if r["rotation"] == k]
        assert _choices(mine) == _choices(theirs)
        changed_tests += sum(a["selection"]["candidates"] != b["selection"]["candidates"] for a, b in zip(mine, theirs))
    assert changed_tests > 0  # the permutation did reach the test metrics


def test_fold_record_holds_every_candidate_and_the_chosen_ones_test_metrics(tmp_path):
    X, y = make_imbalanced(**SMALL)
    res = run_experiment(X, y, tmp_path / "sel", candidates=CANDS, **RUN)
    assert res.complete and len(res.records) == 6
    for r in res.records:
        sel = r["selection"]
        assert sel["criterion"] == "g_mean"
        assert [c["candidate"] for c in sel["candidates"]] == ["paper", "8", "6,4"]
        assert [c["hidden_layer_sizes"] for c in sel["candidates"]] == [[5], [8], [6, 4]]
        chosen = next(c for c in sel["candidates"] if c["candidate"] == sel["chosen"])
        assert sel["candidates"].index(chosen) == choose(sel["candidates"])
        assert {k: r[k] for k in chosen["test"]} == chosen["test"]
        assert r["hidden_layer_sizes"] == chosen["hidden_layer_sizes"] and r["best_epoch"] == chosen["best_epoch"]
        assert "params" not in r and "val_g_mean" not in r


def test_paper_candidate_is_the_fixed_protocols_fold(tmp_path):
    X, y = make_imbalanced(**SMALL)
    fixed = run_experiment(X, y, tmp_path / "fixed", **RUN).records
    sel = run_experiment(X, y, tmp_path / "sel", candidates=CANDS, **RUN).records
    for f, s in zip(fixed, sel):
        paper = s["selection"]["candidates"][0]
        assert paper["candidate"] == "paper"
        assert paper["test"] == {k: f[k] for k in paper["test"]}
        assert paper["best_epoch"] == f["best_epoch"]


class CountingClassifier(ASTraClassifier):
    """ASTraClassifier that counts its fits and can stop the run (Ctrl-C) at a given fit."""

    fits = 0
    stop_at = None

    def fit(self, X, y, validation_data=None):
        if CountingClassifier.fits == CountingClassifier.stop_at:
            raise KeyboardInterrupt
        CountingClassifier.fits += 1
        return super().fit(X, y, validation_data=validation_data)


def _counted_run(out, stop_at=None, **kw):
    CountingClassifier.fits, CountingClassifier.stop_at = 0, stop_at
    X, y = make_imbalanced(**SMALL)
    res = run_experiment(X, y, out, candidates=CANDS, estimator=CountingClassifier, **dict(RUN, **kw))
    return res, CountingClassifier.fits


def _candidate_lines(out):
    return sum(p.read_bytes().count(b"\n") for p in Path(out).glob("candidates/*/folds.jsonl"))


def test_resume_recomputes_no_finished_candidate_fit(tmp_path):
    total = 3 * 2 * 3
    res, fits = _counted_run(tmp_path / "run", stop_at=7)
    assert res.interrupted and fits == 7 and _candidate_lines(tmp_path / "run") == 7
    assert len(res.records) == 2  # the first two folds' candidates were all in
    stream = io.StringIO()
    res, fits = _counted_run(tmp_path / "run", progress=True, stream=stream)
    assert res.complete and fits == total - 7
    assert stream.getvalue().startswith(f"candidate fits 7/{total} ")
    res, fits = _counted_run(tmp_path / "run")
    assert res.complete and fits == 0
    clean, fits = _counted_run(tmp_path / "clean", workers=2)
    assert fits == 0  # counted in the worker processes, not here
    for name in ["folds.jsonl", *(f"candidates/{c}/folds.jsonl" for c in ("paper", "8", "6-4"))]:
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name


def test_resume_writes_a_fold_whose_candidates_were_all_stored(tmp_path):
    _counted_run(tmp_path / "run")
    path = tmp_path / "run" / "folds.jsonl"
    full = path.read_bytes()
    path.write_bytes(full[: full.rstrip(b"\n").rfind(b"\n") + 1])  # killed before the last fold record
    res, fits = _counted_run(tmp_path / "run")
    assert res.complete and fits == 0 and path.read_bytes() == full


def test_resume_with_other_candidates_or_criterion_is_refused(tmp_path):
    _counted_run(tmp_path / "run", stop_at=2)
    X, y = make_imbalanced(**SMALL)
    for kw, what in ((dict(candidates=["paper", (8,)]), "candidates"),
                     (dict(candidates=CANDS, selection="mcc"), "selection"),
                     (dict(), "candidates")):
        with pytest.raises(ConfigMismatchError) as info:
            run_experiment(X, y, tmp_path / "run", **kw, **RUN)
        assert "\n" not in str(info.value) and f"{what}: stored" in str(info.value)


@pytest.mark.parametrize("kw, message", [
    (dict(selection="mcc"), "selection='mcc' needs candidates"),
    (dict(candidates=[]), "candidates: the list is empty"),
    (dict(candidates=[(8,), "8"]), "the same network"),
    (dict(candidates=CANDS, selection="auc"), "unknown criterion 'auc'"),
    (dict(candidates=CANDS, estimator_params={"hidden_layer_sizes": (3,)}), "set by the candidates"),
])
def test_bad_selection_is_refused_before_anything_is_written(tmp_path, kw, message):
    X, y = make_imbalanced(**SMALL)
    with pytest.raises(ValueError, match=re.escape(message)):
        run_experiment(X, y, tmp_path / "out", **{**RUN, **kw})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--select-hidden", ""], "--select-hidden: candidates: no candidate"),
    (["--select-hidden", "32;32"], "'32' and '32' are the same network"),
    (["--select-hidden", "paper;5"], "'paper' and '5' are the same network (5,) on 9 features"),
    (["--select-hidden", "0;32"], "positive integers"),
    (["--select-hidden", "32;x"], "neither 'paper' nor hidden-layer sizes"),
    (["--select-hidden", "5000"], "beyond the size bound"),
    (["--select-hidden", "32", "--select-by", "auc"], "--select-by: invalid choice: 'auc'"),
    (["--select-by", "mcc"], "--select-by: --select-by mcc needs --select-hidden"),
])
def test_cli_refuses_bad_selection_in_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code = main(["--quick", "--no-progress", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert [line for line in err.splitlines() if not line.startswith("data:")] == [err.splitlines()[-1]]
    assert not out.exists()


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
def test_cli_on_a_csv_resumes_after_kill_9_without_refitting(tmp_path, spawn):
    X, y = make_imbalanced(n_samples=900, n_positives=15, random_state=2)
    data = tmp_path / "mine.csv"
    with open(data, "w") as fh:
        fh.write(",".join(f"f{j}" for j in range(X.shape[1])) + ",cls\n")
        for row, label in zip(X, y):
            fh.write(",".join(repr(float(v)) for v in row) + f",{'rare' if label else 'common'}\n")
    cmd = [sys.executable, "-m", "astra_np", "experiment", "--data", str(data), "--label", "cls",
           "--minority", "rare", "--repeats", "1", "--folds", "3", "--epochs", "400", "--workers", "1",
           "--methods", "gmn-astra", "bce", "--select-hidden", "paper;16;16,8"]
    out = tmp_path / "run"
    p = spawn([*cmd, "--out", str(out)], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while _candidate_lines(out) < 4 and p.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    kept = _candidate_lines(out)
    assert 4 <= kept < 18, kept
    total = 3 * 2 * 3
    q = subprocess.run([*cmd, "--out", str(out)], env=_env(), capture_output=True, text=True, timeout=300)
    assert q.returncode == 0, q.stderr
    progress = [line for line in q.stderr.splitlines() if line.startswith("candidate fits")]
    assert progress[0].startswith(f"candidate fits {kept}/{total} ")  # nothing finished is refitted
    assert "GMN-ASTra (sel.)" in (out / "table.md").read_text()
    clean = subprocess.run([*cmd, "--out", str(tmp_path / "clean"), "--no-progress"], env=_env(),
                           capture_output=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    assert (out / "folds.jsonl").read_bytes() == (tmp_path / "clean" / "folds.jsonl").read_bytes()


# -- the report ----------------------------------------------------------------------------
def test_report_shows_selected_next_to_fixed_and_the_choice_frequencies(tmp_path):
    X, y = make_imbalanced(**SMALL)
    out = tmp_path / "sel"
    run_experiment(X, y, out, candidates=CANDS, **dict(RUN, report=True))
    table = (out / "table.md").read_text()
    header = table.splitlines()[0]
    assert header == "| | BCE | BCE (sel.) | GMN-ASTra | GMN-ASTra (sel.) |"
    counts = re.findall(r"\| GMN-ASTra \| (?:paper \(5\)|8|6,4) \| (\d) of 3 \|", table)
    assert len(counts) == 3 and sum(map(int, counts)) == 3
    assert "best per fold in hindsight" in table
    from astra_np.study.figures import fig4

    assert "the networks chosen on the validation fold" in fig4(results_dir=out).axes[0].get_title()
    # A fixed run of the same data set, combined: the fixed columns come from it.
    run_experiment(X, y, tmp_path / "fixed", **dict(RUN, report=True))
    from astra_np.study.report import write_report

    write_report([str(out), str(tmp_path / "fixed")], out_dir=tmp_path / "both", figure=False)
    both = (tmp_path / "both" / "table.md").read_text()
    assert both.split("\n\n")[0] == table.split("\n\n")[0]


# -- outside the protocol -----------------------------------------------------------------
def test_select_architecture_returns_the_fitted_choice_and_the_table():
    X, y = make_imbalanced(**SMALL)
    clf, table = select_architecture(X[:400], y[:400], validation_data=(X[400:], y[400:]),
                                     candidates=["paper", 8, "6,4"], method="gmn", epochs=30, random_state=0)
    assert [row["candidate"] for row in table] == ["paper", "8", "6,4"]
    assert [row["chosen"] for row in table].count(True) == 1
    best = choose(table)
    assert table[best]["chosen"]
    assert clf.params_.layer_sizes[1:-1] == table[best]["hidden_layer_sizes"]
    assert validation_scores(clf, X[400:], y[400:])["val_g_mean"] == table[best]["val_g_mean"]
    with pytest.raises(ValueError, match="give the networks as candidates"):
        select_architecture(X, y, validation_data=(X, y), hidden_layer_sizes=(3,))


def test_the_guide_s_selection_block_runs():
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    head = "<!-- selection example -->"
    assert head in text
    block = re.search(r"```python\n(.*?)```", text[text.index(head):], re.S).group(1)
    namespace = {}
    exec(compile(block, "docs/protocol.md", "exec"), namespace)
    assert namespace["clf"].params_.layer_sizes[1:-1] in [tuple(r["hidden_layer_sizes"]) for r in namespace["table"]]


def test_a_candidate_fit_fixes_the_configuration_before_any_fold_record(tmp_path):
    _counted_run(tmp_path / "run", stop_at=2)   # two candidate fits stored, no fold record yet
    assert not (tmp_path / "run" / "folds.jsonl").read_bytes()
    X, y = make_imbalanced(**SMALL)
    with pytest.raises(ConfigMismatchError, match="candidates: stored"):
        run_experiment(X, y, tmp_path / "run", candidates=[(3,), (5,)], **RUN)   # none in common

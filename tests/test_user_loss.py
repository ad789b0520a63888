"""A user's own loss on the approximated counts: register_count_loss, its check at
registration, and every feature a registered loss gets (examples/fbeta_loss.py, loaded
as a plugin, through the entry-point group and through --plugin)."""
import io
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import astra_np
from astra_np.check import vectors as V
from astra_np.check.certify import certification_rows
from astra_np.check.reference import head_loss_details
from astra_np.core import count_losses as CL
from astra_np.core import plugins, registry
from astra_np.core.losses import METHODS, head_loss
from astra_np.learn.estimator import ASTraClassifier
from astra_np.study import figures, report

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fbeta_loss.py"
WRONG = 1.000001
RTOL = 1e-12
TINY = 1e-300


def _scaled(log_form, which):
    """``log_form`` with its output ``which`` (0 = J, 1 = log k_neg, 2 = log(-k_pos)) off by WRONG."""
    def wrong(c, m0, m1):
        out = list(log_form(c, m0, m1))
        out[which] = out[which] * WRONG if which == 0 else out[which] + math.log(WRONG)
        return tuple(out)
    return wrong


@pytest.mark.parametrize("which, quantity", [(0, "J"), (1, "k_neg"), (2, "k_pos")])
@pytest.mark.parametrize("name", [loss.name for loss in registry.losses() if loss.fused == "counts"])
def test_a_log_form_wrong_by_1_000001_is_refused_naming_where(name, which, quantity):
    entry = registry.get_loss(name)
    with pytest.raises(ValueError) as err:
        registry.register_count_loss("wrong_one", definition=entry.definition,
                                     log_form=_scaled(entry.log_form, which))
    text = str(err.value)
    assert "'wrong_one'" in text and f"log_form's {quantity} = " in text and "(TN, FP, FN, TP) = " in text
    assert "the definition gives" in text and "\n" not in text
    assert "wrong_one" not in registry.method_names()


def test_a_measure_that_does_not_improve_is_refused_saying_why():
    with pytest.raises(ValueError, match=r"k_neg = dJ/dFP - dJ/dTN = .* < 0 .*improves with FP"):
        registry.register_count_loss("f1_upside_down", definition=lambda tn, fp, fn, tp, xp: 2 * tp / (2 * tp + fp + fn),
                                     log_form=CL.f1_log_form)
    with pytest.raises(ValueError, match=r"k_pos = dJ/dTP - dJ/dFN = .* > 0 .*does not improve with TP"):
        registry.register_count_loss("fn_rate", definition=lambda tn, fp, fn, tp, xp: 1 - fn / (fn + tp),
                                     log_form=CL.f1_log_form)


@pytest.mark.parametrize("bad", ["", "F2", "f-2", "2f", "all", "gmn", "f1", "bce", None, 3, "a b"])
def test_a_bad_or_taken_name_is_refused(bad):
    with pytest.raises(ValueError, match=r"^name "):
        registry.register_count_loss(bad, definition=CL.f1_definition, log_form=CL.f1_log_form)


@pytest.mark.parametrize("argument", ["definition", "log_form"])
def test_a_definition_or_log_form_that_is_not_callable_is_refused(argument):
    kw = dict(definition=CL.f1_definition, log_form=CL.f1_log_form)
    kw[argument] = "1 - F1"
    with pytest.raises(ValueError, match=rf"^{argument} must be callable"):
        registry.register_count_loss("fine_name", **kw)


def test_a_definition_that_fails_is_reported_with_the_counts():
    def broken(tn, fp, fn, tp, xp):
        return np.sqrt(tp)  # numpy cannot take the complex-step numbers: use xp.sqrt
    with pytest.raises(ValueError, match=r"definition of loss 'broken_one' failed at counts"):
        registry.register_count_loss("broken_one", definition=broken, log_form=CL.f1_log_form)


@pytest.fixture(scope="module")
def fbeta():
    key = plugins.load_plugin(str(EXAMPLE))
    yield registry.get_loss("fbeta2")
    registry._unregister("fbeta2")
    sys.modules.pop(plugins._LOADED.pop(key), None)


def test_the_example_registers_two_methods_everywhere(fbeta):
    assert not fbeta.builtin and fbeta.fused == "counts"
    names = registry.method_names()
    assert {"fbeta2", "fbeta2-astra"} <= set(names) and names.index("fbeta2-astra") > names.index("fbeta2")
    assert METHODS["fbeta2-astra"] == dict(loss="fbeta2", astra=True, z=True)
    assert report.METHOD_LABELS["fbeta2-astra"] == "soft-F2-ASTra" and "fbeta2" in figures.METHOD_NAMES
    assert {"head_loss[fbeta2]", "head_loss[fbeta2-astra]"} <= set(V.FUNCTIONS)
    styles = [tuple(sorted(figures.method_style(m).items())) for m in names]
    assert len(set(styles)) == len(styles)


CASES = {
    "bulk": (np.array([0.3, -1.2, 2.0, -0.4, 1.1, -2.5, 0.2, -0.9]), 1.5),
    "tails": (np.array([-30.0, 800.0, -1e4, 25.0, -2.0, 1e4, -700.0, 3.0]), 85.37),
    "every positive at -1e4": (np.array([-1e4, -1e4, 0.5, -2.0, 1.0, -0.3, 2.0, -1.0]), 5.3963487604),
    "nearly perfect": (np.array([30.0, 31.0, -30.0, -29.0, -31.0, -28.0, -30.5, -32.0]), -30.0),
}


@pytest.mark.parametrize("astra", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_values_and_gradients_are_within_1e_12_of_60_digits(fbeta, case, astra):
    x, beta = CASES[case]
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    value, gx, gbeta = head_loss(x, beta, y, loss="fbeta2", astra=astra, z=astra)
    d = head_loss_details(list(x), beta, list(y), loss="fbeta2", astra=astra, z=astra)
    assert value == pytest.approx(float(d["loss"]), rel=RTOL, abs=0.0)
    np.testing.assert_allclose(gx, [float(v) for v in d["dL_dx"]], rtol=RTOL, atol=TINY)
    # dL/dbeta: 1e-12 of the sum of |terms| (a sum of terms of both signs)
    assert abs(gbeta - float(d["dL_dbeta"])) <= RTOL * float(d["dL_dbeta_scale"]) + TINY


def test_gradcheck_rows_of_the_example_pass(fbeta):
    rows = [r for r in certification_rows(60, 3, 3, 14, fd=False) if "fbeta2" in r[0]]
    assert {label for label, _, _ in rows} >= {"fbeta2_with_logits (gradient)", "head_loss[fbeta2] dL/dx",
                                               "head_loss[fbeta2-astra] dL/dbeta"}
    for label, _, thunk in rows:
        res = thunk()
        assert res.passed, (label, str(res))


def test_vectors_of_the_example_validate_for_astra_np(fbeta):
    heads = ["head_loss[fbeta2]", "head_loss[fbeta2-astra]"]
    doc = V.generate("all", check=True, functions=heads)  # cross-checked against 60 digits
    res = V.validate(astra_np, doc, functions=heads, file=io.StringIO())
    assert res.passed and [r.function for r in res.reports] == heads


def test_fits_stay_on_the_fused_path(fbeta):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=300) > 1.6).astype(int)
    clf = ASTraClassifier(method="fbeta2-astra", epochs=40, random_state=0).fit(X, y)
    assert clf.n_epochs_ > 0 and clf.epochs_off_fused_path_ == 0


def _run(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "astra_np", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_cli_gradcheck_with_the_plugin_passes():
    out = _run("gradcheck", "--plugin", str(EXAMPLE), "--points", "40", "--draws", "2", "--mp-points", "0",
               "--no-fd")
    assert out.returncode == 0, out.stderr
    assert "head_loss[fbeta2-astra]" in out.stdout


def test_a_plugin_that_fails_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad_loss.py"
    bad.write_text("raise RuntimeError('no such measure')\n")
    for plugin in (str(bad), "no_such_module_here", str(tmp_path / "missing.py")):
        out = _run("train", "--plugin", plugin, "--help")
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.splitlines()) == 1 and repr(plugin) in out.stderr


def test_experiment_trains_the_plugin_with_two_workers_and_refuses_a_resume_without_it(tmp_path):
    out = _run("experiment", "--plugin", str(EXAMPLE), "--quick", "--methods", "fbeta2", "fbeta2-astra",
               "--workers", "2", "--no-progress", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "run" / "table.md").read_text()
    assert "soft-F2" in table and "soft-F2-ASTra" in table
    meta = _meta(tmp_path / "run")
    assert meta["config"]["plugin_losses"] == {"fbeta2": str(EXAMPLE)}
    again = _run("experiment", "--quick", "--no-progress", "--out", str(tmp_path / "run"))
    errors = [line for line in again.stderr.splitlines() if line.startswith("error")]
    assert again.returncode == 2 and len(errors) == 1  # (after the data line every run prints)
    assert "plugin losses that are not loaded: fbeta2" in errors[0]


def _meta(directory):
    from astra_np.study.store import ResultsStore

    return ResultsStore(str(directory)).read_meta()


def test_spawned_workers_load_the_plugin(tmp_path):
    # under the spawn start method a worker imports astra_np afresh: the plugin reaches it
    # through the pool's initializer
    script = (
        "import multiprocessing, sys\n"
        "if __name__ == '__main__':\n"
        "    multiprocessing.set_start_method('spawn', force=True)\n"
        "    from astra_np.__main__ import main\n"
        f"    sys.exit(main(['experiment', '--plugin', {str(EXAMPLE)!r}, '--quick', '--methods', 'fbeta2-astra',\n"
        f"                   '--workers', '2', '--no-progress', '--out', {str(tmp_path / 'run')!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "soft-F2-ASTra" in (tmp_path / "run" / "table.md").read_text()


def test_an_installed_package_registers_through_the_entry_point_group(tmp_path, monkeypatch):
    (tmp_path / "astra_np_fb_plugin.py").write_text(
        EXAMPLE.read_text().replace('"fbeta2"', '"fbeta_ep"'))
    dist = tmp_path / "astra_np_fb_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: astra_np_fb_plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[astra_np.losses]\nfbeta_ep = astra_np_fb_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "astra_np_fb_plugin" in plugins.load_entry_points()
        assert "fbeta_ep-astra" in registry.method_names()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
        out = _run("train", "--help", env=env)
        assert out.returncode == 0 and "fbeta_ep-astra" in out.stdout
    finally:
        registry._unregister("fbeta_ep")
        plugins._LOADED.pop("astra_np_fb_plugin", None)
        sys.modules.pop("astra_np_fb_plugin", None)


def test_the_readme_shows_the_example_file_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own loss", 1)[1].split("\n## ", 1)[0]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text(encoding="utf-8")


def test_spawned_workers_import_a_loss_registered_by_a_plain_import(tmp_path):
    # no --plugin: the caller imported the module that registers the loss
    script = (
        "import multiprocessing, sys\n"
        "if __name__ == '__main__':\n"
        "    multiprocessing.set_start_method('spawn', force=True)\n"
        f"    sys.path.insert(0, {str(EXAMPLE.parent)!r})\n"
        "    import fbeta_loss\n"
        "    from astra_np import make_imbalanced, run_experiment\n"
        "    X, y = make_imbalanced(n_samples=600, n_positives=12, random_state=0)\n"
        f"    res = run_experiment(X, y, {str(tmp_path / 'run')!r}, repeats=1, folds=3, epochs=5,\n"
        "                         methods=['fbeta2-astra'], workers=2, progress=False, report=False)\n"
        "    print(len(res.records))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "3"
    assert _meta(tmp_path / "run")["config"]["plugin_losses"] == {"fbeta2": "fbeta_loss"}


def test_an_abbreviated_plugin_option_is_refused_not_ignored(capsys):
    from astra_np.cli import gradcheck as cli_gradcheck

    assert cli_gradcheck.main(["--plug", str(EXAMPLE), "--points", "10"]) == 2
    assert "unrecognized arguments: --plug" in capsys.readouterr().err

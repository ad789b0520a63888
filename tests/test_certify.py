"""The self-certification table (astra_np.check.certify) and its command, ``python -m astra_np gradcheck``.

Every row must pass, a derivative wrong by a factor 1.000001 must fail its row (exit code 1),
and the table must be the same on every run.
"""
import subprocess
import sys
import time

from astra_np.cli.gradcheck import main
from astra_np.core import activation as act
from astra_np.core import registry

ROWS = [
    "astra_partials dy/dx", "astra_partials dy/db", "astra_logit_partials dl/dx", "astra_logit_partials dl/db",
    "astra_vjp gx", "astra_vjp gb", "threshold_grad", "threshold_logit_grad", "slope_from_beta_grad",
    "z_transform_partials dz/dp", "z_transform_partials dz/dtau", "z_transform_vjp", "bce_grad",
    "bce_with_logits_grad", "gmn_grad",
] + [f"{loss.name}_with_logits" for loss in registry.losses() if loss.fused == "counts"] + [
    f"head_loss[{m}] dL/dx" for m in registry.method_names()] + [
    f"head_loss[{m.name}] dL/dbeta" for m in registry.methods() if m.astra  # the sigmoid head has no beta
]


def test_cli_main_prints_every_row_and_passes(capsys):
    rc = main(["--points", "150", "--draws", "2", "--mp-points", "14", "--seed", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    for row in ROWS:
        assert row in out, row
    for ref in ("complex step", "mpmath.diff", "mpmath closed form", "FD+Richardson"):
        assert ref in out
    assert "FAIL" not in out and "ERROR" not in out
    assert "all passed" in out
    assert "head_loss[bce] dL/dbeta" not in out and "head_loss[gmn] dL/dbeta" not in out
    # every row line reports its point count and verdict
    lines = [ln for ln in out.splitlines()
             if ln.startswith(("astra_", "threshold", "slope", "z_", "bce", "gmn", "head")) and "self-cert" not in ln]
    assert len(lines) >= len(ROWS) + 8
    assert all(" ok " in ln for ln in lines)


def test_cli_exit_code_1_on_a_wrong_derivative(capsys, monkeypatch):
    threshold_grad = act.threshold_grad
    monkeypatch.setattr(act, "threshold_grad", lambda b: threshold_grad(b) * 1.000001)
    rc = main(["--points", "60", "--draws", "1", "--mp-points", "0", "--no-fd"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL" in out and "1 FAILED" in out


def test_cli_help_and_bad_arguments(capsys):
    assert main(["--help"]) == 0
    assert "--points" in capsys.readouterr().out
    assert main(["--points", "0"]) == 2
    assert main(["--bogus"]) == 2


def test_cli_module_entry_point_runs_fast():
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "astra_np", "gradcheck"], capture_output=True, text=True,
                          timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all passed" in proc.stdout
    assert elapsed < 30.0  # the default run (2000 points per row) must stay interactive


def test_cli_is_deterministic(capsys):
    args = ["--points", "40", "--draws", "1", "--mp-points", "0", "--no-fd", "--seed", "7"]
    outs = []
    for _ in range(2):
        assert main(args) == 0
        outs.append(capsys.readouterr().out.splitlines()[:-1])  # the last line has the run time
    assert outs[0] == outs[1]


def test_mpmath_rows_differentiate_the_forms_of_the_reference():
    """The 60-digit forward forms the mpmath rows differentiate are the reference's closed
    forms (values to 1e-45 relative), and a derivative wrong by 1.000001 fails against them."""
    import mpmath
    import numpy as np

    from astra_np.check import reference as ref
    from astra_np.check.gradcheck import check_gradient

    mpf = mpmath.mpf
    with mpmath.workdps(60):
        for x, b in ((-40.0, 7.3963487604), (0.25, 1000.0), (40.0, 2.0)):
            value = ref.astra_mp(mpf(x), mpf(b))
            exact = ref.astra(x, b) if x < 0.5 else -ref.astra_complement(x, b)
            assert abs(value - exact) <= mpf(10) ** -45 * abs(exact)
            logit = ref.astra_logit(x, b)
            assert abs(ref.astra_logit_mp(mpf(x), mpf(b)) - logit) <= mpf(10) ** -45 * abs(logit)
        assert abs(ref.threshold_mp(mpf(87.4)) - ref.threshold(87.4)) <= mpf(10) ** -55
        assert abs(ref.slope_from_beta_mp(mpf(-3.0)) - ref.slope_from_beta(-3.0)) <= mpf(10) ** -55
        assert abs(ref.z_transform_mp(mpf(0.3), mpf(0.1)) - ref.z_transform(0.3, 0.1)) <= mpf(10) ** -55
    x = np.array([-745.0, -1.0, 0.0, 40.0, 1e4])
    b = np.array([1.0, 87.4, 7.3963487604, 2.0, 1000.0])
    good = check_gradient(ref.astra_mp, act.astra_partials, (x, b), "mpmath", rtol=1e-12, atol=0.0, wrt=0)
    assert good.passed, str(good)
    wrong = lambda x, b: tuple(d * 1.000001 for d in act.astra_partials(x, b))
    bad = check_gradient(ref.astra_mp, wrong, (x, b), "mpmath", rtol=1e-12, atol=0.0, wrt=0)
    assert not bad.passed

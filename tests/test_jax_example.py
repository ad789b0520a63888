"""The worked JAX example (examples/jax_astra.py) against the reference vectors.

The example runs in a fresh process (``tests/jax_example_probe.py``): JAX starts threads
when it initialises, and this test process forks later (the protocol tests). CI
installs jax (CPU) and sets ``CI``: there a missing jax fails these tests instead of
skipping them.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from astra_np import METHODS
from astra_np.check import vectors as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "jax_astra.py")
PROBE = os.path.join(ROOT, "tests", "jax_example_probe.py")
HAVE_JAX = importlib.util.find_spec("jax") is not None

if not HAVE_JAX and not os.environ.get("CI"):
    pytest.skip("the JAX example needs jax (pip install jax; CI installs it)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def doc(vectors_file):
    return V.load(vectors_file)


@pytest.fixture(scope="module")
def probe(vectors_file):
    if not HAVE_JAX:
        pytest.fail("CI is set but jax is not installed: the JAX example must run in CI")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, PROBE, EXAMPLE, vectors_file], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE ")]
    return json.loads(line[len("PROBE "):])


def test_the_example_exits_0_with_float64(probe):
    assert probe["x64"] == "float64"
    assert probe["exit_code"] == 0, probe["output"][-3000:]
    assert ("stable passes every case but the subnormal ones: True; naive passes the ordinary "
            "range: True; naive fails only in the tails: True") in probe["output"]


def test_stable_passes_every_case_but_the_subnormal_ones(probe, doc):
    stable = probe["stable"]
    tagged = [c["id"] for e in doc["functions"].values() for c in e["cases"] if "requires" in c]
    n_all = sum(len(e["cases"]) for e in doc["functions"].values())
    assert stable["status"] == "PASS", stable["failures"][:10]
    assert len(tagged) == 3 and stable["excluded"] == {"subnormal": 3}
    assert stable["checked"] == n_all - 3
    assert set(stable["reports"].values()) == {"PASS"}   # gradients included
    assert f"{n_all - 3} cases, 0 failed, 3 left out: PASS" in probe["output"]
    assert "left out 3 cases requiring 'subnormal'" in probe["output"]
    assert "XLA on CPU flushes subnormal numbers to zero" in probe["output"]


def test_naive_passes_the_ordinary_range_and_fails_in_the_tails_with_causes(probe):
    naive = probe["naive"]
    assert probe["naive_default"]["status"] == "PASS"
    assert naive["status"] == "FAIL"
    assert naive["failed_cases"] and all("/hard/" in c for c in naive["failed_cases"])
    failures = naive["failures"]
    assert {"astra", "astra_logit", "threshold", "slope_from_beta", "z_transform", "bce",
            "gmn"} <= {f["function"] for f in failures}
    # every method's head, the soft-F1 and soft-MCC ones included
    assert {V.head_key(m) for m in METHODS} <= {f["function"] for f in failures}
    assert all(f["cause"] in V.CAUSES and f["explanation"] for f in failures)
    assert {"zero", "nan", "inf"} <= {f["cause"] for f in failures}
    summary = probe["output"].split("likely causes of the naive failures")[1].splitlines()[0]
    for cause in ("zero", "nan", "inf"):
        assert f"{cause} " in summary
    # the printed failure blocks carry the inputs
    assert "inputs: x = -100.0, b = 1.0" in probe["output"]
    # Eq. 6 by the quotient rule: dz/dtau loses digits next to p = 1 (stable: custom rule)
    assert any(f["function"] == "z_transform" and f["quantity"] == "gradient.tau"
               for f in failures)


def test_autodiff_of_expm1_loses_the_tail_and_the_custom_rule_restores_it(probe):
    assert probe["grad_expm1_at_-40"] == 0.0                      # exact: 4.25e-18
    assert probe["grad_one_minus_exp_at_-40"] == pytest.approx(probe["exact_at_-40"],
                                                               rel=1e-15, abs=0.0)
    plain = probe["plain_expm1"]
    assert plain["status"] == "FAIL"
    zero = [f for f in plain["failures"] if f["quantity"] == "gradient.x" and f["cause"] == "zero"]
    assert zero and all("/hard/" in f["case"] for f in zero)
    assert all(f["got"] == 0.0 and f["expected"] > 0.0 for f in zero)
    # the values are right; only the derivative is lost
    assert not [f for f in plain["failures"] if f["quantity"] == "value"]


def test_minimum_splits_its_derivative_at_a_tie(probe):
    assert probe["grad_exp_minimum_at_0"] == 0.5
    assert probe["grad_stable_slope_from_beta_at_0"] == 1.0


def test_jax_vjp_works_as_the_gradient_operator(probe):
    assert probe["vjp"]["status"] == "PASS", probe["vjp"]["failures"][:5]
    assert probe["vjp"]["checked"] > 100


def test_float32_results_are_named(probe):
    f32 = probe["float32"]
    assert f32["status"] == "FAIL"
    values = [f for f in f32["failures"] if f["quantity"] == "value"]
    assert len(values) == len(f32["failed_cases"])
    assert all("float32" in f["message"] and f["cause"] == "float32" for f in values)


def test_stable_heads_match_astra_np_off_the_vectors(probe):
    """A vanishing predicted marginal, 2TP << FP + FN, a perfect separation: every method's
    stable head is finite and matches astra_np's head_loss (rtol 1e-12, atol TINY)."""
    off = probe["off_vectors"]
    assert {key.split(": ")[0] for key in off} == set(METHODS)
    assert len(off) == 4 * len(METHODS)
    assert [k for k, r in off.items() if not (r["finite"] and r["close"])] == []

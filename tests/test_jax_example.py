"""The worked JAX example (examples/jax_astra.py) against the reference vectors.

CI installs jax (CPU) and sets ``CI``: there a missing jax fails these tests instead of
skipping them.
"""
import importlib.util
import io
import math
import os

import numpy as np
import pytest

from astra_np.check import vectors as V

try:
    import jax
except ImportError:   # pragma: no cover - depends on the environment
    jax = None
    if not os.environ.get("CI"):
        pytest.skip("the JAX example needs jax (pip install jax; CI installs it)",
                    allow_module_level=True)

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "jax_astra.py")


@pytest.fixture(scope="module")
def example():
    if jax is None:
        pytest.fail("CI is set but jax is not installed: the JAX example must run in CI")
    spec = importlib.util.spec_from_file_location("jax_astra_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vectors") / "astra_vectors.json"
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        path.write_text(V.dumps(V.generate("all", check=False)), encoding="ascii")
    return str(path)


@pytest.fixture(scope="module")
def doc(vectors_file):
    return V.load(vectors_file)


@pytest.fixture(scope="module")
def outcome(example, vectors_file):
    buf = io.StringIO()
    naive, naive_default, stable = example.run(vectors_file, out=buf)
    return naive, naive_default, stable, buf.getvalue()


def test_float64_is_enabled(example):
    assert jax.numpy.zeros(()).dtype == np.float64


def test_stable_passes_every_case_but_the_subnormal_ones(outcome, doc):
    _, _, stable, text = outcome
    tagged = [c["id"] for e in doc["functions"].values() for c in e["cases"] if "requires" in c]
    n_all = sum(len(e["cases"]) for e in doc["functions"].values())
    assert stable.status == "PASS", "\n".join(map(str, stable.failures[:10]))
    assert stable.excluded == {"subnormal": len(tagged)} and len(tagged) == 3
    assert stable.checked == n_all - len(tagged)
    assert all(r.status == "PASS" for r in stable.reports)   # gradients included
    assert f"left out {len(tagged)} cases requiring 'subnormal'" in text
    assert "XLA on CPU flushes subnormal numbers to zero" in text


def test_naive_passes_the_ordinary_range_and_fails_in_the_tails_with_causes(outcome):
    naive, naive_default, _, text = outcome
    assert naive_default.passed
    assert naive.status == "FAIL"
    failed = naive.failed_cases()
    assert failed and all("/hard/" in c for c in failed)
    assert {"astra", "astra_logit", "threshold", "slope_from_beta", "z_transform", "bce",
            "gmn"} <= {f.function for f in naive.failures}
    assert all(f.cause in V.CAUSES and f.explanation for f in naive.failures)
    causes = {f.cause for f in naive.failures}
    assert {"zero", "nan", "inf"} <= causes
    summary = text.split("likely causes of the naive failures")[1].splitlines()[0]
    for cause in ("zero", "nan", "inf"):
        assert f"{cause} " in summary
    # the Eq. 6 quotient rule: dz/dtau loses digits when p is next to 1 (stable: custom rule)
    assert any(f.function == "z_transform" and f.quantity == "gradient.tau"
               for f in naive.failures)


def test_verdict_and_main(example, outcome, vectors_file, capsys, monkeypatch):
    naive, naive_default, stable, _ = outcome
    assert example.verdict(naive, naive_default, stable, out=io.StringIO()) == 0
    # main = run (checked above, not repeated here) + verdict
    calls = []
    monkeypatch.setattr(example, "run", lambda v: calls.append(v) or outcome[:3])
    assert example.main([vectors_file]) == 0 and calls == [vectors_file]
    out = capsys.readouterr().out
    assert "stable passes every case but the subnormal ones: True" in out
    assert "naive fails only in the tails: True" in out


def test_autodiff_of_expm1_loses_the_tail_and_the_custom_rule_restores_it(example, doc):
    jnp = jax.numpy
    assert float(jax.grad(jnp.expm1)(-40.0)) == 0.0              # exact: 4.25e-18
    g = float(jax.grad(example.one_minus_exp)(-40.0))
    assert g == pytest.approx(-math.exp(-40.0), rel=1e-15, abs=0.0)

    def astra_plain_expm1(x, b):   # the stable forward of derivations/astra.md, no rule
        s, _ = example._s(x, b)
        return -jnp.expm1(-s)

    impl = V.implementation_from_forward({"astra": astra_plain_expm1}, grad=jax.grad,
                                         asarray=jnp.asarray)
    res = V.validate(impl, doc, functions=["astra"], verbose=False)
    assert res.status == "FAIL"
    zero = [f for f in res.failures if f.quantity == "gradient.x" and f.cause == "zero"]
    assert zero and all("/hard/" in f.case for f in zero)
    assert all(f.got == 0.0 and f.expected > 0.0 for f in zero)
    # the values are right; only the derivative is lost
    assert not [f for f in res.failures if f.quantity == "value"]


def test_minimum_splits_its_derivative_at_a_tie(example):
    jnp = jax.numpy
    assert float(jax.grad(lambda b: jnp.exp(jnp.minimum(b, 0.0)))(0.0)) == 0.5
    assert float(jax.grad(example.stable_slope_from_beta)(0.0)) == 1.0


def test_jax_vjp_works_as_the_gradient_operator(example, doc):
    impl = V.implementation_from_forward(example.STABLE_FORWARD, vjp=jax.vjp,
                                         asarray=jax.numpy.asarray)
    fns = ["astra", "z_transform", "bce", "head_loss[gmn-astra]"]
    res = V.validate(impl, doc, functions=fns, exclude=("subnormal",), verbose=False)
    assert res.status == "PASS", "\n".join(map(str, res.failures[:5]))


def test_float32_results_are_named(example, doc):
    jnp = jax.numpy

    def astra32(x, b):
        return example.stable_astra(x, b).astype(jnp.float32)

    impl = V.implementation_from_forward({"astra": astra32}, grad=jax.grad,
                                         asarray=jnp.asarray)
    res = V.validate(impl, doc, functions=["astra"], cases="default", verbose=False)
    assert res.report("astra").failed == res.report("astra").cases
    assert all("float32" in f.message for f in res.failures if f.quantity == "value")

"""The worked PyTorch example (examples/pytorch_astra.py) against the reference vectors."""
import importlib.util
import io
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch example needs torch (CI installs 2.13.0)")

from astra_np import METHODS  # noqa: E402
from astra_np.check import vectors as V  # noqa: E402
from astra_np.core.losses import head_loss  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "pytorch_astra.py")


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("pytorch_astra_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def outcome(example, vectors_file):
    buf = io.StringIO()
    naive, naive_default, stable = example.run(vectors_file, out=buf)
    return naive, naive_default, stable, buf.getvalue()


def test_main_succeeds_on_a_vectors_file(example, vectors_file, capsys):
    assert example.main([vectors_file]) == 0
    out = capsys.readouterr().out
    assert "stable passes every case: True" in out
    assert "naive fails only in the tails: True" in out


def test_stable_implementation_passes_every_case(outcome, vectors_file):
    _, _, stable, _ = outcome
    assert stable.status == "PASS", "\n".join(map(str, stable.failures[:10]))
    doc = V.load(vectors_file)
    # every case, the subnormal ones included: PyTorch on CPU keeps subnormals
    assert stable.checked == sum(len(e["cases"]) for e in doc["functions"].values())
    assert stable.excluded == {}
    assert all(r.status == "PASS" for r in stable.reports)  # gradients included


def test_implementations_are_built_from_forward_functions(example):
    assert sorted(example.NAIVE) == sorted(example.STABLE) == sorted(V.call_names())
    x = np.array([-1.0, 0.5, 2.0])
    dx, db = example.STABLE["astra_partials"](x, np.float64(V.B_TAU_025))
    assert dx.dtype == db.dtype == np.float64 and dx.shape == db.shape == (3,)


def test_naive_implementation_passes_the_ordinary_range_and_fails_in_the_tails(outcome):
    naive, naive_default, _, _ = outcome
    assert naive_default.passed
    assert not naive.passed
    failed = naive.failed_cases()
    assert failed and all("/hard/" in c for c in failed)
    failing_functions = {f.function for f in naive.failures}
    # every documented failure mode shows up
    assert {"astra", "astra_logit", "threshold", "slope_from_beta", "z_transform", "bce",
            "gmn"} <= failing_functions
    # every method's head, the soft-F1 and soft-MCC ones included
    assert {V.head_key(m) for m in METHODS} <= failing_functions


def test_documented_naive_failures(outcome, vectors_file):
    naive, _, _, _ = outcome
    doc = V.load(vectors_file)

    def case_id(fn, **point):
        for c in doc["functions"][fn]["cases"]:
            inputs = {k: V.decode(t) for k, t in c["inputs"].items()}
            if all(a.ndim == 0 for a in inputs.values()) and all(
                    float(inputs[k]) == v for k, v in point.items()):
                return c["id"]
        raise LookupError(point)

    failed = set(naive.failed_cases())
    # cancellation in the left tail, b = 7.3963 (tau = 0.25): y = 0 instead of 1.4e-32
    assert case_id("astra", b=V.B_TAU_025, x=-10.0) in failed
    # overflow of e^{bx} in the right tail, b = 87.37 (tau = 0.05): y = 1, NaN gradient
    assert case_id("astra", b=V.B_TAU_005, x=10.0) in failed
    assert case_id("astra_logit", b=V.B_TAU_005, x=-1000.0) in failed
    assert case_id("z_transform", p=1.0 - 2.0 ** -53, tau=0.05) in failed
    assert case_id("slope_from_beta", beta=1e6) in failed
    # ... and the ordinary-range neighbours pass
    assert case_id("astra", b=V.B_TAU_025, x=-1.0 / V.B_TAU_025) not in failed


def test_every_naive_failure_is_explained(outcome, example):
    naive, _, _, text = outcome
    explained = text.split("Why the naive version fails")[1].split("STABLE")[0]
    for case in naive.failed_cases():
        assert case in explained
    for reason in ("cancellation", "overflow", "0 log 0", "subnormal product", "saturation"):
        assert reason in explained
    assert "see the module docstring" not in explained


def test_stable_gradients_are_finite_where_naive_ones_are_nan(example):
    x = torch.tensor([-1000.0, 0.0, 10.0, 1000.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(V.B_TAU_005, dtype=torch.float64)
    (g_naive,) = torch.autograd.grad(example.naive_astra(x, b).sum(), x)
    assert torch.isnan(g_naive).any()
    (g_stable,) = torch.autograd.grad(example.stable_astra_logit(x, b).sum(), x)
    assert torch.isfinite(g_stable).all()
    # d logit / dx -> b in the left tail and -> 1 in the right tail
    assert g_stable[0].item() == pytest.approx(V.B_TAU_005, rel=1e-12, abs=0.0)
    assert g_stable[-1].item() == pytest.approx(1.0, rel=1e-12, abs=0.0)


#: Heads the vectors do not hold: a vanishing predicted marginal (every output -> 0, every
#: output -> 1; soft MCC is 0/0 there in linear counts), one positive far below the
#: negatives (2TP << FP + FN: soft F1's negatives' gradient is 1e-21) and a perfect
#: separation (J ~ 1e-18: 1 - F1 and 1 - MCC round to 0).
OFF_VECTOR_HEADS = {
    "every output -> 0": ([-700.0, -700.5, -701.0, -699.0], [1, 0, 0, 1]),
    "every output -> 1": ([700.0, 700.5, 701.0, 699.0], [1, 0, 0, 1]),
    "one positive far below": ([-45.0, 1.0, -1.0, 2.0], [1, 0, 0, 0]),
    "perfect separation": ([40.0, -40.0, 35.0, -38.0], [1, 0, 1, 0]),
}


@pytest.mark.parametrize("where", sorted(OFF_VECTOR_HEADS))
@pytest.mark.parametrize("method", list(METHODS))
def test_stable_heads_match_astra_np_off_the_vectors(example, method, where):
    x, y = (np.array(v) for v in OFF_VECTOR_HEADS[where])
    beta = np.float64(-1.0 if METHODS[method]["astra"] else 0.0)
    got = example.STABLE["head_loss"](x, beta, y, **METHODS[method])
    expected = head_loss(x, beta, y, **METHODS[method])
    for g, e in zip(got, expected):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=V.TINY)

"""The built-in losses on the counts outside the paper's comparison (soft F1, soft MCC:
astra_np.core.count_losses) and their methods, enumerated from the registry.

Ground truth in layers, as for GMN: complex step of the registered definitions
(astra_np.check._complex.loss_form) and finite differences with Richardson in the bulk, under
hypothesis; the 60-digit mpmath head (astra_np.check.reference) in the tails and at the
edges (every positive at x = -1e4, every negative saturating at 1, one positive in 4,000
rows, a vanishing marginal); the counts form that the fused kernel calls against the
logit form. Floating-point warnings are errors here (and overflow, division by zero and
invalid operations raise, tests/conftest.py).
"""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from astra_np.check import _complex as cx
from astra_np.check import reference as ref
from astra_np.check.certify import _head_beta_scale
from astra_np.check.gradcheck import check_gradient
from astra_np.core import count_losses as CL
from astra_np.core import registry
from astra_np.core.losses import METHODS, head_loss

pytestmark = pytest.mark.filterwarnings("error")

#: The losses on the approximated counts that are not the paper's, and their methods.
NEW_LOSSES = [loss for loss in registry.losses() if not loss.in_paper]
NEW_LOSS_NAMES = [loss.name for loss in NEW_LOSSES]
NEW_METHODS = [m.name for m in registry.methods() if not m.loss.in_paper]
#: Every loss on the approximated counts (GMN included), each with its definition.
COUNT_LOSS_NAMES = [loss.name for loss in registry.losses() if loss.fused == "counts"]
RTOL = 1e-12  # the accuracy promised for every gradient, away from sign changes
TINY = 1e-300  # results below this need only have underflowed


def test_the_other_losses_are_registered_outside_the_papers_comparison():
    assert NEW_LOSS_NAMES and NEW_METHODS == NEW_LOSS_NAMES + [f"{name}-astra" for name in NEW_LOSS_NAMES]
    assert not set(NEW_METHODS) & set(registry.paper_method_names())
    assert set(NEW_METHODS) <= set(registry.method_names())
    for loss in NEW_LOSSES:
        assert loss.fused == "counts" and loss.needs_both_classes


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


@st.composite
def logit_cases(draw, lo=-800.0, hi=800.0):
    n = draw(st.integers(2, 16))
    bulk = st.floats(-8.0, 8.0, allow_nan=False)
    tail = st.floats(lo, hi, allow_nan=False)
    logit = np.array(draw(st.lists(st.one_of(bulk, tail), min_size=n, max_size=n)))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[0], y[1] = 1, 0
    return logit, y


def _value_and_grad(loss):
    return loss.function("value_and_grad")


# ---------------------------------------------------------------------------
# Complex step and finite differences (hypothesis)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_LOSS_NAMES)
@given(case=logit_cases())
def test_logit_gradient_matches_complex_step(name, case):
    logit, y = case
    loss = registry.get_loss(name)
    vg = _value_and_grad(loss)
    # rtol 1e-12: logs of size up to ~1600 are added before exp (1e-13 relative);
    # atol 1e-300: entries that underflow in both
    res = check_gradient(cx.loss_form(loss), lambda l, yy: vg(l, yy)[1], (logit, y),
                         mode="gradient", wrt=0, rtol=RTOL, atol=TINY)
    assert res.passed, str(res)


@pytest.mark.parametrize("name", NEW_LOSS_NAMES)
@given(case=logit_cases(lo=-6.0, hi=6.0))
def test_logit_gradient_matches_finite_differences_in_the_bulk(name, case):
    logit, y = case
    vg = _value_and_grad(registry.get_loss(name))
    # central differences + Richardson: ~1e-10 relative where the loss is smooth on the
    # step's scale (|logit| <= 8); atol 1e-10 for gradients that are nearly 0
    res = check_gradient(lambda l, yy: vg(l, yy)[0], lambda l, yy: vg(l, yy)[1], (logit, y), "fd",
                         mode="gradient", wrt=0, rtol=1e-7, atol=1e-10)
    assert res.passed, str(res)


@pytest.mark.parametrize("method", [m for m in NEW_METHODS if METHODS[m]["astra"]])
@given(
    x=st.lists(st.floats(-30.0, 30.0, allow_nan=False), min_size=3, max_size=10),
    beta=st.floats(-3.0, 40.0),
)
@example(x=[-23.0, -23.0, -23.0], beta=21.0)  # equal rows: dL/dbeta is exactly 0
def test_head_gradients_match_complex_step(method, x, beta):
    x = np.array(x)
    y = np.zeros(x.size, dtype=np.int64)
    y[0] = 1
    kw = METHODS[method]
    f = lambda xx, bb, yy: cx.head_loss(xx, bb, yy, **kw)
    g = lambda xx, bb, yy: head_loss(xx, float(bb), yy, **kw)[1:]
    names = ("x", "beta", "y")
    res = check_gradient(f, g, (x, np.asarray(beta), y), mode="gradient", wrt=0, argnames=names,
                         rtol=RTOL, atol=TINY)
    assert res.passed, str(res)
    # dL/dbeta sums terms of both signs: absolute part 1e-13 of their total size, the bound
    # of the paper's losses (tests/test_complex_step.py). It is reached where the terms
    # cancel exactly: equal pre-activations give MCC = 0 for every beta, and the computed
    # dL/dbeta is rounding noise of 0 (7e-14 of the terms at x = (-23, -23, -23), beta = 21)
    scale = _head_beta_scale(x, np.asarray(beta), y, kw)
    res = check_gradient(f, g, (x, np.asarray(beta), y), mode="gradient", wrt=1, argnames=names,
                         rtol=RTOL, atol=1e-13 * scale + TINY)
    assert res.passed, str(res)


# ---------------------------------------------------------------------------
# The 60-digit head in the tails and at the edges
# ---------------------------------------------------------------------------


def _head_case(name):
    rng = np.random.default_rng(HEAD_CASES.index(name))
    n = 16
    y = np.zeros(n, dtype=np.int64)
    y[:3] = 1
    beta = 85.37  # b = 87.37, tau ~ 0.05
    if name == "tails":
        x = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-3, 4, n)
    elif name == "every positive at -1e4":
        x = rng.normal(0.0, 2.0, n)
        x[:3] = -1e4 - rng.uniform(0.0, 1.0, 3)
    elif name == "every negative saturating at 1":
        x = rng.normal(0.0, 2.0, n)
        x[3:] = 1e4 + rng.uniform(0.0, 1.0, n - 3)
    elif name == "predicted positives vanish (P -> 0)":
        x, beta = -900.0 - rng.uniform(0.0, 4.0, n), -30.0  # b ~ 1: logits ~ -900
    elif name == "predicted negatives vanish (Q -> 0)":
        x, beta = 900.0 + rng.uniform(0.0, 4.0, n), -30.0
    elif name == "nearly perfect":
        x, beta = np.where(y == 1, 30.0, -30.0) + rng.normal(0.0, 1.0, n), -30.0
    elif name == "one positive in 4000 rows":
        x = np.concatenate([[0.7], rng.normal(-3.0, 1.5, 4000)])
        y = np.zeros(4001, dtype=np.int64)
        y[0] = 1
        beta = 5.3963487604  # the paper's initial slope
    else:  # pragma: no cover - the parametrisation names every case
        raise AssertionError(name)
    return x, beta, y


HEAD_CASES = [
    "tails",
    "every positive at -1e4",
    "every negative saturating at 1",
    "predicted positives vanish (P -> 0)",
    "predicted negatives vanish (Q -> 0)",
    "nearly perfect",
    "one positive in 4000 rows",
]


def head_errors(method, x, beta, y):
    r"""Errors of ``head_loss`` against the 60-digit reference: ``(loss relative,
    max dL/dx relative (over entries above 1e-300), dL/dbeta error / term scale,
    dL/dbeta relative, the reference details)``."""
    kw = METHODS[method]
    value, gx, gbeta = head_loss(x, beta, y, **kw)
    d = ref.head_loss_details(list(x), beta, list(y), **kw)
    assert np.isfinite(value) and np.all(np.isfinite(gx)) and np.isfinite(gbeta)
    L = float(d["loss"])
    rx = np.array([float(v) for v in d["dL_dx"]])
    rb, scale = float(d["dL_dbeta"]), float(d["dL_dbeta_scale"])
    big = np.abs(rx) > TINY
    assert np.all(np.abs(gx[~big]) <= TINY), "entries whose exact value underflows must be ~0"
    rel_x = float(np.max(np.abs(gx[big] - rx[big]) / np.abs(rx[big]), initial=0.0))
    err_b = abs(gbeta - rb)
    return (abs(value - L) / abs(L), rel_x, err_b / scale if scale > 0 else err_b,
            err_b / abs(rb) if rb else err_b, d)


@pytest.mark.parametrize("method", NEW_METHODS)
@pytest.mark.parametrize("case", HEAD_CASES)
def test_head_matches_60_digit_reference(method, case):
    x, beta, y = _head_case(case)
    rel_loss, rel_x, rel_b_scale, _, d = head_errors(method, x, beta, y)
    L = float(d["loss"])
    # the loss: a few ulps, times |log J| when J is small (exp of a difference of logs)
    assert rel_loss <= 8 * 2.2e-16 * max(1.0, abs(math.log(L))), rel_loss
    assert rel_x <= RTOL, rel_x
    # dL/dbeta: 1e-12 of the sum over rows of the absolute terms (as for GMN)
    assert rel_b_scale <= RTOL, rel_b_scale


@pytest.mark.parametrize("method", NEW_METHODS)
def test_every_output_at_minus_1e4_is_the_stated_limit(method):
    # identical logits: TP, FP (F1: TP) underflow far below float64; MCC's predicted-positive
    # marginal vanishes and MCC -> 0 (|MCC| <= sqrt(PQ / (m0 m1))): J = 1, every gradient
    # is the correctly rounded 0 (they shrink like sqrt(P) = e^{-3.5e4} or faster)
    x = np.full(12, -1e4)
    y = np.zeros(12, dtype=np.int64)
    y[:2] = 1
    value, gx, gbeta = head_loss(x, 5.3963487604, y, **METHODS[method])
    assert value == 1.0
    assert np.all(gx == 0.0) and gbeta == 0.0


@pytest.mark.parametrize("method", [m for m in NEW_METHODS if METHODS[m]["loss"] == "mcc"])
def test_every_output_at_plus_1e4_is_the_stated_limit(method):
    # the other marginal: TN, FN underflow, Q -> 0, MCC -> 0, J = 1
    x = np.full(12, 1e4)
    y = np.zeros(12, dtype=np.int64)
    y[:2] = 1
    value, gx, gbeta = head_loss(x, 5.3963487604, y, **METHODS[method])
    assert value == 1.0
    assert np.all(gx == 0.0) and gbeta == 0.0


def test_f1_with_every_output_at_plus_1e4_predicts_all_positive():
    # TP = m1, FP = m0, FN underflows: J = m0 / (2 m1 + m0) exactly to rounding
    x = np.full(12, 1e4)
    y = np.zeros(12, dtype=np.int64)
    y[:2] = 1
    value, gx, _ = head_loss(x, 0.0, y, loss="f1", astra=False, z=False)
    assert value == pytest.approx(10 / 14, rel=4e-16, abs=0.0)
    assert np.all(gx == 0.0)


@pytest.mark.parametrize("name", NEW_LOSS_NAMES)
def test_f1_and_mcc_refuse_a_single_class(name):
    vg = _value_and_grad(registry.get_loss(name))
    with pytest.raises(ValueError, match=r"^y has no positive"):
        vg(np.array([0.5, -1.0]), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"^y has no negative"):
        vg(np.array([0.5, -1.0]), np.array([1, 1]))
    with pytest.raises(ValueError, match=r"^logit must be finite"):
        vg(np.array([np.nan, -1.0]), np.array([1, 0]))


def test_counts_forms_at_the_edges():
    # F1: 2 TP + FP + FN = 0 has no limit (a rounded matrix only): None -> the kernel's
    # reference path; MCC: an empty predicted marginal: None likewise
    assert CL.f1_from_counts(3.0, 0.0, 0.0, 0.0, 3, 1) is None
    assert CL.mcc_from_counts(3.0, 0.0, 1.0, 0.0, 3, 1) is None
    assert CL.mcc_from_counts(0.0, 3.0, 0.0, 1.0, 3, 1) is None
    # TP underflowed, the rest normal: F1 is finite, k_neg = 0 exactly
    J, k_neg, k_pos = CL.f1_from_counts(2.0, 1.0, 1.0, 0.0, 3, 1)
    assert (J, k_neg, k_pos) == (1.0, 0.0, -1.0)
    # a marginal tiny but normal: k ~ P^(-1/2), finite
    out = CL.mcc_from_counts(3.0, 1e-300, 1.0, 1e-300, 3, 1)
    assert out is not None and all(np.isfinite(out)) and out[1] > 1e140


@pytest.mark.parametrize("name", NEW_LOSS_NAMES)
@given(case=logit_cases(lo=-700.0, hi=700.0))
def test_counts_form_agrees_with_the_logit_form(name, case):
    # the fused kernel's entry: J, k from linear counts; the row gradient k z (1 - z)
    logit, y = case
    loss = registry.get_loss(name)
    value, grad = _value_and_grad(loss)(logit, y)
    pos = y == 1
    z, omz = 1.0 / (1.0 + np.exp(-logit)), 1.0 / (1.0 + np.exp(logit))
    counts = (omz[~pos].sum(), z[~pos].sum(), omz[pos].sum(), z[pos].sum(), int((~pos).sum()), int(pos.sum()))
    out = loss.function("counts")(*counts)
    if out is None:  # only at an exactly empty count sum
        assert counts[3] + counts[1] == 0 or counts[0] + counts[2] == 0
        return
    J, k_neg, k_pos = out
    assert J == pytest.approx(value, rel=1e-13, abs=1e-300)
    row = np.where(pos, k_pos, k_neg) * z * omz
    np.testing.assert_allclose(row, grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", COUNT_LOSS_NAMES)
def test_reference_partials_are_the_definitions_derivatives(name):
    # astra_np.check.reference.count_partials (complex step of the registered definition at
    # the working precision) against mpmath.diff of the same definition, count by count
    definition = registry.get_loss(name).definition
    counts = [mpmath.mpf(v) for v in ("2.5", "0.75", "1.25", "0.5")]  # TN, FP, FN, TP
    with mpmath.workdps(50):
        value, k_neg, k_pos = ref.count_partials(definition, counts)

        def partial(i):
            def f(t):
                c = list(counts)
                c[i] = t
                return definition(*c, mpmath.mp)
            return mpmath.diff(f, counts[i])

        d = [partial(i) for i in range(4)]
        assert abs(value - definition(*counts, mpmath.mp)) < mpmath.mpf(10) ** -45
        assert abs(k_neg - (d[1] - d[0])) < mpmath.mpf(10) ** -40
        assert abs(k_pos - (d[3] - d[2])) < mpmath.mpf(10) ** -40


# ---------------------------------------------------------------------------
# Goldens (tests/golden/core_golden.json, section count_head_cases)
# ---------------------------------------------------------------------------


def _golden_tools():
    import importlib.util
    import pathlib
    import sys

    name = "astra_np_tests_goldens"
    if name not in sys.modules:
        path = pathlib.Path(__file__).resolve().parent / "golden" / "goldens.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


G = _golden_tools()
COUNT_GOLDENS = list(G.head_results("count_head_cases"))


def test_count_goldens_cover_every_new_method_and_edge():
    seen = {(res["loss"], res["astra"]) for _, res in COUNT_GOLDENS}
    assert seen == {(registry.get_method(m).loss.name, registry.get_method(m).astra) for m in NEW_METHODS}
    names = {case["name"] for case, _ in COUNT_GOLDENS}
    assert {"positives_at_minus_1e4", "negatives_saturated_at_1", "every_output_near_0",
            "every_output_near_1", "m1_1_m0_4000"} <= names


@pytest.mark.parametrize("case,res", [pytest.param(c, r, id=G.head_id(c, r)) for c, r in COUNT_GOLDENS])
def test_head_loss_count_goldens(case, res):
    x, y, beta = G.fl(case["x_hex"]), np.array(case["y"]), G.fl(res["beta_hex"])
    value, gx, gbeta = head_loss(x, beta, y, loss=res["loss"], astra=res["astra"], z=res["z"])
    hi, lo = G.hilo(res["value"])
    # a few ulps, times |log J| when J is small (exp of a difference of log-sum-exps)
    G.assert_within(f"{case['name']} value", value, hi, lo,
                    8 * 2.2e-16 * np.abs(hi) * max(1.0, abs(math.log(float(hi[0])))) + TINY)
    hi, lo = G.hilo(res["dL_dx"])
    G.assert_within(f"{case['name']} dL_dx", gx, hi, lo, RTOL * np.abs(hi) + TINY, {"x": x, "y": y})
    hi, lo = G.hilo(res["dL_dbeta"])
    scale, _ = G.hilo(res["dL_dbeta_scale"])
    if not res["astra"]:
        assert gbeta == 0.0
    G.assert_within(f"{case['name']} dL_dbeta", gbeta, hi, lo, G.sign_change_bound(hi, scale, RTOL))


def test_count_goldens_reproduce_from_reference():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent / "golden" / "make_golden.py"
    spec = importlib.util.spec_from_file_location("astra_np_tests_make_golden", path)
    mg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mg)
    for case, res in COUNT_GOLDENS[1::17]:
        d = ref.head_loss_details(G.fl(case["x_hex"]), G.fl(res["beta_hex"]), case["y"], loss=res["loss"],
                                  astra=res["astra"], z=res["z"], dps=G.load()["meta"]["dps"])
        assert mg.num(d["loss"]) == res["value"]
        assert [mg.num(v) for v in d["dL_dx"]] == res["dL_dx"]
        assert mg.num(d["dL_dbeta"]) == res["dL_dbeta"]

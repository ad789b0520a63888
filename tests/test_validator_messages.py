"""The validator's failure messages say what happened: float32 only when the error is
float32-sized, constant factors only when far from 1, ties named as ties, NaN in a value
as such, pitfalls of the function that failed, and counts in cases
(astra_np.check.vectors.causes and validation)."""
import re
from pathlib import Path

import numpy as np
import pytest

import astra_np
from astra_np.check import vectors as V
from astra_np.check.vectors.causes import looks_float32, pitfalls_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def doc(vectors_file):
    return V.load(vectors_file)


def _impl(**overrides):
    return {**V._package_impl(), **overrides}


# ------------------------------------------------------------------------------------
# float32
# ------------------------------------------------------------------------------------

def test_a_float64_cancellation_to_one_is_not_called_single_precision(doc):
    # GMN = 1 - sqrt(TN TP / (m0 m1)) formed by subtraction: exactly 1.0 where the
    # reference is 1 - 1e-8 (cancellation, not single precision)
    def head_loss(x, beta, y, **kw):
        value, gx, gb = astra_np.head_loss(x, beta, y, **kw)
        return (1.0 if 1 - 2.4e-7 < value < 1 else value), gx, gb

    fn = "head_loss[gmn-astra]"
    res = V.validate(_impl(head_loss=head_loss), doc, functions=[fn], verbose=False)
    ones = [e for e in res.entries if e.quantity == "value" and e.got == 1.0]
    assert ones
    assert all(e.cause == "digits" for e in ones)
    assert all("single precision" not in e.explanation for e in ones)
    assert V.classify(1 - 1e-9, 1.0, 1e-9, {}, "value")[0] == "digits"


def test_float32_needs_a_float32_sized_error_and_a_full_significand():
    x = 0.1
    x32 = float(np.float32(x))
    assert looks_float32(x, x32)
    assert V.classify(x, x32, abs(x32 - x) / x, {}, "value")[0] == "float32"
    # the float32 number nearest 0.1 returned for 0.1 * (1 + 1e-3): not a float32 rounding
    assert not looks_float32(x * (1 + 1e-3), x32)
    # short numbers are float32 numbers by accident
    assert not looks_float32(0.75 + 1e-12, 0.75)


# ------------------------------------------------------------------------------------
# constant factors and ties
# ------------------------------------------------------------------------------------

def test_a_factor_within_a_few_tolerances_of_one_is_not_named(doc):
    def off(p, y):
        return np.asarray(astra_np.bce_grad(p, y)) * (1 + 2e-11)

    res = V.validate(_impl(bce_grad=off), doc, functions=["bce"], verbose=False)
    assert res.entries
    assert all(e.cause != "factor" for e in res.entries)
    # far from 1 it is named
    def far(p, y):
        return np.asarray(astra_np.bce_grad(p, y)) * 1.000001

    res = V.validate(_impl(bce_grad=far), doc, functions=["bce"], verbose=False)
    assert {e.cause for e in res.entries} == {"factor"}


def test_half_the_derivative_at_a_tie_is_named_with_its_pitfall(doc):
    def halved_at_joint(beta):   # autodiff of minimum(beta, 0) at beta = 0
        g = np.array(astra_np.slope_from_beta_grad(beta), dtype=np.float64)
        return np.where(np.asarray(beta) == 0.0, 0.5 * g, g)

    res = V.validate(_impl(slope_from_beta_grad=halved_at_joint), doc,
                     functions=["slope_from_beta"], verbose=False)
    assert res.entries
    for e in res.entries:
        assert e.cause == "tie", e
        assert "exactly 1/2 times the reference" in e.explanation
        assert "minimum" in e.explanation and "derivations/astra.md" in e.explanation
    assert V.classify(1.0, 2.0, 1.0, {}, "gradient.x", "astra")[0] == "tie"
    # a value is not differentiated: no tie there
    assert V.classify(1.0, 0.5, 0.5, {}, "value")[0] == "value"


# ------------------------------------------------------------------------------------
# NaN, pitfalls of the function that failed
# ------------------------------------------------------------------------------------

def test_a_nan_in_a_value_is_described_as_a_nan_in_a_value():
    label, text = V.classify(1.0, float("nan"), float("inf"), {}, "value", "gmn")
    assert label == "nan" and "in the value" in text and "chain rule" not in text
    label, text = V.classify(1.0, float("nan"), float("inf"), {}, "gradient.p", "gmn")
    assert label == "nan" and "chain rule" in text and "derivations/gmn.md" in text


@pytest.mark.parametrize("method", [m.name for m in astra_np.core.registry.methods()])
def test_a_zero_gradient_points_to_the_pitfalls_of_its_own_head(method):
    entry = astra_np.core.registry.get_method(method)
    _, text = V.classify(3.7e-44, 0.0, 1.0, {}, "gradient.x", f"head_loss[{method}]")
    assert f"derivations/{entry.loss.derivation}" in text
    assert ("derivations/head.md" in text) == entry.astra
    assert "derivations/astra.md" not in text


def test_every_pitfalls_file_named_has_a_pitfalls_section():
    for fn in V.FUNCTIONS:
        files = pitfalls_of(fn)
        assert files, fn
        for name in files:
            text = (ROOT / name).read_text(encoding="utf-8")
            assert re.search(r"^## .*Pitfalls", text, re.M), name


def test_a_zeroed_f1_head_gradient_names_f1_not_astra(doc):
    fn = "head_loss[f1-astra]"

    def head_loss(x, beta, y, **kw):
        value, gx, gb = astra_np.head_loss(x, beta, y, **kw)
        if kw == astra_np.core.registry.get_method("f1-astra").head_kwargs():
            gx = np.where(np.abs(gx) < 1e-30, 0.0, gx)
        return value, gx, gb

    res = V.validate(_impl(head_loss=head_loss), doc, functions=[fn], verbose=False)
    zeros = [e for e in res.entries if e.cause == "zero"]
    assert zeros
    assert all("derivations/f1.md" in e.explanation and "astra.md" not in e.explanation
               for e in zeros)


# ------------------------------------------------------------------------------------
# counts in cases
# ------------------------------------------------------------------------------------

def test_failures_are_one_per_failing_case(doc):
    def off(p, y):
        return np.asarray(astra_np.bce_grad(p, y)) * 1.000001

    res = V.validate(_impl(bce_grad=off), doc, functions=["bce"], verbose=False)
    assert len(res.failures) == res.failed == len(res.failed_cases())
    assert len({f.case for f in res.failures}) == len(res.failures)
    assert len(res.entries) >= len(res.failures)
    assert any(len(f.entries) > 1 for f in res.failures)
    for f in res.failures:
        assert f.quantity == f.entries[0].quantity and f.cause == f.entries[0].cause
        assert all(e.case == f.case for e in f.entries)
        more = len(f.entries) - 1
        assert (f"(+{more} more wrong entr" in str(f)) == (more > 0)
    assert f"{res.checked} cases, {len(res.failures)} failed: FAIL" in res.table()


# ------------------------------------------------------------------------------------
# results that print well
# ------------------------------------------------------------------------------------

def test_a_validation_result_prints_as_a_short_summary(doc):
    with np.errstate(all="ignore"):
        res = V.validate(_impl(astra=lambda x, b: 1 - (1 + b * np.exp(b * x)) ** (-1 / b),
                               gmn=None), doc, verbose=False)
    for text in (str(res), repr(res)):
        assert len(text) < 2000
        assert text.startswith(f"ValidationResult FAIL: {len(V.FUNCTIONS)} functions")
        assert f"{len(res.failures)} failed" in text
        assert "astra: FAIL" in text and "gmn: " in text
    assert "result.table()" in str(res) and len(res.table()) > 0


# ------------------------------------------------------------------------------------
# the head's astra= keyword and a forward function named astra
# ------------------------------------------------------------------------------------

def test_a_head_may_name_its_flag_use_astra_and_call_its_own_astra():
    seen = {}

    def astra(x, b):
        return astra_np.astra(x, b)

    def head_loss(x, beta, y, loss, use_astra, z):
        seen["astra"], seen["use_astra"] = astra, use_astra   # the function, not the flag
        return astra_np.head_loss(x, beta, y, loss=loss, astra=use_astra, z=z)[0]

    def zero_grad(fun, argnums):
        return lambda *args: tuple(np.zeros(np.shape(args[i])) for i in argnums)

    impl = V.implementation_from_forward({"astra": astra, "head_loss": head_loss}, grad=zero_grad)
    x, y = np.array([-1.0, 0.5, 2.0]), np.array([0, 1, 0])
    value, gx, gb = impl["head_loss"](x, np.float64(0.5), y, loss="gmn", astra=True, z=True)
    assert seen == {"astra": astra, "use_astra": True}
    assert value == astra_np.head_loss(x, 0.5, y, loss="gmn", astra=True, z=True)[0]
    # a head that takes astra= as it is gets it as it is
    impl = V.implementation_from_forward({"head_loss": lambda x, beta, y, loss, astra, z: 0.0},
                                         grad=zero_grad)
    assert impl["head_loss"](x, np.float64(0.5), y, loss="gmn", astra=False, z=False)[0] == 0.0
